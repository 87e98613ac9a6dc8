import { join } from 'node:path';
import { CheckpointLoadError, ConfigurationError } from '../errors/index.js';
import { checkpointName, isTensor, loadCheckpointToModel, type CheckpointManager, type CheckpointState, type LoadCheckpointToModelOptions, type StateDict, type StateValue } from '../checkpoint/index.js';
import { getProcessGroup, isInitialized, type ProcessGroup } from '../collective/index.js';
import { TrainingMetrics, type RecoveryEvent } from '../metrics/index.js';
import type { ElasticScalingState, TopologyChangeResult } from '../scaling/index.js';
import { FileProgressBeacon, type ProgressBeacon } from './progress-beacon.js';
import { captureTrainingState, dataComponents, type Restorable, type TrainingComponents } from './training-state.js';

export interface ResumeTrainingOptions extends TrainingComponents {
  manager: CheckpointManager;
  /** This process's place in the world; default the process group's (or a world of one). */
  world?: { rank: number; worldSize: number };
  /** Where ranks leave their last progress time; default `<nvmePath>/.eh-progress`; null: none (the
   * failure time is then the checkpoint's time, an upper bound of the recovery). */
  beacon?: ProgressBeacon | null;
  /** The failure's time (Unix seconds), when the caller knows it better than the beacon. */
  failureTime?: number;
  /** Agrees on the checkpoint across ranks; default the collective's default group when set up. */
  group?: Pick<ProcessGroup, 'allReduce'>;
  /** strict / tf, as loadCheckpointToModel takes them. */
  load?: Pick<LoadCheckpointToModelOptions, 'strict' | 'tf'>;
  /** Seconds since the epoch; default Date.now() / 1000. */
  clock?: () => number;
}

const systemClock = (): number => Date.now() / 1000;

function tensorBytes(v: StateValue): number {
  if (isTensor(v)) return v.data.byteLength;
  if (ArrayBuffer.isView(v)) return v.byteLength;
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + tensorBytes(x), 0);
  if (v !== null && typeof v === 'object') return Object.values(v).reduce((n: number, x) => n + tensorBytes(x), 0);
  return 0;
}

function restoreNamed(items: Record<string, Restorable>, saved: StateDict, what: string): void {
  for (const [name, item] of Object.entries(items)) {
    const s = saved[name];
    if (s === undefined) {
      throw new CheckpointLoadError(`the checkpoint holds no ${what} state named "${name}" (it has: ${Object.keys(saved).join(', ') || 'none'})`, {
        suggestions: [`Give the ${what} the names the run was saved with.`],
      });
    }
    (item.loadStateDict as (state: unknown) => void)(s);
  }
}

/**
 * Where a run stands after resumeTraining(): what was loaded, what changed, and the two calls the training
 * loop makes from then on (stepCompleted after each optimizer step, capture to checkpoint).
 */
export class TrainingResume {
  /** The checkpoint loaded, or null for a fresh start. */
  readonly state: CheckpointState | null;
  /** The last completed optimizer step (0 on a fresh start): the loop continues with step + 1. */
  readonly step: number;
  readonly epoch: number;
  /** The tier the checkpoint came from ('MEMORY', 'NVME', 'S3'), null on a fresh start. */
  readonly tier: string | null;
  /** The world that was running when training stopped (null on a fresh start). */
  readonly previousWorldSize: number | null;
  readonly worldSize: number;
  /** What the scaling managers did for the new world size, if it changed. */
  readonly topologyChange: TopologyChangeResult | null;
  /** When training stopped (Unix seconds): the newest progress record, else the checkpoint's time. */
  readonly failureTime: number | null;
  readonly metrics: TrainingMetrics;
  private recovered = false;

  constructor(
    init: Pick<TrainingResume, 'state' | 'step' | 'epoch' | 'tier' | 'previousWorldSize' | 'worldSize' | 'topologyChange' | 'failureTime' | 'metrics'>,
    private readonly components: TrainingComponents,
    private readonly rank: number,
    private readonly beacon: ProgressBeacon | null,
    private readonly clock: () => number,
  ) {
    this.state = init.state;
    this.step = init.step;
    this.epoch = init.epoch;
    this.tier = init.tier;
    this.previousWorldSize = init.previousWorldSize;
    this.worldSize = init.worldSize;
    this.topologyChange = init.topologyChange;
    this.failureTime = init.failureTime;
    this.metrics = init.metrics;
  }

  get resumed(): boolean {
    return this.state !== null;
  }

  /**
   * Call after every optimizer step. The first call after a resume records the RecoveryEvent (recovery time:
   * from the failure to the end of this first step) and returns it; every call updates the metrics' step and
   * this rank's progress record.
   */
  stepCompleted(step: number, options: { tokensProcessed?: number } = {}): RecoveryEvent | null {
    const now = this.clock();
    this.metrics.updateStep(step, options.tokensProcessed);
    this.beacon?.write(this.rank, { time: now, step, worldSize: this.worldSize });
    if (this.recovered || this.state === null) return null;
    this.recovered = true;
    return this.metrics.recovery.recordRecovery({
      oldWorldSize: this.previousWorldSize ?? this.worldSize,
      newWorldSize: this.worldSize,
      recoveryTime: Math.max(0, now - (this.failureTime ?? now)),
      checkpointTier: this.tier,
      stepResumed: this.step,
    });
  }

  /** The checkpoint state of the run now, in the layout resumeTraining reads (see captureTrainingState). */
  capture(at: { step: number; epoch?: number }): Promise<CheckpointState> {
    return captureTrainingState(this.components, { ...at, worldSize: this.worldSize, timestamp: this.clock() });
  }
}

/**
 * The resume path, in one order:
 * 1. every rank loads the newest whole checkpoint any tier holds, and the ranks agree on it (the oldest of
 *    their newest, so a rank whose local tier is behind still finds the same one);
 * 2. model, optimizer (whole: Adam's moments, iteration and running accBeta1/accBeta2), scheduler, then the
 *    scaling managers (after the optimizer, so their learning rate wins), the data positions, the RNGs and the
 *    metrics (in place) are restored; an accumulation window always restarts empty;
 * 3. a world size other than the one the scaling managers were saved with is applied through
 *    ElasticScalingManager (constant_batch: accumulation steps change so the global batch stays the target;
 *    variable_batch: the learning rate is rescaled, with warm-up) and recorded as an LR adjustment;
 * 4. the recovery is recorded on the first completed step (TrainingResume.stepCompleted).
 * On a fresh start only step 3 applies, against the scaling managers' base world.
 */
export async function resumeTraining(options: ResumeTrainingOptions): Promise<TrainingResume> {
  const clock = options.clock ?? systemClock;
  const group = options.group ?? (isInitialized() ? getProcessGroup() : undefined);
  const world = options.world ?? (group !== undefined && isInitialized() ? { rank: getProcessGroup().rank, worldSize: getProcessGroup().worldSize } : { rank: 0, worldSize: 1 });
  const beacon = options.beacon === undefined ? new FileProgressBeacon(join(options.manager.config.nvmePath, '.eh-progress')) : options.beacon;
  const metrics = options.metrics ?? new TrainingMetrics({ clock });
  const { manager } = options;

  const started = clock();
  let state = await manager.loadCheckpoint();
  let loadSeconds = clock() - started;
  if (group !== undefined && world.worldSize > 1) {
    const mine = state?.step ?? -1;
    const agreed = await group.allReduce(new Float64Array([mine, -mine]), 'max');
    const [newest, oldest] = [agreed[0], -agreed[1]];
    if (oldest < 0 && newest >= 0) {
      throw new CheckpointLoadError(`some ranks found the checkpoint of step ${newest}, others none: they would start from different states`, {
        suggestions: ['Keep checkpoints where every rank reads them (a shared NVMe path, S3, or the agent-held memory tier).'],
      });
    }
    if (state !== null && state.step !== oldest) {
      const t0 = clock();
      state = await manager.loadCheckpoint({ path: checkpointName(oldest) });
      loadSeconds = clock() - t0;
      if (state === null || state.step !== oldest) throw new CheckpointLoadError(`this rank cannot read ${checkpointName(oldest)}, the newest checkpoint every rank holds`, { path: checkpointName(oldest) });
    }
  }
  const tier = state === null ? null : manager.lastLoadedTier;
  const scaling = options.scaling;
  let previousWorldSize: number | null = null;
  let failureTime: number | null = null;

  if (state !== null) {
    await loadCheckpointToModel(state, { model: options.model, optimizer: options.optimizer, strict: options.load?.strict, tf: options.load?.tf });
    const lr = (state.lrSchedulerStateDict ?? {}) as { scheduler?: StateDict | null; scaling?: StateDict | null };
    if (options.scheduler !== undefined) {
      if (lr.scheduler === undefined || lr.scheduler === null) throw new CheckpointLoadError('the checkpoint holds no scheduler state', { suggestions: ['Resume without a scheduler, or from a checkpoint written with one.'] });
      (options.scheduler.loadStateDict as (s: unknown) => void)(lr.scheduler);
    }
    if (scaling !== undefined) {
      if (lr.scaling === undefined || lr.scaling === null) throw new CheckpointLoadError('the checkpoint holds no scaling state', { suggestions: ['Resume without scaling managers, or from a checkpoint written with them.'] });
      scaling.loadStateDict(lr.scaling as unknown as ElasticScalingState);
      // A window interrupted by the failure restarts empty: its micro-batches are after the checkpoint's cursor.
      scaling.accumManager?.reset();
    }
    restoreNamed(dataComponents(options), state.datasetState, 'data');
    restoreNamed(options.rngs ?? {}, state.rngStates, 'RNG');
    if (Object.keys(state.metrics).length > 0) metrics.loadJSON(state.metrics);
    // The manager records its own loads when it was given these metrics; else the resume path does.
    if ((manager as { metrics?: unknown }).metrics !== metrics && tier !== null) metrics.checkpoint.recordLoad(tier, loadSeconds, { bytes: tensorBytes(state.toDict()) });

    const progress = beacon?.latest() ?? null;
    const localFailure = Math.max(state.timestamp, progress !== null && progress.time > state.timestamp ? progress.time : 0);
    failureTime = options.failureTime ?? (group !== undefined && world.worldSize > 1 ? (await group.allReduce(new Float64Array([localFailure]), 'max'))[0] : localFailure);
    previousWorldSize = progress !== null && progress.time > state.timestamp ? progress.worldSize : state.worldSize;
  }

  let topologyChange: TopologyChangeResult | null = null;
  if (scaling !== undefined && scaling.worldSize !== world.worldSize) {
    const oldLr = scaling.lrManager.targetLr;
    topologyChange = scaling.onTopologyChange(world.worldSize);
    if (topologyChange.lr !== oldLr) {
      metrics.lr.recordAdjustment({ oldLr, newLr: topologyChange.lr, reason: state === null ? 'initial_world_size' : 'topology_change', step: state?.step ?? 0 });
    }
  }
  if (world.rank < 0 || world.rank >= world.worldSize) throw new ConfigurationError(`rank ${world.rank} is outside a world of ${world.worldSize}`, { configKey: 'world' });

  return new TrainingResume(
    {
      state,
      step: state?.step ?? 0,
      epoch: state?.epoch ?? 0,
      tier,
      previousWorldSize,
      worldSize: world.worldSize,
      topologyChange,
      failureTime,
      metrics,
    },
    { ...options, metrics },
    world.rank,
    beacon,
    clock,
  );
}
