import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RendezvousInfo } from '../../src/rendezvous/index.js';

const script = fileURLToPath(new URL('./fixtures/rdzv-node.ts', import.meta.url));

/** One "node" process running fixtures/rdzv-node.ts, with its output lines for the test to await. */
export class NodeProc {
  readonly lines: string[] = [];
  private readonly listeners = new Set<() => void>();
  readonly exited: Promise<number | null>;
  private constructor(
    readonly id: string,
    readonly child: ChildProcessWithoutNullStreams,
  ) {
    let buf = '';
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        for (const l of [...this.listeners]) l();
      }
    });
    child.stderr.on('data', (c: Buffer) => process.stderr.write(`[${id}] ${c.toString()}`));
    this.exited = new Promise((resolve) => child.once('exit', (code) => {
      resolve(code);
      for (const l of [...this.listeners]) l();
    }));
  }

  static start(id: string, env: Record<string, string>): NodeProc {
    const child = spawn(process.execPath, ['--import', 'tsx', script], { env: { ...process.env, ...env, NODE_ID: id }, stdio: 'pipe' });
    return new NodeProc(id, child);
  }

  /** Resolve with the first line (from index `from`) matching `re`; reject after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = this.lines.slice(from).find((l) => re.test(l));
        if (hit !== undefined) {
          done();
          resolve(hit);
          return true;
        }
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`node ${this.id} exited (${this.child.exitCode ?? this.child.signalCode}) before printing ${re}; output:\n${this.lines.join('\n')}`));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`node ${this.id} did not print ${re} within ${timeoutMs} ms; output:\n${this.lines.join('\n')}`));
      }, timeoutMs);
      const listener = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        this.listeners.delete(listener);
      };
      this.listeners.add(listener);
      check();
    });
  }

  /** The round info of the first ROUND line for `round`. */
  async roundInfo(round: number, timeoutMs: number): Promise<RendezvousInfo> {
    const line = await this.waitFor(new RegExp(`^ROUND \\{"round":${round},`), timeoutMs);
    return JSON.parse(line.slice('ROUND '.length)) as RendezvousInfo;
  }

  rounds(): RendezvousInfo[] {
    return this.lines.filter((l) => l.startsWith('ROUND ')).map((l) => JSON.parse(l.slice(6)) as RendezvousInfo);
  }

  go(): void {
    this.child.stdin.write('GO\n');
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Start nodes, wait until each is connected, then let them all join at once. */
export async function startNodes(ids: string[], env: Record<string, string>, readyTimeoutMs = 30_000): Promise<NodeProc[]> {
  const nodes = ids.map((id) => NodeProc.start(id, env));
  try {
    await Promise.all(nodes.map((n) => n.waitFor(/^READY /, readyTimeoutMs)));
  } catch (err) {
    for (const n of nodes) n.kill();
    throw err;
  }
  for (const n of nodes) n.go();
  return nodes;
}
