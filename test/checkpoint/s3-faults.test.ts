import { after, test } from 'node:test';

// A stopped-and-resumed S3 server can leave a socket of the SDK's keep-alive pool open after the last test,
// which keeps this file's process alive: once every test is done, anything still holding the loop is cut off.
after(() => {
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
});
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointLoadError, CheckpointSaveError, ConfigurationError } from '../../src/errors/index.js';
import { CheckpointManager, CheckpointState, CheckpointTier, S3Backend, type AsyncSavePolicy, type CheckpointConfigOptions } from '../../src/checkpoint/index.js';
import { startS3, type S3Handle } from '../helpers/s3.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const TIMEOUT_MS = 1_000;
const ATTEMPTS = 2;
/** What one request may take at most (its attempts, the SDK's back-off), with room for a loaded machine. */
const ONE_REQUEST_BOUND_MS = ATTEMPTS * TIMEOUT_MS + 8_000;

function stateAt(step: number): CheckpointState {
  return new CheckpointState({ step, modelStateDict: { w: { dtype: 'F32', shape: [1000], data: new Float32Array(1000).fill(step) } } });
}

/** Rejects if `p` has not settled after `ms`: a hang fails the test instead of stalling it. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t0 = Date.now();
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} still running after ${ms} ms (hung)`)), ms)))]);
  } finally {
    clearTimeout(timer);
    void t0;
  }
}

function managerOptions(s3: S3Handle, dir: string, more: CheckpointConfigOptions = {}): CheckpointConfigOptions {
  return {
    nvmePath: dir, s3Bucket: s3.bucket, s3Prefix: 'job/', s3Endpoint: s3.endpoint, s3ForcePathStyle: true, s3Credentials: s3.credentials,
    s3Options: { maxAttempts: ATTEMPTS, requestTimeoutMs: TIMEOUT_MS }, asyncSaveRetries: 1, asyncSaveRetryDelay: 0.1, ...more,
  };
}

/** s3rver (a child process) stopped with SIGSTOP: it accepts connections (the kernel does) and never answers. */
async function withStoppedServer(fn: (s3: S3Handle, dir: string) => Promise<void>): Promise<void> {
  const s3 = await startS3();
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-s3-stopped-'));
  try {
    await fn(s3, dir);
  } finally {
    try {
      process.kill(s3.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

test('a server that stops answering: each S3 request ends within its timeout and attempts; sync saves raise naming the tier and the endpoint', async () => {
  await withStoppedServer(async (s3) => {
    const b = new S3Backend({ ...s3.settings, prefix: 'p', maxAttempts: ATTEMPTS, requestTimeoutMs: TIMEOUT_MS });
    await b.save(stateAt(1));
    process.kill(s3.pid, 'SIGSTOP');
    let t0 = Date.now();
    await assert.rejects(within(b.save(stateAt(2)), 60_000, 'S3Backend.save'), (e: unknown) => {
      assert.ok(e instanceof CheckpointSaveError, String(e));
      assert.equal(e.tier, 'S3');
      assert.ok(e.message.includes(s3.endpoint), e.message);
      assert.match(e.message, /requestTimeout|timed out/i);
      return true;
    });
    assert.ok(Date.now() - t0 < ONE_REQUEST_BOUND_MS, `save took ${Date.now() - t0} ms`);
    t0 = Date.now();
    await assert.rejects(within(b.listCheckpoints(), 60_000, 'listCheckpoints'), (e: unknown) => e instanceof CheckpointLoadError && e.tier === 'S3' && e.message.includes(s3.endpoint));
    assert.ok(Date.now() - t0 < ONE_REQUEST_BOUND_MS, `listing took ${Date.now() - t0} ms`);
    await assert.rejects(within(b.load('step_00000001'), 60_000, 'load'), (e: unknown) => e instanceof CheckpointLoadError && e.message.includes(s3.endpoint));
  });
});

test('a stopped server under the manager: sync "fail" raises, sync "warn" returns null and waitForPendingSaves() answers false', async () => {
  await withStoppedServer(async (s3, dir) => {
    process.kill(s3.pid, 'SIGSTOP');
    const failing = new CheckpointManager(managerOptions(s3, dir, { asyncSave: false, asyncSavePolicy: 'fail' }), { logger: () => undefined });
    await assert.rejects(within(failing.saveCheckpoint(stateAt(3), CheckpointTier.S3), 60_000, 'sync save'), (e: unknown) => e instanceof CheckpointSaveError && e.tier === 'S3' && e.message.includes(s3.endpoint));
    await within(failing.close(), 30_000, 'close');
    const warnings: string[] = [];
    const warning = new CheckpointManager(managerOptions(s3, dir, { asyncSave: false, asyncSavePolicy: 'warn' }), { logger: (m) => warnings.push(m) });
    assert.equal(await within(warning.saveCheckpoint(stateAt(3), CheckpointTier.S3), 60_000, 'sync save'), null);
    assert.ok(warnings.some((w) => /saving step_00000003 to S3 failed/.test(w) && w.includes(s3.endpoint)), warnings.join('\n'));
    assert.equal(await warning.waitForPendingSaves(), false);
    assert.equal(await warning.waitForPendingSaves(), true, 'reported once');
    await within(warning.close(), 30_000, 'close');
  });
});

for (const policy of ['warn', 'fail', 'retry'] as AsyncSavePolicy[]) {
  test(`a stopped server, asynchronous save under "${policy}": the policy applies and close() returns`, async () => {
    await withStoppedServer(async (s3, dir) => {
      process.kill(s3.pid, 'SIGSTOP');
      const warnings: string[] = [];
      const manager = new CheckpointManager(managerOptions(s3, dir, { asyncSavePolicy: policy }), { logger: (m) => warnings.push(m) });
      const t0 = Date.now();
      // Returns once staged: training is not held up by the server.
      assert.equal(await manager.saveCheckpoint(stateAt(4), CheckpointTier.S3), `s3://${s3.bucket}/job/step_00000004`);
      if (policy === 'warn') {
        assert.equal(await within(manager.waitForPendingSaves(), 90_000, 'waitForPendingSaves'), false);
      } else {
        await assert.rejects(within(manager.waitForPendingSaves(), 90_000, 'waitForPendingSaves'), (e: unknown) => e instanceof CheckpointSaveError && e.tier === 'S3' && e.message.includes(s3.endpoint));
      }
      if (policy === 'retry') assert.ok(warnings.some((w) => /attempt 1 of 2/.test(w)), warnings.join('\n'));
      // Each attempt is bounded: at most a few requests (delete marker, upload, abort) of bounded time.
      assert.ok(Date.now() - t0 < (policy === 'retry' ? 2 : 1) * 3 * ONE_REQUEST_BOUND_MS, `took ${Date.now() - t0} ms`);
      await within(manager.close(), 30_000, 'close');
    });
  });
}

test('a tier that cannot be listed is not taken for an empty one: CheckpointLoadError, or the other tier\'s checkpoint saying which tier was unreadable', async () => {
  await withStoppedServer(async (s3, dir) => {
    const logs: string[] = [];
    const manager = new CheckpointManager(managerOptions(s3, dir, { asyncSave: false }), { logger: (m) => logs.push(m) });
    await manager.saveCheckpoint(stateAt(7), CheckpointTier.S3);
    process.kill(s3.pid, 'SIGSTOP');
    // Only S3 holds a checkpoint and S3 cannot be read: not null (a silent start from step 0) but an error.
    await assert.rejects(within(manager.loadCheckpoint(), 60_000, 'loadCheckpoint'), (e: unknown) => {
      assert.ok(e instanceof CheckpointLoadError, String(e));
      assert.equal(e.tier, 'S3');
      assert.ok(e.message.includes(s3.endpoint), e.message);
      return true;
    });
    // The tier asked for: an error too.
    await assert.rejects(within(manager.loadCheckpoint({ tier: CheckpointTier.S3 }), 60_000, 'loadCheckpoint'), (e: unknown) => e instanceof CheckpointLoadError && e.tier === 'S3');
    // Another tier answers: its checkpoint, and the result names the tier that could not be read.
    await manager.saveCheckpoint(stateAt(5), CheckpointTier.NVME);
    const s = await within(manager.loadCheckpoint(), 60_000, 'loadCheckpoint');
    assert.equal(s?.step, 5);
    assert.equal(s?.loadInfo?.tier, CheckpointTier.NVME);
    assert.deepEqual(s?.loadInfo?.unreadableTiers.map((u) => u.tier), ['S3']);
    assert.ok(s?.loadInfo?.unreadableTiers[0].reason.includes(s3.endpoint));
    assert.deepEqual(manager.lastLoad, s?.loadInfo);
    assert.ok(logs.some((l) => /cannot read tier S3/.test(l)), logs.join('\n'));
    await within(manager.close(), 30_000, 'close');
  });
});

test('an s3Prefix with "..", ".", empty segments or a leading "/" is refused naming s3Prefix', () => {
  for (const bad of ['../elsewhere', 'a/../b', 'a/./b', '.', 'a//b', '/abs/path', 'a/b//']) {
    assert.throws(() => new CheckpointManager({ s3Bucket: 'b', s3Prefix: bad }), (e: unknown) => e instanceof ConfigurationError && e.configKey === 's3Prefix' && e.message.includes('s3Prefix'), bad);
    assert.throws(() => new S3Backend({ bucket: 'b', prefix: bad }), (e: unknown) => e instanceof ConfigurationError && e.configKey === 's3Prefix', bad);
  }
  for (const good of ['', 'runs', 'runs/', 'training/run-001/', 'a.b/c..d']) assert.doesNotThrow(() => new CheckpointManager({ s3Bucket: 'b', s3Prefix: good }), good);
});

test("the AWS SDK's Node-version warning is printed at most once by a process that saves to S3 in the background and lists it", async () => {
  const s3 = await startS3();
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-s3-warn-'));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 's3-warning-child.ts'), JSON.stringify({ ...s3.settings, dir })], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await within(new Promise<number | null>((r) => child.on('exit', r)), 60_000, 'child');
    assert.equal(code, 0, err);
    assert.match(out, /listed step_00000001/);
    const count = err.split('NodeVersionSupportWarning').length - 1;
    assert.ok(count <= 1, `printed ${count} times:\n${err}`);
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
