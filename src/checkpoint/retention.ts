import type { CheckpointBackend } from './tier.js';

type Listing = Pick<CheckpointBackend, 'listCheckpoints'>;

/** The newest checkpoint a backend lists (its listing is sorted by step), or null. */
export async function newestListed(backend: Listing): Promise<string | null> {
  return (await backend.listCheckpoints()).at(-1) ?? null;
}

/** Deletes all but the newest `keepLast` listed checkpoints, oldest first; returns the names deleted. */
export async function deleteAllButNewest(backend: Listing & Pick<CheckpointBackend, 'delete'>, keepLast: number): Promise<string[]> {
  const names = await backend.listCheckpoints();
  const drop = names.slice(0, Math.max(0, names.length - keepLast));
  for (const n of drop) await backend.delete(n);
  return drop;
}
