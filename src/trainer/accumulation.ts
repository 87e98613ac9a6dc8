/**
 * Gradient accumulation over an epoch of `batches` micro-batches: an optimizer step after every k-th one and
 * after the last (10 batches with k = 4: steps after 4, 8 and 10). Each window's loss is divided by its own
 * length, so the applied gradient is the window's mean, the last short window included.
 */
export function optimizerStepsPerEpoch(batches: number, k: number): number {
  return Math.ceil(batches / k);
}

/** The window holding micro-batch `index` (0-based) of the epoch: where it starts and how many batches it has. */
export function accumulationWindow(index: number, batches: number, k: number): { start: number; length: number; last: boolean } {
  const start = Math.floor(index / k) * k;
  const length = Math.min(k, batches - start);
  return { start, length, last: index === start + length - 1 };
}

/**
 * The optimizer step that starts at schedule position `start`: up to k micro-batches. Windows are counted
 * from where the last one ended, so a resume after the accumulation count changed (constant_batch on a new
 * world size) starts a whole window, never half of one.
 */
export function nextWindow(start: number, batches: number, k: number): { start: number; length: number } {
  return { start, length: Math.max(0, Math.min(k, batches - start)) };
}
