/**
 * One worker as the agent sees it: its process, whether it got past start-up, its heartbeats, its output
 * (prefixed on the console, whole lines in per-rank log files, a tail kept for reports) and its end.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { isWorkerMessage, type AgentMessage, type WorkerMessage } from './ipc-protocol.js';
import { LineSplitter } from './line-splitter.js';

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Milliseconds since the epoch. */
  at: number;
}

export interface OutputOptions {
  /** Print stdout / stderr lines on the agent's console (with the rank prefix). */
  consoleStdout: boolean;
  consoleStderr: boolean;
}

const TAIL_LINES = 40;

export class WorkerProcess {
  started = false;
  startupError: { message: string; stack?: string } | undefined;
  /** Time of the last heartbeat (or of `started`); undefined until the first. */
  lastBeat: number | undefined;
  step: number | undefined;
  /** Heartbeats received; a worker that never beats (heartbeats off, non-Node) is not checked for hangs. */
  heartbeats = 0;
  exit: WorkerExit | undefined;
  /** The real process of a non-Node worker (run through the shim), killed as a group. */
  childPid: number | undefined;
  /** The child leads its own process group (a Python worker, owned directly): every signal goes to the group. */
  ownGroup = false;
  /** Taken from the standby pool rather than spawned. */
  fromStandby = false;
  readonly stderrTail: string[] = [];
  readonly exited: Promise<WorkerExit>;
  readonly startedAt = Date.now();
  private readonly files: WriteStream[] = [];
  private readonly stderrListeners = new Set<(line: string) => void>();
  private readonly messageListeners = new Set<(m: WorkerMessage) => void>();
  private onExitCb: ((w: WorkerProcess) => void) | undefined;
  private onMessageCb: ((w: WorkerProcess, m: WorkerMessage) => void) | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly rank: number,
    readonly localRank: number,
    readonly dir: string,
    readonly errorFile: string,
    output: OutputOptions,
  ) {
    mkdirSync(dir, { recursive: true });
    this.attach(child.stdout, 'stdout.log', output.consoleStdout ? process.stdout : undefined, false);
    this.attach(child.stderr, 'stderr.log', output.consoleStderr ? process.stderr : undefined, true);
    child.on('message', (m: unknown) => {
      if (!isWorkerMessage(m)) return;
      this.handleMessage(m);
    });
    this.exited = new Promise<WorkerExit>((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exit !== undefined) return;
        this.exit = { code, signal, at: Date.now() };
        this.onExitCb?.(this);
        resolve(this.exit);
      };
      // 'exit' rather than 'close': act the moment the process is gone, not when its pipes drain.
      child.on('exit', finish);
      child.on('error', (err) => {
        if (child.pid === undefined) {
          this.startupError = { message: `cannot start worker: ${err.message}` };
          finish(127, null);
        }
      });
      if (child.exitCode !== null || child.signalCode !== null) finish(child.exitCode, child.signalCode);
    });
    child.on('close', () => this.closeFiles());
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exit === undefined;
  }

  get failed(): boolean {
    return this.exit !== undefined && (this.exit.code !== 0 || this.exit.signal !== null);
  }

  onExit(cb: (w: WorkerProcess) => void): void {
    this.onExitCb = cb;
    if (this.exit !== undefined) cb(this);
  }

  onMessage(cb: (w: WorkerProcess, m: WorkerMessage) => void): void {
    this.onMessageCb = cb;
  }

  /** Receive every stderr line (used to find the inspector's address). Returns the unsubscribe. */
  watchStderr(cb: (line: string) => void): () => void {
    this.stderrListeners.add(cb);
    return () => this.stderrListeners.delete(cb);
  }

  watchMessages(cb: (m: WorkerMessage) => void): () => void {
    this.messageListeners.add(cb);
    return () => this.messageListeners.delete(cb);
  }

  send(m: AgentMessage): boolean {
    if (!this.child.connected) return false;
    try {
      return this.child.send(m);
    } catch {
      return false;
    }
  }

  /** Signal the worker (and, for a non-Node worker, its real process group). */
  kill(signal: NodeJS.Signals): void {
    if (this.exit !== undefined) return;
    if (this.ownGroup && this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, signal);
        return;
      } catch {
        // not a group leader (yet): signal the process alone
      }
    }
    try {
      this.child.kill(signal);
    } catch {
      // gone
    }
    if (signal === 'SIGKILL' && this.childPid !== undefined) {
      try {
        process.kill(-this.childPid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  describeExit(): string {
    if (this.exit === undefined) return 'still running';
    if (this.exit.signal !== null) return `killed by ${this.exit.signal}`;
    return `exit code ${String(this.exit.code)}`;
  }

  private handleMessage(m: WorkerMessage): void {
    const now = Date.now();
    switch (m.eh) {
      case 'started':
        this.started = true;
        this.lastBeat = now;
        break;
      case 'hb':
        this.lastBeat = now;
        this.heartbeats += 1;
        if (m.step !== undefined) this.step = m.step;
        break;
      case 'startup-error':
        this.startupError = { message: m.message, stack: m.stack };
        break;
      case 'child-pid':
        this.childPid = m.pid;
        break;
      default:
        break;
    }
    for (const l of this.messageListeners) l(m);
    this.onMessageCb?.(this, m);
  }

  private attach(stream: NodeJS.ReadableStream | null, file: string, consoleOut: NodeJS.WritableStream | undefined, keepTail: boolean): void {
    if (stream === null) return;
    const out = createWriteStream(join(this.dir, file), { flags: 'a' });
    out.on('error', () => undefined);
    this.files.push(out);
    const prefix = `[rank${this.rank}]:`;
    const splitter = new LineSplitter((line) => {
      out.write(`${line}\n`);
      consoleOut?.write(`${prefix}${line}\n`);
      if (keepTail) {
        this.stderrTail.push(line);
        if (this.stderrTail.length > TAIL_LINES) this.stderrTail.shift();
        for (const l of this.stderrListeners) l(line);
      }
    });
    stream.on('data', (chunk: Buffer) => splitter.push(chunk));
    stream.on('end', () => splitter.flush());
  }

  private closeFiles(): void {
    for (const f of this.files) f.end();
  }

  /** Resolves once the log files are flushed (after the process closed its pipes), bounded by `ms`. */
  async drained(ms = 500): Promise<void> {
    const waits = this.files.map((f) => (f.closed ? Promise.resolve() : new Promise<void>((r) => f.once('close', () => r()))));
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, ms).unref())]);
  }
}
