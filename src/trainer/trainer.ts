import { basename, dirname } from 'node:path';
import { reportMetrics } from '../agent/index.js';
import { CheckpointState, CheckpointTier, NVMeBackend, type StateDict } from '../checkpoint/index.js';
import { getProcessGroup, isInitialized, ProcessGroup } from '../collective/index.js';
import { PreemptionTimeoutError, TrainerError, ValidationError, CheckpointTimeoutError, describeError } from '../errors/index.js';
import { TrainingMetrics } from '../metrics/index.js';
import type { ElasticScalingManager } from '../scaling/index.js';
import { nextWindow } from './accumulation.js';
import { TrainerCheckpointer, type BestCheckpoint } from './checkpointer.js';
import { parseMultiDataLoaderConfig, parseTrainerConfig, type GenericTrainerConfig, type GenericTrainerConfigInput, type MultiDataLoaderConfig } from './config.js';
import { checkLoader, type TrainerDataLoader } from './data-loader.js';
import { HookManager } from './hooks.js';
import { LoaderCursor, type LoaderCursorState } from './loader-cursor.js';
import { createLogger, type TrainerLogger } from './logging/index.js';
import { MetricsManager } from './metrics-manager.js';
import type { StepOutput, TrainerModel, TrainerOptimizer } from './model.js';
import { PreemptionHandler } from './preemption.js';
import { buildEpochSchedule, type ScheduledStep } from './schedule.js';

/** The user's step: gets the trainer, this rank's batch, its index in the loader's epoch, the loader's index and name. */
export type StepFunction<B = unknown> = (trainer: GenericTrainer, batch: B, batchIdx: number, dataloaderIdx: number, dataloaderName: string) => StepOutput;

export interface DistributedOptions {
  /** The group gradients are averaged over; default the one `setupDistributedEnvironment()` made, else a world of one. */
  group?: ProcessGroup;
}

export interface GenericTrainerOptions {
  config: GenericTrainerConfig | GenericTrainerConfigInput;
  model: TrainerModel;
  /** Always a list (one optimizer per parameter group). */
  optimizers: TrainerOptimizer[];
  distributed?: DistributedOptions;
  /** Rescales the learning rate (variable_batch) or accumulation (constant_batch) when the world size changes. */
  scaling?: ElasticScalingManager;
  /** Replaces the logger the config asks for. */
  logger?: TrainerLogger;
  /** Checkpoint tiers already set up (e.g. an agent-held MEMORY tier); default one built from config.checkpoint. */
  checkpointer?: TrainerCheckpointer;
}

export interface FitOptions<B = unknown> {
  trainLoaders: TrainerDataLoader<B>[];
  valLoaders?: TrainerDataLoader<B>[];
  maxEpochs: number;
}

/** The position the trainer saves: enough to continue mid-epoch with the same batches. */
interface TrainerPosition {
  version: number;
  epoch: number;
  /** Steps of the epoch's schedule already trained (always an optimizer-step boundary). */
  epochStep: number;
  /** Loader lengths the epoch's schedule was built from (kept for the whole epoch, whatever the world size). */
  epochLengths: number[];
  /**
   * Where a restart at another world size rebuilt the rest of the epoch: from step `start` on, the schedule is
   * the one of each loader's batches left at the new world size (so every sample is still taken once).
   */
  segments?: Array<{ start: number; lengths: number[] }>;
  /** The epoch's end (validation, epoch checkpoint) is done. */
  epochComplete: boolean;
  globalStep: number;
  loaders: LoaderCursorState[];
  best: BestCheckpoint | null;
}

const POSITION_VERSION = 1;

function isStepOutput(v: unknown): v is StepOutput {
  return v !== null && typeof v === 'object' && 'loss' in v;
}

/**
 * Trains a model over several loaders with a configurable schedule, gradient accumulation, checkpoints
 * (periodic, best, emergency on preemption), mid-epoch resume, hooks and logging; under `eh run` with a
 * world larger than one, one gradient allreduce per optimizer step and each rank its share of every loader.
 */
export class GenericTrainer {
  readonly config: GenericTrainerConfig;
  readonly model: TrainerModel;
  readonly optimizers: TrainerOptimizer[];
  readonly hookManager: HookManager<GenericTrainer>;
  readonly checkpointer: TrainerCheckpointer;
  readonly trainingMetrics = new TrainingMetrics();
  readonly group: ProcessGroup;
  readonly scaling: ElasticScalingManager | undefined;
  readonly logger: TrainerLogger;
  /** Set when fit() returned because of a preemption (with faultTolerance.exitOnPreemption false). */
  preempted = false;
  /** The checkpoint this run resumed from, and its tier. */
  resumedFrom: { name: string; tier: CheckpointTier | null; step: number } | null = null;
  epoch = 0;
  globalStep = 0;
  private trainingStep: StepFunction | undefined;
  private validationStep: StepFunction | undefined;
  private trainCursors: LoaderCursor[] = [];
  private position: TrainerPosition | undefined;
  private readonly trainMetrics: MetricsManager;
  private gradBuffer: Float32Array | undefined;
  private preemption: PreemptionHandler | undefined;
  private lastValidation: Record<string, number> = {};
  private reportedResume = false;
  private lastEpochMetrics: Record<string, number> = {};
  /** A checkpoint loadCheckpoint() was given before fit(). */
  private requested: { state: CheckpointState; choice: { name: string; tier: CheckpointTier | null; step: number } } | undefined;

  constructor(options: GenericTrainerOptions) {
    this.config = parseTrainerConfig(options.config);
    if (options.model === undefined || typeof options.model.computeGradients !== 'function') throw new ValidationError('model must be a TrainerModel (e.g. new TfjsModel(...) from elastic-harness/tfjs)', { configKey: 'model' });
    if (!Array.isArray(options.optimizers) || options.optimizers.length === 0) throw new ValidationError('optimizers must be a non-empty list (always a list, even of one)', { configKey: 'optimizers' });
    this.model = options.model;
    this.optimizers = options.optimizers;
    this.group = options.distributed?.group ?? (isInitialized() ? getProcessGroup() : ProcessGroup.single());
    this.scaling = options.scaling;
    this.hookManager = new HookManager<GenericTrainer>({ continueOnError: this.config.hooks.continueOnHookError });
    this.checkpointer = options.checkpointer ?? new TrainerCheckpointer(this.config.checkpoint);
    this.logger = options.logger ?? createLogger(this.config.logging, this.rank);
    this.trainMetrics = new MetricsManager({ aggregationStrategy: this.config.validation.aggregation });
  }

  get rank(): number {
    return this.group.rank;
  }

  get worldSize(): number {
    return this.group.worldSize;
  }

  get isMainProcess(): boolean {
    return this.rank === 0;
  }

  /** Validation metrics of the last validation (`val/loss`, `val/{loader}/loss`, ...). */
  get validationMetrics(): Readonly<Record<string, number>> {
    return this.lastValidation;
  }

  /** Epoch aggregates of the last finished epoch (`train/loss`, ...). */
  get epochMetrics(): Readonly<Record<string, number>> {
    return this.lastEpochMetrics;
  }

  setTrainingStep(fn: StepFunction): void {
    this.trainingStep = fn;
  }

  setValidationStep(fn: StepFunction): void {
    this.validationStep = fn;
  }

  private get accumulation(): number {
    return this.scaling?.accumManager != null ? this.scaling.accumulationSteps : this.config.performance.gradientAccumulationSteps;
  }

  private cursorsFor(loaders: TrainerDataLoader[], config: MultiDataLoaderConfig, key: string, train: boolean): LoaderCursor[] {
    if (loaders.length !== config.dataloaderNames.length) {
      throw new ValidationError(`${loaders.length} ${key} for ${config.dataloaderNames.length} names (${config.dataloaderNames.join(', ')}): give one name per loader`, { configKey: `${train ? 'trainLoaderConfig' : 'valLoaderConfig'}.dataloaderNames` });
    }
    const p = this.config.performance;
    return loaders.map((l, i) => {
      checkLoader(l, `${key}[${i}]`);
      return new LoaderCursor(l, config.dataloaderNames[i], { rank: this.rank, worldSize: this.worldSize, seed: train ? p.seed : p.seed + 7919, loaderIndex: i, shuffle: train && p.shuffle, dropLast: train && p.dropLast });
    });
  }

  /** Train for `maxEpochs` epochs (counted from epoch 0: a resumed run does only what is left). */
  async fit(options: FitOptions): Promise<void> {
    const { trainLoaders, valLoaders = [], maxEpochs } = options;
    if (!Array.isArray(trainLoaders) || trainLoaders.length === 0) throw new ValidationError('fit() needs trainLoaders: a non-empty list of loaders', { configKey: 'trainLoaders' });
    if (!Number.isSafeInteger(maxEpochs) || maxEpochs < 1) throw new ValidationError(`maxEpochs must be a whole number >= 1, got ${String(maxEpochs)}`, { configKey: 'maxEpochs' });
    if (this.trainingStep === undefined) throw new ValidationError('no training step: call setTrainingStep(fn) before fit()', { configKey: 'trainingStep' });
    const valConfig = valLoaders.length === 0 ? null : (this.config.valLoaderConfig ?? parseMultiDataLoaderConfig({ samplingStrategy: 'SEQUENTIAL', dataloaderNames: valLoaders.map((_, i) => `val${i}`) }, 'valLoaderConfig'));
    if (valLoaders.length > 0 && this.validationStep === undefined) throw new ValidationError('validation loaders were given but no validation step: call setValidationStep(fn)', { configKey: 'validationStep' });
    this.trainCursors = this.cursorsFor(trainLoaders, this.config.trainLoaderConfig, 'trainLoaders', true);
    const valCursors = valConfig === null ? [] : this.cursorsFor(valLoaders, valConfig, 'valLoaders', false);

    const ft = this.config.faultTolerance;
    this.preemption = new PreemptionHandler(ft.preemptionSignal, (sig) => {
      // A second signal: the scheduler is out of patience; leave now, asking to be requeued.
      process.stderr.write(`[eh trainer] second ${sig}: exiting without waiting for the checkpoint\n`);
      process.exit(ft.requeueExitCode);
    });
    try {
      await this.restoreOrBroadcast();
      const pos = this.position as TrainerPosition;
      this.logger.start({ step: this.globalStep, epoch: pos.epoch, resumed: this.resumedFrom !== null, worldSize: this.worldSize, maxEpochs });
      await this.hookManager.call('onTrainStart', this);
      const firstStepAt = this.resumedFrom !== null ? process.uptime() : undefined;
      let reportedRecovery = firstStepAt === undefined;
      for (let epoch = pos.epoch; epoch < maxEpochs; epoch++) {
        this.epoch = epoch;
        const resuming = pos.epoch === epoch && (pos.epochStep > 0 || pos.epochComplete);
        if (pos.epochComplete && pos.epoch === epoch) {
          // The checkpoint was taken after this epoch's end: go on with the next.
          this.startEpoch(epoch + 1);
          continue;
        }
        if (!resuming) this.startEpoch(epoch);
        await this.hookManager.call('onEpochStart', this, epoch);
        const schedule = this.epochSchedule(epoch);
        while (pos.epochStep < schedule.length) {
          const stop = await this.optimizerStep(schedule);
          if (!reportedRecovery) {
            reportedRecovery = true;
            this.logger.scalars({ 'fault/restart_to_first_step_sec': process.uptime() }, this.globalStep);
          }
          if (stop) {
            await this.onPreempted();
            return;
          }
          if (this.config.validation.everyNSteps !== null && this.globalStep % this.config.validation.everyNSteps === 0 && valConfig !== null) await this.validate(valCursors, valConfig);
          if (this.checkpointer.shouldSaveAtStep(this.globalStep)) await this.saveCheckpoint();
          else if (this.checkpointer.shouldSnapshotToMemory(this.globalStep)) await this.saveCheckpoint({ tiers: [CheckpointTier.MEMORY] });
        }
        await this.endEpoch(epoch, valCursors, valConfig);
        if (this.preemption.requested) {
          await this.onPreempted();
          return;
        }
      }
      await this.checkpointer.waitForPending();
      await this.hookManager.call('onTrainEnd', this);
    } catch (err) {
      await this.hookManager.call('onException', this, err).catch((hookErr: unknown) => process.stderr.write(`[eh trainer] ${describeError(hookErr)}\n`));
      throw err;
    } finally {
      this.preemption?.dispose();
      this.preemption = undefined;
      this.logger.close();
    }
  }

  private startEpoch(epoch: number): void {
    const pos = this.position as TrainerPosition;
    for (const c of this.trainCursors) c.startEpoch(epoch);
    pos.epoch = epoch;
    pos.epochStep = 0;
    pos.epochComplete = false;
    pos.epochLengths = this.trainCursors.map((c) => c.length);
    pos.segments = undefined;
    this.trainMetrics.reset();
    this.epoch = epoch;
  }

  /** The epoch's steps: its schedule, with the tail rebuilt at each world-size change inside it. */
  private epochSchedule(epoch: number): ScheduledStep[] {
    const pos = this.position as TrainerPosition;
    const opts = { seed: this.config.performance.seed, epoch };
    let steps = buildEpochSchedule(this.config.trainLoaderConfig, pos.epochLengths, opts);
    for (const seg of pos.segments ?? []) {
      const tail = seg.lengths.some((n) => n > 0) ? buildEpochSchedule(this.config.trainLoaderConfig, seg.lengths, opts) : [];
      steps = [...steps.slice(0, seg.start), ...tail];
    }
    return steps;
  }

  private async endEpoch(epoch: number, valCursors: LoaderCursor[], valConfig: MultiDataLoaderConfig | null): Promise<void> {
    const pos = this.position as TrainerPosition;
    const trainAgg = await this.trainMetrics.reduce((v) => this.sumAcrossRanks(v), 'train/');
    this.lastEpochMetrics = trainAgg;
    this.logger.scalars(trainAgg, this.globalStep);
    if (valConfig !== null && (epoch + 1) % this.config.validation.everyNEpochs === 0) await this.validate(valCursors, valConfig);
    await this.hookManager.call('onEpochEnd', this, epoch, { ...trainAgg, ...this.lastValidation });
    pos.epochComplete = true;
    if (this.checkpointer.shouldSaveAtEpochEnd(epoch) && this.checkpointer.alreadySavedStep !== this.globalStep) await this.saveCheckpoint();
    else if (this.checkpointer.shouldSaveAtEpochEnd(epoch)) await this.saveCheckpoint({ force: true });
  }

  private async sumAcrossRanks(values: Float64Array): Promise<Float64Array> {
    if (this.worldSize === 1) return values;
    return this.group.allReduce(values, 'sum', { timeoutMs: this.config.performance.collectiveTimeoutMs });
  }

  /** One optimizer step: its window of micro-batches, one allreduce, the update. True when the world was preempted. */
  private async optimizerStep(schedule: readonly ScheduledStep[]): Promise<boolean> {
    const pos = this.position as TrainerPosition;
    const k = this.accumulation;
    const window = nextWindow(pos.epochStep, schedule.length, k);
    const stepNo = this.globalStep + 1;
    await this.hookManager.call('onStepStart', this, stepNo);
    const t0 = performance.now();
    this.model.zeroGradients();
    let samples = 0;
    let last: Record<string, number> = {};
    let lastName = '';
    const step = this.trainingStep as StepFunction;
    for (let i = window.start; i < window.start + window.length; i++) {
      const s = schedule[i];
      const cursor = this.trainCursors[s.loaderIndex];
      const batchIdx = cursor.batchIndex;
      const indices = cursor.next();
      if (indices.length === 0) continue;
      const batch = await cursor.loader.getBatch(indices);
      try {
        last = await this.model.computeGradients(() => {
          const out = step(this, batch, batchIdx, s.loaderIndex, s.loaderName);
          if (!isStepOutput(out)) throw new TrainerError(`the training step returned ${out === null ? 'null' : typeof out}, not an object with a loss`, { phase: 'trainingStep', step: stepNo });
          return out;
        }, 1 / window.length);
      } catch (err) {
        if (err instanceof TrainerError) throw err;
        throw new TrainerError(`the training step failed on loader "${s.loaderName}" batch ${batchIdx}: ${describeError(err)}`, { phase: 'trainingStep', step: stepNo, epoch: pos.epoch, cause: err });
      } finally {
        cursor.loader.disposeBatch?.(batch);
      }
      this.trainMetrics.add(s.loaderName, last, indices.length);
      samples += indices.length;
      lastName = s.loaderName;
    }
    const preempted = await this.averageGradients();
    for (const o of this.optimizers) await o.step(this.model);
    this.scaling?.stepLr();
    this.globalStep = stepNo;
    pos.globalStep = stepNo;
    pos.epochStep = window.start + window.length;
    pos.loaders = this.trainCursors.map((c) => c.stateDict());
    const stepTimeSec = (performance.now() - t0) / 1000;
    this.trainingMetrics.updateStep(stepNo, samples * this.worldSize);
    const lr = this.scaling?.currentLr ?? this.optimizers[0].learningRate;
    const metrics: Record<string, number> = {};
    for (const [name, v] of Object.entries(last)) if (name !== 'loss') metrics[name.includes('/') ? name : `${lastName}/${name}`] = v;
    const loss = last.loss ?? NaN;
    const throughput = stepTimeSec > 0 ? (samples * this.worldSize) / stepTimeSec : 0;
    this.logger.step({ epoch: pos.epoch, step: stepNo, epochStep: pos.epochStep, epochSteps: schedule.length, loaderName: lastName, loss, lr, throughput, worldSize: this.worldSize, stepTimeSec, metrics });
    this.reportStep(stepNo, pos.epoch, loss, lr, samples, stepTimeSec);
    await this.hookManager.call('onStepEnd', this, stepNo, last);
    return preempted;
  }

  /**
   * Tells `eh run` about the step (its /metrics, event log and dashboard; nothing outside the agent): this
   * rank's samples and throughput, and once, after a resume, the tier and step it resumed from.
   */
  private reportStep(step: number, epoch: number, loss: number, lr: number | undefined, samples: number, stepTimeSec: number): void {
    const resumed = this.resumedFrom !== null && !this.reportedResume ? this.resumedFrom : null;
    if (resumed !== null) this.reportedResume = true;
    reportMetrics({
      step,
      epoch,
      ...(Number.isFinite(loss) ? { loss } : {}),
      ...(lr !== undefined && Number.isFinite(lr) ? { lr } : {}),
      samples,
      samplesPerSec: stepTimeSec > 0 ? samples / stepTimeSec : 0,
      ...(resumed !== null ? { resumedFrom: { tier: resumed.tier ?? 'unknown', step: resumed.step } } : {}),
    });
  }

  /**
   * Averages the gradients across ranks in one allreduce, with one more value: 1 from a rank that was asked
   * to stop. Every rank then knows after the same step whether any was preempted.
   */
  private async averageGradients(): Promise<boolean> {
    const local = this.preemption?.requested === true;
    if (this.worldSize === 1) return local;
    const grads = this.model.gradients;
    if (this.gradBuffer === undefined || this.gradBuffer.length !== grads.length + 1) this.gradBuffer = new Float32Array(grads.length + 1);
    const buf = this.gradBuffer;
    buf.set(grads);
    buf[grads.length] = local ? 1 : 0;
    await this.group.allReduce(buf, 'avg', { timeoutMs: this.config.performance.collectiveTimeoutMs });
    grads.set(buf.subarray(0, grads.length));
    const any = buf[grads.length] > 0;
    if (any && !local) this.preemption?.request();
    return any;
  }

  private async validate(cursors: LoaderCursor[], config: MultiDataLoaderConfig): Promise<void> {
    const fn = this.validationStep as StepFunction;
    await this.hookManager.call('onValidationStart', this, this.epoch);
    const metrics = new MetricsManager({ aggregationStrategy: this.config.validation.aggregation });
    for (const c of cursors) c.startEpoch(0);
    const schedule = buildEpochSchedule(config, cursors.map((c) => c.length), { seed: this.config.performance.seed, epoch: 0 });
    for (const s of schedule) {
      const cursor = cursors[s.loaderIndex];
      const batchIdx = cursor.batchIndex;
      const indices = cursor.next();
      if (indices.length === 0) continue;
      const batch = await cursor.loader.getBatch(indices);
      try {
        const out = await this.model.evaluate(() => fn(this, batch, batchIdx, s.loaderIndex, s.loaderName));
        metrics.add(s.loaderName, out, indices.length);
      } catch (err) {
        throw new TrainerError(`the validation step failed on loader "${s.loaderName}" batch ${batchIdx}: ${describeError(err)}`, { phase: 'validationStep', step: this.globalStep, epoch: this.epoch, cause: err });
      } finally {
        cursor.loader.disposeBatch?.(batch);
      }
    }
    this.lastValidation = await metrics.reduce((v) => this.sumAcrossRanks(v), 'val/');
    this.logger.scalars(this.lastValidation, this.globalStep);
    await this.hookManager.call('onValidationEnd', this, this.epoch, this.lastValidation);
  }

  private positionState(): StateDict {
    const pos = this.position as TrainerPosition;
    return { trainer: JSON.parse(JSON.stringify({ ...pos, best: this.checkpointer.best })) as StateDict, trainMetrics: this.trainMetrics.stateDict() };
  }

  private async optimizerStates(): Promise<StateDict> {
    const out: StateDict = {};
    for (const [i, o] of this.optimizers.entries()) out[String(i)] = await o.stateDict();
    return out;
  }

  private async buildState(): Promise<CheckpointState> {
    const pos = this.position as TrainerPosition;
    return new CheckpointState({
      step: this.globalStep,
      epoch: pos.epoch,
      modelStateDict: await this.model.stateDict(),
      optimizerStateDict: await this.optimizerStates(),
      lrSchedulerStateDict: this.scaling === undefined ? null : (JSON.parse(JSON.stringify(this.scaling.stateDict())) as StateDict),
      datasetState: this.positionState(),
      metrics: JSON.parse(JSON.stringify(this.trainingMetrics.toJSON())) as StateDict,
      worldSize: this.worldSize,
    });
  }

  /**
   * Saves a checkpoint of the last finished step (rank 0 writes it, once for the world; other ranks return
   * null). `emergency` waits until every tier committed it, within faultTolerance.maxCheckpointSec.
   */
  async saveCheckpoint(options: { emergency?: boolean; tiers?: CheckpointTier[]; force?: boolean } = {}): Promise<string | null> {
    if (this.position === undefined) throw new TrainerError('saveCheckpoint() is for a running fit() (there is no training position yet)', { phase: 'saveCheckpoint' });
    if (!this.isMainProcess) return null;
    const monitor = this.config.checkpoint.monitorMetric;
    const monitored = monitor === null ? undefined : (this.lastValidation[monitor] ?? this.lastEpochMetrics[monitor]);
    const saved = await this.checkpointer.save(await this.buildState(), { epoch: this.position.epoch, monitored, tiers: options.tiers });
    const path = saved.paths.NVME ?? saved.paths.S3 ?? saved.paths.MEMORY ?? saved.name;
    if (options.emergency === true) await this.checkpointer.waitForPending(this.config.faultTolerance.maxCheckpointSec);
    this.logger.event(`checkpoint ${saved.name}${options.emergency === true ? ' (emergency)' : ''} at step ${this.globalStep}`, { kind: 'checkpoint', name: saved.name, step: this.globalStep, tiers: Object.keys(saved.paths), emergency: options.emergency === true });
    await this.hookManager.call('onCheckpointSave', this, path, { step: this.globalStep, epoch: this.position.epoch, emergency: options.emergency === true });
    return path;
  }

  /**
   * Loads a checkpoint by name (any tier) or by path (a checkpoint directory). Before fit() it is applied
   * when fit() starts (instead of the newest one); during fit() (from a hook) at once. Every rank calls it.
   */
  async loadCheckpoint(path: string): Promise<void> {
    let state: CheckpointState | null;
    let tier: CheckpointTier | null;
    if (path.includes('/')) {
      state = await new NVMeBackend(dirname(path)).load(basename(path));
      tier = CheckpointTier.NVME;
    } else {
      state = await this.checkpointer.manager.loadCheckpoint({ path });
      tier = this.checkpointer.manager.lastLoadedTier;
    }
    if (state === null) throw new TrainerError(`no checkpoint named ${path} in any tier`, { phase: 'loadCheckpoint', suggestions: [`Pass a name listed in ${this.config.checkpoint.rootDir} or a checkpoint directory's path.`] });
    const loaded = { state, choice: { name: basename(path), tier, step: state.step } };
    if (this.position === undefined) {
      this.requested = loaded;
      return;
    }
    await this.applyState(state);
    this.resumedFrom = loaded.choice;
    await this.hookManager.call('onCheckpointLoad', this, path, { step: state.step, epoch: state.epoch, tier });
  }

  private async applyState(state: CheckpointState): Promise<void> {
    await this.model.loadStateDict(state.modelStateDict);
    for (const [i, o] of this.optimizers.entries()) {
      const s = state.optimizerStateDict[String(i)];
      if (s === undefined || s === null || typeof s !== 'object' || Array.isArray(s) || ArrayBuffer.isView(s)) throw new TrainerError(`the checkpoint has no state for optimizer ${i} (it was saved with ${Object.keys(state.optimizerStateDict).length})`, { phase: 'loadCheckpoint' });
      await o.loadStateDict(s as StateDict);
    }
    const saved = (state.datasetState as { trainer?: TrainerPosition }).trainer;
    if (saved === undefined || saved.version !== POSITION_VERSION || saved.loaders.length !== this.trainCursors.length) {
      throw new TrainerError(`the checkpoint's training position is missing or was saved with ${saved?.loaders.length ?? '?'} loaders (now ${this.trainCursors.length})`, { phase: 'loadCheckpoint', suggestions: ['Resume with the loaders the run was started with, or start a new run in an empty checkpoint directory.'] });
    }
    this.position = { ...saved, loaders: saved.loaders };
    this.checkpointer.best = saved.best;
    this.globalStep = saved.globalStep;
    this.epoch = saved.epoch;
    if (this.config.faultTolerance.resumeMidEpoch && !saved.epochComplete) {
      saved.loaders.forEach((s, i) => this.trainCursors[i].loadStateDict(s, saved.epoch));
      if (state.worldSize !== this.worldSize) {
        // The epoch's schedule counted batches at the old world size: the rest of it is rebuilt from what each
        // loader has left at this one, so no sample of the epoch is skipped or taken twice.
        this.position.segments = [...(saved.segments ?? []), { start: saved.epochStep, lengths: this.trainCursors.map((c) => c.sampler.length) }];
      }
      const tm = (state.datasetState as { trainMetrics?: Record<string, [number, number]> }).trainMetrics;
      if (tm !== undefined) this.trainMetrics.loadStateDict(tm);
    } else if (!saved.epochComplete) {
      // Without mid-epoch resume the interrupted epoch starts over.
      this.position.epochStep = 0;
      for (const c of this.trainCursors) c.startEpoch(saved.epoch);
    }
    if (this.scaling !== undefined && state.lrSchedulerStateDict !== null) {
      this.scaling.loadStateDict(state.lrSchedulerStateDict as unknown as Parameters<ElasticScalingManager['loadStateDict']>[0]);
      if (state.worldSize !== this.worldSize) {
        const r = this.scaling.onTopologyChange(this.worldSize);
        this.logger.event(`world size ${state.worldSize} -> ${this.worldSize}: lr ${r.lr.toExponential(3)}, accumulation ${r.accumulationSteps}, global batch ${r.effectiveBatchSize}`, { kind: 'rescale', ...r });
      }
    }
  }

  /** At fit()'s start: the newest checkpoint (agreed across ranks) if resuming, else rank 0's weights everywhere. */
  private async restoreOrBroadcast(): Promise<void> {
    this.position = { version: POSITION_VERSION, epoch: 0, epochStep: 0, epochLengths: this.trainCursors.map((c) => c.length), epochComplete: false, globalStep: 0, loaders: [], best: null };
    for (const c of this.trainCursors) c.startEpoch(0);
    if (this.requested !== undefined) {
      const { state, choice } = this.requested;
      this.requested = undefined;
      await this.applyState(state);
      this.resumedFrom = choice;
      await this.hookManager.call('onCheckpointLoad', this, choice.name, { step: choice.step, epoch: state.epoch, tier: choice.tier });
      return;
    }
    const timeoutMs = this.config.performance.collectiveTimeoutMs;
    if (this.config.checkpoint.resume) {
      let choice: { name: string; tier: CheckpointTier | null; step: number } | null = null;
      let state: CheckpointState | null = null;
      if (this.isMainProcess) {
        state = await this.checkpointer.manager.loadCheckpoint();
        if (state !== null) choice = { name: this.checkpointer.nameFor(state.epoch, state.step), tier: this.checkpointer.manager.lastLoadedTier, step: state.step };
      }
      if (this.worldSize > 1) choice = await this.group.broadcastObject(choice, 0, { timeoutMs });
      if (choice !== null) {
        if (!this.isMainProcess) {
          state = await this.checkpointer.manager.loadCheckpoint({ path: choice.name, tier: choice.tier ?? undefined }).catch(() => null);
          state ??= await this.checkpointer.manager.loadCheckpoint({ path: choice.name });
          if (state === null) throw new TrainerError(`rank ${this.rank} cannot read checkpoint ${choice.name} that rank 0 resumes from`, { phase: 'resume', suggestions: ['Every rank must reach the checkpoint: a directory shared by the ranks of all hosts, or the S3 tier.'] });
        }
        await this.applyState(state as CheckpointState);
        this.resumedFrom = choice;
        const old = (state as CheckpointState).worldSize;
        this.trainingMetrics.recovery.recordRecovery({ oldWorldSize: old, newWorldSize: this.worldSize, recoveryTime: process.uptime(), checkpointTier: choice.tier, stepResumed: choice.step });
        this.logger.event(`resumed from ${choice.name} (tier ${choice.tier ?? '?'}) at step ${choice.step}`, { kind: 'resume', name: choice.name, tier: choice.tier, step: choice.step, savedWorldSize: old, worldSize: this.worldSize });
        await this.hookManager.call('onCheckpointLoad', this, choice.name, { step: choice.step, epoch: (state as CheckpointState).epoch, tier: choice.tier });
        return;
      }
    }
    if (this.worldSize > 1) {
      const params = this.model.getParameters();
      await this.group.broadcast(params, 0, { timeoutMs });
      this.model.setParameters(params);
    }
  }

  /** After the step every rank stopped at: the emergency checkpoint, then exit with the requeue code (or return). */
  private async onPreempted(): Promise<void> {
    const ft = this.config.faultTolerance;
    const signal = this.preemption?.signal ?? 'SIGTERM';
    this.logger.event(`preempted (${signal}) after step ${this.globalStep}: writing an emergency checkpoint`, { kind: 'preempted', signal, step: this.globalStep });
    let failure: PreemptionTimeoutError | undefined;
    try {
      await this.saveCheckpoint({ emergency: true });
    } catch (err) {
      if (!(err instanceof CheckpointTimeoutError)) throw err;
      failure = new PreemptionTimeoutError(`the emergency checkpoint after ${signal} did not finish within ${ft.maxCheckpointSec} s`, { signal, limitSec: ft.maxCheckpointSec, step: this.globalStep, cause: err });
    }
    // Other ranks wait for rank 0's checkpoint, so no rank's exit makes the agent stop rank 0 mid-write.
    if (this.worldSize > 1) await this.group.barrier({ timeoutMs: ft.maxCheckpointSec * 1000 + 5000 }).catch(() => undefined);
    this.preempted = true;
    if (failure !== undefined && !ft.exitOnPreemption) throw failure;
    if (failure !== undefined) process.stderr.write(`[eh trainer] ${failure.message}\n`);
    if (ft.exitOnPreemption) {
      this.logger.close();
      this.preemption?.dispose();
      process.exit(ft.requeueExitCode);
    }
  }
}
