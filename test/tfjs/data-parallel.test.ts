import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { launchWorkers, type WorkerGroup } from '../collective/launch-helper.js';
import { averageGradients, broadcastWeights, flattenTensors, unflattenTensors, DataParallel } from '../../src/tfjs/index.js';

const groups: WorkerGroup[] = [];
after(async () => {
  for (const g of groups) await g.close();
});

describe('tfjs data parallel', () => {
  for (const [hidden, path] of [
    [32, 'gradients of 2.7 KB: direct path'],
    [2048, 'gradients of 172 KB: shared memory'],
  ] as const) it(`two ranks training one MLP on different shards keep bit-identical weights after every step (${path})`, async () => {
    const steps = 15;
    const g = await launchWorkers({ n: 2, script: 'test/tfjs/train-worker.ts', args: [String(steps), String(hidden)] });
    groups.push(g);
    const exits = await g.waitExit(120_000);
    for (const e of exits) assert.equal(e.code, 0, `rank ${String(e.rank)}: ${e.stderr} ${JSON.stringify(g.messages.filter((m) => m.type === 'fatal'))}`);
    const init = g.messages.filter((m) => m.type === 'init');
    assert.equal(init.length, 2);
    assert.notEqual(init[0].hash, init[1].hash, 'ranks start from different random weights');
    const byStep = new Map<number, Map<number, { hash: string; loss?: number }>>();
    for (const m of g.messages.filter((x) => x.type === 'step')) {
      const s = m.step as number;
      if (!byStep.has(s)) byStep.set(s, new Map());
      byStep.get(s)?.set(m.rank, { hash: m.hash as string, loss: m.loss as number | undefined });
    }
    assert.equal(byStep.size, steps + 1, 'the broadcast, then every step, reported');
    for (const m of g.messages.filter((x) => x.type === 'step' && (x.step as number) >= 0)) assert.equal(m.shm, true, 'ranks on one host share memory');
    const hashes = new Set<string>();
    for (const [s, ranks] of byStep) {
      assert.equal(ranks.size, 2);
      assert.equal(ranks.get(0)?.hash, ranks.get(1)?.hash, `weights differ after step ${String(s)}`);
      hashes.add(ranks.get(0)?.hash as string);
    }
    assert.equal(hashes.size, steps + 1, 'the weights change at every step');
    // Different shards: the local losses differ, so equal weights come from the averaging.
    const differ = [...byStep.entries()].filter(([s, r]) => s >= 0 && r.get(0)?.loss !== r.get(1)?.loss).length;
    assert.ok(differ >= steps - 1, 'local losses differ between ranks');
    const first = byStep.get(0)?.get(0)?.loss as number;
    const last = byStep.get(steps - 1)?.get(0)?.loss as number;
    assert.ok(last < first, `loss goes down (${String(first)} -> ${String(last)})`);
  });

  it('in a single process the helpers are the identity on a world of one', async () => {
    const v = [tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, 'a'), tf.variable(tf.tensor1d([5]), true, 'b')];
    try {
      const flat = flattenTensors(v);
      assert.deepEqual(Array.from(flat), [1, 2, 3, 4, 5]);
      const back = unflattenTensors(flat, v);
      assert.deepEqual(back.map((t) => t.shape), [[2, 2], [1]]);
      tf.dispose(back);
      await broadcastWeights(v);
      assert.deepEqual(Array.from(v[0].dataSync()), [1, 2, 3, 4]);
      const grads = { a: tf.ones([2, 2]), b: tf.tensor1d([0.5]) };
      const avg = await averageGradients(grads, v);
      assert.deepEqual(avg.map((x) => x.name), ['a', 'b']);
      assert.deepEqual(Array.from(avg[1].tensor.dataSync()), [0.5]);
      tf.dispose([...Object.values(grads), ...avg.map((x) => x.tensor)]);
      await assert.rejects(new DataParallel(tf.train.sgd(0.1), v).step(() => tf.sum(tf.mul(v[1], v[1])) as tf.Scalar), /no gradient for variable a/);
      const dp = new DataParallel(tf.train.sgd(0.1), [v[1]]);
      const loss = await dp.step(() => tf.sum(tf.mul(v[1], v[1])) as tf.Scalar);
      assert.equal(loss, 25);
      assert.ok(Math.abs(v[1].dataSync()[0] - 4) < 1e-6, 'sgd applied 5 - 0.1 * 10');
      assert.throws(() => new DataParallel(tf.train.sgd(0.1), [v[0], v[0]]), /unique/);
    } finally {
      tf.dispose(v);
    }
  });
});
