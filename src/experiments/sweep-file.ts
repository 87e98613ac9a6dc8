import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { loadConfigFile } from '../config/index.js';
import { ConfigurationError } from '../errors/index.js';
import { gridFromSpec } from './grid-spec.js';
import { ParameterGridSearch } from './grid-search.js';
import { NAMING_STRATEGIES, type NamingStrategy } from './naming.js';

/** What a sweep file holds besides its grids: how `eh sweep` and `eh submit` run it. */
export interface SweepFile {
  path: string;
  search: ParameterGridSearch;
  /** The training script each job runs under `eh run` (relative to the project root). */
  script?: string;
  scriptArgs: string[];
  /** Where experiment directories go (default `experiments`, relative to the project root). */
  experimentsDir?: string;
  /** Jobs of the array running at once (eh submit's default for --max-concurrent). */
  maxConcurrent?: number;
}

const FIELDS = ['base_config', 'naming', 'script', 'script_args', 'experiments_dir', 'max_concurrent', 'grids'];
const GRID_FIELDS = ['name', 'description', 'parameters', 'linked', 'conditional', 'sampled', 'computed', 'exclude', 'constraints'];

/** A path from a sweep file, kept inside that file's directory (a config never points outside its directory). */
function inside(dir: string, p: string, key: string, file: string): string {
  const full = resolve(dir, p);
  const rel = relative(dir, full);
  if (rel.startsWith('..') || isAbsolute(rel)) {
    throw new ConfigurationError(`${file}: ${key} ${JSON.stringify(p)} leaves the sweep file's directory ${dir}`, {
      configKey: key,
      suggestions: ['Put the base config next to the sweep file (or below it), or write it inline as a mapping.'],
    });
  }
  return full;
}

/**
 * Reads a sweep file (YAML or JSON):
 *
 *     base_config: base.yaml        # or an inline mapping
 *     naming: parameter_based       # hash_based, timestamp_based
 *     script: train.ts
 *     grids:
 *       - name: lr_search
 *         parameters: {optimizer.lr: [1e-4, 1e-3]}
 *
 * A file with a single grid may put the grid's fields (name, parameters, ...) at the top level instead of `grids`.
 */
export async function loadSweepFile(path: string): Promise<SweepFile> {
  const file = resolve(path);
  const dir = dirname(file);
  const raw = await loadConfigFile(file);
  const unknown = Object.keys(raw).filter((k) => !FIELDS.includes(k) && !GRID_FIELDS.includes(k));
  if (unknown.length > 0) {
    throw new ConfigurationError(`${file}: unknown field(s) ${unknown.join(', ')}`, { configKey: unknown[0], suggestions: [`A sweep file has ${FIELDS.join(', ')} (or one grid's fields: ${GRID_FIELDS.join(', ')}).`] });
  }
  let base: Record<string, unknown> = {};
  if (typeof raw.base_config === 'string') base = await loadConfigFile(inside(dir, raw.base_config, 'base_config', file));
  else if (raw.base_config !== undefined) {
    if (raw.base_config === null || typeof raw.base_config !== 'object' || Array.isArray(raw.base_config)) {
      throw new ConfigurationError(`${file}: base_config must be a file name or a mapping`, { configKey: 'base_config' });
    }
    base = raw.base_config as Record<string, unknown>;
  }
  const search = new ParameterGridSearch(base);
  if (raw.naming !== undefined) {
    if (!NAMING_STRATEGIES.includes(raw.naming as NamingStrategy)) {
      throw new ConfigurationError(`${file}: naming ${JSON.stringify(raw.naming)} is not a naming strategy`, { configKey: 'naming', suggestions: [`Use one of ${NAMING_STRATEGIES.join(', ')}.`] });
    }
    search.setNamingStrategy(raw.naming as NamingStrategy);
  }
  const inline = GRID_FIELDS.filter((k) => k in raw);
  if (raw.grids !== undefined && inline.length > 0) {
    throw new ConfigurationError(`${file}: both grids and top-level grid fields (${inline.join(', ')})`, { configKey: inline[0], suggestions: ['Move the top-level grid into the grids list.'] });
  }
  const specs = raw.grids !== undefined ? raw.grids : inline.length > 0 ? [Object.fromEntries(inline.map((k) => [k, raw[k]]))] : [];
  if (!Array.isArray(specs) || specs.length === 0) throw new ConfigurationError(`${file}: no grid`, { configKey: 'grids', suggestions: ['Add `grids:` with at least one grid (name and parameters).'] });
  specs.forEach((s, i) => search.addGrid(gridFromSpec(s, `${file}, grids[${i}]`)));
  if (raw.script !== undefined && typeof raw.script !== 'string') throw new ConfigurationError(`${file}: script must be a path`, { configKey: 'script' });
  const args = raw.script_args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string' || typeof a === 'number')) throw new ConfigurationError(`${file}: script_args must be a list of strings`, { configKey: 'script_args' });
  if (raw.experiments_dir !== undefined && typeof raw.experiments_dir !== 'string') throw new ConfigurationError(`${file}: experiments_dir must be a path`, { configKey: 'experiments_dir' });
  const mc = raw.max_concurrent;
  if (mc !== undefined && !(Number.isSafeInteger(mc) && (mc as number) >= 1)) throw new ConfigurationError(`${file}: max_concurrent must be an integer >= 1`, { configKey: 'max_concurrent' });
  return { path: file, search, script: raw.script as string | undefined, scriptArgs: args.map(String), experimentsDir: raw.experiments_dir as string | undefined, maxConcurrent: mc as number | undefined };
}
