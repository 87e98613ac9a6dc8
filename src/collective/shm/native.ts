import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Element types and reduce ops as the add-on numbers them (native/reduce.h). */
export type NativeTypedArray = Float32Array | Float64Array | Int32Array;

interface Addon {
  mapShared(fd: number, length: number): ArrayBuffer;
  /** dst = dst (op) srcs[0] (op) srcs[1] ...; then dst /= divisor when divisor > 0; then a copy into copyTo. Absent in an add-on built before the reductions. */
  reduce?(dtype: number, op: number, dst: NativeTypedArray, srcs: NativeTypedArray[], divisor: number, copyTo: NativeTypedArray | null): void;
}

export interface ShmAddon {
  mapShared(fd: number, length: number): ArrayBuffer;
}
export type NativeReduce = NonNullable<Addon['reduce']>;

/** Where `npm ci` / `npm run build:native` puts the addon, seen from src/collective/shm and dist/collective/shm alike. */
const ADDON_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../build/Release/eh_shm.node');

let loaded: Addon | null | undefined;
let loadError = '';

function load(): Addon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  // EH_NATIVE=0: behave as if the add-on was never built (sockets only, reductions in JavaScript),
  // e.g. to check that such a rank still agrees with ranks that have it.
  if (process.env.EH_NATIVE === '0') {
    loadError = 'EH_NATIVE=0 turns the native add-on off';
    return loaded;
  }
  if (!existsSync(ADDON_PATH)) {
    loadError = `${ADDON_PATH} is missing (built by npm install / npm run build:native, which need python3, make and a C compiler)`;
    return loaded;
  }
  try {
    const mod = createRequire(import.meta.url)(ADDON_PATH) as Partial<Addon>;
    if (typeof mod.mapShared === 'function') loaded = mod as Addon;
    else loadError = `${ADDON_PATH} does not export mapShared`;
  } catch (err) {
    loadError = `${ADDON_PATH} did not load: ${err instanceof Error ? err.message : String(err)}`;
  }
  return loaded;
}

/** The shared-memory addon, or null when it was not built (no compiler at install time), cannot load, or EH_NATIVE=0. */
export function shmAddon(): ShmAddon | null {
  return load();
}

/** The add-on's vectorized reductions, or null (then the JavaScript loops do the same arithmetic). */
export function nativeReduce(): NativeReduce | null {
  const a = load();
  return a !== null && typeof a.reduce === 'function' ? a.reduce.bind(a) : null;
}

/** Why shmAddon() returned null ('' when it did not). */
export function shmAddonError(): string {
  load();
  return loadError;
}
