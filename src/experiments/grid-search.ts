import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ConfigurationError, describeError } from '../errors/index.js';
import { ParameterGrid } from './grid.js';
import { ExperimentNamer, NAMING_STRATEGIES, NamingStrategy } from './naming.js';
import type { ExperimentConfig } from './schema.js';
import { normalizeExperimentInput, validateExperimentConfig } from './validate.js';
import { canonicalJson, deepClone, deepMerge, toTree, type ParameterSet } from './values.js';

/** One generated experiment with where it came from. */
export interface GeneratedExperiment {
  config: ExperimentConfig;
  parameters: ParameterSet;
  gridName: string;
  /** Position in the whole sweep, from 0. */
  index: number;
}

/** Lines of a summary list at most (a summary of a 10^8 sweep stays readable). */
const SUMMARY_LIST_LIMIT = 1000;

async function writeText(path: string, text: string): Promise<void> {
  try {
    await mkdir(dirname(resolve(path)), { recursive: true });
    await writeFile(path, text);
  } catch (err) {
    throw new ConfigurationError(`Cannot write ${resolve(path)}: ${describeError(err)}`, { suggestions: ['Check that the directory is writable.'], cause: err });
  }
}

/**
 * A sweep: a base config and grids. Each combination of each grid is deep-merged into a copy of the base (dotted
 * keys become nested keys), named by the naming strategy (names are unique across the whole sweep) and validated.
 */
export class ParameterGridSearch {
  readonly baseConfig: Record<string, unknown>;
  readonly grids: ParameterGrid[] = [];
  namingStrategy: NamingStrategy = NamingStrategy.PARAMETER_BASED;
  /** The time timestamp-based names carry: fixed here, so that every walk of the sweep gives the same names. */
  readonly createdAt = new Date();

  constructor(baseConfig: Record<string, unknown> | ExperimentConfig) {
    const base = normalizeExperimentInput(baseConfig);
    if (base === null || typeof base !== 'object' || Array.isArray(base)) {
      throw new ConfigurationError('ParameterGridSearch needs a base config mapping', { suggestions: ['Pass e.g. {experimentName: "baseline", model: {...}, optimizer: {...}}.'] });
    }
    this.baseConfig = deepClone(base as Record<string, unknown>);
  }

  addGrid(grid: ParameterGrid): this {
    if (!(grid instanceof ParameterGrid)) throw new ConfigurationError('addGrid takes a ParameterGrid', { suggestions: ['Build one with new ParameterGrid(name).addParameter(...).'] });
    if (this.grids.some((g) => g.name === grid.name)) throw new ConfigurationError(`A grid named ${JSON.stringify(grid.name)} was already added`, { suggestions: ['Give each grid its own name.'] });
    this.grids.push(grid);
    return this;
  }

  setNamingStrategy(strategy: NamingStrategy): this {
    if (!NAMING_STRATEGIES.includes(strategy)) {
      throw new ConfigurationError(`Unknown naming strategy ${JSON.stringify(strategy)}`, { configKey: 'naming', suggestions: [`Use one of ${NAMING_STRATEGIES.join(', ')}.`] });
    }
    this.namingStrategy = strategy;
    return this;
  }

  /** The base name experiment names start with. */
  get baseName(): string {
    const n = this.baseConfig.experimentName;
    return typeof n === 'string' && n !== '' ? n : 'experiment';
  }

  /** The number of experiments: the sum over the grids of their exact counts. */
  getTotalExperiments(): number {
    return this.grids.reduce((a, g) => a + g.getParameterCount(), 0);
  }

  /** Experiments with their parameters, lazily, grid after grid. */
  *generate(): Generator<GeneratedExperiment, void, undefined> {
    const namer = new ExperimentNamer(this.namingStrategy, this.baseName, this.createdAt);
    let index = 0;
    for (const grid of this.grids) {
      for (const parameters of grid.generatePermutations()) {
        const merged = deepMerge(this.baseConfig, toTree(parameters));
        merged.experimentName = namer.next(parameters);
        const config = validateExperimentConfig(merged, { source: `grid ${JSON.stringify(grid.name)}, combination ${canonicalJson(parameters)}` });
        yield { config, parameters, gridName: grid.name, index };
        index += 1;
      }
    }
  }

  /** Every experiment config of the sweep, lazily. */
  *generateExperiments(): Generator<ExperimentConfig, void, undefined> {
    for (const e of this.generate()) yield e.config;
  }

  /** The sweep's definition (base config, naming, each grid's declarative form and count), as JSON or YAML by extension. */
  async saveGridConfig(path: string): Promise<void> {
    const doc = { base_config: this.baseConfig, naming: this.namingStrategy, total: this.getTotalExperiments(), grids: this.grids.map((g) => g.toSpec()) };
    await writeText(path, extname(path).toLowerCase() === '.json' ? `${JSON.stringify(doc, null, 2)}\n` : stringify(doc));
  }

  /** A human-readable summary: each grid's parameters and count, the total, and the experiments' names (the first 1000). */
  async saveSummary(path: string): Promise<void> {
    const lines = [`Sweep of ${this.baseName}: ${this.getTotalExperiments()} experiment(s), naming ${this.namingStrategy}`, ''];
    for (const g of this.grids) {
      lines.push(`Grid ${g.name}: ${g.getParameterCount()} combination(s)${g.description !== '' ? ` - ${g.description}` : ''}`);
      for (const d of g.describe()) lines.push(`  ${d}`);
      lines.push('');
    }
    lines.push('Experiments:');
    let shown = 0;
    for (const e of this.generate()) {
      if (shown === SUMMARY_LIST_LIMIT) {
        lines.push(`  ... and ${this.getTotalExperiments() - shown} more`);
        break;
      }
      lines.push(`  ${e.config.experimentName}  ${canonicalJson(e.parameters)}`);
      shown += 1;
    }
    await writeText(path, `${lines.join('\n')}\n`);
  }
}
