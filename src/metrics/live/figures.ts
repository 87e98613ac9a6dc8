import { z } from 'zod';

/**
 * What a worker tells its agent about its training, over the channel it already has (Node IPC).
 * Counters travel as increments since the worker's previous report, so the agent's totals keep
 * growing across a restart instead of falling back to the new process's zero.
 */
export const checkpointFigureSchema = z.object({
  op: z.enum(['save', 'load']),
  tier: z.string().min(1).max(64),
  seconds: z.number().finite().nonnegative(),
  bytes: z.number().finite().nonnegative(),
  step: z.number().int().nonnegative().optional(),
});

export const workerFiguresSchema = z.object({
  step: z.number().int().nonnegative().optional(),
  epoch: z.number().int().nonnegative().optional(),
  loss: z.number().optional(),
  lr: z.number().finite().optional(),
  samplesPerSec: z.number().finite().nonnegative().optional(),
  tokensPerSec: z.number().finite().nonnegative().optional(),
  /** Increments since the previous report. */
  samples: z.number().finite().nonnegative().optional(),
  tokens: z.number().finite().nonnegative().optional(),
  /** Time this step spent in collectives. */
  collectiveSeconds: z.number().finite().nonnegative().optional(),
  pendingSaves: z.number().int().nonnegative().optional(),
  checkpoints: z.array(checkpointFigureSchema).max(64).optional(),
  /** Sent once by a restarted worker after it restored its state: which tier and which step. */
  resumedFrom: z.object({ tier: z.string().min(1).max(64), step: z.number().int().nonnegative() }).optional(),
});

export type CheckpointFigure = z.infer<typeof checkpointFigureSchema>;
export type WorkerFigures = z.infer<typeof workerFiguresSchema>;

/** A report from a worker, or undefined when it is not one we understand (never thrown: a bad report must not hurt the agent). */
export function parseWorkerFigures(value: unknown): WorkerFigures | undefined {
  const r = workerFiguresSchema.safeParse(value);
  return r.success ? r.data : undefined;
}
