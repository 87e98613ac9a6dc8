import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/ports.js';
import { FIXTURES, readIf, startAgent, tempDir, waitFor, waitListening, type RunningAgent } from './harness.js';


test('the restart count is per job: a crashing node that leaves and re-joins under a new agent cannot escape --max-restarts', async () => {
  const tmp = tempDir();
  const agents: RunningAgent[] = [];
  try {
    const port = await freePort();
    const events = (): string => readIf(join(tmp.path, 'events.log')) ?? '';
    const args = (conf: string): string[] => [
      '--nnodes', '2', '--nproc-per-node', '1', '--rdzv-endpoint', `127.0.0.1:${port}`, '--rdzv-id', 'count-job',
      '--rdzv-conf', `token=t,join_timeout=60,last_call_timeout=0.5,keep_alive_interval=0.4,keep_alive_max_attempt=3${conf}`,
      '--max-restarts', '2', '--monitor-interval', '0.1', '--grace-period', '2', '--standby-workers', '0', join(FIXTURES, 'crash-or-train.mjs'),
    ];
    const a = startAgent(args(',is_host=true'), { OUT_DIR: tmp.path });
    agents.push(a);
    await waitListening(port, 20_000);
    const b = startAgent(args(''), { OUT_DIR: tmp.path, CRASH: '1', CRASH_AFTER_MS: '1500' });
    agents.push(b);
    await waitFor('the first crash, counted (a group started with restart count 1)', () => /crash restart=0/.test(events()) && /restart=1 crash=1 agent=\d+/.test(events()), 45_000, 10);
    // The crashing node's agent dies (before its worker crashes again) and a new one takes its place at once.
    b.child.kill('SIGKILL');
    const b2 = startAgent(args(''), { OUT_DIR: tmp.path, CRASH: '1', CRASH_AFTER_MS: '1500' });
    agents.push(b2);
    const r2 = await b2.exited(90_000);
    const ra = await a.exited(30_000);
    const ev = events();
    const crashes = [...ev.matchAll(/crash restart=(\d+)/g)].map((m) => Number(m[1]));
    assert.equal(crashes.length, 3, `exactly 3 attempts crashed across both incarnations\n${ev}`);
    assert.equal(Math.max(...crashes), 2);
    const b2Starts = [...ev.matchAll(new RegExp(`restart=(\\d+) crash=1 agent=${b2.child.pid}`, 'g'))].map((m) => Number(m[1]));
    assert.ok(b2Starts.length > 0 && Math.min(...b2Starts) >= 1, `the new agent's workers started with the job's count, not 0: ${b2Starts.join(',')}`);
    assert.equal(r2.code, 1, b2.stderr());
    assert.match(b2.stderr(), /exceeded --max-restarts 2/);
    assert.match(b2.stderr(), /deliberate crash at restart 0/, 'the root cause is the first crash, from the first incarnation');
    assert.notEqual(ra.code, 0, `the healthy node's agent ends too\n${a.stderr()}`);
  } finally {
    for (const ag of agents) ag.child.kill('SIGKILL');
    tmp.remove();
  }
});
