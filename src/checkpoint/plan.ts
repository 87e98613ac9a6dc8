import { DTYPES, type Dtype } from './dtypes.js';
import { FORMAT_NAME, FORMAT_VERSION, type Manifest } from './manifest.js';
import { encodeHeader, type SafetensorsEntry } from './safetensors.js';
import { encodeState, type Json, type StateValue } from './state-dict.js';
import { bytesOf } from './tensor.js';

/** Where one tensor goes: its file, its key in that file, its absolute byte range there, and which source holds its bytes. */
export interface PlannedTensor {
  id: string;
  key: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
  source: number;
}

export interface PlannedFile {
  name: string;
  header: Uint8Array;
  size: number;
  tensors: PlannedTensor[];
}

/**
 * Everything needed to write a checkpoint except the tensor bytes themselves, which stay in `sources`
 * (views of the live arrays for a synchronous save, of a staging buffer for an asynchronous one).
 * Structured-cloneable, so that it can be posted to the writer thread.
 */
export interface CheckpointPlan {
  step: number;
  worldSize: number | null;
  timestamp: number;
  state: Json;
  files: PlannedFile[];
  totalBytes: number;
}

export interface PlanMeta {
  step: number;
  worldSize?: number | null;
  timestamp?: number;
}

/** Model and optimizer tensors go to files of their own, readable alone by any safetensors reader. */
const SECTION_FILES: Record<string, string> = {
  modelStateDict: 'model.safetensors',
  optimizerStateDict: 'optimizer.safetensors',
};
const DEFAULT_FILE = 'state.safetensors';

export function planCheckpoint(tree: StateValue, meta: PlanMeta): { plan: CheckpointPlan; sources: Uint8Array[] } {
  const { json, tensors } = encodeState(tree);
  const groups = new Map<string, typeof tensors>();
  for (const t of tensors) {
    const file = SECTION_FILES[t.path[0] ?? ''] ?? DEFAULT_FILE;
    const g = groups.get(file) ?? [];
    g.push(t);
    groups.set(file, g);
  }
  const sources: Uint8Array[] = [];
  const files: PlannedFile[] = [];
  let totalBytes = 0;
  for (const [name, group] of [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    // Widest elements first keeps every tensor aligned to its element size (the header ends on 8 bytes),
    // so that loading can view the file's bytes in place instead of copying them.
    const ordered = [...group].sort((a, b) => DTYPES[b.dtype].bytes - DTYPES[a.dtype].bytes);
    const section = SECTION_FILES[ordered[0]?.path[0] ?? ''] !== undefined ? `${ordered[0].path[0]}.` : '';
    const entries: SafetensorsEntry[] = [];
    let at = 0;
    for (const t of ordered) {
      const key = section !== '' && t.id.startsWith(section) ? t.id.slice(section.length) : t.id;
      entries.push({ key, dtype: t.dtype, shape: t.shape, begin: at, end: at + t.data.byteLength });
      at += t.data.byteLength;
    }
    const header = encodeHeader(entries, { format: 'pt', producer: FORMAT_NAME, step: String(meta.step) });
    const planned: PlannedTensor[] = ordered.map((t, i) => {
      sources.push(bytesOf(t.data));
      return { id: t.id, key: entries[i].key, dtype: t.dtype, shape: t.shape, begin: header.length + entries[i].begin, end: header.length + entries[i].end, source: sources.length - 1 };
    });
    files.push({ name, header, size: header.length + at, tensors: planned });
    totalBytes += header.length + at;
  }
  const plan: CheckpointPlan = { step: meta.step, worldSize: meta.worldSize ?? null, timestamp: meta.timestamp ?? Date.now() / 1000, state: json, files, totalBytes };
  return { plan, sources };
}

export interface WrittenChecksums {
  header: Map<string, string>;
  tensor: Map<string, string>;
}

export function buildManifest(plan: CheckpointPlan, sums: WrittenChecksums): Manifest {
  const tensors: Manifest['tensors'] = {};
  for (const f of plan.files) {
    for (const t of f.tensors) {
      tensors[t.id] = { dtype: t.dtype, shape: t.shape, file: f.name, key: t.key, byteRange: [t.begin, t.end], crc32: sums.tensor.get(t.id) ?? '' };
    }
  }
  return {
    format: FORMAT_NAME,
    formatVersion: FORMAT_VERSION,
    step: plan.step,
    worldSize: plan.worldSize,
    timestamp: plan.timestamp,
    checksum: 'crc32',
    files: plan.files.map((f) => ({ name: f.name, size: f.size, headerBytes: f.header.length, headerCrc32: sums.header.get(f.name) ?? '' })),
    tensors,
    state: plan.state,
  };
}
