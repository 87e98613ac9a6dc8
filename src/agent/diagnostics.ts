/**
 * A hung worker's diagnostic report, taken before it is killed. First the cheap way (ask over IPC:
 * works when the event loop still turns, e.g. a training loop awaiting forever); if the worker does not
 * answer (a blocked event loop), open its inspector with SIGUSR1, pause it where it is stuck, and read
 * its JavaScript stack and Node's report from that frame.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { InspectorClient } from './inspector-client.js';
import { redactValue, writePrivateFile } from './redact.js';
import type { WorkerProcess } from './worker-process.js';

interface CallFrame {
  callFrameId: string;
  functionName: string;
  url: string;
  location: { lineNumber: number; columnNumber: number };
}

function askOverIpc(w: WorkerProcess, path: string, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let stop: () => void = () => undefined;
    const timer = setTimeout(() => {
      stop();
      resolve(undefined);
    }, timeoutMs);
    stop = w.watchMessages((m) => {
      if (m.eh !== 'report-written') return;
      clearTimeout(timer);
      stop();
      resolve(m.path);
    });
    if (!w.send({ eh: 'report', path })) {
      clearTimeout(timer);
      stop();
      resolve(undefined);
    }
  });
}

function inspectorUrl(w: WorkerProcess, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let stop: () => void = () => undefined;
    const timer = setTimeout(() => {
      stop();
      resolve(undefined);
    }, timeoutMs);
    stop = w.watchStderr((line) => {
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(line);
      if (m === null) return;
      clearTimeout(timer);
      stop();
      resolve(m[1]);
    });
    w.kill('SIGUSR1');
  });
}

async function viaInspector(w: WorkerProcess, path: string, timeoutMs: number, secrets: readonly string[]): Promise<string | undefined> {
  const url = await inspectorUrl(w, timeoutMs);
  if (url === undefined) return undefined;
  const client = await InspectorClient.connect(url, timeoutMs);
  try {
    await client.call('Debugger.enable', {}, timeoutMs);
    const paused = client.waitEvent('Debugger.paused', timeoutMs);
    await client.call('Debugger.pause', {}, timeoutMs);
    const { callFrames } = (await paused) as { callFrames: CallFrame[] };
    const javascriptStack = callFrames.map((f) => `at ${f.functionName === '' ? '<anonymous>' : f.functionName} (${f.url}:${f.location.lineNumber + 1}:${f.location.columnNumber + 1})`);
    let report: Record<string, unknown> = {};
    try {
      const r = (await client.call('Debugger.evaluateOnCallFrame', { callFrameId: callFrames[0].callFrameId, expression: 'JSON.stringify(process.report.getReport())', returnByValue: true }, timeoutMs)) as { result?: { value?: unknown } };
      if (typeof r.result?.value === 'string') report = JSON.parse(r.result.value) as Record<string, unknown>;
    } catch {
      // The stack alone is still worth keeping.
    }
    mkdirSync(dirname(path), { recursive: true });
    const full = { ...report, pausedJavascriptStack: javascriptStack, takenBy: 'elastic-harness agent via the inspector (event loop blocked)' };
    writePrivateFile(path, JSON.stringify(redactValue(full, secrets), null, 2));
    return path;
  } finally {
    client.close();
  }
}

/**
 * Write a diagnostic report of a hung worker to `path` (mode 0600, secret-named variables and `secrets` redacted);
 * resolves to the path, or undefined if none could be taken.
 */
export async function captureDiagnosticReport(w: WorkerProcess, path: string, timeoutMs = 2000, secrets: readonly string[] = []): Promise<string | undefined> {
  mkdirSync(dirname(path), { recursive: true });
  const viaIpc = await askOverIpc(w, path, Math.min(1000, timeoutMs));
  if (viaIpc !== undefined) return viaIpc;
  // Only a Node worker has an inspector (SIGUSR1 would end a Python or other worker).
  if (!w.running || w.childPid !== undefined || w.ownGroup) return undefined;
  try {
    return await viaInspector(w, path, timeoutMs, secrets);
  } catch {
    return undefined;
  }
}
