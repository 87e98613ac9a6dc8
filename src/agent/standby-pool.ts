/**
 * Pre-started standby workers: Node processes that have already started, loaded the heavy modules
 * they were told to preload (`--preload`), and wait on IPC to be given a rank and an environment.
 * Taking one instead of spawning saves Node's start-up and the imports on the recovery path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { EH_ENV } from '../env/index.js';
import { isWorkerMessage } from './ipc-protocol.js';
import { launchCommand } from './launch-command.js';
import { pythonCommand, type PythonJob } from './python/python-worker.js';

interface Standby {
  child: ChildProcess;
  ready: boolean;
  discard: (chunk: Buffer) => void;
}

export interface StandbyPoolOptions {
  script: string;
  size: number;
  preload: string[];
  nodeArgs?: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** A Python job: standbys are interpreters started through the Python bootstrap. */
  python?: PythonJob;
  /** Told once when standbys die before they are ready (e.g. a --preload module fails to load). */
  warn?: (line: string) => void;
}

export class StandbyPool {
  private readonly pool: Standby[] = [];
  private closed = false;
  private warned = false;
  /** A standby died before it was ready: more would die the same way, so replacements start cold. */
  private broken = false;

  constructor(private readonly options: StandbyPoolOptions) {}

  /** Start standbys until the pool holds `size` of them. */
  fill(): void {
    while (!this.closed && !this.broken && this.pool.length < this.options.size) this.pool.push(this.spawnOne());
  }

  get readyCount(): number {
    return this.pool.filter((s) => s.ready).length;
  }

  /** Wait (bounded) until `n` standbys are ready. */
  async waitReady(n: number, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.readyCount < n && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return this.readyCount >= n;
  }

  /** A ready standby, removed from the pool, or undefined when none is ready. */
  take(): ChildProcess | undefined {
    const i = this.pool.findIndex((s) => s.ready && s.child.connected && s.child.exitCode === null && s.child.signalCode === null);
    if (i < 0) return undefined;
    const [s] = this.pool.splice(i, 1);
    s.child.stdout?.off('data', s.discard);
    s.child.stderr?.off('data', s.discard);
    s.child.removeAllListeners('message');
    s.child.removeAllListeners('exit');
    return s.child;
  }

  close(): void {
    this.closed = true;
    for (const s of this.pool.splice(0)) s.child.kill('SIGKILL');
  }

  private spawnOne(): Standby {
    const py = this.options.python;
    const cmd = py !== undefined ? pythonCommand(py, true) : launchCommand(this.options.script, [], { noNode: false, standby: true, nodeArgs: this.options.nodeArgs });
    const child = spawn(cmd.file, cmd.args, {
      cwd: this.options.cwd,
      env: {
        ...this.options.env,
        EH_PRELOAD: JSON.stringify(this.options.preload),
        EH_PRELOAD_FROM: resolve(this.options.cwd, this.options.script),
        [EH_ENV.AGENT_IPC]: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // A Python standby speaks JSON lines and leads its own process group (see python/eh_bootstrap.py).
      serialization: py !== undefined ? 'json' : 'advanced',
      detached: py !== undefined,
    });
    let tail = '';
    const s: Standby = { child, ready: false, discard: (chunk: Buffer) => void (tail = (tail + chunk.toString()).slice(-2000)) };
    child.stdout?.on('data', s.discard);
    child.stderr?.on('data', s.discard);
    child.on('message', (m: unknown) => {
      if (isWorkerMessage(m) && m.eh === 'standby-ready') s.ready = true;
    });
    child.on('exit', (code, signal) => {
      const i = this.pool.indexOf(s);
      if (i >= 0) this.pool.splice(i, 1);
      if (!s.ready && !this.closed && !this.warned && signal !== 'SIGKILL') {
        this.warned = true;
        this.broken = true;
        this.options.warn?.(`a standby worker exited before it was ready (${signal ?? `exit code ${String(code)}`}); replacements will start cold. Its output:\n${tail.trim()}`);
      }
    });
    child.on('error', () => undefined);
    return s;
  }
}
