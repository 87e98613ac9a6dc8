import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ConfigurationError, DataLoadingError } from 'elastic-harness/errors';
import { IndexBuilder, ResumableDataset, SeededRng, TokenIndexFile, type ResumableDatasetState } from 'elastic-harness/data';

const dir = mkdtempSync(join(tmpdir(), 'eh-tokens-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A file whose token at global offset o is o itself (4-byte tokens), so every read says where it came from. */
function build(name: string, docLengths: number[]): string {
  const b = new IndexBuilder(join(dir, name), { tokenBytes: 4 });
  let o = 0;
  for (const len of docLengths) {
    b.addDocument(Array.from({ length: len }, () => o++));
  }
  return b.finish().path;
}

function isDataError(pattern: RegExp) {
  return (e: unknown): boolean => e instanceof DataLoadingError && pattern.test(e.message);
}

test('token file: lookup by global offset at 0, in the middle, at the last token, past the end', () => {
  const path = build('a.bin', [5, 0, 7, 1, 12]);
  const f = TokenIndexFile.open(path);
  try {
    assert.equal(f.tokenCount, 25);
    assert.equal(f.documentCount, 5);
    assert.deepEqual(f.locate(0), { document: 0, offsetInDocument: 0 });
    assert.deepEqual(f.locate(5), { document: 2, offsetInDocument: 0 }, 'the empty document 1 holds no token');
    assert.deepEqual(f.locate(12), { document: 3, offsetInDocument: 0 });
    assert.deepEqual(f.locate(20), { document: 4, offsetInDocument: 7 });
    assert.deepEqual(f.locate(24), { document: 4, offsetInDocument: 11 });
    assert.equal(f.tokenAt(0), 0);
    assert.equal(f.tokenAt(13), 13);
    assert.equal(f.tokenAt(24), 24);
    assert.deepEqual([...f.readTokens(10, 5)], [10, 11, 12, 13, 14]);
    assert.deepEqual(f.documentRange(4), { start: 13, end: 25 });
    for (const bad of [() => f.locate(25), () => f.tokenAt(25), () => f.readTokens(20, 6), () => f.locate(-1)]) {
      assert.throws(bad, (e: unknown) => isDataError(/past the end/)(e) && (e as Error).message.includes(path) && (e as Error).message.includes('25 tokens'));
    }
    assert.throws(() => f.documentRange(5), DataLoadingError);
  } finally {
    f.close();
  }
  assert.throws(() => f.tokenAt(0), isDataError(/closed/));
});

test('token file: a wrong magic, a wrong version, a truncated or overlong file, a missing one: DataLoadingError naming the file', () => {
  const path = build('b.bin', [100, 50]);
  const bytes = readFileSync(path);
  const variant = (name: string, mutate: (b: Buffer) => Buffer): string => {
    const p = join(dir, name);
    writeFileSync(p, mutate(Buffer.from(bytes)));
    return p;
  };
  const magic = variant('magic.bin', (b) => (b.write('NOTTOKEN', 0, 'ascii'), b));
  assert.throws(() => TokenIndexFile.open(magic), (e: unknown) => isDataError(/not the token file magic/)(e) && (e as Error).message.includes(magic));
  const version = variant('version.bin', (b) => (b.writeUInt32LE(9, 8), b));
  assert.throws(() => TokenIndexFile.open(version), isDataError(/format version 9/));
  const width = variant('width.bin', (b) => (b.writeUInt32LE(3, 12), b));
  assert.throws(() => TokenIndexFile.open(width), isDataError(/bytes per token/));
  const cut = variant('cut.bin', (b) => b);
  truncateSync(cut, bytes.length - 9);
  assert.throws(() => TokenIndexFile.open(cut), (e: unknown) => isDataError(/truncated/)(e) && (e as Error).message.includes('150 tokens'));
  const tiny = variant('tiny.bin', (b) => b.subarray(0, 10));
  assert.throws(() => TokenIndexFile.open(tiny), isDataError(/shorter than the 32-byte header/));
  const long = variant('long.bin', (b) => b);
  appendFileSync(long, Buffer.alloc(4));
  assert.throws(() => TokenIndexFile.open(long), isDataError(/longer than its header/));
  const index = variant('index.bin', (b) => (b.writeBigUInt64LE(999n, b.length - 16), b));
  assert.throws(() => TokenIndexFile.open(index), isDataError(/document index/));
  assert.throws(() => TokenIndexFile.open(join(dir, 'absent.bin')), isDataError(/absent\.bin/));
});

test('IndexBuilder: tokens must fit the width; nothing appears under the name before finish()', () => {
  const p = join(dir, 'narrow.bin');
  const b = new IndexBuilder(p);
  b.addDocument([1, 2, 65535]);
  assert.throws(() => b.addDocument([65536]), ConfigurationError);
  assert.throws(() => b.addDocument([1.5]), ConfigurationError);
  assert.equal(existsSync(p), false);
  b.finish();
  const f = TokenIndexFile.open(p);
  assert.deepEqual([...f.readTokens(0, 3)], [1, 2, 65535]);
  assert.equal(f.tokenBytes, 2);
  f.close();
  assert.throws(() => b.addDocument([1]), /finished/);
  const c = new IndexBuilder(join(dir, 'aborted.bin'));
  c.addDocument([1]);
  c.abort();
  assert.equal(existsSync(join(dir, 'aborted.bin.partial')), false);
});

test('ResumableDataset: contiguous, non-overlapping shards covering the range, within one token of each other', () => {
  const path = build('c.bin', [40, 3, 60]);
  for (const w of [1, 2, 3, 4, 7]) {
    const shards = Array.from({ length: w }, (_, rank) => new ResumableDataset({ file: path, sequenceLength: 8, rank, worldSize: w }));
    const ranges = shards.map((s) => s.shardRanges);
    assert.ok(ranges.every((r) => r.length === 1), 'a fresh shard is one contiguous range');
    assert.equal(ranges[0][0][0], 0);
    assert.equal(ranges[w - 1][0][1], 103);
    for (let r = 1; r < w; r++) assert.equal(ranges[r][0][0], ranges[r - 1][0][1]);
    const sizes = ranges.map((r) => r[0][1] - r[0][0]);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `sizes ${sizes}`);
    shards.forEach((s) => s.close());
  }
});

test('ResumableDataset: resumption from a token offset at 0, in the middle, at the last token, at and past the end', () => {
  const path = build('d.bin', [30, 70]);
  const read = (start: number, w: number): number[][] =>
    Array.from({ length: w }, (_, rank) => {
      const d = new ResumableDataset({ file: path, sequenceLength: 16, rank, worldSize: w, startOffset: start });
      const out = [...d].flatMap((s) => [...s]);
      d.close();
      return out;
    });
  assert.deepEqual(read(0, 1)[0], [...Array(100).keys()]);
  const middle = read(37, 3);
  assert.deepEqual(middle.flat(), Array.from({ length: 63 }, (_, i) => 37 + i));
  assert.deepEqual(middle.map((r) => r.length), [21, 21, 21]);
  assert.deepEqual(read(99, 2), [[], [99]]);
  assert.deepEqual(read(100, 2), [[], []]);
  assert.throws(() => new ResumableDataset({ file: path, sequenceLength: 4, startOffset: 101 }), (e: unknown) => isDataError(/past the end/)(e) && (e as Error).message.includes('100 tokens'));
  const d = new ResumableDataset({ file: path, sequenceLength: 4, startOffset: 37 });
  assert.equal(d.tokensProcessed, 37);
  d.next();
  assert.equal(d.tokensProcessed, 41);
  d.close();
});

test('ResumableDataset: kills at random points and new world sizes: each token read exactly once; same world resumes the same sequence', () => {
  const rng = new SeededRng(99);
  for (let trial = 0; trial < 60; trial++) {
    const docs = Array.from({ length: 1 + rng.nextInt(6) }, () => rng.nextInt(80));
    const total = docs.reduce((a, b) => a + b, 0);
    const path = build(`r${trial}.bin`, docs);
    const seq = 1 + rng.nextInt(12);
    let w = 1 + rng.nextInt(4);
    const open = (state?: ResumableDatasetState): ResumableDataset[] =>
      Array.from({ length: w }, (_, rank) => {
        const d = new ResumableDataset({ file: path, sequenceLength: seq, rank, worldSize: w });
        if (state !== undefined) d.loadStateDict(state);
        return d;
      });
    let ranks = open();
    let worldsSoFar = w;
    const seen = new Uint8Array(total);
    for (;;) {
      if (rng.next() < 0.25) {
        const state = JSON.parse(JSON.stringify(ranks[rng.nextInt(w)].stateDict())) as ResumableDatasetState;
        const processed = ranks[0].tokensProcessed;
        if (rng.next() < 0.5) {
          // Same world: the resumed ranks read exactly what the uninterrupted ones would have.
          const twin = open(state);
          const expect = ranks.map((d) => {
            const copy = new ResumableDataset({ file: path, sequenceLength: seq, rank: d.rank, worldSize: w });
            copy.loadStateDict(JSON.parse(JSON.stringify(d.stateDict())) as ResumableDatasetState);
            return [...copy].map((s) => [...s]);
          });
          assert.deepEqual(twin.map((d) => [...d].map((s) => [...s])), expect);
        }
        ranks.forEach((d) => d.close());
        w = 1 + rng.nextInt(4);
        ranks = open(state);
        assert.equal(ranks[0].tokensProcessed, processed);
        // Each resume cuts at most one hole per rank of the world that saved: the ranges grow by that much at most.
        assert.ok(state.spans.length / 2 <= worldsSoFar, `${state.spans.length / 2} ranges after worlds summing to ${worldsSoFar} ranks`);
        worldsSoFar += w;
      }
      const lens = ranks.map((d) => d.length);
      assert.ok(lens.every((l) => l === lens[0]), 'ranks agree on the sequences left');
      const parts = ranks.map((d) => d.next());
      if (parts[0] === null) {
        assert.ok(parts.every((p) => p === null));
        break;
      }
      for (const p of parts) for (const t of p!) seen[t]++;
    }
    assert.ok(seen.every((c) => c === 1), `trial ${trial}: a token read ${seen.find((c) => c !== 1)} times`);
    assert.equal(ranks[0].tokensProcessed, total);
    ranks.forEach((d) => d.close());
  }
});

test('ResumableDataset: a state of another file or a malformed one is refused', () => {
  const a = new ResumableDataset({ file: build('e.bin', [10]), sequenceLength: 4 });
  const b = new ResumableDataset({ file: build('f.bin', [11]), sequenceLength: 4 });
  assert.throws(() => b.loadStateDict(a.stateDict()), (e: unknown) => isDataError(/10 tokens/)(e) && (e as Error).message.includes('f.bin'));
  assert.throws(() => a.loadStateDict({ ...a.stateDict(), spans: [0, 5, 3, 8] }), isDataError(/overlap/));
  assert.throws(() => a.loadStateDict({ ...a.stateDict(), spans: [0, 11] }), isDataError(/invalid range/));
  assert.throws(() => a.loadStateDict({ version: 2 }), ConfigurationError);
  a.close();
  b.close();
});
