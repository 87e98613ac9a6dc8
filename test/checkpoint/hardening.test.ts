import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/index.js';
import { CheckpointLoadError, CheckpointValidationError, ConfigurationError } from '../../src/errors/index.js';
import { TrainingMetrics } from '../../src/metrics/index.js';
import {
  CheckpointManager,
  CheckpointState,
  CheckpointTier,
  MemorySnapshotBackend,
  NVMeBackend,
  checkpointManagerFromConfig,
  createCheckpointState,
  loadCheckpointToModel,
  WRAPPED_MODEL,
  type Tensor,
} from '../../src/checkpoint/index.js';

function stateAt(step: number, n = 256): CheckpointState {
  return new CheckpointState({ step, modelStateDict: { w: { dtype: 'F32', shape: [n], data: new Float32Array(n).fill(step) } } });
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-ckpt-hard-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('a copied checkpoint directory whose name disagrees with its manifest does not count, for load or for retention', async () => {
  await withDir(async (dir) => {
    const b = new NVMeBackend(dir);
    await b.save(stateAt(5));
    await b.save(stateAt(6));
    // A copy of step 5 under a newer step's name.
    await cp(path.join(dir, 'step_00000005'), path.join(dir, 'step_00000099'), { recursive: true });
    assert.deepEqual(await b.listCheckpoints(), ['step_00000005', 'step_00000006']);
    await assert.rejects(b.load('step_00000099'), (e: unknown) => e instanceof CheckpointValidationError && /holds step 5/.test(e.message));
    const manager = new CheckpointManager({ nvmePath: dir, asyncSave: false }, { logger: () => undefined });
    assert.equal((await manager.loadCheckpoint())?.step, 6);
    // Retention keeps the real newest, never the copy in their place.
    assert.deepEqual(await b.cleanupOldCheckpoints(1), ['step_00000005']);
    assert.deepEqual(await b.listCheckpoints(), ['step_00000006']);
    // Saving under a name that is not the state's step is refused on every tier.
    await assert.rejects(b.save(stateAt(7), 'step_00000008'), ConfigurationError);
    assert.throws(() => new MemorySnapshotBackend().saveSync(stateAt(7), 'step_00000008'), ConfigurationError);
    await manager.close();
  });
});

test('an unreadable NVMe tier raises CheckpointLoadError naming it (never null); a failed synchronous save under "warn" makes waitForPendingSaves() false', async () => {
  await withDir(async (dir) => {
    const notADir = path.join(dir, 'file');
    await writeFile(notADir, 'x');
    const logs: string[] = [];
    const manager = new CheckpointManager({ nvmePath: notADir, asyncSave: false, asyncSavePolicy: 'warn' }, { logger: (m) => logs.push(m) });
    await assert.rejects(manager.loadCheckpoint(), (e: unknown) => e instanceof CheckpointLoadError && e.tier === 'NVME' && /ENOTDIR/.test(e.message));
    // MEMORY answered with a snapshot: it is returned, saying NVME could not be read.
    await manager.saveCheckpoint(stateAt(3), CheckpointTier.MEMORY);
    const s = await manager.loadCheckpoint();
    assert.equal(s?.loadInfo?.tier, 'MEMORY');
    assert.deepEqual(s?.loadInfo?.unreadableTiers.map((u) => u.tier), ['NVME']);
    assert.equal(await manager.saveCheckpoint(stateAt(4), CheckpointTier.NVME), null);
    assert.equal(await manager.waitForPendingSaves(), false);
    assert.equal(await manager.waitForPendingSaves(), true);
    await manager.close();
  });
});

test('the manager records every save and load (tier, seconds, bytes) into the TrainingMetrics it is given', async () => {
  await withDir(async (dir) => {
    const metrics = new TrainingMetrics();
    const manager = new CheckpointManager({ nvmePath: dir }, { metrics });
    await manager.saveCheckpoint(stateAt(1), CheckpointTier.MEMORY);
    await manager.saveCheckpoint(stateAt(2), CheckpointTier.NVME); // asynchronous
    assert.equal(await manager.waitForPendingSaves(30_000), true);
    assert.equal((await manager.loadCheckpoint({ tier: CheckpointTier.NVME }))?.step, 2);
    const c = metrics.checkpoint;
    assert.equal(c.saveCount('MEMORY'), 1);
    assert.equal(c.saveCount('NVME'), 1);
    assert.equal(c.loadCount('NVME'), 1);
    assert.equal(c.bytesSaved('MEMORY'), 256 * 4);
    assert.ok(c.bytesSaved('NVME') >= 256 * 4);
    assert.ok(c.avgSaveTime('NVME') > 0 && c.avgLoadTime('NVME') > 0);
    assert.equal(c.toJSON().loads.NVME.totalBytes, 256 * 4);
    await manager.close();
  });
});

test('checkpointManagerFromConfig: a validated config file drives the manager; a bad s3_prefix is refused by the loader', async () => {
  await withDir(async (dir) => {
    const file = path.join(dir, 'train.yaml');
    await writeFile(file, `checkpoint:\n  nvme_path: ${dir}/ckpt\n  checkpoint_interval: 100\n  memory_snapshot_interval: 10\n  keep_last_n: 2\n  async_save_policy: retry\n  s3_bucket: my-bucket\n  s3_prefix: runs/r1/\n  s3_endpoint: http://127.0.0.1:9000\n`);
    const { config } = await loadConfig(file);
    const manager = checkpointManagerFromConfig(config, { overrides: { asyncSave: false } });
    const c = manager.config;
    assert.deepEqual([c.nvmePath, c.checkpointInterval, c.memorySnapshotInterval, c.keepLastFor('NVME'), c.asyncSavePolicy, c.s3Bucket, c.s3Prefix, c.s3Endpoint, c.s3ForcePathStyle, c.asyncSave], [`${dir}/ckpt`, 100, 10, 2, 'retry', 'my-bucket', 'runs/r1/', 'http://127.0.0.1:9000', true, false]);
    assert.equal(manager.shouldCheckpoint(100, CheckpointTier.NVME), true);
    await manager.close();
    await writeFile(file, 'checkpoint:\n  s3_prefix: ../other-job\n');
    await assert.rejects(loadConfig(file), (e: unknown) => e instanceof ConfigurationError && /s3_prefix/.test(e.message));
  });
});

test('reference API: a wrapped model is unwrapped, cpuCopy() is deep, NVMeBackend({useAtomicSave: false}) is refused', async () => {
  const w = { dtype: 'F32' as const, shape: [2], data: new Float32Array([1, 2]) };
  const inner = { w };
  const wrapper = { [WRAPPED_MODEL]: inner };
  const s = await createCheckpointState({ step: 1, model: wrapper });
  assert.deepEqual(Object.keys(s.modelStateDict), ['w']);
  const target = { w: { dtype: 'F32' as const, shape: [2], data: new Float32Array(2) } };
  await loadCheckpointToModel(s, { model: { [WRAPPED_MODEL]: target } });
  assert.deepEqual(Array.from(target.w.data), [1, 2]);
  const copy = s.cpuCopy();
  w.data[0] = 9;
  assert.equal((copy.modelStateDict.w as Tensor).data[0], 1);
  assert.throws(() => new NVMeBackend('/tmp/x', { useAtomicSave: false }), (e: unknown) => e instanceof ConfigurationError && e.configKey === 'useAtomicSave');
  assert.doesNotThrow(() => new NVMeBackend('/tmp/x', { useAtomicSave: true }));
});
