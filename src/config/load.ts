import { extname, resolve } from 'node:path';
import { ConfigurationError } from '../errors/index.js';
import { gotValue } from './describe.js';
import { parseJson } from './parse-json.js';
import { parseYaml } from './parse-yaml.js';
import { MAX_CONFIG_BYTES, readConfigText } from './read-text.js';
import { toConfigurationError } from './result.js';
import type { TrainingConfig } from './schema.js';
import { validateConfig, type ValidateConfigOptions } from './validate-config.js';

export interface LoadConfigFileOptions {
  /** Largest file read, in bytes; default MAX_CONFIG_BYTES (1 MiB). */
  maxBytes?: number;
}

/**
 * Reads a config file, YAML (.yaml, .yml, anything else) or JSON (.json), and returns its top-level mapping,
 * unvalidated, in time linear in its size. Throws ConfigurationError for a missing or unreadable file, one larger
 * than `maxBytes`, a syntax error or a key written twice (with line and column), aliases that repeat too much, or
 * a top level that is not a mapping.
 */
export async function loadConfigFile(path: string, options: LoadConfigFileOptions = {}): Promise<Record<string, unknown>> {
  const file = resolve(path);
  const text = await readConfigText(file, options.maxBytes ?? MAX_CONFIG_BYTES);
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
