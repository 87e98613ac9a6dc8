import { open } from 'node:fs/promises';
import { ConfigurationError, describeError } from '../errors/index.js';

/** A training config is a few KiB; a file far larger is almost surely the wrong path (a data file, a log, a device). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

const limit = (n: number): string => `${n} bytes (${Number((n / (1024 * 1024)).toFixed(2))} MiB)`;

/**
 * Reads a config file as UTF-8, never more than `maxBytes`: the read itself is bounded (not only a stat), so a
 * FIFO, /dev/zero or a file still growing cannot make it run forever.
 */
export async function readConfigText(file: string, maxBytes: number): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    throw openError(err, file);
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new ConfigurationError(`Config path is a directory, not a file: ${file}`, { suggestions: ['Name the YAML or JSON file inside it.'] });
    if (info.size > maxBytes) throw tooLarge(file, `is ${info.size} bytes, more`, maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(64 * 1024, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      chunks.push(chunk.subarray(0, bytesRead));
      if (total > maxBytes) throw tooLarge(file, 'holds more', maxBytes);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } catch (err) {
    if (err instanceof ConfigurationError) throw err;
    throw openError(err, file);
  } finally {
    await handle.close();
  }
}

function tooLarge(file: string, what: string, maxBytes: number): ConfigurationError {
  return new ConfigurationError(`Config file ${file} ${what} than the ${limit(maxBytes)} a config file may have`, {
    suggestions: ['Check the path: a training config is a few KiB of YAML or JSON, not a data file.', 'Keep large lists (vocabularies, file lists) in files of their own and name them in the config (e.g. data.path).'],
  });
}

function openError(err: unknown, file: string): ConfigurationError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ConfigurationError(`Config file not found: ${file}`, { suggestions: ['Check the path (a relative path starts from the current directory).'], cause: err });
  if (code === 'EISDIR') return new ConfigurationError(`Config path is a directory, not a file: ${file}`, { suggestions: ['Name the YAML or JSON file inside it.'], cause: err });
  if (code === 'EACCES') return new ConfigurationError(`Config file is not readable: ${file}`, { suggestions: ['Check its permissions.'], cause: err });
  return new ConfigurationError(`Cannot read config file ${file}: ${describeError(err)}`, { cause: err });
}
