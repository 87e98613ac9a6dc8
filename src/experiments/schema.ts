import { z } from 'zod';

/**
 * The experiment config: what one run of a sweep is. Top-level fields are named as in the issue and the reference
 * (`experimentName`; `experiment_name` is accepted on input); keys inside the sections are snake_case as users write
 * them in YAML, like the training config's. Sections are open: keys the schema does not know (a model's own
 * hyper-parameters) pass through untouched, while the keys it knows are type- and range-checked.
 */

const posInt = () => z.int().positive();

export const ModelConfigSchema = z.looseObject({
  type: z.string().min(1).default('mlp').describe('Model family (free text the training script interprets)'),
  hidden_size: posInt().optional().describe('Width of hidden layers'),
  num_layers: posInt().optional().describe('Number of layers'),
  dropout: z.number().min(0).max(1).optional().describe('Dropout probability'),
});

export const TrainingConfigSchema = z.looseObject({
  max_epochs: posInt().default(10).describe('Epochs to train'),
  max_steps: posInt().optional().describe('Optimizer steps to train (bounds max_epochs)'),
  batch_size: posInt().default(32).describe('Batch size per worker'),
  gradient_accumulation_steps: posInt().default(1).describe('Micro-batches per optimizer step'),
  seed: z.int().min(0).default(0).describe('Random seed'),
});

export const DataConfigSchema = z.looseObject({
  dataset: z.string().min(1).default('synthetic').describe('Dataset name or path'),
  num_workers: z.int().min(0).default(0).describe('Loader worker threads'),
});

export const OptimizerConfigSchema = z.looseObject({
  type: z.string().min(1).default('adam').describe('Optimizer name'),
  lr: z.number().positive().default(1e-3).describe('Learning rate'),
  weight_decay: z.number().min(0).default(0).describe('Weight decay'),
});

/** `HH:MM:SS`, `MM:SS`, `M`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS` (the forms sbatch --time accepts), or UNLIMITED. */
export const SLURM_TIME = /^(\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d{1,2}|\d+-\d{1,2}:\d{1,2}|\d+-\d{1,2}:\d{1,2}:\d{1,2}|UNLIMITED|INFINITE)$/;

export const SLURMConfigSchema = z.strictObject({
  account: z.string().optional().describe('Account to charge (omitted when unset)'),
  partition: z.string().optional().describe('Partition (the cluster default when unset)'),
  qos: z.string().optional().describe('Quality of service'),
  nodes: posInt().default(1).describe('Nodes per job'),
  ntasks_per_node: posInt().default(1).describe('Tasks per node (one `eh run` agent per node is the usual 1)'),
  gpus_per_node: z.int().min(0).default(0).describe('GPUs per node (0: no --gpus-per-node line)'),
  cpus_per_task: posInt().default(1).describe('CPUs per task'),
  mem: z.string().regex(/^\d+[KMGT]?$/, { error: 'expected a size such as 4G or 16000M' }).default('4G').describe('Memory per node'),
  time: z.string().regex(SLURM_TIME, { error: 'expected an sbatch time such as 01:00:00, 30 or 1-00:00:00' }).default('01:00:00').describe('Time limit'),
  signal: z.string().regex(/^[A-Z0-9]+$/, { error: 'expected a signal name such as USR1' }).default('USR1').describe('Signal sent to the batch shell before the time limit'),
  signal_time: z.int().min(0).default(60).describe('Seconds before the time limit the signal is sent (SLURM may send it up to ~30 s earlier)'),
  requeue: z.boolean().default(true).describe('Requeue on the signal (and let SLURM requeue on node failure)'),
  nproc_per_node: posInt().default(1).describe('Workers `eh run` starts per node'),
  max_restarts: z.int().min(0).default(3).describe('`eh run --max-restarts`'),
  grace_period: z.number().min(0).default(30).describe('`eh run --grace-period`: seconds workers get to write the emergency checkpoint'),
});

export const LoggingConfigSchema = z.looseObject({
  log_dir: z.string().min(1).default('logs').describe('Log directory (relative to the experiment directory)'),
  level: z.enum(['debug', 'info', 'warn', 'error']).default('info').describe('Log level'),
  log_every_n_steps: posInt().default(50).describe('Steps between metric lines'),
});

export const ExperimentCheckpointSchema = z.looseObject({
  root_dir: z.string().min(1).default('checkpoints').describe('Checkpoint directory (relative to the experiment directory)'),
  save_every_n_steps: posInt().default(500).describe('Steps between regular checkpoints'),
  keep_last_n: posInt().default(3).describe('Checkpoints kept'),
});

/** Letters, digits and `. _ - + =`: safe in a path, a branch name and a job name. */
export const EXPERIMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._+=-]*$/;

export const ExperimentConfigSchema = z.strictObject({
  experimentName: z
    .string()
    .max(120, { error: 'at most 120 characters' })
    .regex(EXPERIMENT_NAME, { error: 'letters, digits and . _ - + = only, starting with a letter or digit' })
    .describe('Unique name: the experiment directory, the git branch and the job name'),
  model: ModelConfigSchema.prefault({}),
  training: TrainingConfigSchema.prefault({}),
  data: DataConfigSchema.prefault({}),
  optimizer: OptimizerConfigSchema.prefault({}),
  slurm: SLURMConfigSchema.optional(),
  logging: LoggingConfigSchema.prefault({}),
  checkpoint: ExperimentCheckpointSchema.prefault({}),
  description: z.string().optional().describe('Free text'),
  tags: z.array(z.string()).optional().describe('Free labels'),
});

export const EXPERIMENT_SECTIONS = ['experimentName', 'model', 'training', 'data', 'optimizer', 'slurm', 'logging', 'checkpoint', 'description', 'tags'] as const;

export type ExperimentConfig = z.output<typeof ExperimentConfigSchema>;
export type ExperimentConfigInput = z.input<typeof ExperimentConfigSchema>;
export type SLURMConfig = z.output<typeof SLURMConfigSchema>;
