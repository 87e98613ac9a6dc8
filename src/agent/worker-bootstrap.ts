/**
 * Entry point of every Node worker `eh run` starts:
 *   node [--import tsx] worker-bootstrap.js SCRIPT [ARGS...]   run SCRIPT now
 *   node [--import tsx] worker-bootstrap.js --eh-standby       preload EH_PRELOAD, then wait for a `start`
 * It ties the worker's life to its agent's (IPC disconnect or a changed parent -> exit), records uncaught
 * errors in the error file, tells the agent when the script's module graph has loaded (the end of
 * start-up), beats, and answers requests for a diagnostic report. A standby process has already paid
 * for Node's start-up and the heavy imports, so replacing a dead worker costs only the script's own start.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { redactValue, secretValues, writePrivateFile } from './redact.js';
import { resolve, dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EH_ENV } from '../env/index.js';
import { installErrorHandler, writeErrorFile } from './error-file.js';
import { startHeartbeat } from './heartbeat.js';
import { isAgentMessage, type AgentMessage, type WorkerMessage } from './ipc-protocol.js';
import { resolveModuleUrl } from './resolve-module.js';
import { withSyntaxLocation } from './syntax-location.js';

const STARTED_HOOK = Symbol.for('elastic-harness.worker-started');
const HOLD = Symbol.for('elastic-harness.hold-channel');

function holdChannel(on: boolean): void {
  (globalThis as Record<symbol, unknown>)[HOLD] = on;
  if (on) process.channel?.ref();
  else process.channel?.unref();
}

function send(msg: WorkerMessage): void {
  try {
    process.send?.(msg);
  } catch {
    // agent gone
  }
}

/** A blocked event loop cannot see the IPC disconnect, so a thread watches for the agent's death too. */
function watchParent(): void {
  const ppid = process.ppid;
  const code = `
    const { workerData } = require('node:worker_threads');
    setInterval(() => { if (process.ppid !== workerData) process.kill(process.pid, 'SIGKILL'); }, 250);
  `;
  const w = new Worker(code, { eval: true, workerData: ppid, stdout: false, stderr: false });
  w.unref();
}

function onAgentMessage(m: unknown): void {
  if (!isAgentMessage(m)) return;
  if (m.eh === 'report') {
    try {
      // The report holds the whole environment: the job token and any credential are redacted, the file is the owner's only.
      const report = redactValue(process.report.getReport(), secretValues(process.env));
      mkdirSync(dirname(m.path), { recursive: true });
      writePrivateFile(m.path, JSON.stringify(report, null, 2));
      send({ eh: 'report-written', path: m.path });
    } catch (err) {
      send({ eh: 'report-written', error: err instanceof Error ? err.message : String(err) });
    }
  }
}

function isStartupError(err: unknown, evaluating: boolean): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_UNKNOWN_FILE_EXTENSION' || code === 'ERR_UNSUPPORTED_DIR_IMPORT' || code === 'MODULE_NOT_FOUND') return !evaluating || err instanceof SyntaxError;
  // A CommonJS script's syntax error surfaces while it is evaluated, still in the first synchronous pass.
  return err instanceof SyntaxError;
}

async function runScript(script: string): Promise<void> {
  const path = resolve(script);
  if (!existsSync(path)) {
    const message = `script not found: ${path}`;
    send({ eh: 'startup-error', message });
    process.stderr.write(`eh worker: ${message}\n`);
    process.exit(1);
  }
  let started = false;
  let firstPass = true;
  (globalThis as Record<symbol, unknown>)[STARTED_HOOK] = () => {
    started = true;
    setImmediate(() => {
      firstPass = false;
    });
    send({ eh: 'started' });
    if (process.env[EH_ENV.HEARTBEAT_MODE] !== 'manual') startHeartbeat();
  };
  // Modules are all parsed and linked before any is evaluated, so this first import runs exactly when
  // the script's whole graph has loaded: earlier failures are start-up errors.
  const marker = `data:text/javascript,globalThis[Symbol.for(${JSON.stringify(STARTED_HOOK.description)})]()`;
  const entry = `data:text/javascript,${encodeURIComponent(`import ${JSON.stringify(marker)};\nimport ${JSON.stringify(pathToFileURL(path).href)};`)}`;
  // While the script's top level runs, the IPC channel holds the process open: an await on something
  // that holds no handle of its own (WebAssembly compilation, e.g. TensorFlow.js's wasm backend) must
  // not end the worker with status 13. Once the top level is done, only the script's own work counts.
  holdChannel(true);
  try {
    await import(entry);
    holdChannel(false);
  } catch (caught) {
    // Say where a syntax error is, as Node itself would (FILE:LINE:COL and the line with a caret).
    const err = caught instanceof SyntaxError ? withSyntaxLocation(caught, path) : caught;
    if (!started || (firstPass && isStartupError(err, true))) {
      const e = err instanceof Error ? err : new Error(String(err));
      send({ eh: 'startup-error', message: e.message, stack: e.stack });
    }
    writeErrorFile(err);
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  }
}

function becomeWorker(m: Extract<AgentMessage, { eh: 'start' }>): Promise<void> {
  for (const k of Object.keys(process.env)) if (!(k in m.env)) delete process.env[k];
  Object.assign(process.env, m.env);
  process.argv = [process.argv[0], resolve(m.cwd, m.script), ...m.args];
  if (m.cwd !== process.cwd()) process.chdir(m.cwd);
  return runScript(resolve(m.cwd, m.script));
}

async function standby(): Promise<void> {
  const preload = JSON.parse(process.env.EH_PRELOAD ?? '[]') as string[];
  const from = process.env.EH_PRELOAD_FROM ?? resolve('index.js');
  for (const spec of preload) await import(resolveModuleUrl(spec, from));
  const start = await new Promise<Extract<AgentMessage, { eh: 'start' }>>((res) => {
    const onStart = (m: unknown): void => {
      if (isAgentMessage(m) && m.eh === 'start') {
        process.off('message', onStart);
        res(m);
      }
    };
    process.on('message', onStart);
    send({ eh: 'standby-ready' });
  });
  process.channel?.unref();
  await becomeWorker(start);
}

async function main(): Promise<void> {
  installErrorHandler();
  if (typeof process.send === 'function') {
    process.on('disconnect', () => process.exit(1));
    process.on('message', onAgentMessage);
    watchParent();
  }
  const args = process.argv.slice(2);
  if (args[0] === '--eh-standby') {
    await standby();
    return;
  }
  // The channel must not keep a finished script alive.
  process.channel?.unref();
  if (args.length === 0) {
    process.stderr.write('eh worker: no script given\n');
    process.exit(2);
  }
  process.argv = [process.argv[0], resolve(args[0]), ...args.slice(1)];
  await runScript(args[0]);
}

await main();
