/**
 * Python workers under `eh run` (real interpreters, Debian's python3-torch, gloo): standby interpreters
 * with torch preloaded replace a SIGKILLed DDP rank; a script sees what a plain `python script.py` sees;
 * heartbeats catch a hung worker and its stacks are saved; a failing preload is reported once and the
 * job still runs; an import failure is a start-up error; SIGKILL of `eh run` leaves no Python behind.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { ROOT, readIf, startAgent, tempDir, waitFor } from './harness.js';

const PY = resolve(ROOT, 'test', 'fixtures', 'python');
const torchAvailable = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { timeout: 60_000 }).status === 0;
// Required in CI (which installs python3-torch); skipped elsewhere only with the reason.
const torchSkip = torchAvailable ? false : process.env.CI !== undefined ? false : 'python3-torch is not installed (scripts/install-system-deps.sh installs it)';

/** Pids of live processes whose environment holds `marker` (the agent's env reaches every worker and standby). */
function processesWith(marker: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue;
      if (readFileSync(`/proc/${d}/environ`, 'latin1').split('\0').includes(marker)) out.push(Number(d));
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

test('a PyTorch DDP job with --standby-workers 2: a SIGKILLed rank is replaced from a standby with torch preloaded, resumes from its checkpoint and finishes', { skip: torchSkip }, async () => {
  assert.ok(torchAvailable, 'CI must have /usr/bin/python3 with torch (python3-torch)');
  const tmp = tempDir();
  try {
    // A relative .py script, resolved against the working directory; no --no-node.
    const agent = startAgent(['--standalone', '--nproc_per_node', '2', '--standby-workers', '2', '--max_restarts', '2', '--grace-period', '3', 'ddp_standby.py'], { OUT_DIR: tmp.path, TOTAL_STEPS: '60', STEP_SLEEP: '0.1' }, PY);
    const events = (): string => readIf(join(tmp.path, 'events.log')) ?? '';
    await waitFor('DDP training to reach step 5', () => /step 5 loss/.test(events()), 90_000, 50);
    // The standbys start a second after the workers and import torch: let them get ready.
    await new Promise((r) => setTimeout(r, 5000));
    const pid = Number(readIf(join(tmp.path, 'pid-rank1-restart0')));
    assert.ok(pid > 0);
    process.kill(pid, 'SIGKILL');
    const { code } = await agent.exited(120_000);
    const ev = events();
    assert.equal(code, 0, `${agent.stderr()}\n${ev}`);
    assert.match(ev, /start rank=0 world=2 restart=0 from=0 preloaded=False/, 'the first workers start cold');
    const resumed = /start rank=0 world=2 restart=1 from=(\d+) preloaded=(\w+)/.exec(ev);
    assert.ok(resumed !== null && Number(resumed[1]) >= 5, `resumed from the checkpoint\n${ev}`);
    assert.equal(resumed[2], 'True', 'the replacement had torch and torch.distributed imported before its script ran');
    assert.match(ev, /start rank=1 world=2 restart=1 from=\d+ preloaded=True/);
    assert.match(agent.stderr(), /rank\(s\) 0,1 started from standby workers/);
    assert.match(ev, /step 60 loss/);
    assert.match(ev, /done rank=1 restart=1/);
  } finally {
    tmp.remove();
  }
});

test('a Python script sees the argv, __name__, sys.path[0], cwd, signal handlers and environment of a plain `python script.py`, cold or from a standby; exit codes are its own', async () => {
  const tmp = tempDir();
  try {
    const env = { OUT_DIR: tmp.path, EH_PROBE_VAR: 'kept as is', FAIL_FIRST_AFTER: '3', EXIT_CODE: '0' };
    const plain = spawnSync('/usr/bin/python3', ['-u', 'probe.py', 'a', '--b', 'c d'], { cwd: PY, env: { ...process.env, ...env }, timeout: 30_000 });
    assert.equal(plain.status, 0, plain.stderr.toString());
    const agent = startAgent(['--standalone', '--nproc-per-node', '1', '--standby-workers', '1', '--max-restarts', '1', 'probe.py', 'a', '--b', 'c d'], env, PY);
    const { code } = await agent.exited(60_000);
    assert.equal(code, 0, agent.stderr());
    assert.match(agent.stderr(), /rank 0 exit code 3/, 'the first attempt\'s own exit status');
    assert.match(agent.stderr(), /rank\(s\) 0 started from standby workers/);
    const read = (n: string): Record<string, unknown> & { env: Record<string, string> } => JSON.parse(readFileSync(join(tmp.path, `probe-${n}.json`), 'utf8')) as Record<string, unknown> & { env: Record<string, string> };
    const want = read('plain');
    for (const n of ['0', '1']) {
      const got = read(n);
      for (const k of ['name', 'argv', 'path0', 'cwd', 'file', 'spec', 'signals', 'main_is_module']) assert.deepEqual(got[k], want[k], `${k} (restart ${n})`);
      assert.equal(got.env.EH_PROBE_VAR, 'kept as is');
      assert.equal(got.env.RANK, '0');
      for (const k of ['NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE', 'EH_PRELOAD', 'EH_PRELOAD_FROM']) assert.ok(!(k in got.env), `${k} is not in a worker's environment (restart ${n})`);
      for (const k of Object.keys(want.env)) assert.ok(k in got.env, `${k} from the agent's environment reaches the worker (restart ${n})`);
    }
    // The standby's environment was replaced whole by the one the agent gave: the same names as a cold worker's.
    assert.deepEqual(Object.keys(read('1').env).sort(), Object.keys(read('0').env).sort());
    assert.equal(read('1').env.TORCHELASTIC_RESTART_COUNT, '1');

    const failing = startAgent(['--standalone', '--standby-workers', '0', 'probe.py'], { ...env, FAIL_FIRST_AFTER: '', EXIT_CODE: '7' }, PY);
    const f = await failing.exited(60_000);
    assert.equal(f.code, 1);
    assert.match(failing.stderr(), /rank 0 exit code 7/);
  } finally {
    tmp.remove();
  }
});

test('a hung Python worker with heartbeats on is detected and its stacks are saved in the diagnostic report', async () => {
  const tmp = tempDir();
  try {
    const agent = startAgent(['--standalone', '--heartbeat-interval', '0.2', '--heartbeat-timeout', '2', '--log-dir', tmp.path, 'hang.py'], {}, PY);
    const { code } = await agent.exited(60_000);
    assert.equal(code, 1, agent.stderr());
    assert.match(agent.stderr(), /rank 0 sent no heartbeat for 2 s/);
    const reportPath = join(tmp.path, 'attempt_0', '0', 'diagnostic-report.json');
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as { faulthandler: string; pythonStacks: Record<string, string[]>; environmentVariables: Record<string, string> };
    assert.match(report.faulthandler, /stuck_here/);
    assert.ok(Object.values(report.pythonStacks).some((s) => s.join('').includes('stuck_here')));
    assert.equal(report.environmentVariables.EH_TOKEN, '[redacted]');
  } finally {
    tmp.remove();
  }
});

test('a standby whose --preload fails is reported once with Python\'s message, and the workers start cold', async () => {
  const tmp = tempDir();
  try {
    const agent = startAgent(['--standalone', '--standby-workers', '2', '--max-restarts', '1', '--preload', 'eh_no_such_preload', 'probe.py'], { OUT_DIR: tmp.path, FAIL_FIRST_AFTER: '3' }, PY);
    const { code } = await agent.exited(60_000);
    assert.equal(code, 0, agent.stderr());
    const said = agent.stderr().match(/No module named 'eh_no_such_preload'/g) ?? [];
    assert.equal(said.length, 1, agent.stderr());
    assert.match(agent.stderr(), /replacements will start cold/);
    assert.doesNotMatch(agent.stderr(), /started from standby workers/);
    assert.ok(readIf(join(tmp.path, 'probe-1.json')) !== undefined, 'the restarted worker ran');
  } finally {
    tmp.remove();
  }
});

test('a Python script that fails at import is a start-up error with its traceback, not retried', async () => {
  const agent = startAgent(['--standalone', '--max-restarts', '3', 'bad_import.py'], {}, PY);
  const { code } = await agent.exited(60_000);
  assert.equal(code, 1);
  const err = agent.stderr();
  assert.match(err, /FAILED at start-up/);
  assert.match(err, /ModuleNotFoundError: No module named 'eh_no_such_module_for_test'/);
  assert.match(err, /bad_import\.py", line 2, in <module>/);
  assert.match(err, /restarts: 0/);
});

test('SIGKILL of `eh run` leaves no Python worker, standby or child of a worker behind', async () => {
  const tmp = tempDir();
  const marker = `EH_PY_TEST_MARK=${process.pid}-${Date.now()}`;
  const [k, v] = marker.split('=');
  try {
    const agent = startAgent(['--standalone', '--nproc-per-node', '2', '--standby-workers', '2', 'sleeper.py'], { OUT_DIR: tmp.path, [k]: v }, PY);
    await waitFor('both workers', () => readIf(join(tmp.path, 'pid-0')) !== undefined && readIf(join(tmp.path, 'pid-1')) !== undefined, 30_000);
    // 2 workers, their 2 `sleep` children, 2 standbys (and the agent).
    await waitFor('workers, their children and the standbys', () => processesWith(marker).length >= 7, 30_000, 100);
    agent.child.kill('SIGKILL');
    await agent.exited(10_000);
    await waitFor('every process of the job to be gone', () => processesWith(marker).length === 0, 10_000, 100);
  } finally {
    for (const pid of processesWith(marker)) process.kill(pid, 'SIGKILL');
    tmp.remove();
  }
});
