/**
 * The demo: a CNN learns the real handwritten digits of the `mnist` package with the GenericTrainer, on
 * 2 workers under `eh run --standalone`, checkpointing to the MEMORY and NVME tiers asynchronously. Part-way,
 * this script kills one worker with SIGKILL; the agent restarts the group, the trainer resumes from the
 * newest whole checkpoint at the same schedule and loader positions, and the run ends with the same
 * weights as a run without the fault (compare the hash with `--no-fault`).
 *
 *   npm run demo                    # with the kill
 *   npm run demo -- --no-fault      # the same training, no kill: the same final hash
 *
 * Options: --epochs N (default 5), --kill-at STEP (default 300), --dir DIR (default .demo: checkpoints and
 * TensorBoard logs, emptied first).
 */
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { 'no-fault': { type: 'boolean', default: false }, epochs: { type: 'string', default: '5' }, 'kill-at': { type: 'string', default: '300' }, dir: { type: 'string', default: '.demo' } },
});
const fault = !values['no-fault'];
const killAt = Number(values['kill-at']);
const dir = resolve(values.dir);
const logDir = join(dir, 'logs');
const cli = join(ROOT, 'dist', 'cli', 'main.js');
if (!existsSync(cli)) {
  console.error(`${cli} is missing: run \`npm run build\` first (npm run demo does).`);
  process.exit(2);
}
rmSync(dir, { recursive: true, force: true });

type Msg = Record<string, unknown> & { type: string };
const tty = process.stdout.isTTY === true;
let bar: cliProgress.SingleBar | undefined;
const say = (line: string): void => {
  if (bar !== undefined) {
    bar.stop();
    bar = undefined;
  }
  console.log(line);
};

const started = Date.now();
const pids = new Map<number, number>();
const stepTimes = new Map<number, number>();
const tiersWritten: Record<string, number> = {};
let killed: { at: number; step: number; pid: number } | undefined;
let recovery: { seconds: number; tier: string; step: number } | undefined;
let resumed: { tier: string; step: number } | undefined;
let firstStepAt: number | undefined;
let totalSteps = 0;
let lastStep = 0;
let lastLoss = NaN;
let done: Msg | undefined;

function onMessage(m: Msg): void {
  const now = Date.now();
  if (m.type === 'worker') {
    pids.set(m.rank as number, m.pid as number);
    if (m.rank === 0) say(`worker group ${m.attempt === 0 ? 'started' : `restarted (restart ${String(m.attempt)})`}: ${String(m.worldSize)} workers`);
  } else if (m.type === 'start') {
    totalSteps = Math.max(totalSteps, 0);
  } else if (m.type === 'event' && m.kind === 'checkpoint') {
    for (const t of m.tiers as string[]) tiersWritten[t] = (tiersWritten[t] ?? 0) + 1;
  } else if (m.type === 'event' && m.kind === 'resume') {
    resumed = { tier: m.tier as string, step: m.step as number };
    say(`resumed: tier ${resumed.tier}, checkpoint ${String(m.name)}, step ${resumed.step}`);
  } else if (m.type === 'step') {
    const step = m.step as number;
    firstStepAt ??= now;
    stepTimes.set(step, m.stepTimeSec as number);
    lastStep = step;
    lastLoss = m.loss as number;
    totalSteps = (m.epochSteps as number) * Number(values.epochs);
    if (killed !== undefined && recovery === undefined && resumed !== undefined) {
      recovery = { seconds: (now - killed.at) / 1000, tier: resumed.tier, step: resumed.step };
      say(`recovered: ${recovery.seconds.toFixed(2)} s from the kill to the next step (restored from ${recovery.tier} at step ${recovery.step}; ${killed.step - recovery.step} step(s) redone)`);
    }
    if (tty) {
      if (bar === undefined) {
        bar = new cliProgress.SingleBar({ format: 'training |{bar}| step {value}/{total} | epoch {epoch} | loss {loss} | {throughput} samples/s | ETA {eta_formatted}', hideCursor: true, fps: 10 }, cliProgress.Presets.shades_classic);
        bar.start(totalSteps, step, { epoch: 1, loss: '-', throughput: '-' });
      }
      bar.update(step, { epoch: (m.epoch as number) + 1, loss: lastLoss.toFixed(4), throughput: Math.round(m.throughput as number) });
    } else if (step % 100 === 0) {
      console.log(`step ${step}/${totalSteps} epoch ${(m.epoch as number) + 1} loss ${lastLoss.toFixed(4)} ${Math.round(m.throughput as number)} samples/s`);
    }
    if (fault && killed === undefined && step >= killAt) {
      const pid = pids.get(1);
      if (pid !== undefined) {
        process.kill(pid, 'SIGKILL');
        killed = { at: Date.now(), step, pid };
        say(`FAULT: killed rank 1 (pid ${pid}) with SIGKILL after step ${step}`);
      }
    }
  } else if (m.type === 'scalars') {
    const v = m.values as Record<string, number>;
    if (v['val/accuracy'] !== undefined) say(`step ${String(m.step)}: held-out accuracy ${(v['val/accuracy'] * 100).toFixed(2)} %, held-out loss ${v['val/loss'].toFixed(4)}`);
  } else if (m.type === 'done') {
    done = m;
  }
}

console.log(`elastic-harness demo: a CNN on the mnist digits, 2 workers under eh run --standalone, ${fault ? `rank 1 SIGKILLed after step ${killAt}` : 'no fault'}`);
const child = spawn(process.execPath, [cli, 'run', '--standalone', '--nproc-per-node', '2', '--max-restarts', '3', join(ROOT, 'examples', 'demo', 'train.ts'), '--', '--ckpt', join(dir, 'checkpoints'), '--logdir', logDir, '--epochs', values.epochs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
createInterface({ input: child.stdout }).on('line', (raw) => {
  const line = raw.replace(/^\[rank\d+\]:/, '');
  if (line.startsWith('EHDEMO ')) onMessage(JSON.parse(line.slice(7)) as Msg);
  else if (line.trim() !== '') say(`  ${raw}`);
});
createInterface({ input: child.stderr }).on('line', (line) => {
  // The agent's account of the failure and the restart; worker warnings too.
  if (/\[eh agent\]/.test(line) && !/round \d+: node rank/.test(line)) say(`  ${line}`);
  else if (!/\[eh agent\]/.test(line) && line.trim() !== '' && !/Debugger|inspector|For help/.test(line)) say(`  ${line}`);
});
const code: number = await new Promise((r) => child.on('exit', (c, s) => r(c ?? (s !== null ? 128 : 1))));
bar?.stop();
bar = undefined;

if (done === undefined || code !== 0) {
  console.error(`the training run failed (eh run exit code ${code})`);
  process.exit(code === 0 ? 1 : code);
}
const wall = (Date.now() - started) / 1000;
const kept = [...stepTimes.entries()].filter(([s]) => s <= (done?.steps as number)).reduce((a, [, t]) => a + t, 0);
const span = firstStepAt === undefined ? wall : (Date.now() - firstStepAt) / 1000;
const accuracy = done.accuracy as number;
console.log('');
console.log('summary');
console.log(`  steps               ${String(done.steps)} (last step ${lastStep})`);
console.log(`  final loss          ${(done.finalLoss as number).toFixed(4)} (mean over the last epoch)`);
console.log(`  held-out accuracy   ${(accuracy * 100).toFixed(2)} % ${accuracy >= 0.95 ? '(>= 95 %)' : '(below 95 %!)'}`);
console.log(`  checkpoints         ${Object.entries(tiersWritten).map(([t, n]) => `${t} ${n}`).join(', ')}`);
console.log(`  recovery            ${recovery === undefined ? (fault ? 'no fault happened (run ended before --kill-at?)' : 'no fault (--no-fault)') : `${recovery.seconds.toFixed(2)} s from SIGKILL to the next step, from ${recovery.tier} at step ${recovery.step}`}`);
console.log(`  training efficiency ${((kept / span) * 100).toFixed(1)} % (time in the steps that count / time from the first step to the end)`);
console.log(`  wall time           ${wall.toFixed(1)} s`);
console.log(`  final weights hash  ${String(done.hash)}`);
console.log(`  TensorBoard         tensorboard --logdir ${logDir}`);
if (accuracy < 0.95) process.exit(1);
