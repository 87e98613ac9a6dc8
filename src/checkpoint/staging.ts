import type { CheckpointPlan } from './plan.js';

const MIB = 1024 * 1024;
const ALIGN = 64;

export interface StagingBuffer {
  readonly buffer: SharedArrayBuffer;
  release(): void;
}

/**
 * Shared staging buffers, allocated once and reused across saves. Reuse matters: copying 384 MiB into memory
 * already touched takes tens of milliseconds, into a fresh allocation seconds (page faults). Buffers are shared
 * with the writer thread, which reads them in place: the only copy in an asynchronous save is the staging one.
 */
export class StagingPool {
  private readonly free: SharedArrayBuffer[] = [];
  private busy = 0;
  private readonly waiters: Array<() => void> = [];

  /** `maxBuffers` bounds memory: with all of them in flight, the next save waits for one to come back. */
  constructor(readonly maxBuffers = 2) {}

  get allocatedBytes(): number {
    return this.free.reduce((n, b) => n + b.byteLength, 0);
  }

  get inUse(): number {
    return this.busy;
  }

  /** Allocates and touches a buffer of at least `bytes` now, so that the first save does not pay the page faults. */
  reserve(bytes: number): void {
    if (this.free.some((b) => b.byteLength >= bytes)) return;
    const sab = new SharedArrayBuffer(roundUp(bytes));
    new Uint8Array(sab).fill(0);
    this.free.push(sab);
    while (this.free.length + this.busy > this.maxBuffers) this.dropSmallest();
  }

  async acquire(bytes: number): Promise<StagingBuffer> {
    for (;;) {
      const fits = this.free.filter((b) => b.byteLength >= bytes).sort((a, b) => a.byteLength - b.byteLength)[0];
      if (fits !== undefined) {
        this.free.splice(this.free.indexOf(fits), 1);
        return this.lend(fits);
      }
      if (this.free.length + this.busy < this.maxBuffers || this.free.length > 0) {
        if (this.free.length + this.busy >= this.maxBuffers) this.dropSmallest();
        return this.lend(new SharedArrayBuffer(roundUp(bytes)));
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Forgets every idle buffer (memory is returned once nothing references them). */
  clear(): void {
    this.free.length = 0;
  }

  private dropSmallest(): void {
    this.free.sort((a, b) => a.byteLength - b.byteLength).shift();
  }

  private lend(buffer: SharedArrayBuffer): StagingBuffer {
    this.busy++;
    let released = false;
    return {
      buffer,
      release: () => {
        if (released) return;
        released = true;
        this.busy--;
        this.free.push(buffer);
        this.waiters.shift()?.();
      },
    };
  }
}

function roundUp(bytes: number): number {
  return Math.max(MIB, Math.ceil(bytes / MIB) * MIB);
}

/** Byte offsets of each source in a staging buffer, and the total size needed. */
export function stagingLayout(sources: readonly Uint8Array[]): { offsets: number[]; bytes: number } {
  const offsets: number[] = [];
  let at = 0;
  for (const s of sources) {
    offsets.push(at);
    at += Math.ceil(s.length / ALIGN) * ALIGN;
  }
  return { offsets, bytes: at };
}

export interface StagedCheckpoint {
  plan: CheckpointPlan;
  buffer: SharedArrayBuffer;
  offsets: number[];
  lengths: number[];
  release(): void;
}

/** Copies every source into a pooled staging buffer; after this the live arrays may change freely. */
export async function stage(plan: CheckpointPlan, sources: readonly Uint8Array[], pool: StagingPool): Promise<StagedCheckpoint> {
  const { offsets, bytes } = stagingLayout(sources);
  const buf = await pool.acquire(bytes);
  for (let i = 0; i < sources.length; i++) new Uint8Array(buf.buffer, offsets[i], sources[i].length).set(sources[i]);
  return { plan, buffer: buf.buffer, offsets, lengths: sources.map((s) => s.length), release: buf.release };
}

/** Views of a staged checkpoint's sources (in the writer thread or anywhere the buffer is shared). */
export function stagedSources(buffer: SharedArrayBuffer, offsets: readonly number[], lengths: readonly number[]): Uint8Array[] {
  return offsets.map((o, i) => new Uint8Array(buffer, o, lengths[i]));
}
