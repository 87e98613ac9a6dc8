import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, open, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { CheckpointSaveError, CheckpointValidationError } from '../../src/errors/index.js';
import { CheckpointManager, CheckpointState, CheckpointTier, S3Backend, type Tensor } from '../../src/checkpoint/index.js';
import { startS3 } from '../helpers/s3.js';

function stateAt(step: number, floats: number): CheckpointState {
  const w = new Float32Array(floats);
  for (let i = 0; i < floats; i++) w[i] = step + i * 1e-3;
  return new CheckpointState({ step, modelStateDict: { w: { dtype: 'F32', shape: [floats], data: w } }, optimizerStateDict: { m: { dtype: 'F64', shape: [3], data: new Float64Array([step, 2, 3]) } }, metrics: { loss: 0.5 } });
}

function same(a: CheckpointState, b: CheckpointState): boolean {
  const x = (a.modelStateDict.w as Tensor).data;
  const y = (b.modelStateDict.w as Tensor).data;
  return Buffer.compare(Buffer.from(x.buffer, x.byteOffset, x.byteLength), Buffer.from(y.buffer, y.byteOffset, y.byteLength)) === 0;
}

test('S3Backend against a real s3rver: save, paged listing, load, retention, multipart above the part size', async () => {
  const s3 = await startS3();
  try {
    const b = new S3Backend({ ...s3.settings, prefix: 'runs/r1', listPageSize: 2, partSize: 5 * 1024 * 1024 });
    for (const step of [9, 10, 2]) await b.save(stateAt(step, 100));
    assert.deepEqual(await b.listCheckpoints(), ['step_00000002', 'step_00000009', 'step_00000010']);
    assert.equal(await b.getLatestCheckpoint(), 'step_00000010');
    assert.equal(await b.exists('step_00000009'), true);
    const back = await b.load();
    assert.equal(back.step, 10);
    assert.ok(same(back, stateAt(10, 100)));
    assert.deepEqual(await b.cleanupOldCheckpoints(1), ['step_00000002', 'step_00000009']);
    assert.deepEqual(await b.listCheckpoints(), ['step_00000010']);
    const keys = await (await b.getClient()).send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'runs/r1/' }));
    assert.deepEqual((keys.Contents ?? []).map((o) => o.Key).sort(), ['runs/r1/step_00000010/COMMITTED', 'runs/r1/step_00000010/manifest.json', 'runs/r1/step_00000010/model.safetensors', 'runs/r1/step_00000010/optimizer.safetensors']);
    // 12 MiB of weights with 5 MiB parts: a three-part multipart upload.
    const commands: string[] = [];
    (await b.getClient()).middlewareStack.add((next, context) => async (args) => {
      commands.push(String(context.commandName));
      return next(args);
    }, { step: 'initialize', name: 'recordCommands' });
    const big = stateAt(11, 3 * 1024 * 1024);
    await b.save(big);
    assert.equal(commands.filter((c) => c === 'CreateMultipartUploadCommand').length, 1, commands.join());
    assert.equal(commands.filter((c) => c === 'UploadPartCommand').length, 3, commands.join());
    assert.equal(commands.filter((c) => c === 'CompleteMultipartUploadCommand').length, 1);
    // The marker is the very last object written.
    assert.equal(commands.at(-1), 'PutObjectCommand');
    const head = await (await b.getClient()).send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'runs/r1/step_00000011/model.safetensors' }));
    assert.ok((head.ContentLength ?? 0) > 12 * 1024 * 1024);
    assert.ok(same(await b.load('step_00000011'), big));
  } finally {
    await s3.stop();
  }
});

test('CheckpointManager on S3: asynchronous upload from the writer thread, fallback from NVMe to S3', async () => {
  const s3 = await startS3();
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-ckpt-s3mgr-'));
  try {
    const manager = new CheckpointManager({ nvmePath: dir, s3Bucket: s3.bucket, s3Prefix: 'job/', s3Endpoint: s3.endpoint, s3ForcePathStyle: true, s3Credentials: s3.credentials, keepLastN: 2 });
    await manager.saveCheckpoint(stateAt(5, 1000), CheckpointTier.NVME);
    for (const step of [10, 20, 30]) {
      const s = stateAt(step, 2 * 1024 * 1024);
      assert.equal(await manager.saveCheckpoint(s, CheckpointTier.S3), `s3://${s3.bucket}/job/step_000000${step}`);
      ((s.modelStateDict.w as Tensor).data as Float32Array).fill(0);
    }
    assert.equal(await manager.waitForPendingSaves(60_000), true);
    assert.deepEqual(await manager.backend(CheckpointTier.S3).listCheckpoints(), ['step_00000020', 'step_00000030']);
    const loaded = await manager.loadCheckpoint();
    assert.equal(loaded?.step, 30);
    assert.equal(manager.lastLoadedTier, CheckpointTier.S3);
    assert.ok(same(loaded!, stateAt(30, 2 * 1024 * 1024)));
    await manager.close();
  } finally {
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

for (const mode of ['sync', 'async'] as const) {
  test(`the S3 server killed mid-upload (${mode}): CheckpointSaveError, no marker, the previous checkpoint intact`, async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'eh-s3rver-kept-'));
    let s3 = await startS3({ directory: data });
    try {
      const settings = { ...s3.settings, prefix: 'p', partSize: 5 * 1024 * 1024, queueSize: 1, maxAttempts: 2, requestTimeoutMs: 5_000 };
      const b = new S3Backend(settings);
      await b.save(stateAt(1, 1000));
      const big = stateAt(2, 16 * 1024 * 1024); // 64 MiB: many parts, long enough to be cut
      const save = mode === 'sync' ? b.save(big) : b.saveAsync(big).then((p) => p.done);
      setTimeout(() => s3.kill(), 300);
      await assert.rejects(save, (e: unknown) => e instanceof CheckpointSaveError && /step_00000002/.test(e.message));
      await s3.stop();
      s3 = await startS3({ directory: data });
      const again = new S3Backend({ ...settings, endpoint: s3.endpoint });
      assert.deepEqual(await again.listCheckpoints(), ['step_00000001']);
      assert.equal(await again.exists('step_00000002'), false);
      assert.ok(same(await again.load(), stateAt(1, 1000)));
    } finally {
      await s3.stop();
      await rm(data, { recursive: true, force: true });
    }
  });
}

test('S3: a corrupt or truncated newest checkpoint is refused and the manager falls back to the previous one', async () => {
  const s3 = await startS3();
  try {
    const b = new S3Backend({ ...s3.settings, prefix: 'c' });
    await b.save(stateAt(1, 1000));
    await b.save(stateAt(2, 1000));
    // s3rver keeps each object in a file of its own: damage the newest checkpoint's data behind the server's back.
    const object = path.join(s3.directory, s3.bucket, 'c', 'step_00000002', 'model.safetensors._S3rver_object');
    const fh = await open(object, 'r+');
    const one = Buffer.alloc(1);
    const at = (await stat(object)).size - 3;
    await fh.read(one, 0, 1, at);
    one[0] ^= 0xff;
    await fh.write(one, 0, 1, at);
    await fh.close();
    await assert.rejects(b.load('step_00000002'), (e: unknown) => e instanceof CheckpointValidationError && /Checksum mismatch/.test(e.message) && /s3:\/\//.test(e.message));
    const warnings: string[] = [];
    const manager = new CheckpointManager({ nvmePath: path.join(s3.directory, 'no-nvme'), s3Bucket: s3.bucket, s3Prefix: 'c', s3Endpoint: s3.endpoint, s3ForcePathStyle: true, s3Credentials: s3.credentials }, { logger: (m) => warnings.push(m) });
    const loaded = await manager.loadCheckpoint();
    assert.equal(loaded?.step, 1);
    assert.ok(warnings.some((w) => /skipping checkpoint step_00000002 on S3/.test(w)), warnings.join('\n'));
    // Truncated: the size check fires before the data is fetched.
    await truncate(object, 100);
    await assert.rejects(b.load('step_00000002'), (e: unknown) => e instanceof CheckpointValidationError && /truncated or replaced/.test(e.message));
    await manager.close();
  } finally {
    await s3.stop();
  }
});
