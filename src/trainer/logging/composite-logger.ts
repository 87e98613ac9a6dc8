import type { StepLog, TrainerLogger } from './types.js';

/** Several loggers as one. */
export class CompositeLogger implements TrainerLogger {
  constructor(readonly loggers: readonly TrainerLogger[]) {}
  start(info: Parameters<TrainerLogger['start']>[0]): void {
    for (const l of this.loggers) l.start(info);
  }
  step(log: StepLog): void {
    for (const l of this.loggers) l.step(log);
  }
  scalars(values: Readonly<Record<string, number>>, step: number): void {
    for (const l of this.loggers) l.scalars(values, step);
  }
  event(message: string, fields?: Readonly<Record<string, unknown>>): void {
    for (const l of this.loggers) l.event(message, fields);
  }
  close(): void {
    for (const l of this.loggers) l.close();
  }
}

/** Logs nothing: ranks other than 0 by default. */
export const NULL_LOGGER: TrainerLogger = { start() {}, step() {}, scalars() {}, event() {}, close() {} };
