import { TensorBoardWriter } from './tensorboard/index.js';
import type { StepLog, TrainerLogger } from './types.js';

/** Scalars to TensorBoard: train/loss, lr, throughput, world size, step time, the step's own metrics. */
export class TensorBoardLogger implements TrainerLogger {
  readonly writer: TensorBoardWriter;
  private readonly every: number;

  constructor(options: { logDir: string; logEveryNSteps?: number }) {
    this.writer = new TensorBoardWriter({ logDir: options.logDir });
    this.every = options.logEveryNSteps ?? 1;
  }

  start(info: { step: number; resumed: boolean }): void {
    if (info.resumed) this.writer.sessionStart(info.step);
  }

  step(log: StepLog): void {
    if (log.step % this.every !== 0) return;
    const values: Record<string, number> = { 'train/loss': log.loss, 'perf/throughput': log.throughput, 'perf/step_time_sec': log.stepTimeSec, 'dist/world_size': log.worldSize };
    if (log.lr !== undefined) values['train/lr'] = log.lr;
    for (const [k, v] of Object.entries(log.metrics)) if (k !== 'loss') values[k.includes('/') ? k : `train/${k}`] = v;
    this.writer.addScalars(values, log.step);
  }

  scalars(values: Readonly<Record<string, number>>, step: number): void {
    this.writer.addScalars(values, step);
  }

  event(): void {}

  close(): void {
    this.writer.close();
  }
}
