// SIGKILL one rank at random moments during local saves (with replication), many times in one `eh run` job:
// after every restart the newest iteration every rank committed (or a newer one) loads, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startAgent, tempDir, waitFor } from '../agent/harness.js';
import { readEvents, type LocalEvent } from './local-events.js';

const WORKER = join(ROOT, 'test', 'checkpoint', 'local-worker.ts');
const KILLS = Number(process.env.LCK_KILLS ?? 50);

/** A small seeded generator (mulberry32), so a failing run can be replayed with the same delays. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test(`SIGKILL rank 1 at ${KILLS} random moments during save (2 ranks, factor 2): the newest committed iteration always loads`, { timeout: 240_000 }, async () => {
  const seed = Number(process.env.LCK_SEED ?? 1234);
  const random = rng(seed);
  const dir = tempDir('eh-local-kill-');
  const events = join(dir.path, 'events.jsonl');
  const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--max-restarts', String(KILLS + 5), '--grace-period', '1', WORKER], {
    LCK_ROOT: join(dir.path, 'root'),
    LCK_EVENTS: events,
    LCK_MODE: 'loop',
    LCK_FACTOR: '2',
    LCK_JUMP: '1',
    LCK_FLOATS: '65536',
  });
  try {
    const delays: number[] = [];
    for (let k = 0; k < KILLS; k++) {
      // Rank 1 of restart k has started saving; kill it a random time later (saves follow each other back to back).
      const saving = await waitFor(`rank 1 saving in restart ${k}`, () => readEvents(events).find((e) => e.t === 'saving' && e.rank === 1 && e.restart === k), 60_000, 10);
      const delay = Math.floor(random() * 120);
      delays.push(delay);
      await new Promise((r) => setTimeout(r, delay));
      process.kill(saving.pid, 'SIGKILL');
    }
    // Let the last restart load what the last kill left, then stop the job.
    await waitFor('the start after the last kill', () => readEvents(events).filter((e) => e.t === 'start' && e.restart === KILLS).length === 2, 60_000, 20);
    agent.child.kill('SIGKILL');
    if (process.env.LCK_TRACE !== undefined) copyFileSync(events, process.env.LCK_TRACE);
    const evs = readEvents(events);
    const errors = evs.filter((e) => e.t === 'error' && !/lost|closed|aborted|timed out/i.test(e.error ?? ''));
    assert.deepEqual(errors, [], `seed ${seed}`);
    let committed = -1;
    let loadedNonEmpty = 0;
    for (let k = 0; k <= KILLS; k++) {
      const starts = evs.filter((e): e is LocalEvent => e.t === 'start' && e.restart === k).sort((a, b) => a.rank - b.rank);
      assert.equal(starts.length, 2, `restart ${k}: both ranks started (seed ${seed})`);
      const [a, b] = starts;
      assert.equal(a.latest, b.latest, `restart ${k}: the ranks agree`);
      const latest = a.latest ?? -3;
      assert.ok(latest >= committed, `restart ${k}: found ${latest} but iteration ${committed} was committed on both ranks (seed ${seed}, delays ${delays.join(',')})`);
      if (latest >= 0) {
        loadedNonEmpty++;
        assert.equal(a.equal, true, `restart ${k}: rank 0's state of ${latest} is byte-equal`);
        assert.equal(b.equal, true, `restart ${k}: rank 1's state of ${latest} is byte-equal`);
      }
      // Own part + the peer's replica, each at most clean + dirty.
      for (const s of starts) assert.ok((s.files ?? 0) <= 4, `restart ${k}: rank ${s.rank} holds ${s.files} files`);
      const saved = (r: number): number => Math.max(-1, ...evs.filter((e) => e.t === 'saved' && e.restart === k && e.rank === r).map((e) => e.iteration ?? 0));
      committed = Math.max(committed, Math.min(saved(0), saved(1)));
    }
    // Not vacuous: most restarts must have had something to load (a kill before the first commit leaves -1,
    // more often on a loaded machine; every restart after a commit is held to it by the check above).
    assert.ok(loadedNonEmpty >= Math.floor(KILLS / 2), `most restarts resumed from a checkpoint (${loadedNonEmpty} of ${KILLS + 1})`);
  } finally {
    if (agent.child.exitCode === null) agent.child.kill('SIGKILL');
    dir.remove();
  }
});
