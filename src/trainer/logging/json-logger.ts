import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { StepLog, TrainerLogger } from './types.js';

export interface JsonLoggerOptions {
  /** A file to append lines to; default stdout. */
  path?: string;
  write?: (line: string) => void;
  logEveryNSteps?: number;
}

/** One JSON object per line: `{"type":"step",...}`, `{"type":"scalars",...}`, `{"type":"event",...}`. */
export class JsonLinesLogger implements TrainerLogger {
  private readonly write: (line: string) => void;
  private readonly every: number;
  /** The log file, opened at the first line and kept open: an open and a close per step cost more than the write. */
  private fd: number | undefined;

  constructor(options: JsonLoggerOptions = {}) {
    this.every = options.logEveryNSteps ?? 1;
    if (options.write !== undefined) this.write = options.write;
    else if (options.path !== undefined) {
      const path = options.path;
      mkdirSync(dirname(path), { recursive: true });
      // A synchronous write per line (no buffer of its own): a line is in the file as soon as step() returns,
      // so a SIGKILLed run's log ends at its last step.
      this.write = (line) => {
        this.fd ??= openSync(path, 'a');
        writeSync(this.fd, `${line}\n`);
      };
    } else this.write = (line) => process.stdout.write(`${line}\n`);
  }

  private emit(obj: Record<string, unknown>): void {
    this.write(JSON.stringify({ time: Date.now() / 1000, ...obj }));
  }

  start(info: { step: number; epoch: number; resumed: boolean; worldSize: number; maxEpochs: number }): void {
    this.emit({ type: 'start', ...info });
  }

  step(log: StepLog): void {
    if (log.step % this.every !== 0 && log.epochStep !== log.epochSteps) return;
    this.emit({ type: 'step', ...log });
  }

  scalars(values: Readonly<Record<string, number>>, step: number): void {
    this.emit({ type: 'scalars', step, values });
  }

  event(message: string, fields: Readonly<Record<string, unknown>> = {}): void {
    this.emit({ type: 'event', message, ...fields });
  }

  /** Closes the file; a later line opens it again (a logger may serve several fit() calls). */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
