import { CheckpointLoadError, ConfigurationError } from '../errors/index.js';
import { DTYPES, type Dtype } from './dtypes.js';
import { MemoryLimitExceeded } from './errors.js';
import type { CheckpointLoadConfig } from './load-config.js';
import { assertNameOfStep, assertValidName, checkpointName, sortByStep } from './names.js';
import { CheckpointState } from './state.js';
import { decodeState, encodeState, type Json } from './state-dict.js';
import { bytesOf, type Tensor } from './tensor.js';
import { CheckpointTier, type CheckpointBackend, type PendingSave } from './tier.js';

export interface MemorySnapshotBackendOptions {
  /** Snapshots kept; the oldest is evicted beyond it (default 2). */
  maxSnapshots?: number;
  /** Upper bound on the bytes held (tensors plus the JSON part); null for none (default). */
  maxMemoryMb?: number | null;
}

interface Snapshot {
  name: string;
  step: number;
  arena: ArrayBuffer;
  json: Json;
  layout: Map<string, { dtype: Dtype; shape: number[]; offset: number; bytes: number }>;
  bytes: number;
}

const ALIGN = 8;

/**
 * Snapshots held in this process's memory: a copy of the state packed in one buffer per snapshot, the buffer
 * of an evicted snapshot reused when the next has the same size (no page faults in steady state).
 * The same interface as the disk tiers; a later holder can live in the agent process instead.
 */
export class MemorySnapshotBackend implements CheckpointBackend {
  readonly tier = CheckpointTier.MEMORY;
  readonly maxSnapshots: number;
  readonly maxMemoryBytes: number | null;
  private snapshots: Snapshot[] = [];

  constructor(options: MemorySnapshotBackendOptions = {}) {
    this.maxSnapshots = options.maxSnapshots ?? 2;
    if (!Number.isSafeInteger(this.maxSnapshots) || this.maxSnapshots < 1) {
      throw new ConfigurationError(`maxSnapshots must be a positive integer, got ${String(options.maxSnapshots)}`, { configKey: 'maxSnapshots' });
    }
    const mb = options.maxMemoryMb ?? null;
    if (mb !== null && !(typeof mb === 'number' && mb > 0)) throw new ConfigurationError(`maxMemoryMb must be a positive number or null, got ${String(mb)}`, { configKey: 'maxMemoryMb' });
    this.maxMemoryBytes = mb === null ? null : Math.floor(mb * 1024 * 1024);
  }

  get numSnapshots(): number {
    return this.snapshots.length;
  }

  get latestStep(): number | null {
    return this.snapshots.at(-1)?.step ?? null;
  }

  memoryUsageBytes(): number {
    return this.snapshots.reduce((n, s) => n + s.bytes, 0);
  }

  /** Copies the state in (synchronously); later changes to the live state do not reach the snapshot. */
  saveSync(state: CheckpointState, name = checkpointName(state.step)): string {
    assertValidName(name, this.tier);
    assertNameOfStep(name, state.step, this.tier);
    const { json, tensors } = encodeState(state.toDict());
    const layout = new Map<string, { dtype: Dtype; shape: number[]; offset: number; bytes: number }>();
    let at = 0;
    for (const t of tensors) {
      layout.set(t.id, { dtype: t.dtype, shape: t.shape, offset: at, bytes: t.data.byteLength });
      at += Math.ceil(t.data.byteLength / ALIGN) * ALIGN;
    }
    const jsonBytes = JSON.stringify(json).length * 2;
    const need = at + jsonBytes;
    if (this.maxMemoryBytes !== null && need > this.maxMemoryBytes) throw new MemoryLimitExceeded(need, this.maxMemoryBytes);
    let reuse: ArrayBuffer | undefined;
    const evict = (): void => {
      const old = this.snapshots.shift();
      if (old !== undefined && old.arena.byteLength === at) reuse = old.arena;
    };
    this.snapshots = this.snapshots.filter((s) => s.name !== name);
    while (this.snapshots.length >= this.maxSnapshots) evict();
    while (this.maxMemoryBytes !== null && this.memoryUsageBytes() + need > this.maxMemoryBytes && this.snapshots.length > 0) evict();
    const arena = reuse ?? new ArrayBuffer(at);
    const bytes = new Uint8Array(arena);
    for (const t of tensors) bytes.set(bytesOf(t.data), layout.get(t.id)!.offset);
    this.snapshots.push({ name, step: state.step, arena, json, layout, bytes: need });
    this.snapshots.sort((a, b) => a.step - b.step);
    return `memory://${name}`;
  }

  async save(state: CheckpointState, name?: string): Promise<string> {
    return this.saveSync(state, name);
  }

  async saveAsync(state: CheckpointState, name?: string): Promise<PendingSave> {
    const path = this.saveSync(state, name);
    return { path, done: Promise.resolve(path) };
  }

  /** A fresh copy of a snapshot (the newest without a name), so that the caller may change it freely. */
  async load(name?: string, config?: CheckpointLoadConfig): Promise<CheckpointState> {
    const snap = name === undefined ? this.snapshots.at(-1) : this.snapshots.find((s) => s.name === name);
    if (snap === undefined) throw new CheckpointLoadError(name === undefined ? 'No memory snapshot held' : `No memory snapshot named ${name}`, { tier: this.tier, path: name });
    const copy = new Uint8Array(snap.arena.slice(0));
    const tree = decodeState(snap.json, (id): Tensor => {
      const l = snap.layout.get(id)!;
      return { dtype: l.dtype, shape: [...l.shape], data: new DTYPES[l.dtype].ctor(copy.buffer, l.offset, l.bytes / DTYPES[l.dtype].bytes) };
    });
    return CheckpointState.fromDict(tree, { validate: config?.validateStructure ?? true, where: `memory://${snap.name}` });
  }

  async exists(name: string): Promise<boolean> {
    return this.snapshots.some((s) => s.name === name);
  }

  async listCheckpoints(prefix = ''): Promise<string[]> {
    return sortByStep(this.snapshots.map((s) => s.name).filter((n) => n.startsWith(prefix)));
  }

  async delete(name: string): Promise<void> {
    this.snapshots = this.snapshots.filter((s) => s.name !== name);
  }

  async getLatestCheckpoint(): Promise<string | null> {
    return this.snapshots.at(-1)?.name ?? null;
  }

  async cleanupOldCheckpoints(keepLast: number): Promise<string[]> {
    const drop = this.snapshots.slice(0, Math.max(0, this.snapshots.length - keepLast));
    this.snapshots = this.snapshots.slice(drop.length);
    return drop.map((s) => s.name);
  }

  clear(): void {
    this.snapshots = [];
  }
}
