/**
 * The workers of one node for one attempt: started together (from standbys when there are some),
 * stopped together (the signal, then SIGKILL after the grace period).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { launchCommand } from './launch-command.js';
import type { MemoryHolder } from './memory-holder.js';
import { pythonCommand, type PythonJob } from './python/python-worker.js';
import type { StandbyPool } from './standby-pool.js';
import { WorkerProcess, type OutputOptions } from './worker-process.js';

export interface WorkerLaunch {
  rank: number;
  localRank: number;
  env: Record<string, string>;
}

export interface GroupSpec {
  script: string;
  scriptArgs: string[];
  noNode: boolean;
  cwd: string;
  nodeArgs?: string[];
  /** A Python job: workers are interpreters the agent owns directly, through the Python bootstrap. */
  python?: PythonJob;
  /** Directory of this attempt; each worker logs under `<attemptDir>/<rank>/`. */
  attemptDir: string;
  /** Per local rank: which streams go to the console. */
  output: (localRank: number) => OutputOptions;
}

export class WorkerGroup {
  readonly workers: WorkerProcess[] = [];

  constructor(
    private readonly spec: GroupSpec,
    private readonly standby: StandbyPool | undefined,
    private readonly memory?: MemoryHolder,
  ) {}

  start(launches: WorkerLaunch[]): WorkerProcess[] {
    for (const l of launches) {
      const dir = join(this.spec.attemptDir, String(l.rank));
      const errorFile = join(dir, 'error.json');
      const env: Record<string, string> = { ...l.env, TORCHELASTIC_ERROR_FILE: errorFile };
      const py = this.spec.python;
      const taken = this.spec.noNode && py === undefined ? undefined : this.standby?.take();
      let w: WorkerProcess;
      if (taken !== undefined) {
        w = new WorkerProcess(taken, l.rank, l.localRank, dir, errorFile, this.spec.output(l.localRank));
        w.fromStandby = true;
        w.send({ eh: 'start', script: py?.script ?? this.spec.script, args: py?.args ?? this.spec.scriptArgs, env, cwd: this.spec.cwd });
      } else if (py !== undefined) {
        const cmd = pythonCommand(py, false);
        const child = spawn(cmd.file, cmd.args, { cwd: this.spec.cwd, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json', detached: true });
        w = new WorkerProcess(child, l.rank, l.localRank, dir, errorFile, this.spec.output(l.localRank));
      } else {
        const cmd = launchCommand(this.spec.script, this.spec.scriptArgs, { noNode: this.spec.noNode, nodeArgs: this.spec.nodeArgs });
        // 'advanced' serialization: agent-held memory carries bytes over IPC without JSON's blow-up.
        const child = spawn(cmd.file, cmd.args, { cwd: this.spec.cwd, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced' });
        w = new WorkerProcess(child, l.rank, l.localRank, dir, errorFile, this.spec.output(l.localRank));
      }
      // A Python worker leads its own process group: signals and SIGKILL go to the whole group.
      if (py !== undefined) w.ownGroup = true;
      const memory = this.memory;
      if (memory !== undefined) w.onMessage((wp, m) => {
        if (m.eh === 'mem') memory.serve(wp, m);
      });
      this.workers.push(w);
    }
    return this.workers;
  }

  get running(): WorkerProcess[] {
    return this.workers.filter((w) => w.running);
  }

  /**
   * Stop every worker still running: `signal` first, SIGKILL for those still alive after `graceMs`.
   * Resolves when all have exited (bounded: a process that survives SIGKILL for 5 s is left behind).
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000): Promise<void> {
    const alive = this.running;
    if (alive.length === 0) return;
    for (const w of alive) w.kill(signal);
    if (signal !== 'SIGKILL') {
      const all = Promise.all(alive.map((w) => w.exited));
      let t: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise<void>((r) => (t = setTimeout(r, graceMs)))]);
      clearTimeout(t);
      for (const w of this.running) w.kill('SIGKILL');
    }
    let t2: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(alive.map((w) => w.exited)), new Promise<void>((r) => (t2 = setTimeout(r, 5000)))]);
    clearTimeout(t2);
  }
}
