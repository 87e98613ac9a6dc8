import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { FIXTURES, pidAlive, readIf, startAgent, tempDir, waitFor, waitListening, type RunningAgent } from './harness.js';

interface Start {
  rank: number;
  world: number;
  round: number;
  pid: number;
  agent: number;
}

function starts(events: string): Start[] {
  return [...events.matchAll(/start rank=(\d+) world=(\d+) round=(\d+) node=\d+ from=\d+ pid=(\d+) agent=(\d+)/g)].map((m) => ({
    rank: Number(m[1]),
    world: Number(m[2]),
    round: Number(m[3]),
    pid: Number(m[4]),
    agent: Number(m[5]),
  }));
}

function stepsAt(events: string, world: number): number {
  return [...events.matchAll(/step \d+ world=(\d+)/g)].filter((m) => Number(m[1]) === world).length;
}


async function elasticScenario(backend: 'tcp' | 'etcd', endpoint: string, hostFirst: boolean): Promise<void> {
  const tmp = tempDir();
  const agents: RunningAgent[] = [];
  try {
    const events = (): string => readIf(join(tmp.path, 'events.log')) ?? '';
    const args = (extraConf: string): string[] => [
      '--nnodes', '2:4', '--nproc-per-node', '1', '--rdzv-backend', backend, '--rdzv-endpoint', endpoint, '--rdzv-id', `job-${backend}`,
      '--rdzv-conf', `token=test-token,join_timeout=60,last_call_timeout=1.5,keep_alive_interval=0.4,keep_alive_max_attempt=3${extraConf}`,
      '--max-restarts', '5', '--monitor-interval', '0.2', '--grace-period', '2', '--standby-workers', '0',
      join(FIXTURES, 'elastic-train.mjs'),
    ];
    const env = { OUT_DIR: tmp.path, TOTAL_STEPS: '80', STEP_MS: '100' };
    agents.push(startAgent(args(hostFirst ? ',is_host=true' : ''), env));
    // The others find the port taken and connect (whoever binds first hosts a tcp store).
    if (hostFirst) await waitListening(Number(endpoint.split(':')[1]), 20_000);
    agents.push(startAgent(args(''), env));
    agents.push(startAgent(args(''), env));
    const [a, b, c] = agents;
    await waitFor('3 workers in a world of 3', () => starts(events()).filter((s) => s.world === 3).length >= 3 && stepsAt(events(), 3) >= 3, 45_000, 50);

    // Kill a whole node (not the store's host): its agent with SIGKILL, its worker dies with it.
    const cWorker = starts(events()).find((s) => s.world === 3 && s.agent === c.child.pid);
    assert.ok(cWorker !== undefined, events());
    c.child.kill('SIGKILL');
    await waitFor('the node\'s worker to die', () => !pidAlive(cWorker.pid), 10_000);
    await waitFor('the two others to re-rendezvous and train in a world of 2', () => starts(events()).filter((s) => s.world === 2).length >= 2 && stepsAt(events(), 2) >= 3, 45_000, 50);

    // A 4th node arrives: the next round takes it in (scale-up).
    const d = startAgent(args(''), env);
    agents.push(d);
    const lastRound2 = Math.max(...starts(events()).filter((s) => s.world === 2).map((s) => s.round));
    await waitFor('a scale-up to a world of 3', () => starts(events()).filter((s) => s.world === 3 && s.round > lastRound2).length >= 3, 45_000, 50);
    for (const ag of [a, b, d]) {
      const r = await ag.exited(90_000);
      assert.equal(r.code, 0, `agent exit\n${ag.stderr()}`);
    }
    const ev = events();
    assert.match(ev, /done rank=0 world=3/);
    assert.ok(stepsAt(ev, 2) >= 3, 'trained with the smaller world');
    assert.ok(starts(ev).some((s) => s.world === 3 && s.agent === d.child.pid), 'the new node\'s worker took part');
    // The global step never went backwards by more than the steps lost to a restart.
    const steps = [...ev.matchAll(/step (\d+) world/g)].map((m) => Number(m[1]));
    assert.equal(Math.max(...steps), 80);
    assert.match(a.stderr() + b.stderr(), /rendezvous moved on|node\(s\) waiting to join/);
  } finally {
    for (const ag of agents) ag.child.kill('SIGKILL');
    tmp.remove();
  }
}

test('3 agents on loopback with the TCP store: a node dies -> the others finish with a smaller world; a 4th joins -> scale-up', async () => {
  const port = await freePort();
  await elasticScenario('tcp', `127.0.0.1:${port}`, true);
});

test('the same with etcd (v3) as the store', async () => {
  const etcd = await startEtcd();
  try {
    await elasticScenario('etcd', etcd.endpoint, false);
  } finally {
    await etcd.stop();
  }
});

test('an agent with a wrong token is refused', async () => {
  const port = await freePort();
  const tmp = tempDir();
  const conf = 'join_timeout=20,last_call_timeout=1';
  const host = startAgent(['--nnodes', '2', '--rdzv-endpoint', `127.0.0.1:${port}`, '--rdzv-conf', `${conf},is_host=true,token=right-token`, join(FIXTURES, 'hello.mjs')]);
  try {
    await waitListening(port, 20_000);
    const intruder = startAgent(['--nnodes', '2', '--rdzv-endpoint', `127.0.0.1:${port}`, '--rdzv-conf', `${conf},token=wrong-token`, join(FIXTURES, 'hello.mjs')]);
    const r = await intruder.exited(30_000);
    assert.equal(r.code, 1, intruder.stderr());
    assert.match(intruder.stderr(), /token/i);
    assert.match(host.stderr(), /refused|token/i, 'the host logs the refusal');
  } finally {
    host.child.kill('SIGKILL');
    tmp.remove();
  }
});

test('a node beyond --nnodes max waits as a hot spare and takes a failed node\'s place', async () => {
  const tmp = tempDir();
  const agents: RunningAgent[] = [];
  try {
    const port = await freePort();
    const events = (): string => readIf(join(tmp.path, 'events.log')) ?? '';
    const args = (conf: string): string[] => [
      '--nnodes', '2', '--nproc-per-node', '1', '--rdzv-endpoint', `127.0.0.1:${port}`, '--rdzv-id', 'spare-job',
      '--rdzv-conf', `token=t,join_timeout=60,last_call_timeout=0.5,keep_alive_interval=0.4,keep_alive_max_attempt=3${conf}`,
      '--max-restarts', '3', '--monitor-interval', '0.1', '--grace-period', '2', '--standby-workers', '0', join(FIXTURES, 'elastic-train.mjs'),
    ];
    const env = { OUT_DIR: tmp.path, TOTAL_STEPS: '50', STEP_MS: '100' };
    const a = startAgent(args(',is_host=true'), env);
    agents.push(a);
    await waitListening(port, 20_000);
    agents.push(startAgent(args(''), env));
    await waitFor('a world of 2 training', () => starts(events()).length >= 2 && stepsAt(events(), 2) >= 2, 45_000, 50);
    const spare = startAgent(args(''), env);
    agents.push(spare);
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(!starts(events()).some((s) => s.agent === spare.child.pid), 'the spare did not disturb the running round');
    const victim = agents[1];
    victim.child.kill('SIGKILL');
    await waitFor('the spare to take the place', () => starts(events()).some((s) => s.agent === spare.child.pid && s.world === 2), 30_000, 50);
    assert.equal((await a.exited(60_000)).code, 0, a.stderr());
    assert.equal((await spare.exited(60_000)).code, 0, spare.stderr());
    assert.match(events(), /step 50 world=2/);
  } finally {
    for (const ag of agents) ag.child.kill('SIGKILL');
    tmp.remove();
  }
});

test('static backend: 2 nodes with fixed ranks; a worker failure on one node restarts both', async () => {
  const tmp = tempDir();
  const agents: RunningAgent[] = [];
  try {
    const port = await freePort();
    const args = (rank: number): string[] => [
      '--rdzv-backend', 'static', '--nnodes', '2', '--node-rank', String(rank), '--nproc-per-node', '2', '--rdzv-endpoint', `127.0.0.1:${port}`,
      '--rdzv-conf', `token=t,join_timeout=30${rank === 0 ? ',is_host=true' : ''}`, '--max-restarts', '1', '--monitor-interval', '0.1', '--grace-period', '2', '--standby-workers', '0',
      join(FIXTURES, 'crash-once.mjs'),
    ];
    const env = { OUT_DIR: tmp.path, CRASH_RANK: '3' };
    agents.push(startAgent(args(0), env));
    await waitListening(port, 20_000);
    agents.push(startAgent(args(1), env));
    for (const ag of agents) assert.equal((await ag.exited(60_000)).code, 0, ag.stderr());
    const ev = readIf(join(tmp.path, 'events.log')) ?? '';
    for (let r = 0; r < 4; r++) {
      assert.match(ev, new RegExp(`start rank=${r} world=4 group=${Math.floor(r / 2)} restart=0`));
      assert.match(ev, new RegExp(`done rank=${r} restart=1`));
    }
    const masters = new Set([...ev.matchAll(/restart=1 master=(\S+)/g)].map((m) => m[1]));
    assert.equal(masters.size, 1, 'every rank of a round agrees on MASTER_ADDR:MASTER_PORT');
  } finally {
    for (const ag of agents) ag.child.kill('SIGKILL');
    tmp.remove();
  }
});

test('the agent hosting the TCP store waits for the other nodes to finish before it takes the store away', async () => {
  const tmp = tempDir();
  const agents: RunningAgent[] = [];
  try {
    const port = await freePort();
    const args = (rank: number): string[] => [
      '--rdzv-backend', 'static', '--nnodes', '2', '--node-rank', String(rank), '--nproc-per-node', '1', '--rdzv-endpoint', `127.0.0.1:${port}`,
      '--rdzv-conf', `token=t,join_timeout=30${rank === 0 ? ',is_host=true' : ''}`, '--monitor-interval', '0.1', '--standby-workers', '0',
      join(FIXTURES, 'slow-node.mjs'),
    ];
    const env = { OUT_DIR: tmp.path, SLOW_MS: '3000' };
    agents.push(startAgent(args(0), env));
    await waitListening(port, 20_000);
    agents.push(startAgent(args(1), env));
    const [host, other] = agents;
    const h = await host.exited(60_000);
    const o = await other.exited(60_000);
    assert.equal(o.code, 0, `the node finishing last still had its store:\n${other.stderr()}`);
    assert.equal(h.code, 0, host.stderr());
    assert.match(host.stderr(), /hosting the store: waiting for 1 other node\(s\) to finish/);
    assert.match(other.stdout(), /rank 1 done/);
  } finally {
    for (const ag of agents) ag.child.kill('SIGKILL');
    tmp.remove();
  }
});
