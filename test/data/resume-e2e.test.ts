/**
 * The resume path end to end, real processes under `eh run` (test/data/e2e-worker.ts): SIGKILLs at chosen
 * points (mid-accumulation, during an asynchronous save, after a step) resume bit-exactly at the same world size.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tempDir } from '../agent/harness.js';
import { run } from './e2e-run.js';

test('bit-exact: SIGKILL mid-accumulation, during an async save and after a step, resumed at the same world size: the same weights, byte for byte', async () => {
  const tmp = tempDir('eh-data-e2e-');
  try {
    const reference = await run(tmp.path, 'reference', 2, {});
    const plan = [
      { restart: 0, rank: 1, step: 5, when: 'mid-window' },
      { restart: 1, rank: 0, step: 9, when: 'after-async-save' },
      { restart: 2, rank: 1, step: 14, when: 'after-step' },
    ];
    const faulted = await run(tmp.path, 'faulted', 2, { KILL_PLAN: JSON.stringify(plan) });
    const kills = faulted.events.filter((e) => e.t === 'kill');
    assert.deepEqual(kills.map((k) => [k.restart, k.rank, k.step, k.when]), plan.map((p) => [p.restart, p.rank, p.step, p.when]), 'every planned kill happened');
    assert.ok(kills[1].pendingSaves! >= 1, 'the second kill came while an asynchronous save was in flight');
    const starts = faulted.events.filter((e) => e.t === 'start' && e.rank === 0);
    // Each restart resumes from the newest checkpoint committed before its kill (an asynchronous save still in
    // flight when its writer was killed or stopped does not count), never from one that is not whole.
    const resumed = starts.map((s) => s.resumed!);
    assert.equal(resumed.length, 4);
    assert.equal(resumed[0], 0);
    plan.forEach((p, i) => {
      assert.ok(resumed[i + 1] % 3 === 0 && resumed[i + 1] <= p.step && resumed[i + 1] >= resumed[i], `restart ${i + 1} resumed at ${resumed[i + 1]}`);
    });
    const recoveries = faulted.events.filter((e) => e.t === 'recovery' && e.rank === 0);
    // A restart that found no committed checkpoint starts afresh: nothing to recover, no event.
    assert.equal(recoveries.length, resumed.slice(1).filter((r) => r > 0).length);
    assert.ok(recoveries.length >= 2);
    for (const r of recoveries) {
      assert.equal(r.kind, 'failure');
      assert.equal(r.oldWorldSize, 2);
      assert.equal(r.newWorldSize, 2);
      assert.equal(r.checkpointTier, 'NVME');
      assert.ok(r.recoveryTime! > 0 && r.recoveryTime! < 60, `recovery time ${r.recoveryTime}`);
    }
    assert.ok(reference.weights !== null && faulted.weights !== null);
    assert.ok(reference.weights.length > 0);
    assert.ok(reference.weights.equals(faulted.weights), 'the final weights differ');
    const hashes = [...reference.events, ...faulted.events].filter((e) => e.t === 'done').map((e) => (e as unknown as { hash: string }).hash);
    assert.equal(new Set(hashes).size, 1, 'every rank of both runs ends with the same weights');
    // The recorded recoveries travel with the checkpoints (those recorded after the last one go with its steps).
    const done = faulted.events.find((e) => e.t === 'done' && e.rank === 0) as unknown as { metrics: { recovery: { events: unknown[] } } };
    assert.ok(done.metrics.recovery.events.length >= 1 && done.metrics.recovery.events.length <= recoveries.length);
  } finally {
    tmp.remove();
  }
});
