import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink, truncate, writeFile, open, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { CheckpointLoadError, CheckpointValidationError } from '../../src/errors/index.js';
import { CheckpointLoadConfig, CheckpointManager, CheckpointState, CheckpointTier, NVMeBackend, loadStateDict, type Tensor } from '../../src/checkpoint/index.js';

async function fixture(): Promise<{ root: string; dir: string; backend: NVMeBackend; cleanup(): Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'eh-ckpt-bad-'));
  const backend = new NVMeBackend(path.join(root, 'ckpts'));
  const w = new Float32Array(1000).map((_, i) => i);
  await backend.save(new CheckpointState({ step: 5, modelStateDict: { w: { dtype: 'F32', shape: [1000], data: w } }, optimizerStateDict: { m: { dtype: 'F64', shape: [10], data: new Float64Array(10) } } }));
  return { root, dir: path.join(root, 'ckpts', 'step_00000005'), backend, cleanup: () => rm(root, { recursive: true, force: true }) };
}

type ManifestJson = { files: Array<{ name: string; size: number; headerBytes: number }>; tensors: Record<string, { file: string; byteRange: [number, number]; shape: number[] }> };

/** Rewrites the manifest and re-signs the marker, so that only the check under test can catch the change. */
async function editManifest(dir: string, edit: (m: ManifestJson) => void): Promise<void> {
  const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as ManifestJson;
  edit(m);
  const bytes = Buffer.from(JSON.stringify(m));
  await writeFile(path.join(dir, 'manifest.json'), bytes);
  const marker = JSON.parse(await readFile(path.join(dir, 'COMMITTED'), 'utf8')) as Record<string, unknown>;
  marker.manifestBytes = bytes.length;
  marker.manifestCrc32 = (zlib.crc32(bytes) >>> 0).toString(16).padStart(8, '0');
  await writeFile(path.join(dir, 'COMMITTED'), JSON.stringify(marker));
}

async function flipByte(file: string, at: number): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] ^= 0x10;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

test('a truncated data file is refused, naming the file', async () => {
  const f = await fixture();
  try {
    await truncate(path.join(f.dir, 'model.safetensors'), 2000);
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /model\.safetensors/.test(e.message) && /truncated/.test(e.message));
  } finally {
    await f.cleanup();
  }
});

test('a flipped data byte fails its tensor checksum; a flipped header byte fails the header checksum', async () => {
  const f = await fixture();
  try {
    const file = path.join(f.dir, 'model.safetensors');
    const size = (await readFile(file)).length;
    await flipByte(file, size - 7);
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /Checksum mismatch in tensor "modelStateDict.w"/.test(e.message) && /model\.safetensors/.test(e.message));
    await flipByte(file, size - 7);
    await f.backend.load('step_00000005');
    await flipByte(file, 20);
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /header/.test(e.message));
  } finally {
    await f.cleanup();
  }
});

test('safeMode off skips checksums with a warning; trustedSource only silences that warning; the default always verifies', async () => {
  const f = await fixture();
  try {
    const file = path.join(f.dir, 'model.safetensors');
    const size = (await readFile(file)).length;
    await flipByte(file, size - 7);
    const warnings: string[] = [];
    const logger = (m: string): void => void warnings.push(m);
    // trustedSource alone turns no check off.
    await assert.rejects(f.backend.load('step_00000005', new CheckpointLoadConfig({ trustedSource: true, logger })), CheckpointValidationError);
    const s = await f.backend.load('step_00000005', new CheckpointLoadConfig({ safeMode: false, logger }));
    assert.equal(((s.modelStateDict.w as Tensor).data as Float32Array).length, 1000);
    assert.equal(warnings.filter((w) => /not verified/.test(w)).length, 1, warnings.join('\n'));
    // A trusted source: the same load, and no security warning.
    await f.backend.load('step_00000005', new CheckpointLoadConfig({ safeMode: false, trustedSource: true, logger }));
    assert.equal(warnings.length, 1, warnings.join('\n'));
    // Bounds are checked whatever the config says.
    await truncate(file, size - 1);
    await assert.rejects(f.backend.load('step_00000005', new CheckpointLoadConfig({ safeMode: false, trustedSource: true, logger })), CheckpointValidationError);
  } finally {
    await f.cleanup();
  }
});

test('manifest paths that escape the directory are refused before anything is opened', async () => {
  const f = await fixture();
  try {
    for (const bad of ['../../etc/passwd', '/etc/passwd', '..', '.hidden', 'a/b']) {
      await editManifest(f.dir, (m) => {
        m.files[0].name = bad;
        for (const t of Object.values(m.tensors)) if (t.file === 'model.safetensors' || t.file === m.files[0].name) t.file = bad;
      });
      await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /schema/.test(e.message), bad);
    }
  } finally {
    await f.cleanup();
  }
});

test('a data file that is a symlink out of the directory (even to a FIFO) is refused without reading it', async () => {
  const f = await fixture();
  try {
    const fifo = path.join(f.root, 'outside-fifo');
    execFileSync('mkfifo', [fifo]);
    await unlink(path.join(f.dir, 'model.safetensors'));
    await symlink(fifo, path.join(f.dir, 'model.safetensors'));
    const t0 = Date.now();
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /symbolic link/.test(e.message));
    assert.ok(Date.now() - t0 < 5000);
    // A FIFO placed inside is refused too (it is not a regular file), without blocking on open.
    await unlink(path.join(f.dir, 'model.safetensors'));
    execFileSync('mkfifo', [path.join(f.dir, 'model.safetensors')]);
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /not a regular file/.test(e.message));
  } finally {
    await f.cleanup();
  }
});

test('a manifest pointing past the end of a file, or declaring huge sizes, fails before any large allocation', async () => {
  const f = await fixture();
  try {
    await editManifest(f.dir, (m) => {
      m.tensors['modelStateDict.w'].byteRange[1] += 4096;
    });
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /outside its data/.test(e.message));
    const before = process.memoryUsage().arrayBuffers;
    await editManifest(f.dir, (m) => {
      const file = m.files.find((x) => x.name === 'model.safetensors')!;
      file.size = 2 ** 50;
      m.tensors['modelStateDict.w'].byteRange = [file.headerBytes, 2 ** 50];
      m.tensors['modelStateDict.w'].shape = [(2 ** 50 - file.headerBytes) / 4];
    });
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /the manifest says 1125899906842624/.test(e.message));
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  } finally {
    await f.cleanup();
  }
});

test('a safetensors header declaring a huge length, or foreign bytes, is refused', async () => {
  const f = await fixture();
  try {
    const file = path.join(f.dir, 'model.safetensors');
    const orig = await readFile(file);
    const bad = Buffer.from(orig);
    bad.writeBigUInt64LE(2n ** 60n, 0);
    await writeFile(file, bad);
    await editManifest(f.dir, () => undefined);
    await assert.rejects(loadStateDict(f.dir), (e: unknown) => e instanceof CheckpointValidationError && /declares a \d+-byte safetensors header/.test(e.message));
    const junk = Buffer.alloc(orig.length, 0x41);
    await writeFile(file, junk);
    await assert.rejects(loadStateDict(f.dir), CheckpointValidationError);
  } finally {
    await f.cleanup();
  }
});

test('a directory without its marker, or with a torn manifest, is not a checkpoint', async () => {
  const f = await fixture();
  try {
    const m = await readFile(path.join(f.dir, 'manifest.json'));
    await writeFile(path.join(f.dir, 'manifest.json'), m.subarray(0, m.length - 10));
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /commit marker/.test(e.message));
    await unlink(path.join(f.dir, 'COMMITTED'));
    assert.deepEqual(await f.backend.listCheckpoints(), []);
    assert.equal(await f.backend.exists('step_00000005'), false);
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointLoadError && /COMMITTED is missing/.test(e.message));
  } finally {
    await f.cleanup();
  }
});

test('a manifest nested absurdly deep is refused as invalid, without exhausting the stack', async () => {
  const f = await fixture();
  try {
    const text = await readFile(path.join(f.dir, 'manifest.json'), 'utf8');
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    await writeFile(path.join(f.dir, 'manifest.json'), text.replace('"metrics":{}', `"metrics":{"x":${deep}}`));
    // Re-signed by hand: JSON.stringify itself cannot take such depth.
    const bytes = await readFile(path.join(f.dir, 'manifest.json'));
    const marker = JSON.parse(await readFile(path.join(f.dir, 'COMMITTED'), 'utf8')) as Record<string, unknown>;
    marker.manifestBytes = bytes.length;
    marker.manifestCrc32 = (zlib.crc32(bytes) >>> 0).toString(16).padStart(8, '0');
    await writeFile(path.join(f.dir, 'COMMITTED'), JSON.stringify(marker));
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => e instanceof CheckpointValidationError && /nested more than/.test(e.message));
  } finally {
    await f.cleanup();
  }
});

test('validateStructure: a checkpoint without the training-state fields names the missing keys', async () => {
  const f = await fixture();
  try {
    await editManifest(f.dir, (m) => {
      const s = (m as unknown as { state: Record<string, unknown> }).state;
      delete s.epoch;
      s.step = 'five';
    });
    await assert.rejects(f.backend.load('step_00000005'), (e: unknown) => {
      assert.ok(e instanceof CheckpointValidationError, String(e));
      assert.deepEqual(e.missingKeys, ['epoch']);
      assert.deepEqual(e.invalidKeys, ['step']);
      assert.match(e.message, /missing keys: epoch\b/);
      assert.match(e.message, /invalid keys: step\b/);
      return true;
    });
  } finally {
    await f.cleanup();
  }
});

test('the manager skips a corrupt newest checkpoint with a warning and loads the next whole one', async () => {
  const f = await fixture();
  try {
    await f.backend.save(new CheckpointState({ step: 10, modelStateDict: { w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } } }));
    await f.backend.save(new CheckpointState({ step: 9, modelStateDict: { w: { dtype: 'F32', shape: [2], data: new Float32Array([3, 4]) } } }));
    assert.deepEqual(await f.backend.listCheckpoints(), ['step_00000005', 'step_00000009', 'step_00000010']);
    const newest = path.join(f.root, 'ckpts', 'step_00000010', 'model.safetensors');
    await flipByte(newest, (await readFile(newest)).length - 1);
    const warnings: string[] = [];
    const manager = new CheckpointManager({ nvmePath: path.join(f.root, 'ckpts') }, { logger: (m) => warnings.push(m) });
    const s = await manager.loadCheckpoint();
    assert.equal(s?.step, 9);
    assert.equal(manager.lastLoadedTier, CheckpointTier.NVME);
    assert.ok(warnings.some((w) => /skipping checkpoint step_00000010/.test(w)), warnings.join('\n'));
    await assert.rejects(manager.loadCheckpoint({ path: 'step_00000010', tier: CheckpointTier.NVME }), CheckpointValidationError);
    await manager.close();
  } finally {
    await f.cleanup();
  }
});
