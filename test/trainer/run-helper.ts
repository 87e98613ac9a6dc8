/** Runs test/trainer/worker.ts (alone or under `eh run`) and collects its `T {json}` lines. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export type Line = Record<string, unknown> & { type: string };

export interface Run {
  child: ChildProcess;
  lines: Line[];
  stderr: string[];
  /** Resolves with the exit code (128 + n for a signal). */
  exit: Promise<number>;
  /** Calls `fn` on every line as it arrives. */
  onLine(fn: (l: Line) => void): void;
}

export function runWorker(options: { workers?: number; opts: Record<string, unknown>; timeoutMs?: number; agentArgs?: string[] }): Run {
  const args = options.workers === undefined
    ? ['--import', 'tsx', 'test/trainer/worker.ts', JSON.stringify(options.opts)]
    : ['--import', 'tsx', 'src/cli/main.ts', 'run', '--standalone', '--nproc-per-node', String(options.workers), '--max-restarts', '2', ...(options.agentArgs ?? []), 'test/trainer/worker.ts', JSON.stringify(options.opts)];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WORLD_SIZE: options.workers === undefined ? '1' : undefined, RANK: options.workers === undefined ? '0' : undefined } });
  const lines: Line[] = [];
  const stderr: string[] = [];
  const listeners: Array<(l: Line) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (raw) => {
    const line = raw.replace(/^\[rank\d+\]:/, '');
    if (!line.startsWith('T ')) return;
    const l = JSON.parse(line.slice(2)) as Line;
    lines.push(l);
    for (const fn of listeners) fn(l);
  });
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
  const exit = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15));
    }),
  );
  return { child, lines, stderr, exit, onLine: (fn) => listeners.push(fn) };
}

/** rank -> step -> the sample ids of that step's micro-batches, the last attempt's (a redone step replaces the first). */
export function batchesByStep(lines: readonly Line[]): Map<string, string> {
  const per = new Map<string, Line[]>();
  let attemptOf = new Map<number, number>();
  for (const l of lines) {
    if (l.type === 'worker') attemptOf = new Map(attemptOf).set(l.rank as number, l.attempt as number);
    if (l.type !== 'batch') continue;
    const key = `${String(l.rank)}:${String(l.step)}`;
    const list = per.get(key) ?? [];
    // A new attempt's first micro-batch of a step drops what an earlier attempt logged for it.
    const attempt = attemptOf.get(l.rank as number) ?? 0;
    const fresh = list.filter((x) => x.attempt === attempt);
    fresh.push({ ...l, attempt });
    per.set(key, fresh);
  }
  const out = new Map<string, string>();
  for (const [k, list] of per) out.set(k, list.map((l) => `${String(l.loader)}#${String(l.batchIdx)}[${(l.ids as number[]).join(',')}]`).join(' '));
  return out;
}
