// Functions the persistent writer thread imports and calls in the AsyncCallsQueue tests (writerFunction).
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, threadId } from 'node:worker_threads';

export async function wait(ms: number): Promise<void> {
  await sleep(ms);
}

export async function fail(message: string): Promise<never> {
  throw new Error(message);
}

/** A preload: runs on the writer too, and its result are the next function's arguments. */
export function addFortyOne(shared: SharedArrayBuffer, x: number): unknown[] {
  return [shared, x + 41, isMainThread ? 1 : 0, threadId];
}

/** Writes into a shared buffer, so that a test sees the work done (the result of asyncFn is not handed back). */
export function record(shared: SharedArrayBuffer, ...values: number[]): void {
  const view = new Float64Array(shared);
  values.forEach((v, i) => (view[i] = v));
  view[values.length] = isMainThread ? 1 : -threadId;
}
