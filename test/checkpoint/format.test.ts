import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { DTYPES, DTYPE_NAMES, loadStateDict, saveStateDict, type StateDict, type Tensor, type Dtype } from '../../src/checkpoint/index.js';

function randomTensor(dtype: Dtype, shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const { ctor, bytes } = DTYPES[dtype];
  const raw = new Uint8Array(n * bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < raw.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    raw[i] = x & 0xff;
  }
  return { dtype, shape, data: new ctor(raw.buffer, 0, n) };
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'eh-ckpt-fmt-'));
}

test('every dtype and shape (scalars, empty, high rank) round-trips bit-exactly, with nested JSON state', async () => {
  const dir = await tempDir();
  try {
    const shapes = [[], [0], [1], [7], [3, 5], [2, 0, 4], [2, 3, 4, 5]];
    const model: StateDict = {};
    let seed = 1;
    for (const d of DTYPE_NAMES) for (const s of shapes) model[`${d}/${s.join('x') || 'scalar'}`] = randomTensor(d, s, seed++);
    const state: StateDict = {
      modelStateDict: model,
      optimizerStateDict: { nested: { deeper: { w: randomTensor('F32', [4], 99) } }, list: [randomTensor('I64', [2], 5), 3, 'x'] },
      misc: { nan: Number.NaN, inf: -Infinity, big: 12345678901234567890n, $tensor: 'not a ref', $$odd: 1, nul: null, arr: [1, [2, { a: true }]], empty: {} },
      bare: new Float64Array([1.5, -2.25]),
      step: 42,
    };
    await saveStateDict(state, path.join(dir, 'step_00000042'), { step: 42 });
    const back = (await loadStateDict(path.join(dir, 'step_00000042'))) as StateDict;
    const m = back.modelStateDict as StateDict;
    assert.deepEqual(Object.keys(m).sort(), Object.keys(model).sort());
    for (const [k, t] of Object.entries(model) as Array<[string, Tensor]>) {
      const u = m[k] as Tensor;
      assert.equal(u.dtype, t.dtype, k);
      assert.deepEqual(u.shape, t.shape, k);
      assert.equal(u.data.constructor, t.data.constructor, k);
      assert.ok(sameBytes(u.data, t.data), k);
    }
    const misc = back.misc as StateDict;
    assert.ok(Number.isNaN(misc.nan));
    assert.equal(misc.inf, -Infinity);
    assert.equal(misc.big, 12345678901234567890n);
    assert.equal(misc.$tensor, 'not a ref');
    assert.equal(misc.$$odd, 1);
    assert.deepEqual(misc.arr, [1, [2, { a: true }]]);
    assert.deepEqual(misc.empty, {});
    assert.ok(back.bare instanceof Float64Array && sameBytes(back.bare, state.bare as Float64Array));
    const nested = ((back.optimizerStateDict as StateDict).nested as StateDict).deeper as StateDict;
    assert.ok(sameBytes((nested.w as Tensor).data, ((((state.optimizerStateDict as StateDict).nested as StateDict).deeper as StateDict).w as Tensor).data));
    const list = (back.optimizerStateDict as StateDict).list as unknown[];
    assert.equal((list[0] as Tensor).data.constructor, BigInt64Array);
    assert.deepEqual(list.slice(1), [3, 'x']);
    const files = (await readdir(path.join(dir, 'step_00000042'))).sort();
    assert.deepEqual(files, ['COMMITTED', 'manifest.json', 'model.safetensors', 'optimizer.safetensors', 'state.safetensors']);
    // No temporaries left behind.
    assert.deepEqual(await readdir(dir), ['step_00000042']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the data files are plain safetensors: PyTorch reads the same values from them', async (t) => {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' });
  } catch {
    // CI installs python3-torch: there a missing torch is a failure, not a skip.
    assert.equal(process.env.CI, undefined, 'CI must have /usr/bin/python3 with torch (python3-torch)');
    t.skip('/usr/bin/python3 with torch is not installed (scripts/install-system-deps.sh installs it; required when CI is set)');
    return;
  }
  const dir = await tempDir();
  try {
    const w = randomTensor('F32', [3, 4], 7);
    const b = randomTensor('I64', [5], 8);
    const h = randomTensor('BF16', [2, 2], 9);
    await saveStateDict({ modelStateDict: { 'layer.weight': w, 'layer.index': b, 'half': h } }, path.join(dir, 'ck'));
    // A reader written from the safetensors spec alone (the safetensors package may be absent), using torch for the bytes.
    const py = `
import json, struct, sys, torch
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8+n])
assert n % 8 == 0
types = {'F32': torch.float32, 'I64': torch.int64, 'BF16': torch.bfloat16}
out = {}
for k, v in header.items():
    if k == '__metadata__': continue
    b, e = v['data_offsets']
    t = torch.frombuffer(bytearray(raw[8+n+b:8+n+e]), dtype=types[v['dtype']]).reshape(v['shape'])
    out[k] = t.float().flatten().tolist() if v['dtype'] != 'I64' else [str(x) for x in t.flatten().tolist()]
print(json.dumps(out))
`;
    const res = JSON.parse(execFileSync('/usr/bin/python3', ['-c', py, path.join(dir, 'ck', 'model.safetensors')]).toString()) as Record<string, Array<number | string>>;
    assert.deepEqual(res['layer.weight'], Array.from(w.data as Float32Array));
    assert.deepEqual(res['layer.index'], Array.from(b.data as BigInt64Array, (x) => x.toString()));
    const bf = Array.from(h.data as Uint16Array, (bits) => new Float32Array(new Uint32Array([bits << 16]).buffer)[0]);
    assert.deepEqual(res.half.map((x) => (Number.isNaN(x as number) ? 'nan' : x)), bf.map((x) => (Number.isNaN(x) ? 'nan' : x)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a 1 GiB state round-trips and every byte is checked', async () => {
  const dir = await tempDir();
  try {
    const n = (1024 * 1024 * 1024) / 4 / 2;
    const a = new Float32Array(n);
    const b = new Int32Array(n);
    for (let i = 0; i < n; i += 4099) {
      a[i] = i * 0.5;
      b[i] = -i;
    }
    a[n - 1] = 3.25;
    b[n - 1] = 77;
    await saveStateDict({ modelStateDict: { a: { dtype: 'F32', shape: [n], data: a } }, optimizerStateDict: { b: { dtype: 'I32', shape: [1024, n / 1024], data: b } } }, path.join(dir, 'big'), { fsync: false });
    assert.ok((await stat(path.join(dir, 'big', 'model.safetensors'))).size > 512 * 1024 * 1024);
    const back = (await loadStateDict(path.join(dir, 'big'))) as StateDict;
    const a2 = ((back.modelStateDict as StateDict).a as Tensor).data as Float32Array;
    const b2 = ((back.optimizerStateDict as StateDict).b as Tensor).data as Int32Array;
    assert.ok(sameBytes(a2, a));
    assert.ok(sameBytes(b2, b));
    const manifest = JSON.parse(await readFile(path.join(dir, 'big', 'manifest.json'), 'utf8')) as { tensors: Record<string, { crc32: string }> };
    assert.match(manifest.tensors['modelStateDict.a'].crc32, /^[0-9a-f]{8}$/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a state nested too deep for loading is refused when saving, not discovered at load time', async () => {
  const dir = await tempDir();
  try {
    let deep: StateDict = { leaf: 1 };
    for (let i = 0; i < 600; i++) deep = { d: deep };
    await assert.rejects(saveStateDict(deep, path.join(dir, 'deep')), (e: unknown) => e instanceof Error && e.name === 'CheckpointValidationError' && /nested more than/.test(e.message));
    let ok: StateDict = { leaf: 1 };
    for (let i = 0; i < 400; i++) ok = { d: ok };
    await saveStateDict(ok, path.join(dir, 'ok'));
    let back = (await loadStateDict(path.join(dir, 'ok'))) as StateDict;
    for (let i = 0; i < 400; i++) back = back.d as StateDict;
    assert.equal(back.leaf, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('tensor() with arguments in the wrong order or of the wrong kind gives a clear error, not a TypeError', async () => {
  const { tensor } = await import('../../src/checkpoint/index.js');
  const { CheckpointValidationError } = await import('../../src/errors/index.js');
  const call = (...args: unknown[]) => (tensor as (...a: unknown[]) => unknown)(...args);
  assert.throws(() => call(new Float32Array([1, 2]), [2]), (e: unknown) => e instanceof CheckpointValidationError && /is not a dtype/.test(e.message) && /F32/.test(e.message));
  assert.throws(() => call('F32', 2, new Float32Array(2)), (e: unknown) => e instanceof CheckpointValidationError && /shape must be an array/.test(e.message));
  assert.throws(() => call('F32', [2], [1, 2]), (e: unknown) => e instanceof CheckpointValidationError && /typed array/.test(e.message));
  assert.throws(() => call('F32', [3], new Float32Array(2)), CheckpointValidationError);
  assert.equal((call('F32', [2], new Float32Array([1, 2])) as Tensor).dtype, 'F32');
});
