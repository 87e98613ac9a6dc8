import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { stringify } from 'yaml';
import { loadConfigFile } from '../config/index.js';
import { ConfigurationError, describeError } from '../errors/index.js';
import type { ExperimentConfig } from './schema.js';
import { validateExperimentConfig } from './validate.js';

export interface ConfigurationManagerOptions {
  /** Root of the project (default the current directory). */
  projectRoot?: string;
  /** Where relative config paths are looked up first (default `<projectRoot>/configs`). */
  configDir?: string;
}

export type ConfigFormat = 'yaml' | 'json';

/** Loads and saves experiment configs (YAML or JSON), validated against ExperimentConfigSchema. */
export class ConfigurationManager {
  readonly projectRoot: string;
  readonly configDir: string;

  constructor(options: ConfigurationManagerOptions = {}) {
    this.projectRoot = resolve(options.projectRoot ?? '.');
    this.configDir = resolve(this.projectRoot, options.configDir ?? 'configs');
  }

  /** An absolute path as given; a relative one in configDir if it exists there, else from projectRoot. */
  resolvePath(path: string): string {
    if (isAbsolute(path)) return path;
    const inConfigDir = resolve(this.configDir, path);
    return existsSync(inConfigDir) ? inConfigDir : resolve(this.projectRoot, path);
  }

  /**
   * Reads a config file. With `validate` (the default) it is checked against the schema, defaults are filled and
   * an invalid file throws a ValidationError naming the file, the key path, what was expected and a suggestion;
   * without it the raw mapping is returned. Syntax errors are ConfigurationErrors with line and column.
   */
  async loadConfig(path: string, options?: { validate?: true }): Promise<ExperimentConfig>;
  async loadConfig(path: string, options: { validate: false }): Promise<Record<string, unknown>>;
  async loadConfig(path: string, options: { validate?: boolean } = {}): Promise<ExperimentConfig | Record<string, unknown>> {
    const file = this.resolvePath(path);
    const raw = await loadConfigFile(file);
    if (options.validate === false) return raw;
    return validateExperimentConfig(raw, { source: file });
  }

  /**
   * Writes a config as YAML or JSON (default: from the extension, YAML otherwise), atomically (a temporary file
   * renamed over the target), creating the directory. A relative path is taken from projectRoot.
   */
  async saveConfig(config: ExperimentConfig | Record<string, unknown>, path: string, format?: ConfigFormat): Promise<string> {
    const file = isAbsolute(path) ? path : resolve(this.projectRoot, path);
    const fmt = format ?? (extname(file).toLowerCase() === '.json' ? 'json' : 'yaml');
    if (fmt !== 'yaml' && fmt !== 'json') {
      throw new ConfigurationError(`Unknown config format ${JSON.stringify(fmt)}`, { configKey: 'format', suggestions: ['Use "yaml" or "json".'] });
    }
    const text = fmt === 'json' ? `${JSON.stringify(config, null, 2)}\n` : stringify(config);
    try {
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      await writeFile(tmp, text);
      await rename(tmp, file);
    } catch (err) {
      throw new ConfigurationError(`Cannot write config file ${file}: ${describeError(err)}`, { suggestions: ['Check that the directory is writable and the disk is not full.'], cause: err });
    }
    return file;
  }
}
