import cliProgress from 'cli-progress';
import type { StepLog, TrainerLogger } from './types.js';

export interface ConsoleLoggerOptions {
  /** Where to draw; default stdout. A progress bar only when it is a terminal and `progressBar` is on. */
  stream?: NodeJS.WriteStream;
  progressBar?: boolean;
  /** Plain lines: one every n steps (and at each epoch end). */
  logEveryNSteps?: number;
}

function fmt(x: number): string {
  return Math.abs(x) >= 100 || x === 0 ? x.toFixed(1) : x.toPrecision(4);
}

/** A progress bar per epoch in a terminal (steps, loss, throughput, ETA); plain lines when not a terminal. */
export class ConsoleLogger implements TrainerLogger {
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private readonly every: number;
  private bar: cliProgress.SingleBar | undefined;
  private barEpoch = -1;

  constructor(options: ConsoleLoggerOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.tty = (options.progressBar ?? true) && this.stream.isTTY === true;
    this.every = options.logEveryNSteps ?? 50;
  }

  private line(text: string): void {
    if (this.bar !== undefined) {
      this.bar.stop();
      this.bar = undefined;
      this.barEpoch = -1;
    }
    this.stream.write(`${text}\n`);
  }

  start(info: { step: number; epoch: number; resumed: boolean; worldSize: number; maxEpochs: number }): void {
    this.line(`${info.resumed ? 'resuming' : 'training'} at step ${info.step} (epoch ${info.epoch + 1} of ${info.maxEpochs}) on ${info.worldSize} worker(s)`);
  }

  step(log: StepLog): void {
    const payload = { epoch: log.epoch + 1, loss: fmt(log.loss), throughput: fmt(log.throughput), step: log.step };
    if (this.tty) {
      if (this.bar === undefined || this.barEpoch !== log.epoch) {
        this.bar?.stop();
        this.bar = new cliProgress.SingleBar(
          { stream: this.stream, format: 'epoch {epoch} |{bar}| {value}/{total} | step {step} | loss {loss} | {throughput} samples/s | ETA {eta_formatted}', hideCursor: false, etaBuffer: 50, fps: 10 },
          cliProgress.Presets.shades_classic,
        );
        this.bar.start(log.epochSteps, log.epochStep, payload);
        this.barEpoch = log.epoch;
      }
      this.bar.update(log.epochStep, payload);
      if (log.epochStep >= log.epochSteps) this.line('');
      return;
    }
    if (log.step % this.every === 0 || log.epochStep === log.epochSteps) {
      this.stream.write(`epoch ${log.epoch + 1} step ${log.step} (${log.epochStep}/${log.epochSteps}) loss ${fmt(log.loss)} ${fmt(log.throughput)} samples/s\n`);
    }
  }

  scalars(values: Readonly<Record<string, number>>, step: number): void {
    const parts = Object.entries(values).map(([k, v]) => `${k} ${fmt(v)}`);
    if (parts.length > 0) this.line(`step ${step}: ${parts.join(', ')}`);
  }

  event(message: string): void {
    this.line(message);
  }

  close(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
