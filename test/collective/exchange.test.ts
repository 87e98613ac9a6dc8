/**
 * ProcessGroup.exchange() with real processes: bytes go only along the pairs named, arrive whole and
 * in order (three calls back to back, the last 9 MiB in 64 KiB pieces), and a rank that never calls
 * leaves the rank waiting on it with a CollectiveTimeoutError that names it.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { launchWorkers, type WorkerGroup } from './launch-helper.js';

const WORKER = 'test/collective/exchange-worker.ts';
const groups: WorkerGroup[] = [];
after(async () => {
  for (const g of groups) await g.close();
});

test('3 ranks: each sends to the next only, three sizes in order, all bytes right', async () => {
  const g = await launchWorkers({ n: 3, script: WORKER, args: ['ring'] });
  groups.push(g);
  const exits = await g.waitExit(60_000);
  assert.deepEqual(exits.map((e) => e.code), [0, 0, 0], exits.map((e) => e.stderr).join('\n'));
  const results = g.messages.filter((m) => m.type === 'ring').sort((a, b) => a.rank - b.rank);
  assert.equal(results.length, 3);
  for (const r of results) assert.deepEqual(r.digests, ['ok', 'ok', 'ok'], `rank ${String(r.rank)}`);
});

test('a rank that never calls: the rank waiting on it times out naming it', async () => {
  const g = await launchWorkers({ n: 3, script: WORKER, args: ['silent'] });
  groups.push(g);
  await g.waitExit(60_000);
  const r0 = g.messages.find((m) => m.type === 'silent' && m.rank === 0);
  assert.ok(r0, JSON.stringify(g.messages));
  assert.equal(r0.error, 'timeout', String(r0.message));
  assert.ok((r0.waitingFor as number[]).includes(2), `waitingFor ${JSON.stringify(r0.waitingFor)}`);
  assert.match(String(r0.message), /rank 2|2/);
  assert.ok((r0.ms as number) < 5_000);
});
