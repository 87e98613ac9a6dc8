// Local checkpoints end to end: real ranks under `eh run` (4 ranks; factor 2), real files, a deleted rank directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startAgent, tempDir } from '../agent/harness.js';
import { readEvents, type LocalEvent } from './local-events.js';

const WORKER = join(ROOT, 'test', 'checkpoint', 'local-worker.ts');

/** Runs one `eh run` job of `nproc` ranks of the worker in `mode`; returns this job's events by rank. */
async function job(dir: string, name: string, nproc: number, mode: string, extra: Record<string, string> = {}): Promise<LocalEvent[]> {
  const events = join(dir, `${name}.jsonl`);
  const agent = startAgent(['--standalone', '--nproc-per-node', String(nproc), '--max-restarts', '0', '--standby-workers', '0', WORKER], {
    LCK_ROOT: join(dir, 'root'),
    LCK_EVENTS: events,
    LCK_MODE: mode,
    ...extra,
  });
  const r = await agent.exited(60_000);
  assert.equal(r.code, 0, `eh run (${name}) failed\n${agent.stderr()}`);
  return readEvents(events).sort((a, b) => a.rank - b.rank);
}

const byRank = (evs: LocalEvent[], t: string): LocalEvent[] => evs.filter((e) => e.t === t).sort((a, b) => a.rank - b.rank);

for (const jump of [1, 2]) {
  test(`4 ranks, factor 2, jump ${jump}${jump === 2 ? ' (async saves)' : ''}: rank 1's directory deleted, every rank finds 20 and rank 1 gets its own tensors back from its clique`, { timeout: 120_000 }, async () => {
    const dir = tempDir('eh-local-ckpt-');
    try {
      const repl = { LCK_FACTOR: '2', LCK_JUMP: String(jump) };
      // Jump 2 saves through the AsyncCallsQueue (written on the writer thread, committed by the finalization).
      const saved = await job(dir.path, 'save', 4, 'save', { ...repl, LCK_ITERS: '10,20', ...(jump === 2 ? { LCK_ASYNC: '1' } : {}) });
      assert.deepEqual(saved.filter((e) => e.t !== 'saved'), []);
      assert.equal(byRank(saved, 'saved').length, 8);
      // Two clean parts per rank directory: its own and its clique peer's, of iteration 20 only.
      const peer = jump === 1 ? 0 : 3;
      assert.deepEqual(readdirSync(join(dir.path, 'root', 'rank_1')).sort(), [`iter_20_part_1.ckpt`, `iter_20_part_${peer}.ckpt`].sort());
      rmSync(join(dir.path, 'root', 'rank_1'), { recursive: true });
      const loadEvents = await job(dir.path, 'load', 4, 'load', repl);
      const loaded = byRank(loadEvents, 'loaded');
      assert.deepEqual(loaded.map((e) => [e.rank, e.latest, e.equal]), [0, 1, 2, 3].map((r) => [r, 20, true]), JSON.stringify(loadEvents));
      // Rank 1 wrote what it received back to its own disk.
      assert.ok(existsSync(join(dir.path, 'root', 'rank_1', 'iter_20_part_1.ckpt')));
    } finally {
      dir.remove();
    }
  });
}

/** Saves 10 and then 20 in two jobs, and puts back the parts of 10 that committing 20 removed: the state a crash leaves between the commit of 20 and the removal of 10 on every rank. */
async function tenAndTwenty(dir: string, nproc: number, repl: Record<string, string>): Promise<void> {
  const root = join(dir, 'root');
  await job(dir, 'save10', nproc, 'save', { ...repl, LCK_ITERS: '10' });
  cpSync(root, join(dir, 'ten'), { recursive: true });
  await job(dir, 'save20', nproc, 'save', { ...repl, LCK_ITERS: '20' });
  for (let r = 0; r < nproc; r++) for (const f of readdirSync(join(dir, 'ten', `rank_${r}`))) cpSync(join(dir, 'ten', `rank_${r}`, f), join(root, `rank_${r}`, f));
}

test('both members of one clique lose iteration 20: every rank falls back to 10; both lose everything: -1 naming the missing parts', { timeout: 120_000 }, async () => {
  const dir = tempDir('eh-local-ckpt-');
  try {
    const repl = { LCK_FACTOR: '2', LCK_JUMP: '1' };
    const root = join(dir.path, 'root');
    await tenAndTwenty(dir.path, 4, repl);
    for (const r of [2, 3]) for (const p of [2, 3]) rmSync(join(root, `rank_${r}`, `iter_20_part_${p}.ckpt`));
    const back = byRank(await job(dir.path, 'fallback', 4, 'load', repl), 'loaded');
    assert.deepEqual(back.map((e) => [e.latest, e.equal]), [0, 1, 2, 3].map(() => [10, true]));
    assert.deepEqual(back[0].incomplete, [{ iteration: 20, missingParts: [2, 3] }]);
    for (const r of [2, 3]) rmSync(join(root, `rank_${r}`), { recursive: true });
    const none = byRank(await job(dir.path, 'lost', 4, 'load', repl), 'loaded');
    assert.deepEqual(none.map((e) => e.latest), [-1, -1, -1, -1]);
    assert.deepEqual(none[0].incomplete, [{ iteration: 20, missingParts: [2, 3] }, { iteration: 10, missingParts: [2, 3] }]);
  } finally {
    dir.remove();
  }
});

test('a flipped byte in a replica: the copy is refused and the fallback taken', { timeout: 120_000 }, async () => {
  const dir = tempDir('eh-local-ckpt-');
  try {
    const repl = { LCK_FACTOR: '2', LCK_JUMP: '1' };
    const root = join(dir.path, 'root');
    await tenAndTwenty(dir.path, 2, repl);
    rmSync(join(root, 'rank_1'), { recursive: true });
    const replica = join(root, 'rank_0', 'iter_20_part_1.ckpt');
    const bytes = readFileSync(replica);
    bytes[bytes.length - 100] ^= 0x01;
    writeFileSync(replica, bytes);
    const loaded = byRank(await job(dir.path, 'load', 2, 'load', repl), 'loaded');
    assert.deepEqual(loaded.map((e) => [e.latest, e.equal]), [[10, true], [10, true]]);
    assert.deepEqual(loaded[0].incomplete, [{ iteration: 20, missingParts: [1] }]);
  } finally {
    dir.remove();
  }
});

test('replication parameters differ between save and load: a ConfigurationError saying which, and nothing removed', { timeout: 120_000 }, async () => {
  const dir = tempDir('eh-local-ckpt-');
  try {
    const root = join(dir.path, 'root');
    await job(dir.path, 'save', 4, 'save', { LCK_FACTOR: '2', LCK_JUMP: '1', LCK_ITERS: '10' });
    const before = [0, 1, 2, 3].map((r) => readdirSync(join(root, `rank_${r}`)).sort());
    const loads = byRank(await job(dir.path, 'load', 4, 'load', { LCK_FACTOR: '2', LCK_JUMP: '2' }), 'error');
    assert.equal(loads.length, 4);
    for (const e of loads) {
      assert.equal(e.name, 'ConfigurationError');
      assert.match(e.error ?? '', /saved with replicationFactor 2, replicationJump 1 in a world of 4, but this manager uses replicationFactor 2, replicationJump 2/);
      assert.match(e.error ?? '', /Nothing was removed/);
    }
    const saves = byRank(await job(dir.path, 'save2', 4, 'save', { LCK_FACTOR: '2', LCK_JUMP: '2', LCK_ITERS: '20' }), 'error');
    assert.equal(saves.length, 4);
    assert.deepEqual([0, 1, 2, 3].map((r) => readdirSync(join(root, `rank_${r}`)).sort()), before);
    const odd = byRank(await job(dir.path, 'odd', 4, 'load', { LCK_FACTOR: '3', LCK_JUMP: '1' }), 'error');
    assert.match(odd[0].error ?? '', /replicationFactor 3 × replicationJump 1 = 3 does not divide the world size 4/);
    assert.deepEqual([0, 1, 2, 3].map((r) => readdirSync(join(root, `rank_${r}`)).sort()), before);
  } finally {
    dir.remove();
  }
});

test('a rank that does not call findLatest: the others get a timeout naming it, not a hang', { timeout: 60_000 }, async () => {
  const dir = tempDir('eh-local-ckpt-');
  try {
    const evs = byRank(await job(dir.path, 'skip', 4, 'skip', { LCK_SKIP_RANK: '2', LCK_TIMEOUT_MS: '3000' }), 'skip');
    assert.deepEqual(evs.map((e) => e.rank), [0, 1, 3]);
    for (const e of evs) {
      assert.equal(e.name, 'CollectiveTimeoutError');
      assert.deepEqual(e.waitingFor, [2]);
      assert.match(e.error ?? '', /rank 2 did not take part within 3000 ms \(every rank must call findLatest\(\) together\)/);
      assert.ok((e as LocalEvent & { ms: number }).ms < 10_000);
    }
  } finally {
    dir.remove();
  }
});
