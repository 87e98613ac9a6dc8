/**
 * A data-parallel training worker for the recovery benchmark: a small MLP in TensorFlow.js (wasm),
 * gradients averaged across ranks with the collective's allreduce, a checkpoint written after every step
 * (write, then rename), resumed from after a restart. Each completed step is logged as
 * `rank step epochMs restartCount` to $PROGRESS. Stops cleanly when $STOP_FILE exists.
 */
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentMemory, allReduce, cleanupDistributed, setupDistributedEnvironment, tf } from './recovery-preload.js';

const rank = Number(process.env.RANK);
const world = Number(process.env.WORLD_SIZE);
const restart = process.env.TORCHELASTIC_RESTART_COUNT ?? '0';
const dir = process.env.CKPT_DIR as string;
const progress = process.env.PROGRESS as string;
const stopFile = process.env.STOP_FILE as string;
const maxSteps = Number(process.env.TOTAL_STEPS ?? '100000');
writeFileSync(join(dir, `pid-rank${rank}-r${restart}`), String(process.pid));

const IN = 64;
const HID = 128;
const OUT = 10;
const BATCH = 64;

// Deterministic data: a fixed random teacher labels fixed random inputs.
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
}
const rnd = lcg(42);
const xs = tf.tensor2d(Array.from({ length: BATCH * IN }, rnd), [BATCH, IN]);
const teacher = tf.tensor2d(Array.from({ length: IN * OUT }, rnd), [IN, OUT]);
const ys = tf.oneHot(tf.argMax(tf.matMul(xs, teacher), 1), OUT).toFloat();

const shapes: [number, number][] = [[IN, HID], [1, HID], [HID, OUT], [1, OUT]];
const vars = shapes.map(([a, b], i) => tf.variable(tf.tensor2d(Array.from({ length: a * b }, () => rnd() * 0.2), [a, b]), true, `v${i}`));
const total = shapes.reduce((n, [a, b]) => n + a * b, 0);
const ckpt = join(dir, `rank${rank}.bin`);

// Ranks apply the same averaged gradients, so their weights are identical and any rank's checkpoint is
// the job's. A SIGKILL can leave ranks one step apart: resume from the newest checkpoint of any rank.
// The agent's memory holds every rank's last checkpoint too (it outlives the worker): read it first.
let step = 0;
let newest: Buffer | undefined;
let restoredFrom = 'none';
const newer = (a: Buffer | undefined, b: Buffer): Buffer => (a === undefined || b.readUInt32LE(0) > a.readUInt32LE(0) ? b : a);
if (agentMemory.available()) {
  for (const key of await agentMemory.keys('ckpt/')) {
    const m = await agentMemory.get(key);
    if (m === undefined) continue;
    newest = newer(newest, Buffer.from(m.buffer, m.byteOffset, m.byteLength));
    restoredFrom = 'memory';
  }
}
if (newest === undefined) {
  for (let r = 0; r < world; r++) {
    const f = join(dir, `rank${r}.bin`);
    if (!existsSync(f)) continue;
    newest = newer(newest, readFileSync(f));
    restoredFrom = 'disk';
  }
}
if (newest !== undefined) {
  const buf = newest;
  step = buf.readUInt32LE(0);
  const flat = new Float32Array(buf.buffer.slice(buf.byteOffset + 8, buf.byteOffset + 8 + total * 4));
  let off = 0;
  for (let i = 0; i < vars.length; i++) {
    const n = shapes[i][0] * shapes[i][1];
    vars[i].assign(tf.tensor2d(flat.subarray(off, off + n), shapes[i]));
    off += n;
  }
}

await setupDistributedEnvironment({ timeoutMs: 30_000 });
const lr = 0.1;
function loss(): tf.Scalar {
  const h = tf.relu(tf.add(tf.matMul(xs, vars[0]), vars[1]));
  const logits = tf.add(tf.matMul(h, vars[2]), vars[3]);
  return tf.losses.softmaxCrossEntropy(ys, logits) as tf.Scalar;
}

let stop = false;
while (step < maxSteps && !stop) {
  const { grads, value } = tf.variableGrads(loss, vars);
  // One extra element carries the stop request, so every rank stops after the same step.
  const flat = new Float32Array(total + 1);
  let off = 0;
  for (const v of vars) {
    const g = grads[v.name].dataSync() as Float32Array;
    flat.set(g, off);
    off += g.length;
  }
  flat[total] = existsSync(stopFile) ? 1 : 0;
  tf.dispose([grads, value] as unknown as tf.Tensor[]);
  await allReduce(flat, 'sum');
  if (flat[total] > 0) stop = true;
  const avg = flat.subarray(0, total);
  for (let i = 0; i < total; i++) avg[i] /= world;
  off = 0;
  tf.tidy(() => {
    for (let i = 0; i < vars.length; i++) {
      const n = shapes[i][0] * shapes[i][1];
      vars[i].assign(tf.sub(vars[i], tf.mul(tf.tensor2d(avg.subarray(off, off + n), shapes[i]), lr)));
      off += n;
    }
  });
  step += 1;
  // Checkpoint every step: header (step) + weights, written whole then renamed.
  const body = Buffer.alloc(8 + total * 4);
  body.writeUInt32LE(step, 0);
  off = 8;
  for (const v of vars) {
    const d = v.dataSync() as Float32Array;
    Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(body, off);
    off += d.byteLength;
  }
  writeFileSync(`${ckpt}.tmp`, body);
  renameSync(`${ckpt}.tmp`, ckpt);
  if (agentMemory.available()) await agentMemory.put(`ckpt/rank${rank}`, body);
  appendFileSync(progress, `${rank} ${step} ${Date.now()} ${restart} ${restoredFrom}\n`);
}
await cleanupDistributed();
