import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, pidAlive, readIf, startAgent, tempDir, waitFor } from './harness.js';

test('2 workers, one SIGKILLed mid-run: both restarted, each resumes from its own checkpoint, exit 0', async () => {
  const tmp = tempDir();
  try {
    const ckpt = join(tmp.path, 'ckpt');
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--max-restarts', '3', '--log-dir', join(tmp.path, 'logs'), join(FIXTURES, 'train-ckpt.mjs')], {
      CKPT_DIR: ckpt,
      TOTAL_STEPS: '25',
      STEP_MS: '80',
    });
    const pid = Number(await waitFor('rank 1 pid', () => readIf(join(ckpt, 'pid-rank1-restart0')), 20_000));
    await waitFor('rank 1 at step 5', () => {
      const c = readIf(join(ckpt, 'rank1.json'));
      return c !== undefined && (JSON.parse(c) as { step: number }).step >= 5;
    }, 20_000);
    const rank0pid = Number(readIf(join(ckpt, 'pid-rank0-restart0')));
    process.kill(pid, 'SIGKILL');
    const stepOf = (r: number): number => (JSON.parse(readIf(join(ckpt, `rank${r}.json`)) ?? '{"step":0}') as { step: number }).step;
    // Rank 1 is dead, so its checkpoint stays; rank 0 may still take a step or two before it is stopped.
    const atKill = [stepOf(0), stepOf(1)];
    const { code } = await agent.exited(60_000);
    const events = readIf(join(ckpt, 'events.log')) ?? '';
    assert.equal(code, 0, `agent exit code\n${agent.stderr()}`);
    assert.ok(!pidAlive(rank0pid), 'the surviving worker of the failed group was stopped');
    // Both ranks were started again (restart 1) and resumed from a checkpoint past step 0.
    for (const r of [0, 1]) {
      const m = new RegExp(`done rank=${r} restart=1 world=2 resumedFrom=(\\d+)`).exec(events);
      assert.ok(m !== null, `rank ${r} finished in the restarted group\n${events}`);
      assert.ok(atKill[1] >= 5);
      const from = Number(m[1]);
      if (r === 1) assert.equal(from, atKill[1], 'rank 1 resumed from the checkpoint it had when killed');
      else assert.ok(from >= atKill[0], `rank 0 resumed from its checkpoint (step ${from}, had ${atKill[0]} at the kill)`);
    }
    assert.match(agent.stderr(), /rank 1 killed by SIGKILL/);
    assert.match(agent.stdout(), /\[rank0\]:rank 0 starting at step \d+ \(restart 1\)/);
    assert.ok(readIf(join(tmp.path, 'logs', 'attempt_1', '1', 'stdout.log'))?.includes('rank 1 done'), 'per-rank log file kept');
  } finally {
    tmp.remove();
  }
});
