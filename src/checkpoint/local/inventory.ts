/**
 * What each rank holds, packed into one fixed-size Float64Array, so that one small allGather tells every rank
 * what every other holds and they all compute the same answer from the same numbers.
 */
export const INVENTORY_SLOTS = 64;
const HEAD = 10;
export const INVENTORY_LENGTH = HEAD + 3 * INVENTORY_SLOTS;

export interface Holding {
  iteration: number;
  part: number;
  bytes: number;
}

/** A held part saved with other parameters than the manager's. */
export interface Mismatch {
  iteration: number;
  part: number;
  factor: number;
  jump: number;
  worldSize: number;
}

export interface Inventory {
  /** Iteration being saved (save) or -1. */
  iteration: number;
  /** Byte size of the part being saved, or 0. */
  newPartBytes: number;
  /** The manager's replication on that rank (factor 0: none). */
  factor: number;
  jump: number;
  mismatch: Mismatch | undefined;
  holdings: Holding[];
}

export function packInventory(inv: Inventory): Float64Array {
  const v = new Float64Array(INVENTORY_LENGTH);
  v[0] = inv.iteration;
  v[1] = inv.newPartBytes;
  v[2] = inv.factor;
  v[3] = inv.jump;
  if (inv.mismatch !== undefined) {
    const m = inv.mismatch;
    v.set([1, m.iteration, m.part, m.factor, m.jump], 4);
    v[HEAD - 1] = m.worldSize;
  }
  // Newest first, so a rank littered with stale parts still reports the ones that matter.
  const held = [...inv.holdings].sort((a, b) => b.iteration - a.iteration || a.part - b.part).slice(0, INVENTORY_SLOTS);
  held.forEach((h, i) => v.set([h.iteration, h.part, h.bytes], HEAD + 3 * i));
  for (let i = held.length; i < INVENTORY_SLOTS; i++) v[HEAD + 3 * i] = -1;
  return v;
}

export function unpackInventories(all: Float64Array, worldSize: number): Inventory[] {
  const out: Inventory[] = [];
  for (let r = 0; r < worldSize; r++) {
    const v = all.subarray(r * INVENTORY_LENGTH, (r + 1) * INVENTORY_LENGTH);
    const holdings: Holding[] = [];
    for (let i = 0; i < INVENTORY_SLOTS; i++) {
      const it = v[HEAD + 3 * i];
      if (it >= 0) holdings.push({ iteration: it, part: v[HEAD + 3 * i + 1], bytes: v[HEAD + 3 * i + 2] });
    }
    const mismatch = v[4] === 1 ? { iteration: v[5], part: v[6], factor: v[7], jump: v[8], worldSize: v[HEAD - 1] } : undefined;
    out.push({ iteration: v[0], newPartBytes: v[1], factor: v[2], jump: v[3], mismatch, holdings });
  }
  return out;
}

export interface Availability {
  /** The newest iteration every part of which some rank of its clique holds; -1 when none. */
  latest: number;
  /** Newer iterations that are not whole, with the parts no rank of their clique holds. */
  incomplete: { iteration: number; missingParts: number[] }[];
  /** For `latest`: who serves each part (its owner when it holds it, else the lowest clique member that does). */
  sources: number[];
  /** For `latest`: the byte size of each part. */
  sizes: number[];
}

/** The newest iteration the ranks can load together, from what each holds and who may serve whose part. */
export function findAvailable(inventories: Inventory[], cliqueOf: (rank: number) => number[]): Availability {
  const worldSize = inventories.length;
  const held = (r: number, it: number, p: number): Holding | undefined => inventories[r].holdings.find((h) => h.iteration === it && h.part === p);
  const iterations = [...new Set(inventories.flatMap((inv) => inv.holdings.map((h) => h.iteration)))].sort((a, b) => b - a);
  const incomplete: Availability['incomplete'] = [];
  for (const it of iterations) {
    const sources: number[] = [];
    const sizes: number[] = [];
    const missingParts: number[] = [];
    for (let p = 0; p < worldSize; p++) {
      const holders = (held(p, it, p) !== undefined ? [p] : []).concat(cliqueOf(p).filter((r) => r !== p && held(r, it, p) !== undefined));
      if (holders.length === 0) missingParts.push(p);
      else {
        sources.push(holders[0]);
        sizes.push((held(holders[0], it, p) as Holding).bytes);
      }
    }
    if (missingParts.length === 0) return { latest: it, incomplete, sources, sizes };
    incomplete.push({ iteration: it, missingParts });
  }
  return { latest: -1, incomplete, sources: [], sizes: [] };
}
