import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { DataLoadingError, describeError } from '../errors/index.js';
import { expectedFileSize, TOKEN_FORMAT_VERSION, TOKEN_HEADER_BYTES, TOKEN_MAGIC, type TokenWidth } from './token-format.js';

/** Where a global token offset falls: its document and its position in it. */
export interface TokenLocation {
  document: number;
  offsetInDocument: number;
}

/**
 * A token file opened for random access: the header is checked (magic, version, width, size), the document
 * index is read into memory, the tokens are read from disk on demand (a 10^9-token file costs its index only).
 */
export class TokenIndexFile {
  readonly path: string;
  readonly tokenCount: number;
  readonly documentCount: number;
  readonly tokenBytes: TokenWidth;
  private fd: number | null;
  private readonly starts: Float64Array;

  private constructor(path: string, fd: number, tokenBytes: TokenWidth, tokenCount: number, starts: Float64Array) {
    this.path = path;
    this.fd = fd;
    this.tokenBytes = tokenBytes;
    this.tokenCount = tokenCount;
    this.documentCount = starts.length - 1;
    this.starts = starts;
  }

  static open(path: string): TokenIndexFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw new DataLoadingError(`cannot open the token file: ${describeError(err)}`, { filePath: path, cause: err });
    }
    try {
      return TokenIndexFile.read(path, fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private static read(path: string, fd: number): TokenIndexFile {
    const size = fstatSync(fd).size;
    const bad = (problem: string, suggestion: string): DataLoadingError => new DataLoadingError(`${path}: ${problem}`, { filePath: path, suggestions: [suggestion] });
    const rebuild = 'Rebuild the file with IndexBuilder (a copy may have been cut short or overwritten).';
    if (size < TOKEN_HEADER_BYTES) throw bad(`${size} bytes, shorter than the ${TOKEN_HEADER_BYTES}-byte header: not a whole token file`, rebuild);
    const h = Buffer.alloc(TOKEN_HEADER_BYTES);
    readSync(fd, h, 0, TOKEN_HEADER_BYTES, 0);
    const magic = h.toString('latin1', 0, 8);
    if (magic !== TOKEN_MAGIC) throw bad(`starts with ${JSON.stringify(magic)}, not the token file magic ${JSON.stringify(TOKEN_MAGIC)}`, 'Pass a file written by IndexBuilder.');
    const version = h.readUInt32LE(8);
    if (version !== TOKEN_FORMAT_VERSION) throw bad(`format version ${version}, this library reads version ${TOKEN_FORMAT_VERSION}`, 'Rebuild the file with this version of IndexBuilder.');
    const width = h.readUInt32LE(12);
    if (width !== 2 && width !== 4) throw bad(`${width} bytes per token in the header, expected 2 or 4`, rebuild);
    const tokenCount = Number(h.readBigUInt64LE(16));
    const documentCount = Number(h.readBigUInt64LE(24));
    if (!Number.isSafeInteger(tokenCount) || !Number.isSafeInteger(documentCount)) throw bad('the header\'s counts are out of range', rebuild);
    const expected = expectedFileSize({ tokenBytes: width, tokenCount, documentCount });
    if (size !== expected) {
      throw bad(`${size} bytes, but its header promises ${tokenCount} tokens in ${documentCount} documents (${expected} bytes): the file is ${size < expected ? 'truncated' : 'longer than its header says'}`, rebuild);
    }
    const raw = Buffer.alloc((documentCount + 1) * 8);
    readSync(fd, raw, 0, raw.length, TOKEN_HEADER_BYTES + tokenCount * width);
    const starts = new Float64Array(documentCount + 1);
    for (let i = 0; i <= documentCount; i++) {
      starts[i] = Number(raw.readBigUInt64LE(i * 8));
      if (starts[i] > tokenCount || (i > 0 && starts[i] < starts[i - 1])) throw bad(`document index entry ${i} (${starts[i]}) is out of order or past the ${tokenCount} tokens`, rebuild);
    }
    if (starts[0] !== 0 || starts[documentCount] !== tokenCount) throw bad('the document index does not span the tokens', rebuild);
    return new TokenIndexFile(path, fd, width as TokenWidth, tokenCount, starts);
  }

  /** The document holding global token `offset`, by binary search over the index. */
  locate(offset: number): TokenLocation {
    this.check(offset, 1);
    let lo = 0;
    let hi = this.documentCount - 1;
    // The last document whose start is <= offset (empty documents share a start with the next one).
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (this.starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { document: lo, offsetInDocument: offset - this.starts[lo] };
  }

  /** Start and end (exclusive) global token offsets of a document. */
  documentRange(document: number): { start: number; end: number } {
    if (!Number.isInteger(document) || document < 0 || document >= this.documentCount) {
      throw new DataLoadingError(`document ${document} is outside [0, ${this.documentCount}) of ${this.path}`, { filePath: this.path, suggestions: [`Ask for a document below ${this.documentCount}.`] });
    }
    return { start: this.starts[document], end: this.starts[document + 1] };
  }

  /** `count` tokens from global offset `offset`, read from disk. */
  readTokens(offset: number, count: number): Uint32Array {
    this.check(offset, count);
    const out = new Uint32Array(count);
    if (count === 0) return out;
    const buf = Buffer.alloc(count * this.tokenBytes);
    const fd = this.handle();
    let done = 0;
    while (done < buf.length) {
      const n = readSync(fd, buf, done, buf.length - done, TOKEN_HEADER_BYTES + offset * this.tokenBytes + done);
      if (n === 0) throw new DataLoadingError(`${this.path} ended while reading tokens ${offset}..${offset + count} (it was cut short while open)`, { filePath: this.path });
      done += n;
    }
    for (let i = 0; i < count; i++) out[i] = this.tokenBytes === 2 ? buf.readUInt16LE(i * 2) : buf.readUInt32LE(i * 4);
    return out;
  }

  tokenAt(offset: number): number {
    return this.readTokens(offset, 1)[0];
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private handle(): number {
    if (this.fd === null) throw new DataLoadingError(`${this.path} is closed`, { filePath: this.path, suggestions: ['Open it again with TokenIndexFile.open().'] });
    return this.fd;
  }

  private check(offset: number, count: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(count) || offset < 0 || count < 0 || offset + count > this.tokenCount || (count > 0 && offset >= this.tokenCount)) {
      throw new DataLoadingError(`token range [${offset}, ${offset + count}) is past the end of ${this.path}, which holds ${this.tokenCount} tokens`, {
        filePath: this.path,
        suggestions: [`Offsets go from 0 to ${Math.max(0, this.tokenCount - 1)}; a resume offset past that means the state belongs to another file.`],
      });
    }
  }
}
