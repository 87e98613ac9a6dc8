import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { parseWorkerFigures, type CheckpointFigure, type WorkerFigures } from './figures.js';
import { EVENTS_SUFFIX, STEPS_SUFFIX, jobFileStem, type JobEvent, type JobEventBody, type StepRecord, type WorkerState } from './events.js';

export interface WorkerRow {
  rank: number;
  state: WorkerState;
  step: number | null;
  loss: number | null;
  /** Times this rank's process failed. */
  failures: number;
  lastSeen: number;
}

export interface TierCheckpoint {
  step: number | null;
  time: number;
  seconds: number;
  bytes: number;
}

/** Everything the exporter, `eh status` and the dashboard show, taken at one instant (never a mix of two generations). */
export interface JobSnapshot {
  job: string;
  node: string;
  startedAt: number | null;
  endedAt: number | null;
  outcome: string | null;
  maxRestarts: number | null;
  restartCount: number;
  round: number | null;
  worldSize: number | null;
  workers: WorkerRow[];
  lastCheckpoint: Record<string, TierCheckpoint>;
  checkpointsPerTier: Record<string, number>;
  samplesTotal: Record<number, number>;
  tokensTotal: Record<number, number>;
  failuresTotal: number;
  lastRecovery: { seconds: number; tier: string; step: number } | null;
  figures: Record<number, WorkerFigures>;
  events: JobEvent[];
  steps: StepRecord[];
}

/** What observers (the Prometheus exporter, the dashboard's live stream) are told as it happens. */
export type LiveMessage =
  | { kind: 'event'; event: JobEvent }
  | { kind: 'step'; record: StepRecord }
  | { kind: 'checkpoint-op'; rank: number; figure: CheckpointFigure }
  | { kind: 'recovery'; seconds: number; tier: string };

export interface JobMonitorOptions {
  job: string;
  node: string;
  /** Where the job's `.events.jsonl` and `.steps.jsonl` go; none: kept in memory only. */
  logDir?: string;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /** At most one step record per rank this often (ms), so a fast loop does not flood the log. */
  stepRecordIntervalMs?: number;
  /** Bounds on the history kept in memory. */
  maxEvents?: number;
  maxSteps?: number;
}

/**
 * The agent's view of its job: fed by the agent's own events and by its workers' reports, written to
 * the log dir as it goes (synchronously: an agent killed a moment later has lost nothing it recorded),
 * and read by the exporter, `eh status` and the dashboard. The same class replays a finished job's
 * files, so a live job and a logged one look the same.
 */
export class JobMonitor {
  readonly job: string;
  readonly node: string;
  private readonly now: () => number;
  private readonly stepInterval: number;
  private readonly maxEvents: number;
  private readonly maxSteps: number;
  private eventsFd: number | undefined;
  private stepsFd: number | undefined;
  private readonly listeners = new Set<(m: LiveMessage) => void>();
  private readonly lastStepWrite = new Map<number, number>();
  /** The newest step of each rank that the throttle held back: written before the next event, so the log ends at each rank's last step. */
  private readonly heldStep = new Map<number, StepRecord>();
  private state: Omit<JobSnapshot, 'workers' | 'events' | 'steps'>;
  private readonly workers = new Map<number, WorkerRow>();
  private events: JobEvent[] = [];
  private steps: StepRecord[] = [];
  /** Set at the first failure since the last recovery; the first step reported after the restart closes it. */
  private failedAt: number | null = null;
  private resumedTier: string | null = null;
  private resumedStep: number | null = null;

  constructor(options: JobMonitorOptions) {
    this.job = options.job;
    this.node = options.node;
    this.now = options.now ?? Date.now;
    this.stepInterval = options.stepRecordIntervalMs ?? 200;
    this.maxEvents = options.maxEvents ?? 2000;
    this.maxSteps = options.maxSteps ?? 20000;
    this.state = {
      job: this.job,
      node: this.node,
      startedAt: null,
      endedAt: null,
      outcome: null,
      maxRestarts: null,
      restartCount: 0,
      round: null,
      worldSize: null,
      lastCheckpoint: {},
      checkpointsPerTier: {},
      samplesTotal: {},
      tokensTotal: {},
      failuresTotal: 0,
      lastRecovery: null,
      figures: {},
    };
    if (options.logDir !== undefined) {
      mkdirSync(options.logDir, { recursive: true });
      const stem = path.join(options.logDir, jobFileStem(this.job));
      this.eventsFd = openSync(stem + EVENTS_SUFFIX, 'a', 0o600);
      this.stepsFd = openSync(stem + STEPS_SUFFIX, 'a', 0o600);
    }
  }

  /** Record something the agent did or saw. */
  record(body: JobEventBody): JobEvent {
    this.flushHeldSteps();
    const event = { ...body, time: this.now(), job: this.job, node: this.node } as JobEvent;
    this.write(this.eventsFd, event);
    this.apply(event);
    return event;
  }

  /** A worker's report (anything: it is validated here, and a bad one is dropped). */
  workerReport(rank: number, raw: unknown): void {
    const figures = parseWorkerFigures(raw);
    if (figures === undefined) return;
    const t = this.now();
    const row = this.row(rank, t);
    row.lastSeen = t;
    const previous = this.state.figures[rank] ?? {};
    this.state.figures[rank] = { ...previous, ...figures, checkpoints: undefined, resumedFrom: undefined, samples: undefined, tokens: undefined };
    if (figures.samples !== undefined) this.state.samplesTotal[rank] = (this.state.samplesTotal[rank] ?? 0) + figures.samples;
    if (figures.tokens !== undefined) this.state.tokensTotal[rank] = (this.state.tokensTotal[rank] ?? 0) + figures.tokens;
    if (figures.resumedFrom !== undefined) {
      this.resumedTier = figures.resumedFrom.tier;
      this.resumedStep = figures.resumedFrom.step;
    }
    for (const c of figures.checkpoints ?? []) {
      this.emit({ kind: 'checkpoint-op', rank, figure: c });
      if (c.op === 'save') this.record({ type: 'checkpoint', rank, tier: c.tier, step: c.step ?? figures.step ?? null, seconds: c.seconds, bytes: c.bytes });
    }
    if (figures.step !== undefined) {
      row.step = figures.step;
      if (figures.loss !== undefined) row.loss = figures.loss;
      if (row.state === 'starting') this.setWorkerState(rank, 'running');
      if (this.failedAt !== null) {
        const seconds = (t - this.failedAt) / 1000;
        const tier = this.resumedTier ?? 'none';
        this.failedAt = null;
        this.record({ type: 'recovery', rank, seconds, tier, step: this.resumedStep ?? figures.step });
        this.emit({ kind: 'recovery', seconds, tier });
      }
      const record: StepRecord = { time: t, rank, step: figures.step };
      if (figures.loss !== undefined) record.loss = figures.loss;
      if (figures.lr !== undefined) record.lr = figures.lr;
      if (figures.samplesPerSec !== undefined) record.samplesPerSec = figures.samplesPerSec;
      if (figures.tokensPerSec !== undefined) record.tokensPerSec = figures.tokensPerSec;
      const last = this.lastStepWrite.get(rank);
      if (last === undefined || t - last >= this.stepInterval) this.writeStep(record);
      else this.heldStep.set(rank, record);
    }
  }

  private writeStep(record: StepRecord): void {
    this.heldStep.delete(record.rank);
    this.lastStepWrite.set(record.rank, record.time);
    this.write(this.stepsFd, record);
    this.pushStep(record);
    this.emit({ kind: 'step', record });
  }

  private flushHeldSteps(): void {
    for (const record of [...this.heldStep.values()]) this.writeStep(record);
  }

  setWorkerState(rank: number, state: WorkerState): void {
    const row = this.workers.get(rank);
    if (row !== undefined && row.state === state) return;
    this.record({ type: 'worker-state', rank, state });
  }

  /** Replay one line of a job's files (events or steps); lines that are not ours are skipped. */
  replayLine(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const v = value as Record<string, unknown>;
    if (typeof v.type === 'string' && typeof v.time === 'number') this.apply(v as unknown as JobEvent);
    else if (typeof v.rank === 'number' && typeof v.step === 'number' && typeof v.time === 'number') {
      const record = v as unknown as StepRecord;
      const row = this.row(record.rank, record.time);
      row.step = record.step;
      if (typeof record.loss === 'number') row.loss = record.loss;
      this.pushStep(record);
    }
  }

  snapshot(): JobSnapshot {
    return structuredClone({
      ...this.state,
      workers: [...this.workers.values()].sort((a, b) => a.rank - b.rank),
      events: this.events,
      steps: this.steps,
    });
  }

  subscribe(listener: (m: LiveMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.flushHeldSteps();
    for (const fd of [this.eventsFd, this.stepsFd]) if (fd !== undefined) closeSync(fd);
    this.eventsFd = this.stepsFd = undefined;
    this.listeners.clear();
  }

  private apply(event: JobEvent): void {
    const s = this.state;
    switch (event.type) {
      case 'job-start':
        s.job = event.job;
        s.node = event.node;
        s.startedAt = event.time;
        s.maxRestarts = event.maxRestarts;
        break;
      case 'rendezvous':
        s.round = event.round;
        s.worldSize = event.worldSize;
        break;
      case 'world-size':
        s.worldSize = event.to;
        break;
      case 'workers-started':
        s.restartCount = event.restartCount;
        for (const rank of [...this.workers.keys()]) if (!event.ranks.includes(rank)) this.workers.delete(rank);
        for (const rank of event.ranks) this.row(rank, event.time).state = 'starting';
        break;
      case 'failure':
        s.failuresTotal += 1;
        this.row(event.rank, event.time).failures += 1;
        this.row(event.rank, event.time).state = 'failed';
        if (this.failedAt === null) this.failedAt = event.time;
        this.resumedTier = null;
        this.resumedStep = null;
        break;
      case 'restart':
        s.restartCount = event.restartCount;
        for (const row of this.workers.values()) if (row.state !== 'failed') row.state = 'restarting';
        break;
      case 'checkpoint':
        s.lastCheckpoint[event.tier] = { step: event.step, time: event.time, seconds: event.seconds, bytes: event.bytes };
        s.checkpointsPerTier[event.tier] = (s.checkpointsPerTier[event.tier] ?? 0) + 1;
        break;
      case 'recovery':
        s.lastRecovery = { seconds: event.seconds, tier: event.tier, step: event.step };
        this.failedAt = null;
        break;
      case 'worker-state':
        this.row(event.rank, event.time).state = event.state;
        break;
      case 'job-end':
        s.endedAt = event.time;
        s.outcome = event.outcome;
        break;
    }
    this.events.push(event);
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
    this.emit({ kind: 'event', event });
  }

  private row(rank: number, time: number): WorkerRow {
    let row = this.workers.get(rank);
    if (row === undefined) {
      row = { rank, state: 'starting', step: null, loss: null, failures: 0, lastSeen: time };
      this.workers.set(rank, row);
    }
    return row;
  }

  /** Past the bound, every other old point goes: the plot keeps its whole span at half the density. */
  private pushStep(record: StepRecord): void {
    this.steps.push(record);
    if (this.steps.length > this.maxSteps) {
      const half = Math.floor(this.steps.length / 2);
      this.steps = [...this.steps.slice(0, half).filter((_, i) => i % 2 === 0), ...this.steps.slice(half)];
    }
  }

  private emit(message: LiveMessage): void {
    for (const l of this.listeners) {
      try {
        l(message);
      } catch {
        // An observer's failure (a closed dashboard connection) must not stop the agent's bookkeeping.
      }
    }
  }

  private write(fd: number | undefined, value: unknown): void {
    if (fd === undefined) return;
    try {
      writeSync(fd, JSON.stringify(value) + '\n');
    } catch {
      // A full disk loses log lines, never the job.
    }
  }
}
