import { ConfigurationError } from '../errors/index.js';

/** 1-based line and column. */
export interface Position {
  line: number;
  col: number;
}

/** Sets an own property, also for "__proto__" (which `obj[key] = v` would take as the prototype), as JSON.parse does. */
export function setKey(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}

export function nestedTooDeeply(file: string, format: string, cause: unknown): ConfigurationError {
  return new ConfigurationError(`${format} in ${file} nests too deeply to be read (thousands of levels of mappings or lists)`, {
    suggestions: ['A training config nests a few levels: check that this is the file you meant.'],
    cause,
  });
}
