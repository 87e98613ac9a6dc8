import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigurationError } from 'elastic-harness/errors';
import { ElasticSampler, EpochPermutation, SeededRng, type ElasticSamplerState } from 'elastic-harness/data';

/** All ranks of one world take one global batch each, in lockstep, as a data-parallel step does. */
function lockstep(samplers: ElasticSampler[]): number[][] | null {
  const parts = samplers.map((s) => s.nextBatch());
  const done = parts.filter((p) => p === null).length;
  assert.ok(done === 0 || done === parts.length, 'ranks disagree on whether the epoch has ended');
  return done > 0 ? null : (parts as number[][]);
}

function world(size: number, w: number, b: number, seed: number, dropLast: boolean, state?: ElasticSamplerState): ElasticSampler[] {
  return Array.from({ length: w }, (_, rank) => {
    const s = new ElasticSampler({ datasetSize: size, batchSize: b, rank, worldSize: w, seed, dropLast });
    if (state !== undefined) s.loadStateDict(state);
    return s;
  });
}

test('permutation: a bijection of [0, n) for many sizes, a pure function of (seed, epoch)', () => {
  const rng = new SeededRng(1);
  const sizes = [0, 1, 2, 3, 4, 5, 7, 15, 16, 17, 63, 64, 65, 1000, 1023, 1024, 1025];
  for (let i = 0; i < 20; i++) sizes.push(1 + rng.nextInt(5000));
  for (const n of sizes) {
    const p = new EpochPermutation({ size: n, seed: 42, epoch: 3 });
    const seen = new Uint8Array(n);
    for (let i = 0; i < n; i++) seen[p.at(i)]++;
    assert.ok(seen.every((c) => c === 1), `size ${n}: not a permutation`);
  }
  const order = (seed: number, epoch: number): number[] => Array.from({ length: 500 }, (_, i) => new EpochPermutation({ size: 500, seed, epoch }).at(i));
  assert.deepEqual(order(7, 1), order(7, 1));
  assert.notDeepEqual(order(7, 1), order(7, 2));
  assert.notDeepEqual(order(7, 1), order(8, 1));
  assert.notDeepEqual(order(2 ** 40, 1), order(2 ** 40 + 2 ** 33, 1), 'seeds differing only above 2^32 give other orders');
  const identity = new EpochPermutation({ size: 10, seed: 1, epoch: 0, shuffle: false });
  assert.deepEqual(Array.from({ length: 10 }, (_, i) => identity.at(i)), [...Array(10).keys()]);
  assert.throws(() => new EpochPermutation({ size: 10, seed: 1, epoch: 0 }).at(10), RangeError);
});

test('permutation: looks shuffled (position and index uncorrelated, first slots spread over the range)', () => {
  const n = 20000;
  const p = new EpochPermutation({ size: n, seed: 5, epoch: 0 });
  let sxy = 0;
  let sx = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    const y = p.at(i);
    sxy += i * y;
    sx += i;
    sxx += i * i;
  }
  const mean = sx / n;
  const cov = sxy / n - mean * mean;
  const corr = cov / (sxx / n - mean * mean);
  assert.ok(Math.abs(corr) < 0.05, `position/index correlation ${corr}`);
  const firstDecile = Array.from({ length: 1000 }, (_, i) => p.at(i)).filter((y) => y < n / 10).length;
  assert.ok(firstDecile > 50 && firstDecile < 150, `${firstDecile} of the first 1000 slots hold the first tenth of the indices`);
});

test('permutation: 10^8 samples without materialising anything; positions map to distinct indices', () => {
  const n = 1e8;
  const p = new EpochPermutation({ size: n, seed: 9, epoch: 4 });
  const seen = new Set<number>();
  for (let i = 0; i < 20000; i++) {
    const y = p.at(n - 1 - i * 4999);
    assert.ok(Number.isInteger(y) && y >= 0 && y < n);
    seen.add(y);
  }
  assert.equal(seen.size, 20000);
  const s = new ElasticSampler({ datasetSize: n, batchSize: 512, rank: 3, worldSize: 8, seed: 9 });
  s.setEpoch(4);
  const batch = s.nextBatch()!;
  assert.equal(batch.length, 512);
  assert.equal(batch[0], p.at(3 * 512));
  assert.ok(JSON.stringify(s.stateDict()).length < 200, 'the state is a few numbers');
});

test('sampler: every rank gets its slice of each global batch; a short last batch is split within one', () => {
  const n = 23;
  const ranks = world(n, 4, 3, 11, false);
  assert.ok(ranks.every((r) => r.length === 2 && r.batchesPerEpoch === 2));
  const first = lockstep(ranks)!;
  assert.deepEqual(first.map((b) => b.length), [3, 3, 3, 3]);
  assert.deepEqual(first.flat(), Array.from({ length: 12 }, (_, i) => ranks[0].sampleAt(i)));
  assert.ok(ranks.every((r) => r.cursor === 12 && r.length === 1));
  const last = lockstep(ranks)!;
  assert.deepEqual(last.map((b) => b.length), [2, 3, 3, 3]);
  assert.equal(lockstep(ranks), null);
  assert.ok(ranks.every((r) => r.cursor === n && r.length === 0));
  // Fewer samples than ranks left: some ranks get an empty batch, still in lockstep.
  const tiny = world(6, 4, 1, 11, false);
  lockstep(tiny);
  assert.deepEqual(lockstep(tiny)!.map((b) => b.length), [0, 1, 0, 1]);
  // dropLast: the short batch is not handed out.
  const dropped = world(n, 4, 3, 11, true);
  assert.equal(dropped[0].length, 1);
  lockstep(dropped);
  assert.equal(lockstep(dropped), null);
});

test('sampler: setEpoch moves to another epoch at its start, the current one keeps its cursor', () => {
  const s = new ElasticSampler({ datasetSize: 100, batchSize: 10, seed: 3 });
  const e0 = [...s].flat();
  assert.equal(e0.length, 100);
  assert.deepEqual([...s], [], 'an exhausted epoch yields nothing until setEpoch');
  s.setEpoch(1);
  s.nextBatch();
  s.setEpoch(1);
  assert.equal(s.cursor, 10);
  const rest = [...s].flat();
  assert.equal(rest.length, 90);
  s.setEpoch(0);
  assert.deepEqual([...s].flat(), e0);
});

test('sampler: random sizes, batches, world sizes and cut points: each sample of an epoch exactly once', () => {
  const rng = new SeededRng(2024);
  for (let trial = 0; trial < 300; trial++) {
    const n = rng.nextInt(400);
    const b = 1 + rng.nextInt(9);
    const seed = rng.nextInt(1000);
    const epoch = rng.nextInt(3);
    let w = 1 + rng.nextInt(5);
    let ranks = world(n, w, b, seed, false);
    ranks.forEach((r) => r.setEpoch(epoch));
    const count = new Uint16Array(n);
    for (;;) {
      // A failure may come at any step: the state of one random rank resumes a new world of another size.
      if (rng.next() < 0.3) {
        const state = ranks[rng.nextInt(w)].stateDict();
        w = 1 + rng.nextInt(5);
        ranks = world(n, w, b, seed, false, JSON.parse(JSON.stringify(state)) as ElasticSamplerState);
        ranks.forEach((r) => r.setEpoch(epoch));
      }
      const parts = lockstep(ranks);
      if (parts === null) break;
      const sizes = parts.map((p) => p.length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `unbalanced global batch ${sizes}`);
      for (const i of parts.flat()) count[i]++;
      const states = ranks.map((r) => JSON.stringify(r.stateDict()));
      assert.ok(states.every((s) => s === states[0]), 'every rank records the same state');
    }
    assert.ok(count.every((c) => c === 1), `trial ${trial} (n ${n}, b ${b}): some sample not seen exactly once`);
  }
});

test('sampler: with dropLast each sample at most once, and only the short tail of the last world is dropped', () => {
  const rng = new SeededRng(77);
  for (let trial = 0; trial < 200; trial++) {
    const n = rng.nextInt(300);
    const b = 1 + rng.nextInt(6);
    let w = 1 + rng.nextInt(4);
    let ranks = world(n, w, b, trial, true);
    const count = new Uint16Array(n);
    for (;;) {
      if (rng.next() < 0.3) {
        const state = ranks[0].stateDict();
        w = 1 + rng.nextInt(4);
        ranks = world(n, w, b, trial, true, state);
      }
      const parts = lockstep(ranks);
      if (parts === null) break;
      assert.ok(parts.every((p) => p.length === b), 'dropLast hands out full batches only');
      for (const i of parts.flat()) count[i]++;
    }
    const seen = count.reduce((a, c) => a + c, 0);
    assert.ok(count.every((c) => c <= 1));
    assert.ok(n - seen < b * w, `trial ${trial}: ${n - seen} samples dropped, more than a short batch of ${b * w}`);
  }
});

test('sampler: the state is a few numbers and refuses another order', () => {
  const s = new ElasticSampler({ datasetSize: 1000, batchSize: 8, rank: 1, worldSize: 2, seed: 5 });
  s.setEpoch(2);
  s.nextBatch();
  const state = s.stateDict();
  assert.deepEqual(state, { version: 1, epoch: 2, cursor: 16, seed: 5, datasetSize: 1000, shuffle: true, dropLast: false, batchSize: 8, worldSize: 2 });
  assert.ok(Object.values(state).every((v) => typeof v === 'number' || typeof v === 'boolean'));
  const other = (o: Partial<ConstructorParameters<typeof ElasticSampler>[0]>): ElasticSampler => new ElasticSampler({ datasetSize: 1000, batchSize: 8, seed: 5, ...o });
  assert.throws(() => other({ seed: 6 }).loadStateDict(state), (e: unknown) => e instanceof ConfigurationError && /seed 5/.test(e.message));
  assert.throws(() => other({ datasetSize: 999 }).loadStateDict(state), /datasetSize 1000/);
  assert.throws(() => other({ shuffle: false }).loadStateDict(state), /shuffle/);
  assert.throws(() => other({}).loadStateDict({ ...state, cursor: 1001 }), /past the dataset/);
  assert.throws(() => other({}).loadStateDict({ ...state, version: 9 }), /version/);
  assert.throws(() => other({}).loadStateDict(null), ConfigurationError);
  assert.throws(() => new ElasticSampler({ datasetSize: 10, batchSize: 0 }), /batchSize/);
  assert.throws(() => new ElasticSampler({ datasetSize: 10, batchSize: 1, rank: 2, worldSize: 2 }), /rank 2/);
  assert.throws(() => new ElasticSampler({ datasetSize: -1, batchSize: 1 }), /datasetSize/);
  const resumed = other({ worldSize: 4, rank: 3 });
  resumed.loadStateDict(state);
  assert.equal(resumed.epoch, 2);
  assert.equal(resumed.length, Math.ceil((1000 - 16) / 32));
});

test('SeededRng: deterministic, restored from its state, roughly uniform', () => {
  const a = new SeededRng(123);
  const first = Array.from({ length: 5 }, () => a.nextUint32());
  assert.deepEqual(first, Array.from({ length: 5 }, ((r) => () => r.nextUint32())(new SeededRng(123))));
  const saved = JSON.parse(JSON.stringify(a.stateDict())) as unknown;
  const next = Array.from({ length: 100 }, () => a.next());
  const b = new SeededRng(0);
  b.loadStateDict(saved);
  assert.deepEqual(Array.from({ length: 100 }, () => b.next()), next);
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 20000; i++) buckets[a.nextInt(10)]++;
  assert.ok(buckets.every((c) => c > 1800 && c < 2200), `buckets ${buckets}`);
  assert.throws(() => b.setState({ algorithm: 'sfc32', state: [1, 2, 3] }), ConfigurationError);
  assert.deepEqual(new SeededRng(4).shuffle([1, 2, 3, 4, 5]).sort(), [1, 2, 3, 4, 5]);
});
