/**
 * Runs a non-Node worker (a Python or shell script, any executable) on behalf of the agent:
 *   node exec-shim.js EXECUTABLE [ARGS...]
 * The real process gets its own process group; signals the agent sends are passed to that whole group,
 * and when the agent dies (IPC disconnect, or this process's parent changes) the group is killed, so no
 * worker outlives its agent. The shim exits with the child's status, or dies of the child's signal.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { WorkerMessage } from './ipc-protocol.js';

/** A non-Node worker has no heartbeat of its own: once it has run this long it counts as started. */
const STARTED_AFTER_MS = Number(process.env.EH_STARTUP_WINDOW_MS ?? '2000');

function send(msg: WorkerMessage): void {
  try {
    process.send?.(msg);
  } catch {
    // agent gone
  }
}

const [given, ...args] = process.argv.slice(2);
if (given === undefined) {
  process.stderr.write('eh shim: no executable given\n');
  process.exit(2);
}
// `eh run --no-node train.sh`: a file in the working directory, as torchrun's `./train.sh`; else a PATH lookup.
const file = !given.includes('/') && existsSync(given) ? `./${given}` : given;
const child = spawn(file, args, { stdio: 'inherit', detached: true });
let done = false;

function killGroup(signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

child.on('spawn', () => {
  if (child.pid !== undefined) send({ eh: 'child-pid', pid: child.pid });
});
child.on('error', (err) => {
  done = true;
  const message = `cannot run ${file}: ${err.message}`;
  send({ eh: 'startup-error', message });
  process.stderr.write(`eh worker: ${message}\n`);
  process.exit(127);
});

const startedTimer = setTimeout(() => send({ eh: 'started' }), STARTED_AFTER_MS);
startedTimer.unref();

for (const sig of ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGUSR2', 'SIGHUP'] as const) {
  process.on(sig, () => killGroup(sig));
}

const ppid = process.ppid;
const watch = setInterval(() => {
  if (process.ppid !== ppid) {
    killGroup('SIGKILL');
    process.exit(1);
  }
}, 250);
watch.unref();
process.on('disconnect', () => {
  if (done) return;
  killGroup('SIGKILL');
  process.exit(1);
});
process.channel?.unref();

child.on('exit', (code, signal) => {
  done = true;
  clearTimeout(startedTimer);
  // Leftover members of the group (background jobs of a shell script) go with it.
  killGroup('SIGKILL');
  if (signal !== null) {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGUSR1', 'SIGUSR2', 'SIGHUP'] as const) process.removeAllListeners(sig);
    process.kill(process.pid, signal);
    setTimeout(() => process.exit(128), 1000).unref();
    return;
  }
  process.exit(code ?? 1);
});
