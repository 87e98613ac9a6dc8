/**
 * Exactly once across failures and world sizes 2 -> 1 -> 2: two agents (`--nnodes 1:2`, etcd) run
 * test/data/e2e-worker.ts; a worker is SIGKILLed, then a whole agent, then a new agent joins. A sample counts
 * as committed when its step is at or before the checkpoint the next group resumed from (later steps are
 * redone), or when the final group trained it; each id of each epoch must be committed exactly once.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startEtcd } from '../helpers/etcd.js';
import { ROOT, pidAlive, readIf, startAgent, tempDir, waitFor, type RunningAgent } from '../agent/harness.js';

interface Ev {
  t: string;
  round: number;
  restart: number;
  rank?: number;
  world?: number;
  step?: number;
  epoch?: number;
  ids?: number[];
  resumed?: number;
  pid: number;
  agent: number;
  samples?: number;
}

test('exactly once: worker and agent SIGKILLs, world sizes 2 -> 1 -> 2 on etcd: each sample id of each epoch committed once', async () => {
  const tmp = tempDir('eh-data-once-');
  const etcd = await startEtcd();
  const agents: RunningAgent[] = [];
  try {
    const eventsPath = join(tmp.path, 'events.log');
    const evs = (): Ev[] => (readIf(eventsPath) ?? '').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Ev);
    const args = [
      '--nnodes', '1:2', '--nproc-per-node', '1', '--rdzv-backend', 'etcd', '--rdzv-endpoint', etcd.endpoint, '--rdzv-id', 'once',
      '--rdzv-conf', 'token=t,join_timeout=60,last_call_timeout=1,keep_alive_interval=0.3,keep_alive_max_attempt=3',
      '--max-restarts', '10', '--grace-period', '2', '--standby-workers', '0', join(ROOT, 'test', 'data', 'e2e-worker.ts'),
    ];
    const env = { EVENTS: eventsPath, CKPT: join(tmp.path, 'ckpt'), N: '300', EPOCHS: '3', STEP_MS: '120', CKPT_EVERY: '3' };
    const a = startAgent(args, env);
    const b = startAgent(args, env);
    agents.push(a, b);
    const stepsOf = (world: number): number => evs().filter((e) => e.t === 'step' && e.world === world).length;
    await waitFor('a world of 2 training', () => stepsOf(2) >= 5, 60_000, 100);
    // 1. A worker of agent b dies: both agents restart their workers, still 2.
    const bWorker = evs().filter((e) => e.t === 'start' && e.agent === b.child.pid).at(-1)!;
    process.kill(bWorker.pid, 'SIGKILL');
    const before = stepsOf(2);
    await waitFor('training again with 2 after the worker kill', () => evs().some((e) => e.t === 'start' && e.world === 2 && e.pid !== bWorker.pid && e.agent === b.child.pid) && stepsOf(2) >= before + 4, 60_000, 100);
    // 2. The whole of agent b dies: a world of 1.
    const bLast = evs().filter((e) => e.t === 'start' && e.agent === b.child.pid).at(-1)!;
    b.child.kill('SIGKILL');
    await waitFor('b\'s worker to die', () => !pidAlive(bLast.pid), 15_000);
    await waitFor('a world of 1 training', () => stepsOf(1) >= 4, 60_000, 100);
    // 3. A new agent joins: a world of 2 again, to the end.
    const c = startAgent(args, env);
    agents.push(c);
    for (const ag of [a, c]) assert.equal((await ag.exited(90_000)).code, 0, ag.stderr());

    const all = evs();
    // Groups in start order; a group is one rendezvous round's workers.
    const starts = all.filter((e) => e.t === 'start');
    const groups = [...new Set(starts.map((s) => `${s.round}/${s.restart}`))];
    const resumedOf = (g: string): number => {
      const r = new Set(starts.filter((s) => `${s.round}/${s.restart}` === g).map((s) => s.resumed));
      assert.equal(r.size, 1, `group ${g}: ranks resumed from different steps`);
      return [...r][0]!;
    };
    const worlds = groups.map((g) => starts.find((s) => `${s.round}/${s.restart}` === g)!.world);
    assert.ok(worlds.join(',').includes('2,1') && /1(,1)*,2/.test(worlds.join(',')), `worlds ${worlds}`);
    const count = Array.from({ length: 3 }, () => new Uint8Array(300));
    groups.forEach((g, i) => {
      const from = resumedOf(g);
      const until = i + 1 < groups.length ? resumedOf(groups[i + 1]) : Infinity;
      for (const e of all) {
        if (e.t !== 'ids' || `${e.round}/${e.restart}` !== g || e.step! <= from || e.step! > until) continue;
        for (const id of e.ids!) count[e.epoch!][id]++;
      }
    });
    count.forEach((c, epoch) => {
      const bad = [...c].map((n, id) => [id, n]).filter(([, n]) => n !== 1);
      assert.equal(bad.length, 0, `epoch ${epoch}: ids not committed exactly once: ${JSON.stringify(bad.slice(0, 10))}`);
    });
    // Constant batch: every optimizer step but an epoch's last took the target global batch, in any world.
    for (const e of all.filter((x) => x.t === 'step')) assert.ok(e.samples === 32 || e.samples! < 32);
  } finally {
    for (const ag of agents) ag.child.kill('SIGKILL');
    await etcd.stop();
    tmp.remove();
  }
});
