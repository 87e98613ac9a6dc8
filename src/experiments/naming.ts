import { hash8, type ParamValue, type ParameterSet } from './values.js';

/** How ParameterGridSearch names its experiments. */
export const NamingStrategy = {
  PARAMETER_BASED: 'parameter_based',
  HASH_BASED: 'hash_based',
  TIMESTAMP_BASED: 'timestamp_based',
} as const;
export type NamingStrategy = (typeof NamingStrategy)[keyof typeof NamingStrategy];
export const NAMING_STRATEGIES: readonly NamingStrategy[] = Object.values(NamingStrategy);

export const MAX_NAME_LENGTH = 120;

/** Short forms of common key segments; a segment not listed is kept as it is. */
export const ABBREVIATIONS: Readonly<Record<string, string>> = {
  learning_rate: 'lr',
  batch_size: 'batch',
  hidden_size: 'hidden',
  num_layers: 'layers',
  num_heads: 'heads',
  dropout: 'drop',
  weight_decay: 'wd',
  gradient_accumulation_steps: 'accum',
  max_epochs: 'epochs',
  max_steps: 'steps',
  warmup_steps: 'warmup',
  momentum: 'mom',
  optimizer: 'opt',
  scheduler: 'sched',
  sequence_length: 'seq',
  embedding_dim: 'emb',
  num_workers: 'workers',
  seed: 'seed',
};

/** Letters, digits and `. _ - + =`: what a name may hold (a path, a branch, a job name; never / : < > or spaces). */
const UNSAFE = /[^A-Za-z0-9._+=-]/g;

export function sanitizeName(s: string): string {
  return s.replace(UNSAFE, '-');
}

/** 1e-4 -> 1.0e-4, 0.5 -> 0.5, 256 -> 256, true -> T, false -> F, null -> none, [64, 64] -> 64x64. */
export function formatValue(v: ParamValue): string {
  if (v === true) return 'T';
  if (v === false) return 'F';
  if (v === null) return 'none';
  if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a < 1e-2 || a >= 1e6)) {
      const [mant, exp] = v.toExponential().split('e');
      return `${mant.includes('.') ? mant : `${mant}.0`}e${exp.replace('+', '')}`;
    }
    return String(Number(v.toPrecision(6)));
  }
  if (typeof v === 'string') return sanitizeName(v);
  if (Array.isArray(v)) return v.map(formatValue).join('x');
  return hash8(v);
}

function abbreviateSegment(seg: string): string {
  return ABBREVIATIONS[seg] ?? seg;
}

/**
 * The short label of each key: its abbreviated last segment, or, where two keys of the set would share one, the
 * abbreviated segments joined by "-" (optimizer.type and model.type become opt-type and model-type).
 */
export function keyLabels(keys: readonly string[]): Map<string, string> {
  const short = new Map(keys.map((k) => [k, abbreviateSegment(k.split('.').pop()!)]));
  const uses = new Map<string, number>();
  for (const s of short.values()) uses.set(s, (uses.get(s) ?? 0) + 1);
  return new Map(keys.map((k) => [k, uses.get(short.get(k)!)! > 1 ? k.split('.').map(abbreviateSegment).join('-') : short.get(k)!]));
}

/** Cuts a name to MAX_NAME_LENGTH, ending it in "_" and 8 hex digits of `hashOf` so cut names stay apart. */
export function fitName(name: string, hashOf: unknown): string {
  if (name.length <= MAX_NAME_LENGTH) return name;
  return `${name.slice(0, MAX_NAME_LENGTH - 9).replace(/[._+=-]+$/, '')}_${hash8(hashOf)}`;
}

/**
 * `base_lr1.0e-4_hidden256`: keys sorted (the name does not depend on the order they were added or written in),
 * each as its label and its compact value.
 */
export function parameterBasedName(base: string, params: ParameterSet): string {
  const keys = Object.keys(params).sort();
  const labels = keyLabels(keys);
  const parts = keys.map((k) => `${labels.get(k)}${formatValue(params[k])}`);
  const raw = sanitizeName([base, ...parts].join('_'));
  return fitName(raw, params);
}

/** `base_1a2b3c4d`: 8 hex digits of a hash of the parameters (and of `salt` when a name had to be made again). */
export function hashBasedName(base: string, params: ParameterSet, salt = 0): string {
  const h = hash8(salt === 0 ? params : { params, salt });
  return `${sanitizeName(base).slice(0, MAX_NAME_LENGTH - 9)}_${h}`;
}

/** `base_20260102-030405_0007`: the time the sweep was generated and the experiment's index. */
export function timestampBasedName(base: string, at: Date, index: number): string {
  const t = at.toISOString().replace(/\.\d+Z$/, '').replace(/[-:]/g, '').replace('T', '-');
  const suffix = `_${t}_${String(index).padStart(4, '0')}`;
  return `${sanitizeName(base).slice(0, MAX_NAME_LENGTH - suffix.length)}${suffix}`;
}

/**
 * Hands out names under one strategy and guarantees that no two are equal: a name already given (identical
 * parameters from two grids, a sampled draw that repeated, two values that sanitize alike) is made again with a
 * salt, so it still follows the strategy's rules (a hash-based name still ends in 8 hex digits).
 */
export class ExperimentNamer {
  private readonly used = new Set<string>();
  private index = 0;

  constructor(
    readonly strategy: NamingStrategy,
    private readonly base: string,
    private readonly at: Date = new Date(),
  ) {}

  next(params: ParameterSet): string {
    const index = this.index++;
    let name = this.make(params, 0, index);
    for (let salt = 1; this.used.has(name); salt++) name = this.make(params, salt, index);
    this.used.add(name);
    return name;
  }

  private make(params: ParameterSet, salt: number, index: number): string {
    switch (this.strategy) {
      case NamingStrategy.HASH_BASED:
        return hashBasedName(this.base, params, salt);
      case NamingStrategy.TIMESTAMP_BASED:
        return timestampBasedName(this.base, this.at, index + salt * 1_000_000);
      default: {
        const name = parameterBasedName(this.base, params);
        if (salt === 0) return name;
        const suffix = `_${salt + 1}`;
        return name.length + suffix.length <= MAX_NAME_LENGTH ? `${name}${suffix}` : fitName(`${name}${'x'.repeat(MAX_NAME_LENGTH)}`, { params, salt });
      }
    }
  }
}
