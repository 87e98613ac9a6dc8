/**
 * The error file torchrun's agents read (TORCHELASTIC_ERROR_FILE): a worker's uncaught error with its
 * message, stack, rank and time, so that the agent's final report can name the root cause. The layout
 * follows torch's (`{"message": {"message", "extraInfo": {"py_callstack", "timestamp"}}}`), with our
 * fields beside it, so a Python worker using torch's `@record` is read the same way.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ErrorRecord {
  message: string;
  name: string;
  stack: string;
  rank?: number;
  /** ISO time the error was recorded. */
  time: string;
  pid: number;
}

function describe(err: unknown): { name: string; message: string; stack: string } {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: err.stack ?? `${err.name}: ${err.message}` };
  const text = typeof err === 'string' ? err : JSON.stringify(err) ?? String(err);
  return { name: 'Error', message: text, stack: text };
}

/** Write `err` to the error file named by TORCHELASTIC_ERROR_FILE (or `path`); the first error wins. */
export function writeErrorFile(err: unknown, path = process.env.TORCHELASTIC_ERROR_FILE): string | undefined {
  if (path === undefined || path === '') return undefined;
  const d = describe(err);
  const rankText = process.env.RANK;
  const record: ErrorRecord = {
    message: d.message,
    name: d.name,
    stack: d.stack,
    rank: rankText === undefined ? undefined : Number(rankText),
    time: new Date().toISOString(),
    pid: process.pid,
  };
  const torchShape = {
    message: { message: `${d.name}: ${d.message}`, extraInfo: { py_callstack: d.stack, timestamp: String(Math.floor(Date.now() / 1000)) } },
    eh: record,
  };
  try {
    mkdirSync(dirname(path), { recursive: true });
    // Written whole then renamed, so the agent never reads half a file.
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(torchShape, null, 2));
    renameSync(tmp, path);
    return path;
  } catch {
    return undefined;
  }
}

/** Read an error file written by writeErrorFile() or by torch's `@record`; undefined if absent or unreadable. */
export function readErrorFile(path: string): ErrorRecord | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const o = raw as { eh?: ErrorRecord; message?: { message?: unknown; extraInfo?: { py_callstack?: unknown; timestamp?: unknown } } | string };
  if (o.eh !== undefined && typeof o.eh.message === 'string') return o.eh;
  if (typeof o.message === 'object' && o.message !== null) {
    const ts = Number(o.message.extraInfo?.timestamp);
    return {
      message: String(o.message.message ?? ''),
      name: 'Error',
      stack: String(o.message.extraInfo?.py_callstack ?? ''),
      rank: undefined,
      time: Number.isFinite(ts) ? new Date(ts * 1000).toISOString() : '',
      pid: 0,
    };
  }
  if (typeof o.message === 'string') return { message: o.message, name: 'Error', stack: '', rank: undefined, time: '', pid: 0 };
  return undefined;
}

let installed = false;

/**
 * Record any uncaught exception or unhandled rejection in the error file, print it as Node would,
 * and exit with status 1. `eh run` installs this in every Node worker; call it yourself when the
 * script runs under another launcher.
 */
export function installErrorHandler(): void {
  if (installed) return;
  installed = true;
  const onFatal = (err: unknown): void => {
    writeErrorFile(err);
    process.stderr.write(`${describe(err).stack}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', onFatal);
  process.on('unhandledRejection', onFatal);
}

/**
 * torch's `@record`: run `fn`, and if it throws, record the error in the error file before rethrowing.
 * Usable as `await recordErrors(main)` or `export default recordErrors(main)`-style wrappers.
 */
export async function recordErrors<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    writeErrorFile(err);
    throw err;
  }
}
