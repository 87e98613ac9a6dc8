import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigurationError, describeError } from '../errors/index.js';
import { gotValue } from './describe.js';
import { toConfigurationError } from './result.js';
import type { TrainingConfig } from './schema.js';
import { validateConfig, type ValidateConfigOptions } from './validate-config.js';

function lineCol(text: string, offset: number): { line: number; col: number } {
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, col: before[before.length - 1].length + 1 };
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const msg = describeError(err);
    const pos = /position (\d+)/.exec(msg);
    const at = pos !== null ? lineCol(text, Number(pos[1])) : undefined;
    throw new ConfigurationError(`JSON syntax error in ${file}${at !== undefined ? ` at line ${at.line}, column ${at.col}` : ''}: ${msg}`, {
      suggestions: ['Fix the syntax there (JSON allows no comments and no trailing commas), or write the config as YAML.'],
      cause: err,
    });
  }
}

function parseYaml(text: string, file: string): unknown {
  // uniqueKeys: a key written twice is an error, not a silent override.
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const pos = first.linePos?.[0];
    const where = pos !== undefined ? ` at line ${pos.line}, column ${pos.col}` : '';
    const problem = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigurationError(`YAML syntax error in ${file}${where}: ${problem}`, {
      suggestions: ['Fix the syntax there: indent with spaces (not tabs), put a space after each ":", and quote strings holding ":" or "#".'],
      cause: first,
    });
  }
  return doc.toJS({ maxAliasCount: 1000 }) as unknown;
}

/**
 * Reads a config file, YAML (.yaml, .yml, anything else) or JSON (.json), and returns its top-level mapping,
 * unvalidated. Throws ConfigurationError for a missing or unreadable file, a syntax error (with line and column),
 * or a top level that is not a mapping.
 */
export async function loadConfigFile(path: string): Promise<Record<string, unknown>> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ConfigurationError(`Config file not found: ${file}`, { suggestions: ['Check the path (relative paths start from the current directory).'], cause: err });
    if (code === 'EISDIR') throw new ConfigurationError(`Config path is a directory, not a file: ${file}`, { suggestions: ['Name the YAML or JSON file inside it.'], cause: err });
    if (code === 'EACCES') throw new ConfigurationError(`Config file is not readable: ${file}`, { suggestions: ['Check its permissions.'], cause: err });
    throw new ConfigurationError(`Cannot read config file ${file}: ${describeError(err)}`, { cause: err });
  }
  const value = extname(file).toLowerCase() === '.json' ? parseJson(text, file) : parseYaml(text, file);
  if (value === null || value === undefined) {
    throw new ConfigurationError(`Config file ${file} is empty`, { suggestions: ['Write at least one section (elastic, checkpoint, scaling, training, model, data); `{}` takes every default.'] });
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigurationError(`The top level of ${file} must be a mapping of sections (elastic, checkpoint, ...), got ${gotValue(value)}`, {
      suggestions: ['Start the file with section names such as `training:` followed by indented keys.'],
    });
  }
  return value as Record<string, unknown>;
}

export interface LoadedConfig {
  config: TrainingConfig;
  warnings: string[];
  path: string;
}

/** loadConfigFile + validateConfig; throws one ConfigurationError listing every problem if the config is invalid. */
export async function loadConfig(path: string, options: ValidateConfigOptions = {}): Promise<LoadedConfig> {
  const raw = await loadConfigFile(path);
  const result = await validateConfig(raw, options);
  if (!result.valid || result.config === undefined) throw toConfigurationError(result, { source: resolve(path) });
  return { config: result.config, warnings: result.warnings, path: resolve(path) };
}
