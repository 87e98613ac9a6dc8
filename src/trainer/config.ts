import { z } from 'zod';
import { REQUEUE_EXIT_CODE } from '../env/index.js';
import { ValidationError } from '../errors/index.js';
import { AGGREGATION_STRATEGIES, EPOCH_LENGTH_POLICIES, SAMPLING_STRATEGIES } from './enums.js';
import { checkFilenameTemplate } from './filename-template.js';

/**
 * The trainer's configuration, section by section, as zod schemas with documented defaults
 * (docs/api/trainer.md lists every key). Keys are camelCase, as TypeScript options are.
 */

const posInt = () => z.int().positive();
const nonNegInt = () => z.int().min(0);

export const MultiDataLoaderConfigSchema = z
  .strictObject({
    samplingStrategy: z.enum(SAMPLING_STRATEGIES).default('ROUND_ROBIN').describe('How the loaders interleave within an epoch'),
    dataloaderNames: z.array(z.string().min(1)).min(1).describe('One unique name per loader, in the order the loaders are passed'),
    dataloaderWeights: z.array(z.number().min(0, { error: 'weights must not be negative' })).nullable().default(null).describe('WEIGHTED: one weight per loader'),
    alternatingPattern: z.array(nonNegInt()).min(1).nullable().default(null).describe('ALTERNATING: loader indices, repeated'),
    burstSize: posInt().default(1).describe('ROUND_ROBIN / ALTERNATING: batches taken from a loader per turn'),
    epochLengthPolicy: z.enum(EPOCH_LENGTH_POLICIES).default('SUM_OF_LENGTHS').describe('How many steps an epoch has'),
    stepsPerEpoch: posInt().nullable().default(null).describe('FIXED_NUM_STEPS: the steps of an epoch'),
    cycleShortLoaders: z.boolean().default(true).describe('A loader that runs out before its share of the epoch starts over (true) or drops out (false)'),
  })
  .superRefine((c, ctx) => {
    const n = c.dataloaderNames.length;
    const seen = new Set<string>();
    for (const [i, name] of c.dataloaderNames.entries()) {
      if (seen.has(name)) ctx.addIssue({ code: 'custom', path: ['dataloaderNames', i], message: `duplicate loader name "${name}": names must be unique` });
      seen.add(name);
    }
    if (c.samplingStrategy === 'WEIGHTED') {
      const w = c.dataloaderWeights;
      if (w === null) ctx.addIssue({ code: 'custom', path: ['dataloaderWeights'], message: 'WEIGHTED sampling needs dataloaderWeights, one per loader' });
      else if (w.length !== n) ctx.addIssue({ code: 'custom', path: ['dataloaderWeights'], message: `${w.length} weights for ${n} loaders: give one weight per loader` });
      else if (!w.some((x) => x > 0)) ctx.addIssue({ code: 'custom', path: ['dataloaderWeights'], message: 'all weights are zero: at least one must be positive' });
    }
    if (c.samplingStrategy === 'ALTERNATING') {
      const p = c.alternatingPattern;
      if (p === null) ctx.addIssue({ code: 'custom', path: ['alternatingPattern'], message: 'ALTERNATING sampling needs alternatingPattern (loader indices)' });
      else {
        for (const [i, idx] of p.entries()) if (idx >= n) ctx.addIssue({ code: 'custom', path: ['alternatingPattern', i], message: `loader index ${idx} out of range: there are ${n} loaders (0..${n - 1})` });
      }
    }
    if (c.epochLengthPolicy === 'FIXED_NUM_STEPS' && c.stepsPerEpoch === null) {
      ctx.addIssue({ code: 'custom', path: ['stepsPerEpoch'], message: 'FIXED_NUM_STEPS needs stepsPerEpoch' });
    }
  });

const TIERS = ['MEMORY', 'NVME', 'S3'] as const;

export const TrainerCheckpointConfigSchema = z
  .strictObject({
    saveEveryNEpochs: posInt().nullable().default(1).describe('Save at the end of every n-th epoch (null: never by epoch)'),
    saveEveryNSteps: posInt().nullable().default(null).describe('Save every n optimizer steps (null: never by step)'),
    maxCheckpoints: posInt().default(5).describe('Checkpoints kept per tier (the best one is kept besides)'),
    rootDir: z.string().min(1).default('checkpoints').describe('Directory of the NVME tier'),
    filenameTemplate: z.string().default('epoch_{epoch:03d}_step_{step:06d}.ckpt').describe('Checkpoint names; {epoch} and {step} with an optional :0Nd width; the step must be the last number'),
    monitorMetric: z.string().min(1).nullable().default(null).describe('Metric that decides the best checkpoint, e.g. "val/loss"'),
    monitorMode: z.enum(['min', 'max']).default('min').describe('Whether a lower (min) or higher (max) monitored value is better'),
    saveBest: z.boolean().default(true).describe('Keep the best checkpoint by monitorMetric beyond maxCheckpoints'),
    tiers: z.array(z.enum(TIERS)).min(1).default(['NVME']).describe('Tiers every checkpoint goes to'),
    memoryEveryNSteps: posInt().nullable().default(null).describe('Extra MEMORY-tier snapshots every n steps (null: only when the others save)'),
    asyncSave: z.boolean().default(true).describe('NVME/S3 saves finish in the background (training pauses only to copy the state)'),
    resume: z.boolean().default(true).describe('fit() starts from the newest whole checkpoint of any tier when there is one'),
  })
  .superRefine((c, ctx) => {
    const problem = checkFilenameTemplate(c.filenameTemplate);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['filenameTemplate'], message: problem });
    if (new Set(c.tiers).size !== c.tiers.length) ctx.addIssue({ code: 'custom', path: ['tiers'], message: 'a tier is listed twice' });
  });

const LOGGER_TYPES = ['console', 'json', 'tensorboard', 'composite'] as const;

export const LoggingConfigSchema = z
  .strictObject({
    loggerType: z.enum(LOGGER_TYPES).default('console').describe('console | json | tensorboard | composite'),
    compositeLoggers: z.array(z.enum(['console', 'json', 'tensorboard'])).min(1).default(['console', 'tensorboard']).describe('composite: the loggers combined'),
    logDir: z.string().min(1).default('logs').describe('Where JSON lines and TensorBoard event files go'),
    tensorboardDir: z.string().min(1).nullable().default(null).describe('TensorBoard event files (default: logDir)'),
    logEveryNSteps: posInt().default(1).describe('Steps between logged scalars (the progress bar updates every step)'),
    progressBar: z.boolean().default(true).describe('A progress bar on rank 0 when stdout is a terminal (plain lines otherwise)'),
    allRanks: z.boolean().default(false).describe('Log from every rank (default rank 0 only)'),
  })
  .superRefine((c, ctx) => {
    if (new Set(c.compositeLoggers).size !== c.compositeLoggers.length) ctx.addIssue({ code: 'custom', path: ['compositeLoggers'], message: 'a logger is listed twice' });
  });

export const ValidationConfigSchema = z.strictObject({
  everyNEpochs: posInt().default(1).describe('Validate after every n-th epoch'),
  everyNSteps: posInt().nullable().default(null).describe('Also validate every n optimizer steps (null: only at epoch ends)'),
  aggregation: z.enum(AGGREGATION_STRATEGIES).default('WEIGHTED_AVERAGE').describe('How validation batches are reduced'),
});

export const FaultToleranceConfigSchema = z.strictObject({
  preemptionSignal: z.string().regex(/^SIG[A-Z0-9]+$/, { error: 'a signal name such as SIGUSR1' }).default('SIGUSR1').describe('Signal that means "preempted" (SIGTERM always does too)'),
  maxCheckpointSec: z.number().positive().default(30).describe('Seconds the emergency checkpoint may take after preemption'),
  exitOnPreemption: z.boolean().default(true).describe('After the emergency checkpoint, exit with requeueExitCode (false: fit() returns)'),
  requeueExitCode: z.int().min(1).max(125).default(REQUEUE_EXIT_CODE).describe(`Exit code after preemption. \`eh run\` takes ${REQUEUE_EXIT_CODE} (EX_TEMPFAIL) as "requeue me": it ends with it too, counting no failure, and SLURM (RequeueExit) requeues; any other code is a crash to it`),
  resumeMidEpoch: z.boolean().default(true).describe('Resume at the schedule position and loader positions of the checkpoint'),
});

export const PerformanceConfigSchema = z.strictObject({
  gradientAccumulationSteps: posInt().default(1).describe('Micro-batches per optimizer step (the loss is divided by the window length)'),
  seed: z.int().min(0).default(0).describe('Seed of the loaders\' shuffles and the WEIGHTED order'),
  shuffle: z.boolean().default(true).describe('Shuffle each loader\'s samples every epoch (deterministically from seed and epoch)'),
  dropLast: z.boolean().default(false).describe('Drop a last, short global batch'),
  collectiveTimeoutMs: posInt().default(60_000).describe('Timeout of the gradient allreduce'),
});

export const HooksConfigSchema = z.strictObject({
  continueOnHookError: z.boolean().default(false).describe('A hook that throws is logged and training goes on (default: fit() fails with a TrainerError naming the hook)'),
});

export const GenericTrainerConfigSchema = z.strictObject({
  trainLoaderConfig: MultiDataLoaderConfigSchema.describe('The training loaders (required)'),
  valLoaderConfig: MultiDataLoaderConfigSchema.nullable().default(null).describe('The validation loaders'),
  checkpoint: TrainerCheckpointConfigSchema.prefault({}),
  logging: LoggingConfigSchema.prefault({}),
  validation: ValidationConfigSchema.prefault({}),
  faultTolerance: FaultToleranceConfigSchema.prefault({}),
  performance: PerformanceConfigSchema.prefault({}),
  hooks: HooksConfigSchema.prefault({}),
});

export type MultiDataLoaderConfig = z.output<typeof MultiDataLoaderConfigSchema>;
export type MultiDataLoaderConfigInput = z.input<typeof MultiDataLoaderConfigSchema>;
export type TrainerCheckpointConfig = z.output<typeof TrainerCheckpointConfigSchema>;
export type LoggingConfig = z.output<typeof LoggingConfigSchema>;
export type ValidationConfig = z.output<typeof ValidationConfigSchema>;
export type FaultToleranceConfig = z.output<typeof FaultToleranceConfigSchema>;
export type PerformanceConfig = z.output<typeof PerformanceConfigSchema>;
export type HooksConfig = z.output<typeof HooksConfigSchema>;
export type GenericTrainerConfig = z.output<typeof GenericTrainerConfigSchema>;
export type GenericTrainerConfigInput = z.input<typeof GenericTrainerConfigSchema>;

function keyOf(prefix: string, path: ReadonlyArray<PropertyKey>): string {
  const parts = [prefix, ...path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))].filter((p) => p !== '');
  return parts.join('.').replace(/\.\[/g, '[');
}

/** Parse with a schema; a failure is a ValidationError naming the first bad key (every problem listed). */
export function parseSection<S extends z.ZodType>(schema: S, input: unknown, prefix = ''): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const extra = i.code === 'unrecognized_keys' ? ` (${(i as { keys: string[] }).keys.join(', ')})` : '';
    return { key: keyOf(prefix, i.path), message: `${i.message}${extra}` };
  });
  const first = issues[0];
  const text = issues.length === 1 ? `Invalid trainer configuration: ${first.key || '(root)'}: ${first.message}` : `Invalid trainer configuration (${issues.length} problems):\n${issues.map((i) => `  - ${i.key || '(root)'}: ${i.message}`).join('\n')}`;
  throw new ValidationError(text, { configKey: first.key === '' ? undefined : first.key, suggestions: ['Fix the keys named above; docs/api/trainer.md lists every key, its type and its default.'] });
}

/** A whole trainer config, defaults filled in. */
export function parseTrainerConfig(input: GenericTrainerConfigInput | GenericTrainerConfig): GenericTrainerConfig {
  return parseSection(GenericTrainerConfigSchema, input);
}

export function parseMultiDataLoaderConfig(input: MultiDataLoaderConfigInput, prefix = 'trainLoaderConfig'): MultiDataLoaderConfig {
  return parseSection(MultiDataLoaderConfigSchema, input, prefix);
}
