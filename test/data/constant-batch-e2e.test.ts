/** A world-size change 2 -> 1 under constant_batch, real processes under `eh run` (test/data/e2e-worker.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tempDir } from '../agent/harness.js';
import { run, type Event } from './e2e-run.js';

test('constant batch across 2 -> 1: the global batch per optimizer step stays the target and the loss follows the uninterrupted run', async () => {
  const tmp = tempDir('eh-data-e2e-');
  try {
    const reference = await run(tmp.path, 'two', 2, {});
    await run(tmp.path, 'before', 2, { STOP_AFTER: '10', CKPT_NAME: 'shared' });
    const after = await run(tmp.path, 'after', 1, { CKPT_NAME: 'shared' });
    const start = after.events.find((e) => e.t === 'start')!;
    assert.equal(start.resumed, 10);
    assert.equal((start as unknown as { accumulation: number }).accumulation, 4, 'one rank accumulates twice as many micro-batches');
    const steps = (evs: Event[]): Map<number, Event> => new Map(evs.filter((e) => e.t === 'step').map((e) => [e.step!, e]));
    const ref = steps(reference.events);
    const one = steps(after.events);
    assert.equal(one.size, ref.size - 10);
    for (const [step, e] of one) {
      const r = ref.get(step)!;
      assert.equal(e.world, 1);
      assert.equal(e.samples, r.samples, `step ${step}: global batch ${e.samples}, uninterrupted ${r.samples}`);
      assert.ok(e.samples === 32 || e.samples! < 32, 'the target global batch (a short one only at an epoch end)');
      // Same samples per step, summed in another order: the losses agree to float rounding, amplified a little by Adam.
      assert.ok(Math.abs(e.loss! - r.loss!) <= 1e-3 * Math.abs(r.loss!), `step ${step}: loss ${e.loss} vs ${r.loss}`);
    }
    const recovery = after.events.find((e) => e.t === 'recovery')!;
    assert.deepEqual([recovery.oldWorldSize, recovery.newWorldSize, recovery.kind, recovery.stepResumed], [2, 1, 'failure', 10]);
  } finally {
    tmp.remove();
  }
});
