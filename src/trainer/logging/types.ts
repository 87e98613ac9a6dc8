/** What a logger is told; every logger (console, JSON lines, TensorBoard) takes the same calls. */
export interface StepLog {
  epoch: number;
  /** Optimizer steps done so far (the global step). */
  step: number;
  /** Position in the epoch's schedule and its length. */
  epochStep: number;
  epochSteps: number;
  loaderName: string;
  loss: number;
  lr?: number;
  /** Samples per second across all ranks. */
  throughput: number;
  worldSize: number;
  /** Seconds the optimizer step took (its micro-batches, the allreduce, the update). */
  stepTimeSec: number;
  /** Every other scalar the step returned, e.g. `primary/loss`. */
  metrics: Readonly<Record<string, number>>;
}

export interface TrainerLogger {
  /** Training (re)starts at `step`; `resumed` when it comes from a checkpoint. */
  start(info: { step: number; epoch: number; resumed: boolean; worldSize: number; maxEpochs: number }): void;
  step(log: StepLog): void;
  /** Epoch aggregates and validation results, e.g. `train/loss`, `val/loss`. */
  scalars(values: Readonly<Record<string, number>>, step: number): void;
  /** A notable event in words (a checkpoint, a preemption, a recovery). */
  event(message: string, fields?: Readonly<Record<string, unknown>>): void;
  close(): void;
}
