import { ConfigurationError, DataLoadingError } from '../errors/index.js';
import { evenShare, push, sliceSpans, spanLength, type Span } from './spans.js';
import { TokenIndexFile } from './token-index-file.js';

export interface ResumableDatasetOptions {
  /** The token file, opened or by path. */
  file: TokenIndexFile | string;
  /** Tokens per sequence a rank reads each step (the last of a shard may be shorter). */
  sequenceLength: number;
  rank?: number;
  worldSize?: number;
  /**
   * Start from this global token offset, as the reference's `dataset_state={"tokens_processed": n}`: the tokens
   * [n, total) are split over the ranks. Default 0. A state loaded later replaces it.
   */
  startOffset?: number;
}

/**
 * The position of a ResumableDataset: which ranges were still to be read when the shards were last cut
 * (`spans`, flat [start, end, start, end, ...]), over how many ranks, and how many tokens each rank has read
 * of its shard since (`consumedPerRank`, the same on every rank since ranks read in lockstep). A handful of
 * numbers: at most one range per rank of the world that cut them.
 */
export type ResumableDatasetState = {
  version: number;
  totalTokens: number;
  spans: number[];
  worldSize: number;
  consumedPerRank: number;
  tokensProcessed: number;
};

const STATE_VERSION = 1;

function int(v: unknown, key: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new ConfigurationError(`${key} must be an integer >= ${min}, got ${String(v)}`, { configKey: key });
  return v;
}

/**
 * Language-model data from a token file, split into contiguous, non-overlapping shards per rank that cover
 * the tokens still to read, sizes within one token of each other. Each step every rank reads the next
 * `sequenceLength` tokens of its shard (documents are concatenated, as LM pre-training does). On a resume,
 * at any world size, the tokens not yet read by any rank are cut again over the new ranks: each token of the
 * file is read once.
 */
export class ResumableDataset implements Iterable<Uint32Array> {
  readonly file: TokenIndexFile;
  readonly sequenceLength: number;
  readonly rank: number;
  readonly worldSize: number;
  private spans: Span[];
  private cutWorldSize: number;
  private consumed = 0;
  private shard: Span[];
  private readonly ownsFile: boolean;

  constructor(options: ResumableDatasetOptions) {
    this.ownsFile = typeof options.file === 'string';
    this.file = typeof options.file === 'string' ? TokenIndexFile.open(options.file) : options.file;
    this.sequenceLength = int(options.sequenceLength, 'sequenceLength', 1);
    this.worldSize = int(options.worldSize ?? 1, 'worldSize', 1);
    this.rank = int(options.rank ?? 0, 'rank', 0);
    if (this.rank >= this.worldSize) throw new ConfigurationError(`rank ${this.rank} is not below worldSize ${this.worldSize}`, { configKey: 'rank' });
    const start = int(options.startOffset ?? 0, 'startOffset', 0);
    const total = this.file.tokenCount;
    if (start > total) {
      throw new DataLoadingError(`start offset ${start} is past the end of ${this.file.path}, which holds ${total} tokens`, {
        filePath: this.file.path,
        suggestions: ['Pass a tokens-processed count taken from a run on this same file.'],
      });
    }
    this.spans = start < total ? [[start, total]] : [];
    this.cutWorldSize = this.worldSize;
    this.shard = this.shardOf(this.rank);
  }

  /** Tokens of the file read by all ranks together (the reference's tokens_processed). */
  get tokensProcessed(): number {
    let read = 0;
    const r = spanLength(this.spans);
    for (let k = 0; k < this.cutWorldSize; k++) {
      const [a, b] = evenShare(r, k, this.cutWorldSize);
      read += Math.min(this.consumed, b - a);
    }
    return this.file.tokenCount - r + read;
  }

  /** This rank's shard: the global token ranges it reads, in order. */
  get shardRanges(): ReadonlyArray<Readonly<Span>> {
    return this.shard.map((s) => [s[0], s[1]] as Span);
  }

  /** Sequences left for this rank; the same on every rank (a rank whose shard ran out gets empty ones). */
  get length(): number {
    const longest = Math.ceil(spanLength(this.spans) / this.cutWorldSize);
    return Math.ceil(Math.max(0, longest - this.consumed) / this.sequenceLength);
  }

  /** The next sequence of this rank, or null when every rank's shard is read. */
  next(): Uint32Array | null {
    if (this.length === 0) return null;
    const mine = spanLength(this.shard);
    const from = Math.min(this.consumed, mine);
    const to = Math.min(this.consumed + this.sequenceLength, mine);
    this.consumed += this.sequenceLength;
    const out = new Uint32Array(to - from);
    let at = 0;
    for (const [s, e] of sliceSpans(this.shard, from, to)) {
      out.set(this.file.readTokens(s, e - s), at);
      at += e - s;
    }
    return out;
  }

  *[Symbol.iterator](): Iterator<Uint32Array> {
    for (let seq = this.next(); seq !== null; seq = this.next()) yield seq;
  }

  stateDict(): ResumableDatasetState {
    return {
      version: STATE_VERSION,
      totalTokens: this.file.tokenCount,
      spans: this.spans.flat(),
      worldSize: this.cutWorldSize,
      consumedPerRank: this.consumed,
      tokensProcessed: this.tokensProcessed,
    };
  }

  /** Continues from a state taken on any rank of any world: what no rank had read is cut over this world. */
  loadStateDict(state: unknown): void {
    const s = state as Partial<ResumableDatasetState> | null;
    if (s === null || typeof s !== 'object' || s.version !== STATE_VERSION) {
      throw new ConfigurationError(`not a ResumableDataset state of version ${STATE_VERSION}`, { configKey: 'datasetState' });
    }
    if (s.totalTokens !== this.file.tokenCount) {
      throw new DataLoadingError(`the dataset state was saved for a file of ${String(s.totalTokens)} tokens; ${this.file.path} holds ${this.file.tokenCount}`, {
        filePath: this.file.path,
        suggestions: ['Resume with the token file the run started with.'],
      });
    }
    const world = int(s.worldSize, 'datasetState.worldSize', 1);
    const consumed = int(s.consumedPerRank, 'datasetState.consumedPerRank', 0);
    const flat = s.spans;
    if (!Array.isArray(flat) || flat.length % 2 !== 0) throw new ConfigurationError('datasetState.spans must be a flat list of [start, end) pairs', { configKey: 'datasetState.spans' });
    const spans: Span[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const [a, b] = [flat[i], flat[i + 1]];
      if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b) || a < 0 || b < a || b > this.file.tokenCount) {
        throw new DataLoadingError(`datasetState.spans holds an invalid range [${String(a)}, ${String(b)}) for ${this.file.path}, which holds ${this.file.tokenCount} tokens`, { filePath: this.file.path });
      }
      spans.push([a, b]);
    }
    const sorted = [...spans].sort((x, y) => x[0] - y[0]);
    if (sorted.some((x, i) => i > 0 && x[0] < sorted[i - 1][1])) {
      throw new DataLoadingError(`datasetState.spans overlap: the state would read some tokens of ${this.file.path} twice`, { filePath: this.file.path });
    }
    // What each rank of the saving world had not read yet, in rank order, becomes the range to cut anew.
    const rest: Span[] = [];
    const r = spanLength(spans);
    for (let k = 0; k < world; k++) {
      const [a, b] = evenShare(r, k, world);
      for (const span of sliceSpans(spans, Math.min(a + consumed, b), b)) push(rest, span);
    }
    this.spans = rest;
    this.cutWorldSize = this.worldSize;
    this.consumed = 0;
    this.shard = this.shardOf(this.rank);
  }

  close(): void {
    if (this.ownsFile) this.file.close();
  }

  private shardOf(rank: number): Span[] {
    const [a, b] = evenShare(spanLength(this.spans), rank, this.cutWorldSize);
    return sliceSpans(this.spans, a, b);
  }
}
