import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ShmAddon {
  mapShared(fd: number, length: number): ArrayBuffer;
}

/** Where `npm ci` / `npm run build:native` puts the addon, seen from src/collective/shm and dist/collective/shm alike. */
const ADDON_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../build/Release/eh_shm.node');

let loaded: ShmAddon | null | undefined;
let loadError = '';

/** The shared-memory addon, or null when it was not built (no compiler at install time) or cannot load. */
export function shmAddon(): ShmAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (!existsSync(ADDON_PATH)) {
    loadError = `${ADDON_PATH} is missing (built by npm install / npm run build:native, which need python3, make and a C compiler)`;
    return loaded;
  }
  try {
    const mod = createRequire(import.meta.url)(ADDON_PATH) as Partial<ShmAddon>;
    if (typeof mod.mapShared === 'function') loaded = mod as ShmAddon;
    else loadError = `${ADDON_PATH} does not export mapShared`;
  } catch (err) {
    loadError = `${ADDON_PATH} did not load: ${err instanceof Error ? err.message : String(err)}`;
  }
  return loaded;
}

/** Why shmAddon() returned null ('' when it did not). */
export function shmAddonError(): string {
  shmAddon();
  return loadError;
}
