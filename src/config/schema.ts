import { z } from 'zod';
import { ELASTIC_DEFAULTS as E, ELASTIC_RDZV_CONF_DEFAULTS as R } from './defaults.js';

/**
 * The training config file, section by section, with keys in snake_case as users write them in YAML. Each key has a
 * default (so `{}` is a valid config) and a description; docs/api/config.md lists them all.
 * Numeric rules that concern one key live here; rules across keys live in rules.ts.
 */

// Positive integers read "must be > 0", as the rules are usually stated (checkpoint_interval <= 0 is an error).
const int = (min: number) => (min === 1 ? z.int().positive() : z.int().min(min));
const seconds = () => z.number().positive();

export const RdzvConfSchema = z.object({
  join_timeout: seconds().default(R.join_timeout).describe('Seconds to wait for min_nodes to join a rendezvous round'),
  last_call_timeout: z.number().min(0).default(R.last_call_timeout).describe('Seconds of the last-call window once min_nodes are in'),
  close_timeout: seconds().default(R.close_timeout).describe('Seconds before a round that reached min_nodes is closed regardless'),
  keep_alive_interval: seconds().default(R.keep_alive_interval).describe('Seconds between rendezvous keep-alives'),
  keep_alive_max_attempt: int(1).default(R.keep_alive_max_attempt).describe('Missed keep-alives before a node is dropped'),
});

export const ElasticSectionSchema = z.object({
  min_nodes: int(1).default(E.min_nodes).describe('Minimum nodes required to train'),
  max_nodes: int(1).nullable().default(E.max_nodes).describe('Maximum nodes allowed (null: min_nodes, a fixed size)'),
  base_world_size: int(1).nullable().default(null).describe('World size the hyper-parameters were tuned for (null: the world size at launch)'),
  nproc_per_node: int(1).default(E.nproc_per_node).describe('Worker processes per node'),
  max_restarts: int(0).default(E.max_restarts).describe('Restarts of the worker group before the job fails'),
  heartbeat_interval: seconds().nullable().default(E.heartbeat_interval).describe('Seconds between worker heartbeats (null: a third of heartbeat_timeout, at most 30)'),
  monitor_interval: seconds().default(E.monitor_interval).describe('Seconds between health checks of the workers (exits are acted on at once)'),
  heartbeat_timeout: seconds().default(E.heartbeat_timeout).describe('Seconds without a heartbeat before a worker counts as hung'),
  grace_period: z.number().min(0).default(E.grace_period).describe('Seconds between the stop signal and SIGKILL'),
  rdzv_backend: z.enum(['tcp', 'etcd', 'static']).default(E.rdzv_backend).describe('Rendezvous store: tcp (embedded), etcd (v3) or static'),
  rdzv_endpoint: z
    .string()
    .regex(/^$|^(\[[^\]]+\]|[^:\s/]+):\d{1,5}$|^https?:\/\/\S+$/, { error: 'expected HOST:PORT, e.g. 127.0.0.1:29400 (or an http(s) URL for etcd)' })
    .default(E.rdzv_endpoint).describe("HOST:PORT of the rendezvous store ('' : this machine)"),
  rdzv_id: z.string().regex(/^[A-Za-z0-9._-]+$/, { error: 'letters, digits, ".", "_" and "-" only' }).default(E.rdzv_id).describe('Unique job identifier'),
  rdzv_conf: RdzvConfSchema.prefault({}).describe('Rendezvous timings (torch rdzv_conf keys)'),
});

export const CheckpointSectionSchema = z.object({
  checkpoint_interval: int(1).default(500).describe('Steps between durable (NVMe/S3) checkpoints'),
  memory_snapshot_interval: int(1).default(50).describe('Steps between in-memory snapshots'),
  nvme_path: z.string().min(1).default('/tmp/checkpoints').describe('Local checkpoint directory'),
  s3_bucket: z.string().min(1).nullable().default(null).describe('S3 bucket for durable checkpoints (null: no S3 tier)'),
  s3_prefix: z.string().default('').describe('Key prefix inside the bucket'),
  s3_region: z.string().min(1).default('us-east-1').describe('Region of the bucket'),
  s3_endpoint: z.url({ protocol: /^https?$/ }).nullable().default(null).describe('Endpoint URL of an S3-compatible store (null: AWS)'),
  s3_force_path_style: z.boolean().default(false).describe('Path-style bucket addressing (most S3-compatible stores need true)'),
  async_save: z.boolean().default(true).describe('Write and upload checkpoints off the training thread'),
  keep_last_n: int(1).default(3).describe('Checkpoints kept per tier'),
  async_save_policy: z.enum(['warn', 'fail', 'retry']).default('warn').describe('What a failed async save does'),
  async_save_retries: int(0).default(3).describe('Retries under the retry policy'),
  async_save_retry_delay: z.number().min(0).default(5).describe('Base seconds between retries (doubled each time)'),
});

export const SCALING_STRATEGIES = ['variable_batch', 'constant_batch'] as const;

export const ScalingSectionSchema = z.object({
  strategy: z.enum(SCALING_STRATEGIES).default('variable_batch').describe('variable_batch: LR follows the world; constant_batch: accumulation keeps the global batch'),
  rule: z.enum(['linear', 'sqrt', 'none']).default('linear').describe('How the LR follows the global batch'),
  warmup_steps: int(0).default(100).describe('Steps to move to a new LR after a topology change'),
  target_global_batch_size: int(1).nullable().default(null).describe('Global batch kept constant (required by constant_batch)'),
  rounding_mode: z.enum(['ceil', 'floor', 'nearest']).default('ceil').describe('Rounding of the accumulation step count'),
  min_lr: z.number().min(0).default(1e-7).describe('Lower bound of a scaled LR'),
  max_lr: z.number().positive().default(1e-2).describe('Upper bound of a scaled LR'),
});

export const GradientClippingSchema = z.object({
  enabled: z.boolean().default(true).describe('Clip the global gradient norm'),
  max_norm: z.number().positive().default(1).describe('Largest global gradient norm'),
});

export const TrainingSectionSchema = z.object({
  lr: z.number().positive().default(1e-4).describe('Base learning rate'),
  weight_decay: z.number().min(0).default(0).describe('Weight decay'),
  batch_size: int(1).default(8).describe('Batch size per worker'),
  max_steps: int(1).default(10000).describe('Optimizer steps to train'),
  max_epochs: int(1).nullable().default(null).describe('Epochs to train (null: bounded by max_steps only)'),
  warmup_steps: int(0).default(0).describe('Linear warm-up steps of the LR schedule'),
  min_lr: z.number().min(0).default(0).describe('Floor of the cosine decay'),
  optimizer: z.string().min(1).default('adam').describe('Optimizer name (adam, adamw, sgd, momentum, rmsprop)'),
  seed: int(0).default(42).describe('Seed of every random generator'),
  log_interval: int(1).default(10).describe('Steps between metric logs'),
  gradient_clipping: GradientClippingSchema.prefault({}).describe('Gradient clipping'),
});

/** Free-form sections: user keys beyond these are kept as written (model hyper-parameters, loader options). */
export const ModelSectionSchema = z.looseObject({
  name: z.string().min(1).default('mlp').describe('Model name, resolved by your training script'),
});

export const DataSectionSchema = z.looseObject({
  path: z.string().min(1).nullable().default(null).describe('Training data location'),
  shuffle: z.boolean().default(true).describe('Shuffle each epoch'),
  seed: int(0).default(0).describe('Seed of the sampler'),
  num_workers: int(0).default(0).describe('Loader worker threads'),
  drop_last: z.boolean().default(false).describe('Drop the last incomplete batch'),
});

export const TrainingConfigSchema = z.object({
  elastic: ElasticSectionSchema.prefault({}),
  checkpoint: CheckpointSectionSchema.prefault({}),
  scaling: ScalingSectionSchema.prefault({}),
  training: TrainingSectionSchema.prefault({}),
  model: ModelSectionSchema.prefault({}),
  data: DataSectionSchema.prefault({}),
});

/** A validated config, every default applied. */
export type TrainingConfig = z.infer<typeof TrainingConfigSchema>;
/** What a config file may contain (every key optional). */
export type TrainingConfigInput = z.input<typeof TrainingConfigSchema>;
export type ElasticSection = TrainingConfig['elastic'];
export type CheckpointSection = TrainingConfig['checkpoint'];
export type ScalingSection = TrainingConfig['scaling'];
export type TrainingSection = TrainingConfig['training'];
export type ModelSection = TrainingConfig['model'];
export type DataSection = TrainingConfig['data'];

export const SECTION_NAMES = ['elastic', 'checkpoint', 'scaling', 'training', 'model', 'data'] as const;
/** Sections whose unknown keys are the user's own, kept and not warned about (unless they look like a typo). */
export const OPEN_SECTIONS: ReadonlySet<string> = new Set(['model', 'data']);

/** Every default, as the schema gives them. */
export function defaultConfig(): TrainingConfig {
  return TrainingConfigSchema.parse({});
}
