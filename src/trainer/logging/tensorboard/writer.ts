import { closeSync, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ConfigurationError, describeError } from '../../../errors/index.js';
import { encodeEvent, SESSION_START, type EventFields } from './proto.js';
import { frameRecord } from './record.js';

export interface TensorBoardWriterOptions {
  logDir: string;
  /** Milliseconds between automatic flushes (default 2000); records are also flushed by flush() and close(). */
  flushIntervalMs?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/**
 * Writes one TensorBoard event file, `events.out.tfevents.<unix seconds>.<host>.<pid>`, whose first record
 * carries `file_version: "brain.Event:2"`. Records are buffered and written in batches, off the step's path.
 */
export class TensorBoardWriter {
  readonly path: string;
  private fd: number | undefined;
  private pending: Buffer[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;
  private readonly onExit = (): void => this.flush();

  constructor(options: TensorBoardWriterOptions) {
    this.now = options.now ?? Date.now;
    try {
      mkdirSync(options.logDir, { recursive: true });
    } catch (err) {
      throw new ConfigurationError(`Cannot create the TensorBoard directory ${options.logDir}: ${describeError(err)}`, { configKey: 'logging.tensorboardDir', cause: err });
    }
    const base = `events.out.tfevents.${Math.floor(this.now() / 1000)}.${hostname()}.${process.pid}`;
    // Two writers of one process in one second: the second file gets a suffix instead of sharing the first.
    let path = join(options.logDir, base);
    for (let n = 1; ; n++) {
      try {
        this.fd = openSync(path, 'wx');
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n > 1000) throw new ConfigurationError(`Cannot create ${path}: ${describeError(err)}`, { configKey: 'logging.tensorboardDir', cause: err });
        path = join(options.logDir, `${base}.${n}`);
      }
    }
    this.path = path;
    this.write({ wall_time: this.now() / 1000, step: 0, file_version: 'brain.Event:2' });
    this.flush();
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 2000);
    this.timer.unref();
    process.on('exit', this.onExit);
  }

  private write(event: EventFields): void {
    if (this.fd === undefined) return;
    this.pending.push(frameRecord(encodeEvent(event)));
  }

  /** Scalars of one step, one Event holding a Summary value per tag. */
  addScalars(values: Readonly<Record<string, number>>, step: number, wallTimeSec = this.now() / 1000): void {
    const value = Object.entries(values)
      .filter(([, v]) => Number.isFinite(v))
      .map(([tag, v]) => ({ tag, simple_value: v }));
    if (value.length === 0) return;
    this.write({ wall_time: wallTimeSec, step, summary: { value } });
  }

  addScalar(tag: string, value: number, step: number, wallTimeSec?: number): void {
    this.addScalars({ [tag]: value }, step, wallTimeSec);
  }

  /**
   * A SessionLog START at `step`: TensorBoard then discards the events of later steps written before it, i.e.
   * the steps a failure undid and the resumed run repeats.
   */
  sessionStart(step: number, msg = 'resumed'): void {
    this.write({ wall_time: this.now() / 1000, step, session_log: { status: SESSION_START, msg } });
  }

  flush(): void {
    if (this.fd === undefined || this.pending.length === 0) return;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    for (let off = 0; off < data.length; ) off += writeSync(this.fd, data, off);
  }

  close(): void {
    if (this.fd === undefined) return;
    clearInterval(this.timer);
    process.off('exit', this.onExit);
    this.flush();
    try {
      fsyncSync(this.fd);
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}
