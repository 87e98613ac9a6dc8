import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigurationError } from '../errors/index.js';

/**
 * A function the persistent writer thread imports and calls: a module and the name of one of its exports (NVRx
 * pickles its `async_fn` the same way, by reference). A closure cannot cross to another thread, so an
 * AsyncRequest's function is named, not passed; its arguments and result are structured-cloned (a
 * SharedArrayBuffer is shared, not copied).
 */
export interface WriterFunction {
  /** A `file:` URL (or a package name) the writer thread can import. */
  readonly module: string;
  /** The export to call. */
  readonly exportName: string;
}

/**
 * Names `exportName` of `module` for the writer thread. `module` is a URL (`new URL('./save.js', import.meta.url)`),
 * an absolute path, or a package name; a relative path is refused, since the writer would read it against
 * another directory than the caller means.
 */
export function writerFunction(module: string | URL, exportName = 'default'): WriterFunction {
  const spec = module instanceof URL ? module.href : module;
  if (typeof spec !== 'string' || spec === '' || spec.startsWith('./') || spec.startsWith('../')) {
    throw new ConfigurationError(`writerFunction needs a module URL, an absolute path or a package name, got ${JSON.stringify(spec)}`, {
      configKey: 'asyncFn',
      suggestions: ["Pass new URL('./my-save.js', import.meta.url) for a module beside yours."],
    });
  }
  if (typeof exportName !== 'string' || exportName === '') throw new ConfigurationError('writerFunction needs the name of an export', { configKey: 'asyncFn' });
  return Object.freeze({ module: path.isAbsolute(spec) ? pathToFileURL(spec).href : spec, exportName });
}

export function isWriterFunction(x: unknown): x is WriterFunction {
  const f = x as Partial<WriterFunction> | null;
  return f !== null && typeof f === 'object' && typeof f.module === 'string' && typeof f.exportName === 'string';
}
