/**
 * Acts as the agent for collective tests: hosts a TcpStoreServer, spawns N real worker processes
 * with the environment contract (RANK, WORLD_SIZE, ..., EH_STORE_*, EH_TOKEN), collects the JSON
 * messages they print (lines starting with "@@"), and kills whatever is left at the end.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { TcpStoreServer, generateToken } from '../../src/rendezvous/index.js';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '../..');

export interface WorkerMessage {
  rank: number;
  at: number;
  [k: string]: unknown;
}

export interface WorkerExit {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export interface LaunchOptions {
  n: number;
  /** Script (TypeScript through tsx, or .js) run by every rank. */
  script: string;
  args?: string[];
  /** Extra environment for every rank. */
  env?: Record<string, string>;
  /** Extra environment per rank. */
  rankEnv?: (rank: number) => Record<string, string>;
  /** Store prefix for this round (default: a fresh one). */
  prefix?: string;
  /** Address the store listens on (default 127.0.0.1), e.g. a test bed's gateway for ranks in network namespaces. */
  storeHost?: string;
  /** Start rank `rank`'s process (default: spawn(command, argv, options)), e.g. in a network namespace. */
  spawnRank?: (rank: number, command: string, argv: string[], options: SpawnOptions) => ChildProcess;
}

export class WorkerGroup {
  readonly messages: WorkerMessage[] = [];
  readonly exits: (WorkerExit | undefined)[];
  private readonly waiters: { pred: (m: WorkerMessage) => boolean; resolve: (m: WorkerMessage) => void }[] = [];
  private readonly exitWaiters: (() => void)[] = [];

  constructor(
    readonly server: TcpStoreServer,
    readonly token: string,
    readonly prefix: string,
    readonly procs: ChildProcess[],
  ) {
    this.exits = procs.map(() => undefined);
    procs.forEach((p, rank) => {
      let out = '';
      let err = '';
      p.stdout?.setEncoding('utf8');
      p.stderr?.setEncoding('utf8');
      p.stdout?.on('data', (d: string) => {
        out += d;
        let i: number;
        while ((i = out.indexOf('\n')) >= 0) {
          const line = out.slice(0, i);
          out = out.slice(i + 1);
          if (line.startsWith('@@')) this.push({ ...(JSON.parse(line.slice(2)) as object), rank } as WorkerMessage);
          else if (process.env.EH_TEST_VERBOSE) process.stderr.write(`[rank ${String(rank)}] ${line}\n`);
        }
      });
      p.stderr?.on('data', (d: string) => {
        err += d;
        if (process.env.EH_TEST_VERBOSE) process.stderr.write(`[rank ${String(rank)} err] ${d}`);
      });
      p.on('exit', (code, signal) => {
        this.exits[rank] = { rank, code, signal, stderr: err };
        for (const w of this.exitWaiters.splice(0)) w();
      });
    });
  }

  private push(m: WorkerMessage): void {
    this.messages.push(m);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i].pred(m)) {
        this.waiters[i].resolve(m);
        this.waiters.splice(i, 1);
      }
    }
  }

  /** The first message (past or future) matching `pred`, within `timeoutMs`. */
  waitFor(pred: (m: WorkerMessage) => boolean, timeoutMs: number, what = 'a message'): Promise<WorkerMessage> {
    const found = this.messages.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}; got ${JSON.stringify(this.messages)}; exits ${JSON.stringify(this.exits)}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  }

  /** Every worker's exit, within `timeoutMs` (then the rest are killed and this rejects). */
  async waitExit(timeoutMs: number): Promise<WorkerExit[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.exits.some((e) => e === undefined)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        this.kill();
        throw new Error(`workers did not exit within ${String(timeoutMs)} ms; messages: ${JSON.stringify(this.messages)}; stderr: ${this.exits.map((e) => e?.stderr ?? '').join('\n')}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.exitWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.exits as WorkerExit[];
  }

  send(rank: number, line: string): void {
    this.procs[rank].stdin?.write(`${line}\n`);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    for (const p of this.procs) if (p.exitCode === null && p.signalCode === null) p.kill(signal);
  }

  /** Kill what is left, remove the Unix socket files of ranks that could not (SIGKILL), stop the store. */
  async close(): Promise<void> {
    this.kill();
    await this.waitExit(5000).catch(() => undefined);
    for (const key of await this.server.store.keys(this.prefix)) {
      if (!/collective\/\d+\/addr\/\d+$/.test(key)) continue;
      const raw = await this.server.store.get(key);
      const unixPath = raw === undefined ? undefined : (JSON.parse(raw) as { unixPath?: string }).unixPath;
      if (unixPath !== undefined) rmSync(unixPath, { force: true });
    }
    await this.server.close();
  }
}

export async function launchWorkers(o: LaunchOptions): Promise<WorkerGroup> {
  const token = generateToken();
  const server = await TcpStoreServer.start({ token, logger: () => undefined, ...(o.storeHost !== undefined ? { host: o.storeHost } : {}) });
  const prefix = o.prefix ?? `test-${String(process.pid)}-${String(Date.now())}-${Math.random().toString(36).slice(2, 8)}/`;
  const procs: ChildProcess[] = [];
  const isTs = /\.[mc]?ts$/.test(o.script);
  for (let rank = 0; rank < o.n; rank++) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      RANK: String(rank),
      LOCAL_RANK: String(rank),
      WORLD_SIZE: String(o.n),
      LOCAL_WORLD_SIZE: String(o.n),
      GROUP_RANK: '0',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: '29500',
      TORCHELASTIC_RESTART_COUNT: '0',
      TORCHELASTIC_RUN_ID: 'collective-test',
      EH_STORE_BACKEND: 'tcp',
      EH_STORE_ENDPOINT: server.endpoint,
      EH_TOKEN: token,
      EH_STORE_PREFIX: prefix,
      ...o.env,
      ...o.rankEnv?.(rank),
    };
    const argv = isTs ? ['--import', 'tsx', o.script, ...(o.args ?? [])] : [o.script, ...(o.args ?? [])];
    const options: SpawnOptions = { env, cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] };
    procs.push(o.spawnRank !== undefined ? o.spawnRank(rank, process.execPath, argv, options) : spawn(process.execPath, argv, options));
  }
  return new WorkerGroup(server, token, prefix, procs);
}
