import { CheckpointValidationError } from '../errors/index.js';
import { cloneState, type StateDict, type StateValue } from './state-dict.js';

export interface CheckpointStateInit {
  step: number;
  epoch?: number;
  modelStateDict?: StateDict;
  optimizerStateDict?: StateDict;
  lrSchedulerStateDict?: StateDict | null;
  datasetState?: StateDict;
  rngStates?: StateDict;
  metrics?: StateDict;
  worldSize?: number;
  /** Unix time in seconds; default now. */
  timestamp?: number;
}

/** A tier the manager could not read when it loaded, and why. */
export interface UnreadableTier {
  tier: string;
  reason: string;
}

/** Where a loaded state came from (set by CheckpointManager.loadCheckpoint; never saved). */
export interface LoadInfo {
  tier: string;
  name: string;
  /** Tiers that could not be listed: the state may be older than what they hold. */
  unreadableTiers: UnreadableTier[];
  /** For the agent-held MEMORY tier: whose copy was read, `agent` (this node's agent) or `peer-agent` (another node's). */
  source?: string;
  /** The node id of the agent whose copy was read. */
  sourceNode?: string;
}

const FIELDS = ['step', 'epoch', 'modelStateDict', 'optimizerStateDict', 'lrSchedulerStateDict', 'datasetState', 'rngStates', 'metrics', 'worldSize', 'timestamp'] as const;

function isDict(v: unknown): v is StateDict {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** Complete training state: what a resume needs to continue bit-exactly. */
export class CheckpointState {
  step: number;
  epoch: number;
  modelStateDict: StateDict;
  optimizerStateDict: StateDict;
  lrSchedulerStateDict: StateDict | null;
  datasetState: StateDict;
  rngStates: StateDict;
  metrics: StateDict;
  worldSize: number;
  timestamp: number;
  /** Set by CheckpointManager.loadCheckpoint(): the tier and name read, and the tiers it could not read. */
  loadInfo: LoadInfo | null = null;

  constructor(init: CheckpointStateInit) {
    if (!Number.isSafeInteger(init.step) || init.step < 0) {
      throw new CheckpointValidationError(`step must be a non-negative integer, got ${String(init.step)}`, { invalidKeys: ['step'] });
    }
    this.step = init.step;
    this.epoch = init.epoch ?? 0;
    this.modelStateDict = init.modelStateDict ?? {};
    this.optimizerStateDict = init.optimizerStateDict ?? {};
    this.lrSchedulerStateDict = init.lrSchedulerStateDict ?? null;
    this.datasetState = init.datasetState ?? {};
    this.rngStates = init.rngStates ?? {};
    this.metrics = init.metrics ?? {};
    this.worldSize = init.worldSize ?? Number(process.env.WORLD_SIZE ?? 1);
    this.timestamp = init.timestamp ?? Date.now() / 1000;
  }

  /** The state as one tree (tensors are shared, not copied). */
  toDict(): StateDict {
    const d: StateDict = {};
    for (const f of FIELDS) d[f] = this[f];
    return d;
  }

  /**
   * Rebuilds a state from toDict()'s form. With `validate` (default) every field must be present with its type,
   * else a CheckpointValidationError lists the missing and invalid keys; without it, absent fields get defaults.
   */
  static fromDict(data: StateValue, options: { validate?: boolean; where?: string } = {}): CheckpointState {
    if (!isDict(data)) throw new CheckpointValidationError('A checkpoint state must be an object', { path: options.where });
    const validate = options.validate ?? true;
    const missing = validate ? FIELDS.filter((f) => !(f in data)) : [];
    const invalid: string[] = [];
    const int = (k: string, min: number): void => {
      if (k in data && !(typeof data[k] === 'number' && Number.isSafeInteger(data[k]) && (data[k] as number) >= min)) invalid.push(k);
    };
    int('step', 0);
    int('epoch', 0);
    int('worldSize', 1);
    if ('timestamp' in data && typeof data.timestamp !== 'number') invalid.push('timestamp');
    for (const k of ['modelStateDict', 'optimizerStateDict', 'datasetState', 'rngStates', 'metrics']) if (k in data && !isDict(data[k])) invalid.push(k);
    if ('lrSchedulerStateDict' in data && data.lrSchedulerStateDict !== null && !isDict(data.lrSchedulerStateDict)) invalid.push('lrSchedulerStateDict');
    if (!('step' in data) && !missing.includes('step')) missing.push('step');
    if (missing.length > 0 || invalid.length > 0) {
      throw new CheckpointValidationError('The checkpoint does not hold a valid training state', { path: options.where, missingKeys: missing, invalidKeys: invalid });
    }
    return new CheckpointState({
      step: data.step as number,
      epoch: data.epoch as number | undefined,
      modelStateDict: data.modelStateDict as StateDict | undefined,
      optimizerStateDict: data.optimizerStateDict as StateDict | undefined,
      lrSchedulerStateDict: data.lrSchedulerStateDict as StateDict | null | undefined,
      datasetState: data.datasetState as StateDict | undefined,
      rngStates: data.rngStates as StateDict | undefined,
      metrics: data.metrics as StateDict | undefined,
      worldSize: data.worldSize as number | undefined,
      timestamp: data.timestamp as number | undefined,
    });
  }

  /** A deep copy: later changes to the live tensors cannot reach it. */
  clone(): CheckpointState {
    return CheckpointState.fromDict(cloneState(this.toDict()));
  }

  /**
   * The reference's `cpu_copy()`: a copy whose tensors live in this process's own memory. Tensors here are always
   * host typed arrays, so it is the same deep copy as clone(): the copy is safe to keep while training goes on.
   */
  cpuCopy(): CheckpointState {
    return this.clone();
  }
}
