/**
 * A replacement worker comes from the standby pool: the process that runs the script after a failure
 * is one that loaded the --preload modules before it was given a rank (no RANK in its environment
 * then), not a fresh spawn; the first workers, spawned directly, preloaded nothing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, readIf, startAgent, tempDir } from './harness.js';

interface Event {
  rank: number;
  restart: number;
  pid: number;
  preloadPid: number | null;
  rankAtPreload: string | null;
  preloadedBeforeRun: boolean | null;
}

test('after a SIGKILL the replacements are standbys that preloaded --preload modules before they got their rank', async () => {
  const tmp = tempDir();
  try {
    const agent = startAgent(
      ['--standalone', '--nproc-per-node', '2', '--max-restarts', '1', '--standby-workers', '2', '--preload', join(FIXTURES, 'preload-mark.mjs'), join(FIXTURES, 'standby-train.mjs')],
      { OUT_DIR: tmp.path },
    );
    const { code } = await agent.exited(60_000);
    const log = readIf(join(tmp.path, 'events.log')) ?? '';
    assert.equal(code, 0, `${agent.stderr()}\n${log}`);
    const events = log.trim().split('\n').map((l) => JSON.parse(l) as Event);
    const first = events.filter((e) => e.restart === 0);
    const second = events.filter((e) => e.restart === 1);
    assert.deepEqual(first.map((e) => e.rank).sort(), [0, 1], log);
    assert.deepEqual(second.map((e) => e.rank).sort(), [0, 1], log);
    for (const e of first) assert.equal(e.preloadPid, null, `the first workers are spawned directly: ${JSON.stringify(e)}`);
    for (const e of second) {
      assert.equal(e.preloadPid, e.pid, `rank ${e.rank}'s replacement preloaded in its own process: ${JSON.stringify(e)}`);
      assert.equal(e.rankAtPreload, null, 'it had no rank while it preloaded');
      assert.equal(e.preloadedBeforeRun, true);
      assert.ok(!first.some((f) => f.pid === e.pid), 'a new process, not a survivor');
    }
  } finally {
    tmp.remove();
  }
});
