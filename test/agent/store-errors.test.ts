/**
 * Store errors that change a job's outcome are never swallowed: a failed claim of a restart, a restart
 * count that cannot be read, a root cause that cannot be recorded each end the job with a clear
 * DistributedSetupError after a bounded retry, never an uncounted restart (which let a crashing job
 * restart for ever). The store is an in-memory one that fails chosen calls (a unit test of the loop's
 * logic); the worker is a real process that crashes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ElasticTrainingConfig, StaticRendezvous, type AgentStore, type RoundInfo, type StaticRendezvousOptions } from '../../src/agent/index.js';
import { AgentSignals } from '../../src/agent/agent-signals.js';
import { JobRecord, StoredRecordError } from '../../src/agent/job-record.js';
import { MemoryHolder } from '../../src/agent/memory-holder.js';
import { runRestartLoop, type AgentState } from '../../src/agent/restart-loop.js';
import { MemoryStore, type CompareAndSetResult, type Store } from '../../src/rendezvous/index.js';
import { FIXTURES, tempDir } from './harness.js';

type Op = 'get' | 'compareAndSet' | 'add' | 'set';

/** Fails every call of `op` on a key containing `match`, once `armed` (after the round is joined). */
class FailingStore extends MemoryStore {
  armed = false;
  calls = 0;
  constructor(private readonly op: Op, private readonly match: string) {
    super();
  }
  private check(op: Op, key: string): void {
    if (this.armed && op === this.op && key.includes(this.match)) {
      this.calls += 1;
      throw new Error(`ECONNRESET (test: ${op} ${key})`);
    }
  }
  override async get(key: string): Promise<string | undefined> {
    this.check('get', key);
    return super.get(key);
  }
  override async compareAndSet(key: string, expected: string | undefined, desired: string): Promise<CompareAndSetResult> {
    this.check('compareAndSet', key);
    return super.compareAndSet(key, expected, desired);
  }
  override async add(key: string, delta: number): Promise<number> {
    this.check('add', key);
    return super.add(key, delta);
  }
}

/** Arms the store's failures once the round is joined. */
class ArmingRendezvous extends StaticRendezvous {
  constructor(store: Store, o: StaticRendezvousOptions, private readonly arm: () => void) {
    super(store, o);
  }
  override async nextRendezvous(e: { localWorldSize: number }): Promise<RoundInfo> {
    const r = await super.nextRendezvous(e);
    this.arm();
    return r;
  }
}

async function runWith(store: Store, arm: () => void): Promise<{ exitCode: number; report: string; restarts: number; attempts: number }> {
  const tmp = tempDir();
  try {
    const config = new ElasticTrainingConfig({ standalone: true, minNodes: 1, maxNodes: 1, nprocPerNode: 1, maxRestarts: 3, gracePeriod: 2, logDir: tmp.path, standbyWorkers: 0, rdzvId: 'store-errors' });
    const agentStore: AgentStore = { store, backend: 'tcp', endpoint: '127.0.0.1:1', token: 't', hosting: true, close: async () => undefined };
    const rdzv = new ArmingRendezvous(store, { runId: 'store-errors', nodeCount: 1, nodeRank: 0, nodeId: 'n0', addr: '127.0.0.1', joinTimeoutMs: 5000 }, arm);
    const state: AgentState = { group: undefined, standby: undefined, attempts: 0, lastNodeCount: 1, restarts: 0 };
    const res = await runRestartLoop({
      config, script: join(FIXTURES, 'crash.mjs'), scriptArgs: [], cwd: process.cwd(), env: process.env, nodeId: 'n0', log: () => undefined,
      memory: new MemoryHolder(1024), signals: new AgentSignals(), store: agentStore, rdzv, job: new JobRecord(store, 'store-errors'), logDir: tmp.path, state,
    });
    if (state.group !== undefined) await state.group.stop('SIGKILL', 0);
    return { exitCode: res.exitCode, report: res.report ?? '', restarts: res.restarts, attempts: res.attempts };
  } finally {
    tmp.remove();
  }
}

test('a store error on the compare-and-set that claims a failure ends the job; the restart is not left uncounted', async () => {
  const store = new FailingStore('compareAndSet', 'failure-claimed');
  const r = await runWith(store, () => (store.armed = true));
  assert.equal(r.exitCode, 1);
  assert.equal(r.attempts, 1, 'no restart went uncounted');
  assert.match(r.report, /could not be reached to claim the restart of the failed round after 3 tries/);
  assert.equal(store.calls, 3, 'a bounded retry');
});

test('a restart count that cannot be read does not read as 0 restarts', async () => {
  const store = new FailingStore('get', 'restart_count');
  const r = await runWith(store, () => (store.armed = true));
  assert.equal(r.exitCode, 1);
  assert.equal(r.attempts, 0, 'no worker started with a made-up TORCHELASTIC_RESTART_COUNT');
  assert.match(r.report, /could not be reached to read the restart count/);
});

test('a first-failure record that cannot be written ends the job with the reason', async () => {
  const store = new FailingStore('compareAndSet', 'first-failure');
  const r = await runWith(store, () => (store.armed = true));
  assert.equal(r.exitCode, 1);
  assert.equal(r.attempts, 1);
  assert.match(r.report, /could not be reached to record the first failure/);
  assert.match(r.report, /boom from rank 0/, 'the report still names the failure it has');
});

test('a damaged first-failure record is refused by name, not taken for a FailureRecord', async () => {
  const store = new MemoryStore();
  await store.set('job/eh/first-failure', JSON.stringify({ reason: 'exit', rank: 'zero' }));
  await assert.rejects(new JobRecord(store, 'job').firstFailure(), (e: unknown) => e instanceof StoredRecordError && /first-failure/.test(e.message) && /rank/.test(e.message));
  await store.set('job/eh/first-failure', '{not json');
  await assert.rejects(new JobRecord(store, 'job').firstFailure(), /not JSON/);
});
