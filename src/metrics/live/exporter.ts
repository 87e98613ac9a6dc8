import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { JobMonitor, LiveMessage } from './monitor.js';
import type { WorkerState } from './events.js';

const STATES: WorkerState[] = ['starting', 'running', 'failed', 'restarting', 'succeeded', 'stopped'];
const SECONDS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const BYTES = [1 << 10, 1 << 16, 1 << 20, 1 << 24, 1 << 26, 1 << 28, 1 << 30, 2 ** 32, 2 ** 34];

/** Every metric the agent exports: name, type and meaning (the README's table is made from this). */
export const METRIC_HELP = {
  eh_step: 'Last training step a worker reported.',
  eh_loss: 'Last loss a worker reported.',
  eh_learning_rate: 'Last learning rate a worker reported.',
  eh_samples_per_second: 'Samples per second a worker reported for its last step.',
  eh_tokens_per_second: 'Tokens per second a worker reported for its last step.',
  eh_samples_total: 'Samples a rank has trained on since the job started (continues across restarts).',
  eh_tokens_total: 'Tokens a rank has trained on since the job started (continues across restarts).',
  eh_collective_seconds: 'Time the last step of a worker spent in collectives.',
  eh_pending_async_saves: 'Asynchronous checkpoint saves a worker has queued and not yet finished.',
  eh_world_size: 'Workers in the current rendezvous round, all nodes together.',
  eh_restarts_total: 'Worker-group restarts of this job so far.',
  eh_worker_failures_total: 'Worker processes of this node that failed.',
  eh_worker_state: '1 for the state each rank is in, 0 for the others.',
  eh_recovery_seconds: 'Time from a failure to the first step after it, by the checkpoint tier recovered from.',
  eh_checkpoint_save_seconds: 'Checkpoint save time, by tier.',
  eh_checkpoint_save_bytes: 'Checkpoint bytes saved, by tier.',
  eh_checkpoint_load_seconds: 'Checkpoint load time, by tier.',
  eh_checkpoint_load_bytes: 'Checkpoint bytes loaded, by tier.',
} as const;

export type MetricName = keyof typeof METRIC_HELP;

/**
 * The Prometheus view of a JobMonitor. Observations are queued as they happen and everything is
 * written into the registry in one synchronous pass at the start of a scrape, from one snapshot:
 * nothing changes the registry while it is being read, so a scrape during a restart never mixes
 * two generations.
 */
export class PrometheusExporter {
  readonly registry = new Registry();
  private readonly pending: LiveMessage[] = [];
  private readonly unsubscribe: () => void;
  private readonly gauges;
  private readonly counters;
  private readonly histograms;
  private readonly counted = { samples: new Map<string, number>(), tokens: new Map<string, number>(), restarts: 0, failures: 0 };

  constructor(private readonly monitor: JobMonitor) {
    const reg = [this.registry];
    const g = (name: MetricName, labels: string[]) => new Gauge({ name, help: METRIC_HELP[name], labelNames: labels, registers: reg });
    const c = (name: MetricName, labels: string[]) => new Counter({ name, help: METRIC_HELP[name], labelNames: labels, registers: reg });
    const h = (name: MetricName, labels: string[], buckets: number[]) => new Histogram({ name, help: METRIC_HELP[name], labelNames: labels, buckets, registers: reg });
    const rank = ['job', 'node', 'rank'];
    const node = ['job', 'node'];
    const tier = ['job', 'node', 'tier'];
    this.gauges = {
      step: g('eh_step', rank),
      loss: g('eh_loss', rank),
      lr: g('eh_learning_rate', rank),
      sps: g('eh_samples_per_second', rank),
      tps: g('eh_tokens_per_second', rank),
      collective: g('eh_collective_seconds', rank),
      pending: g('eh_pending_async_saves', rank),
      world: g('eh_world_size', node),
      state: g('eh_worker_state', [...rank, 'state']),
    };
    this.counters = {
      samples: c('eh_samples_total', rank),
      tokens: c('eh_tokens_total', rank),
      restarts: c('eh_restarts_total', node),
      failures: c('eh_worker_failures_total', node),
    };
    this.histograms = {
      recovery: h('eh_recovery_seconds', tier, SECONDS),
      saveSeconds: h('eh_checkpoint_save_seconds', tier, SECONDS),
      saveBytes: h('eh_checkpoint_save_bytes', tier, BYTES),
      loadSeconds: h('eh_checkpoint_load_seconds', tier, SECONDS),
      loadBytes: h('eh_checkpoint_load_bytes', tier, BYTES),
    };
    this.unsubscribe = monitor.subscribe((m) => {
      if (m.kind === 'checkpoint-op' || m.kind === 'recovery') this.pending.push(m);
    });
  }

  /** The text a scrape gets. */
  async metrics(): Promise<string> {
    this.refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    this.unsubscribe();
  }

  private refresh(): void {
    const s = this.monitor.snapshot();
    const base = { job: s.job, node: s.node };
    for (const m of this.pending.splice(0)) {
      if (m.kind === 'recovery') this.histograms.recovery.observe({ ...base, tier: m.tier }, m.seconds);
      else if (m.kind === 'checkpoint-op') {
        const l = { ...base, tier: m.figure.tier };
        const [secs, bytes] = m.figure.op === 'save' ? [this.histograms.saveSeconds, this.histograms.saveBytes] : [this.histograms.loadSeconds, this.histograms.loadBytes];
        secs.observe(l, m.figure.seconds);
        bytes.observe(l, m.figure.bytes);
      }
    }
    for (const g of Object.values(this.gauges)) g.reset();
    if (s.worldSize !== null) this.gauges.world.set(base, s.worldSize);
    for (const row of s.workers) {
      const l = { ...base, rank: String(row.rank) };
      for (const state of STATES) this.gauges.state.set({ ...l, state }, row.state === state ? 1 : 0);
      if (row.step !== null) this.gauges.step.set(l, row.step);
      const f = s.figures[row.rank];
      if (f === undefined) continue;
      if (f.loss !== undefined && Number.isFinite(f.loss)) this.gauges.loss.set(l, f.loss);
      if (f.lr !== undefined) this.gauges.lr.set(l, f.lr);
      if (f.samplesPerSec !== undefined) this.gauges.sps.set(l, f.samplesPerSec);
      if (f.tokensPerSec !== undefined) this.gauges.tps.set(l, f.tokensPerSec);
      if (f.collectiveSeconds !== undefined) this.gauges.collective.set(l, f.collectiveSeconds);
      if (f.pendingSaves !== undefined) this.gauges.pending.set(l, f.pendingSaves);
    }
    // Counters only go up: add what the snapshot has beyond what was already counted.
    for (const [kind, totals] of [['samples', s.samplesTotal], ['tokens', s.tokensTotal]] as const) {
      for (const [rank, total] of Object.entries(totals)) {
        const seen = this.counted[kind].get(rank) ?? 0;
        if (total > seen) this.counters[kind].inc({ ...base, rank }, total - seen);
        this.counted[kind].set(rank, Math.max(seen, total));
      }
    }
    if (s.restartCount > this.counted.restarts) this.counters.restarts.inc(base, s.restartCount - this.counted.restarts);
    else this.counters.restarts.inc(base, 0);
    this.counted.restarts = Math.max(this.counted.restarts, s.restartCount);
    if (s.failuresTotal > this.counted.failures) this.counters.failures.inc(base, s.failuresTotal - this.counted.failures);
    else this.counters.failures.inc(base, 0);
    this.counted.failures = Math.max(this.counted.failures, s.failuresTotal);
  }
}
