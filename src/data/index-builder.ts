import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ConfigurationError, DataLoadingError, describeError } from '../errors/index.js';
import { encodeHeader, TOKEN_FORMAT_VERSION, TOKEN_HEADER_BYTES, type TokenWidth } from './token-format.js';

export interface IndexBuilderOptions {
  /** Bytes per token: 2 for vocabularies up to 65 536, else 4. Default 2. */
  tokenBytes?: TokenWidth;
}

/**
 * Writes a token file (see token-format.ts) one document at a time, streaming the tokens to disk. The file
 * appears under its name only after finish(): it is written to `<path>.partial`, synced, then renamed.
 */
export class IndexBuilder {
  readonly path: string;
  readonly tokenBytes: TokenWidth;
  private readonly partial: string;
  private fd: number | null;
  private readonly starts: number[] = [0];
  private tokens = 0;

  constructor(path: string, options: IndexBuilderOptions = {}) {
    const width = options.tokenBytes ?? 2;
    if (width !== 2 && width !== 4) throw new ConfigurationError(`tokenBytes must be 2 or 4, got ${String(width)}`, { configKey: 'tokenBytes' });
    this.path = path;
    this.tokenBytes = width;
    this.partial = `${path}.partial`;
    try {
      this.fd = openSync(this.partial, 'w');
      writeSync(this.fd, Buffer.alloc(TOKEN_HEADER_BYTES));
    } catch (err) {
      throw new DataLoadingError(`cannot create the token file: ${describeError(err)}`, { filePath: this.partial, cause: err });
    }
  }

  get tokenCount(): number {
    return this.tokens;
  }

  get documentCount(): number {
    return this.starts.length - 1;
  }

  /** Appends one document; every token must be an integer that fits tokenBytes. */
  addDocument(tokens: ArrayLike<number>): void {
    const fd = this.open();
    const max = this.tokenBytes === 2 ? 0xffff : 0xffffffff;
    const buf = Buffer.alloc(tokens.length * this.tokenBytes);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t > max) {
        throw new ConfigurationError(`token ${String(t)} at position ${i} of document ${this.documentCount} does not fit ${this.tokenBytes} bytes`, {
          configKey: 'tokenBytes',
          suggestions: ['Use tokenBytes: 4 for vocabularies above 65 536 tokens; tokens are non-negative integers.'],
        });
      }
      if (this.tokenBytes === 2) buf.writeUInt16LE(t, i * 2);
      else buf.writeUInt32LE(t, i * 4);
    }
    writeSync(fd, buf);
    this.tokens += tokens.length;
    this.starts.push(this.tokens);
  }

  /** Writes the index and the header, syncs, and renames the file into place. */
  finish(): { path: string; tokenCount: number; documentCount: number } {
    const fd = this.open();
    try {
      const index = Buffer.alloc(this.starts.length * 8);
      this.starts.forEach((s, i) => index.writeBigUInt64LE(BigInt(s), i * 8));
      writeSync(fd, index);
      writeSync(fd, encodeHeader({ version: TOKEN_FORMAT_VERSION, tokenBytes: this.tokenBytes, tokenCount: this.tokens, documentCount: this.documentCount }), 0, TOKEN_HEADER_BYTES, 0);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
      this.fd = null;
    }
    renameSync(this.partial, this.path);
    return { path: this.path, tokenCount: this.tokens, documentCount: this.documentCount };
  }

  /** Gives up: the partial file is removed and nothing appears under the name. */
  abort(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
    rmSync(this.partial, { force: true });
  }

  private open(): number {
    if (this.fd === null) throw new ConfigurationError('the IndexBuilder is finished; create another to write a new file');
    return this.fd;
  }
}
