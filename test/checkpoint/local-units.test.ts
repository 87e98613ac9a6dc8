// Unit tests of local checkpointing's logic: cliques, the tensor-aware state dict, the part format, availability.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AsyncCallsQueue, BasicTensorAwareStateDict, CliqueReplicationStrategy, LocalCheckpointManager } from '../../src/checkpoint/index.js';
import { CheckpointValidationError, ConfigurationError } from '../../src/errors/index.js';
import { decodePart, encodePart } from '../../src/checkpoint/local/part-format.js';
import { findAvailable, packInventory, unpackInventories, type Inventory } from '../../src/checkpoint/local/inventory.js';

test('cliqueOf: jump 1 pairs neighbours, jump 2 pairs ranks two apart, blocks of factor × jump', () => {
  const j1 = new CliqueReplicationStrategy({ replicationFactor: 2, replicationJump: 1 });
  assert.deepEqual([0, 1, 2, 3].map((r) => j1.cliqueOf(r, 4)), [[0, 1], [0, 1], [2, 3], [2, 3]]);
  const j2 = new CliqueReplicationStrategy({ replicationFactor: 2, replicationJump: 2 });
  assert.deepEqual([0, 1, 2, 3].map((r) => j2.cliqueOf(r, 4)), [[0, 2], [1, 3], [0, 2], [1, 3]]);
  const f3 = new CliqueReplicationStrategy({ replicationFactor: 3, replicationJump: 2 });
  assert.deepEqual(f3.cliqueOf(7, 12), [7, 9, 11]);
  assert.deepEqual(f3.cliqueOf(0, 12), [0, 2, 4]);
  assert.deepEqual(new CliqueReplicationStrategy({ replicationFactor: 1 }).cliqueOf(3, 4), [3]);
});

test('cliqueOf: parameters that do not divide the world, or are not whole numbers, are ConfigurationErrors saying why', () => {
  assert.throws(() => new CliqueReplicationStrategy({ replicationFactor: 2, replicationJump: 2 }).cliqueOf(0, 6), (e: unknown) => e instanceof ConfigurationError && /2 × replicationJump 2 = 4 does not divide the world size 6/.test(e.message));
  assert.throws(() => new CliqueReplicationStrategy({ replicationFactor: 0 }), /replicationFactor must be a whole number >= 1, got 0/);
  assert.throws(() => new CliqueReplicationStrategy({ replicationJump: 1.5 }), /replicationJump must be a whole number >= 1, got 1.5/);
  assert.throws(() => new CliqueReplicationStrategy().cliqueOf(4, 4), /rank must be in 0..3, got 4/);
});

const sample = () => ({
  model: { w: { dtype: 'F32' as const, shape: [2, 2], data: new Float32Array([1, 2, 3, -0]) }, b: new Float64Array([Math.PI]) },
  opt: [{ step: 3, ids: new BigInt64Array([-5n]) }, 'adam', null],
  $weird: { nan: NaN, big: 10n },
});

test('BasicTensorAwareStateDict: separates the typed arrays from the JSON rest, and .stateDict gives back the whole', () => {
  const s = sample();
  const ta = new BasicTensorAwareStateDict(s);
  assert.equal(ta.stateDict, s);
  assert.deepEqual(ta.tensors.map((t) => t.path.join('.')), ['model.w', 'model.b', 'opt.0.ids']);
  assert.equal(JSON.stringify(ta.skeleton).includes('"data"'), false);
  const bytes = encodePart(ta, { iteration: 5, rank: 1, worldSize: 2, replication: { factor: 2, jump: 1 } });
  const back = decodePart(bytes, 'test');
  assert.deepEqual(back.meta, { iteration: 5, rank: 1, worldSize: 2, replication: { factor: 2, jump: 1 } });
  assert.deepEqual(back.state.stateDict, s);
  assert.ok(Object.is((back.state.stateDict.model as { w: { data: Float32Array } }).w.data[3], -0));
});

test('BasicTensorAwareStateDict: a tensor inside a Map, a class instance or a function is refused naming its key path', () => {
  const inMap = { opt: { slots: new Map([['m', new Float32Array(2)]]) } } as never;
  assert.throws(() => new BasicTensorAwareStateDict(inMap), (e: unknown) => e instanceof CheckpointValidationError && /"opt.slots" is a Map/.test(e.message));
  class Adam { lr = 1; }
  assert.throws(() => new BasicTensorAwareStateDict({ a: [1, { opt: new Adam() }] } as never), /"a.1.opt" is a Adam, not a plain object/);
  assert.throws(() => new BasicTensorAwareStateDict({ f: (() => 1) as never }), /"f" is a function/);
  assert.throws(() => new BasicTensorAwareStateDict([] as never), /needs a plain object, got an array/);
});

test('part format: every flipped byte (header, tensor data) is refused; a foreign file is refused; nothing is evaluated', () => {
  const bytes = encodePart(new BasicTensorAwareStateDict(sample()), { iteration: 1, rank: 0, worldSize: 1, replication: null });
  for (let i = 0; i < bytes.length; i += 7) {
    const copy = bytes.slice();
    copy[i] ^= 0x10;
    // A flip in alignment padding changes nothing that is read; anything read is checksummed.
    try {
      const got = decodePart(copy, 'x');
      assert.deepEqual(got.state.stateDict, sample(), `byte ${i}`);
    } catch (err) {
      assert.ok(err instanceof CheckpointValidationError, `byte ${i}: ${String(err)}`);
    }
  }
  assert.throws(() => decodePart(new TextEncoder().encode('{"__proto__": 1}'), 'x'), /bad magic/);
  assert.throws(() => decodePart(bytes.subarray(0, 40), 'x'), CheckpointValidationError);
});

test('findAvailable: the newest iteration whose every part a clique member holds, who serves it, and what is missing', () => {
  const clique = (r: number): number[] => (r < 2 ? [0, 1] : [2, 3]);
  const inv = (holdings: [number, number][]): Inventory => ({ iteration: -1, newPartBytes: 0, factor: 2, jump: 1, mismatch: undefined, holdings: holdings.map(([iteration, part]) => ({ iteration, part, bytes: 100 + part })) });
  const all = [inv([[20, 0], [20, 1], [10, 0], [10, 1]]), inv([]), inv([[20, 2], [10, 2], [10, 3]]), inv([[10, 3]])];
  const round = unpackInventories(new Float64Array(all.flatMap((x) => [...packInventory(x)])), 4);
  const got = findAvailable(round, clique);
  assert.deepEqual(got, { latest: 10, incomplete: [{ iteration: 20, missingParts: [3] }], sources: [0, 0, 2, 3], sizes: [100, 101, 102, 103] });
  assert.equal(findAvailable([inv([]), inv([])], () => [0, 1]).latest, -1);
});

test('LocalCheckpointManager, one process: save, find, load, and at most one clean part kept; a bad iteration is refused', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'eh-local-unit-'));
  try {
    const m = new LocalCheckpointManager(root, { fsync: false });
    assert.equal(await m.findLatest(), -1);
    await m.save(new BasicTensorAwareStateDict(sample()), 3);
    await m.save(new BasicTensorAwareStateDict({ x: new Uint8Array([7]) }), 4);
    assert.deepEqual(await readdir(path.join(root, 'rank_0')), ['iter_4_part_0.ckpt']);
    assert.equal(await m.findLatest(), 4);
    const { stateDict, partId } = await m.load();
    assert.deepEqual(partId, { iteration: 4, rank: 0 });
    assert.deepEqual(stateDict.stateDict, { x: new Uint8Array([7]) });
    // Asynchronous: written on the queue's writer thread, committed by the finalization.
    const queue = new AsyncCallsQueue();
    queue.scheduleAsyncRequest(await m.save(new BasicTensorAwareStateDict({ y: new Float32Array([1.5]) }), 9, { isAsync: true }));
    // Until finalized, 9 is at most dirty (the writer thread may not have started yet) and 4 stays.
    const before = await readdir(path.join(root, 'rank_0'));
    assert.ok(before.includes('iter_4_part_0.ckpt') && !before.includes('iter_9_part_0.ckpt'), before.join(', '));
    assert.deepEqual(await queue.maybeFinalizeAsyncCalls({ blocking: true }), [0]);
    await queue.close();
    assert.deepEqual(await readdir(path.join(root, 'rank_0')), ['iter_9_part_0.ckpt']);
    assert.equal(await m.findLatest(), 9);
    assert.deepEqual((await m.load()).stateDict.stateDict, { y: new Float32Array([1.5]) });
    await assert.rejects(m.save(new BasicTensorAwareStateDict({}), -1), /iteration must be a whole number/);
    await assert.rejects(m.save({ x: 1 } as never, 5), /save\(\) needs a TensorAwareStateDict/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
