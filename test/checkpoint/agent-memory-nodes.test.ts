/**
 * The agent-held MEMORY tier across nodes: 3 agents on loopback rendezvous through etcd; rank 0's snapshots
 * are copied to a peer node's agent. The node of rank 0 (agent and worker) is killed with SIGKILL; the two
 * survivors re-rendezvous and the new rank 0 resumes from the peer agent's copy (there is no disk tier).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { FIXTURES, pidAlive, readIf, startAgent, tempDir, waitFor, type RunningAgent } from '../agent/harness.js';
import { startEtcd } from '../helpers/etcd.js';

interface Start {
  rank: number;
  world: number;
  pid: number;
  agent: number;
  from: number;
  tier: string;
  source: string;
  verified: string;
}

function starts(events: string): Start[] {
  return [...events.matchAll(/start rank=(\d+) world=(\d+) round=\d+ restart=\d+ pid=(\d+) agent=(\d+) from=(\d+) tier=(\S+) source=(\S+) node=\S+ unreadable=\S+ verified=(\S+)/g)].map((m) => ({
    rank: Number(m[1]),
    world: Number(m[2]),
    pid: Number(m[3]),
    agent: Number(m[4]),
    from: Number(m[5]),
    tier: m[6],
    source: m[7],
    verified: m[8],
  }));
}

test('3 nodes on etcd: rank 0\'s node is killed, the new rank 0 resumes from the copy in a peer agent\'s memory', async () => {
  const etcd = await startEtcd();
  const tmp = tempDir('eh-agent-memory-nodes-');
  const agents: RunningAgent[] = [];
  try {
    const events = (): string => readIf(join(tmp.path, 'events.log')) ?? '';
    const args = [
      '--nnodes', '2:3', '--nproc-per-node', '1', '--rdzv-backend', 'etcd', '--rdzv-endpoint', etcd.endpoint, '--rdzv-id', 'mem-nodes',
      '--rdzv-conf', 'token=test-token,join_timeout=60,last_call_timeout=1.5,keep_alive_interval=0.4,keep_alive_max_attempt=3',
      '--max-restarts', '5', '--monitor-interval', '0.2', '--grace-period', '2', '--standby-workers', '0',
      join(FIXTURES, 'memory-ckpt.mjs'),
    ];
    // No disk tier to fall back on: the directory does not exist.
    const env = { OUT_DIR: tmp.path, CKPT_DIR: join(tmp.path, 'no-such-dir'), TOTAL_STEPS: '60', STEP_MS: '100' };
    for (let i = 0; i < 3; i++) agents.push(startAgent(args, env));
    const lastStep = (world: number): number => Math.max(0, ...[...events().matchAll(/step (\d+) rank=0 world=(\d+)/g)].filter((m) => Number(m[2]) === world).map((m) => Number(m[1])));
    await waitFor('3 workers training in a world of 3', () => starts(events()).filter((s) => s.world === 3).length >= 3 && lastStep(3) >= 5, 45_000, 50);
    const all = (): string => agents.map((a) => a.stderr()).join('\n');
    await waitFor('a snapshot copied to a peer', () => /copied to the agent of node/.test(all()), 20_000, 50);
    const rank0 = starts(events()).find((s) => s.world === 3 && s.rank === 0)!;
    const victim = agents.find((a) => a.child.pid === rank0.agent);
    assert.ok(victim !== undefined, events());
    const killedAt = lastStep(3);
    victim.child.kill('SIGKILL');
    process.kill(rank0.pid, 'SIGKILL');
    await waitFor('the node\'s worker to die', () => !pidAlive(rank0.pid), 10_000);
    const resumed = await waitFor('a new rank 0 in a world of 2', () => starts(events()).find((s) => s.world === 2 && s.rank === 0), 60_000, 50);
    assert.equal(resumed.tier, 'MEMORY', events());
    assert.equal(resumed.source, 'peer-agent', 'the copy was the one sent to a peer node');
    assert.equal(resumed.verified, 'ok');
    assert.ok(resumed.from > 0 && resumed.from >= killedAt - 3, `resumed from step ${resumed.from}, rank 0 was at ${killedAt}`);
    for (const a of agents.filter((x) => x !== victim)) {
      const r = await a.exited(90_000);
      assert.equal(r.code, 0, a.stderr());
    }
    assert.match(events(), /done rank=0 world=2/);
  } finally {
    for (const a of agents) a.child.kill('SIGKILL');
    tmp.remove();
    await etcd.stop();
  }
});
