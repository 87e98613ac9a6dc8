/**
 * The key-value store every part of a job coordinates through: rendezvous rounds, the per-job restart
 * count, workers' address exchange. Two backends implement it: the embedded TCP store hosted by an
 * agent, and etcd v3. Values are strings (JSON where structured).
 */
export interface SetOptions {
  /** The key disappears this many milliseconds after the last set, unless set again (liveness). */
  ttlMs?: number;
}

export interface CompareAndSetResult {
  /** True when the store held `expected` and now holds `desired`. */
  ok: boolean;
  /** The value held after the call (`desired` when ok, the current value otherwise; undefined if absent). */
  current: string | undefined;
}

export interface Store {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string, options?: SetOptions): Promise<void>;
  /** Atomically replace `expected` by `desired`; `expected === undefined` means "only if the key is absent". */
  compareAndSet(key: string, expected: string | undefined, desired: string, options?: SetOptions): Promise<CompareAndSetResult>;
  /** Atomically add `delta` to an integer counter (absent counts as 0) and return the new value. */
  add(key: string, delta: number): Promise<number>;
  /** Resolve once every key exists; reject with DistributedSetupError naming the missing keys after `timeoutMs`. */
  wait(keys: string[], timeoutMs: number): Promise<void>;
  /** Delete a key; true if it existed. */
  delete(key: string): Promise<boolean>;
  /** Every key that starts with `prefix`, sorted. */
  keys(prefix: string): Promise<string[]>;
  close(): Promise<void>;
}
