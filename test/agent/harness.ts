/** Helpers for the agent tests: run `eh run` (built JS) as a real process, wait on files, clean up. */
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const EH = join(ROOT, 'dist', 'cli', 'main.js');
export const FIXTURES = join(ROOT, 'test', 'fixtures', 'agent');

if (!existsSync(EH)) throw new Error(`${EH} is missing: run \`npm run build\` first (npm test does)`);

export interface RunningAgent {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit status; rejects after `ms`. */
  exited: (ms: number) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export function startAgent(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): RunningAgent {
  const child = spawn(process.execPath, [EH, 'run', ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => {
    child.on('exit', (code, signal) => {
      live.delete(child);
      // Let the pipes drain so the last lines are in.
      setTimeout(() => res({ code, signal }), 50);
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited: (ms) =>
      Promise.race([
        done,
        new Promise<never>((_, rej) =>
          setTimeout(() => {
            child.kill('SIGKILL');
            rej(new Error(`agent did not exit within ${ms} ms\n--- stdout ---\n${out}\n--- stderr ---\n${err}`));
          }, ms).unref(),
        ),
      ]),
  };
}

export function tempDir(prefix = 'eh-agent-test-'): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false, ms: number, everyMs = 25): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

export function readIf(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once something accepts connections on 127.0.0.1:`port` (an agent hosting the TCP store). */
export async function waitListening(port: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((res) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        res(true);
      });
      s.once('error', () => res(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listened on port ${port} within ${ms} ms`);
}
