import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JobMonitor, PrometheusExporter, formatJobStatus, readJobLog } from '../../src/metrics/index.js';

function clock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

function runScenario(m: JobMonitor, c: { advance: (ms: number) => void }): void {
  m.record({ type: 'job-start', maxRestarts: 3, nprocPerNode: 2, nnodes: '1' });
  m.record({ type: 'rendezvous', round: 1, worldSize: 2, nodeRank: 0, nnodes: 1 });
  m.record({ type: 'workers-started', restartCount: 0, ranks: [0, 1] });
  for (let s = 1; s <= 5; s++) {
    c.advance(300);
    for (const r of [0, 1]) m.workerReport(r, { step: s, loss: 1 / s, samples: 10, checkpoints: s === 4 ? [{ op: 'save', tier: 'nvme', seconds: 0.02, bytes: 1000, step: 4 }] : undefined });
  }
  c.advance(100);
  m.record({ type: 'failure', rank: 1, exitCode: null, signal: 'SIGKILL', reason: 'killed by SIGKILL' });
  c.advance(400);
  m.record({ type: 'restart', restartCount: 1, maxRestarts: 3 });
  m.record({ type: 'rendezvous', round: 2, worldSize: 2, nodeRank: 0, nnodes: 1 });
  m.record({ type: 'workers-started', restartCount: 1, ranks: [0, 1] });
  c.advance(100);
  m.workerReport(0, { resumedFrom: { tier: 'nvme', step: 4 } });
  m.workerReport(0, { step: 5, loss: 0.2, samples: 10 });
}

test('a job monitor times a recovery from the failure to the first step after it, by the tier resumed from', () => {
  const c = clock();
  const m = new JobMonitor({ job: 'j', node: 'n', now: c.now });
  runScenario(m, c);
  const s = m.snapshot();
  assert.deepEqual(s.lastRecovery, { seconds: 0.5, tier: 'nvme', step: 4 });
  assert.equal(s.restartCount, 1);
  assert.equal(s.failuresTotal, 1);
  assert.equal(s.workers.find((w) => w.rank === 1)?.failures, 1);
  assert.equal(s.samplesTotal[0], 60, 'counters continue across the restart');
  assert.deepEqual(s.checkpointsPerTier, { nvme: 2 });
});

test('a bad worker report is dropped, never thrown', () => {
  const m = new JobMonitor({ job: 'j', node: 'n' });
  for (const bad of [null, 'x', { step: -1 }, { loss: 'high' }, { checkpoints: [{ op: 'burn' }] }]) m.workerReport(0, bad);
  assert.equal(m.snapshot().workers.length, 0);
});

test('the job files replay to the same state the live monitor had', () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-monitor-'));
  try {
    const c = clock();
    const m = new JobMonitor({ job: 'job/../x', node: 'n', logDir: dir, now: c.now, stepRecordIntervalMs: 0 });
    runScenario(m, c);
    const live = m.snapshot();
    m.close();
    const file = join(dir, 'job_.._x.events.jsonl');
    assert.equal(statSync(file).mode & 0o777, 0o600, 'owner-only');
    const replayed = readJobLog(dir).snapshot();
    for (const k of ['restartCount', 'failuresTotal', 'lastRecovery', 'lastCheckpoint', 'checkpointsPerTier', 'worldSize', 'maxRestarts'] as const) assert.deepEqual(replayed[k], live[k], k);
    assert.deepEqual(replayed.workers.map((w) => [w.rank, w.step, w.failures]), live.workers.map((w) => [w.rank, w.step, w.failures]));
    assert.equal(replayed.steps.length, live.steps.length);
    const text = formatJobStatus(replayed);
    assert.match(text, /restarts 1 of 3/);
    assert.match(text, /rank 1 +\S+ +step 5/);
    assert.match(text, /nvme +step 4/);
    assert.match(text, /recovered in 0\.500 s from nvme at step 4/);
    assert.ok(readFileSync(file, 'utf8').split('\n').filter(Boolean).every((l) => JSON.parse(l).job === 'job/../x'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

test('the Prometheus text has every metric, labelled by job, node, rank and tier, and counters never go back', async () => {
  const c = clock();
  const m = new JobMonitor({ job: 'j', node: 'n', now: c.now });
  const e = new PrometheusExporter(m);
  runScenario(m, c);
  const text = await e.metrics();
  assert.equal(sample(text, 'eh_step', { job: 'j', node: 'n', rank: '0' }), 5);
  assert.equal(sample(text, 'eh_world_size', { job: 'j', node: 'n' }), 2);
  assert.equal(sample(text, 'eh_restarts_total', { job: 'j' }), 1);
  assert.equal(sample(text, 'eh_samples_total', { rank: '0' }), 60);
  assert.equal(sample(text, 'eh_recovery_seconds_count', { tier: 'nvme' }), 1);
  assert.equal(sample(text, 'eh_checkpoint_save_seconds_count', { tier: 'nvme' }), 2);
  assert.equal(sample(text, 'eh_worker_state', { rank: '1', state: 'starting' }), 1);
  m.workerReport(0, { step: 6, samples: 5 });
  const again = await e.metrics();
  assert.equal(sample(again, 'eh_samples_total', { rank: '0' }), 65);
  assert.equal(sample(again, 'eh_recovery_seconds_count', { tier: 'nvme' }), 1, 'an observation is counted once');
});

test('a scrape reads one snapshot: reports arriving while it is written do not show up half-applied', async () => {
  const m = new JobMonitor({ job: 'j', node: 'n' });
  const e = new PrometheusExporter(m);
  m.record({ type: 'workers-started', restartCount: 0, ranks: [0, 1] });
  m.workerReport(0, { step: 1 });
  m.workerReport(1, { step: 1 });
  const scrape = e.metrics();
  // A new generation's reports while the registry is being read (its collection awaits between metrics).
  m.record({ type: 'restart', restartCount: 1, maxRestarts: 5 });
  m.workerReport(0, { step: 99 });
  const text = await scrape;
  assert.equal(sample(text, 'eh_step', { rank: '0' }), 1);
  assert.equal(sample(text, 'eh_restarts_total', { job: 'j' }), 0);
  const next = await e.metrics();
  assert.equal(sample(next, 'eh_step', { rank: '0' }), 99);
  assert.equal(sample(next, 'eh_restarts_total', { job: 'j' }), 1);
});
