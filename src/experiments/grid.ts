import { ConfigurationError } from '../errors/index.js';
import { checkDistribution, drawSample, type Distribution } from './sampling.js';
import { checkComputedSpec, checkConstraintSpec, computedInputs, computeFromSpec, describeConstraint, satisfies, type ComputedSpec, type ConstraintSpec } from './rules.js';
import { canonicalJson, checkKey, checkValue, sameValue, type ParamValue, type ParameterSet } from './values.js';

/** key -> value it must have; a list means "one of these" (to match a list value itself, wrap it: [[64, 64]]). */
export type Match = Record<string, ParamValue>;
export type ComputeFn = (params: Readonly<ParameterSet>) => ParamValue | undefined;
export type ConstraintFn = (params: Readonly<ParameterSet>) => boolean;

interface PlainAxis { kind: 'plain'; key: string; values: ParamValue[] }
interface LinkedAxis { kind: 'linked'; keys: string[]; rows: ParamValue[][] }
interface ConditionalAxis { kind: 'conditional'; key: string; values: ParamValue[]; when: Match }
type ValueAxis = PlainAxis | LinkedAxis | ConditionalAxis;
interface SampledParam { key: string; distribution: Distribution }
interface Computed { key: string; fn: ComputeFn; spec?: ComputedSpec; description: string }
interface Constraint { fn: ConstraintFn; spec?: ConstraintSpec; description: string }

/** One axis of the walk: value axes in the order added, then one axis for all sampled parameters. */
interface PlanAxis {
  keys: string[];
  options(params: ParameterSet): number;
  apply(params: ParameterSet, option: number): void;
}

interface Plan {
  axes: PlanAxis[];
  /** Exclusions checked as soon as axis i is set (every key they name is decided by then). */
  exclusionsAt: Match[][];
  /** Exclusions naming a computed key: checked on the finished combination. */
  leafExclusions: Match[];
  /** Axes whose values a condition or an exclusion reads (the fast count branches on these only). */
  referenced: boolean[];
  keyOrder: string[];
}

function matchesValue(actual: ParamValue | undefined, expected: ParamValue): boolean {
  if (actual === undefined) return false;
  return Array.isArray(expected) ? expected.some((e) => sameValue(actual, e)) : sameValue(actual, expected);
}

function matches(m: Match, params: ParameterSet): boolean {
  return Object.entries(m).every(([k, v]) => matchesValue(params[k], v));
}

/**
 * A search space over dotted config keys. Beyond the plain product: linked (zipped) parameters, conditional ones
 * (present only when earlier keys have given values), sampled ones (drawn reproducibly from a seed), computed ones
 * (derived from the others), exclusions and constraints.
 *
 * generatePermutations() walks the space lazily, depth first, holding one combination at a time: a 10^8 grid yields
 * its first combination at once and never exists in memory. getParameterCount() always equals the number the walk
 * yields; see its comment for what counting costs.
 */
export class ParameterGrid {
  readonly name: string;
  readonly description: string;
  private readonly valueAxes: ValueAxis[] = [];
  private readonly sampled: SampledParam[] = [];
  private sampleCount = 1;
  private seed = 0;
  private readonly computed: Computed[] = [];
  private readonly constraints: Constraint[] = [];
  private readonly exclusions: Match[] = [];
  private plan: Plan | undefined;
  private count: number | undefined;

  constructor(name: string, description = '') {
    if (typeof name !== 'string' || name.trim() === '') throw new ConfigurationError('A ParameterGrid needs a non-empty name', { suggestions: ['Pass a name such as "lr_search".'] });
    this.name = name;
    this.description = description;
  }

  private where(): string {
    return `grid ${JSON.stringify(this.name)}`;
  }

  private changed(): void {
    this.plan = undefined;
    this.count = undefined;
  }

  /** Every key the grid sets, in order. */
  getKeys(): string[] {
    return [
      ...this.valueAxes.flatMap((a) => (a.kind === 'linked' ? a.keys : [a.key])),
      ...this.sampled.map((s) => s.key),
      ...this.computed.map((c) => c.key),
    ];
  }

  private claim(keys: string[]): void {
    const taken = this.getKeys();
    for (const key of keys) {
      checkKey(key, this.where());
      for (const t of [...taken, ...keys.filter((k) => k !== key)]) {
        if (t === key || t.startsWith(`${key}.`) || key.startsWith(`${t}.`)) {
          throw new ConfigurationError(`${this.where()}: parameter ${key} ${t === key ? 'is given twice' : `overlaps ${t} (one lies inside the other)`}`, {
            configKey: key,
            suggestions: ['Give each key once; to vary keys together use addLinkedParameters, for a value that depends on another key use a conditional or computed parameter.'],
          });
        }
      }
    }
    this.changed();
  }

  private distinctValues(key: string, values: unknown): ParamValue[] {
    if (!Array.isArray(values) || values.length === 0) {
      throw new ConfigurationError(`${this.where()}: ${key} needs a non-empty list of values, got ${JSON.stringify(values)}`, { configKey: key, suggestions: ['Give at least one value, e.g. [1e-3, 1e-4].'] });
    }
    const out = values.map((v) => checkValue(v, key, this.where()));
    const seen = new Set<string>();
    for (const v of out) {
      const c = canonicalJson(v);
      // A repeated value would make two identical experiments.
      if (seen.has(c)) throw new ConfigurationError(`${this.where()}: ${key} lists the value ${c} twice`, { configKey: key, suggestions: ['Remove the duplicate.'] });
      seen.add(c);
    }
    return out;
  }

  /** A plain axis: the key takes each value in turn (product with every other axis). */
  addParameter(key: string, values: readonly unknown[]): this {
    const vals = this.distinctValues(key, values);
    this.claim([key]);
    this.valueAxes.push({ kind: 'plain', key, values: vals });
    return this;
  }

  /** Keys that vary together (zipped): row i takes the i-th value of every list; the lists have equal lengths. */
  addLinkedParameters(params: Record<string, readonly unknown[]>): this {
    const keys = Object.keys(params);
    if (keys.length === 0) throw new ConfigurationError(`${this.where()}: addLinkedParameters needs at least one key`, { suggestions: ['Pass e.g. {"optimizer.type": ["adam", "sgd"], "optimizer.lr": [1e-3, 0.1]}.'] });
    const lists = keys.map((k) => {
      const v = params[k];
      if (!Array.isArray(v) || v.length === 0) throw new ConfigurationError(`${this.where()}: linked ${k} needs a non-empty list`, { configKey: k, suggestions: ['Give one value per row.'] });
      return v.map((x) => checkValue(x, k, this.where()));
    });
    const n = lists[0].length;
    const bad = keys.find((_, i) => lists[i].length !== n);
    if (bad !== undefined) {
      throw new ConfigurationError(`${this.where()}: linked parameters need lists of one length: ${keys.map((k, i) => `${k} has ${lists[i].length}`).join(', ')}`, {
        configKey: bad,
        suggestions: ['Linked parameters are zipped, row by row: give every key the same number of values (use separate parameters for a product).'],
      });
    }
    const rows = Array.from({ length: n }, (_, r) => lists.map((l) => l[r]));
    const seen = new Set(rows.map((r) => canonicalJson(r)));
    if (seen.size !== rows.length) throw new ConfigurationError(`${this.where()}: linked parameters ${keys.join(', ')} repeat a row`, { configKey: keys[0], suggestions: ['Remove the duplicate row.'] });
    this.claim(keys);
    this.valueAxes.push({ kind: 'linked', keys, rows });
    return this;
  }

  /**
   * A key present only when every key of `when` has the given value (a list: one of those values); the keys of
   * `when` must be set by parameters added before this one. When the condition fails the key is absent (the base
   * config's value stays) and the combination counts once.
   */
  addConditionalParameter(key: string, values: readonly unknown[], when: Record<string, unknown>): this {
    const vals = this.distinctValues(key, values);
    if (when === null || typeof when !== 'object' || Object.keys(when).length === 0) {
      throw new ConfigurationError(`${this.where()}: conditional ${key} needs a condition such as {"model.type": "transformer"}`, { configKey: key, suggestions: ['Name at least one earlier key and the value it must have.'] });
    }
    const earlier = new Set(this.valueAxes.flatMap((a) => (a.kind === 'linked' ? a.keys : [a.key])));
    const cond: Match = {};
    for (const [k, v] of Object.entries(when)) {
      checkKey(k, this.where());
      if (!earlier.has(k)) {
        throw new ConfigurationError(`${this.where()}: the condition of ${key} reads ${k}, which no earlier plain, linked or conditional parameter sets`, {
          configKey: key,
          suggestions: [`Add ${k} before ${key} (conditions cannot read sampled or computed keys).`],
        });
      }
      cond[k] = checkValue(v, k, this.where());
    }
    this.claim([key]);
    this.valueAxes.push({ kind: 'conditional', key, values: vals, when: cond });
    return this;
  }

  /** A key drawn from a distribution; all sampled keys are drawn together `samples` times (setSampling). */
  addSampledParameter(key: string, distribution: Distribution): this {
    const d = checkDistribution(distribution, key, this.where());
    this.claim([key]);
    this.sampled.push({ key, distribution: d });
    return this;
  }

  /** How many joint draws of the sampled keys (default 1) and the seed that makes them reproducible (default 0). */
  setSampling(options: { samples?: number; seed?: number }): this {
    const { samples = this.sampleCount, seed = this.seed } = options;
    if (!Number.isSafeInteger(samples) || samples < 1) throw new ConfigurationError(`${this.where()}: samples must be an integer >= 1, got ${JSON.stringify(samples)}`, { configKey: 'samples' });
    if (!Number.isSafeInteger(seed)) throw new ConfigurationError(`${this.where()}: seed must be an integer, got ${JSON.stringify(seed)}`, { configKey: 'seed' });
    this.sampleCount = samples;
    this.seed = seed;
    this.changed();
    return this;
  }

  /**
   * A key derived from the others, evaluated in the order added (a later one sees the earlier ones); a function
   * returning undefined leaves the key absent. A declarative spec ({product: [...]}, ...) is what YAML grids use.
   */
  addComputedParameter(key: string, compute: ComputeFn | ComputedSpec, description?: string): this {
    let fn: ComputeFn;
    let spec: ComputedSpec | undefined;
    if (typeof compute === 'function') fn = compute;
    else {
      const s = checkComputedSpec(compute, key, this.where());
      spec = s;
      fn = (p) => computeFromSpec(s, p, key);
    }
    this.claim([key]);
    this.computed.push({ key, fn, spec, description: description ?? (spec !== undefined ? canonicalJson(spec) : 'function') });
    return this;
  }

  /** Keeps only combinations (computed keys included) for which the constraint holds. */
  addConstraint(constraint: ConstraintFn | ConstraintSpec, description?: string): this {
    if (typeof constraint === 'function') this.constraints.push({ fn: constraint, description: description ?? 'function' });
    else {
      const spec = checkConstraintSpec(constraint, this.where());
      this.constraints.push({ fn: (p) => satisfies(spec, p), spec, description: description ?? describeConstraint(spec) });
    }
    this.changed();
    return this;
  }

  /** Drops every combination that matches all the given key/values (a list: one of them). */
  addExclusion(match: Record<string, unknown>): this {
    if (match === null || typeof match !== 'object' || Object.keys(match).length === 0) {
      throw new ConfigurationError(`${this.where()}: an exclusion needs at least one key`, { suggestions: ['Write e.g. {"model.type": "rnn", "model.hidden_size": 1024}.'] });
    }
    const m: Match = {};
    for (const [k, v] of Object.entries(match)) m[checkKey(k, this.where())] = checkValue(v, k, this.where());
    this.exclusions.push(m);
    this.changed();
    return this;
  }

  private compile(): Plan {
    if (this.plan !== undefined) return this.plan;
    const axes: PlanAxis[] = this.valueAxes.map((a): PlanAxis => {
      if (a.kind === 'plain') return { keys: [a.key], options: () => a.values.length, apply: (p, i) => { p[a.key] = a.values[i]; } };
      if (a.kind === 'linked') return { keys: a.keys, options: () => a.rows.length, apply: (p, i) => a.keys.forEach((k, j) => { p[k] = a.rows[i][j]; }) };
      return {
        keys: [a.key],
        options: (p) => (matches(a.when, p) ? a.values.length : 1),
        apply: (p, i) => {
          if (matches(a.when, p)) p[a.key] = a.values[i];
        },
      };
    });
    if (this.sampled.length > 0) {
      const { sampled, seed } = this;
      const n = this.sampleCount;
      axes.push({ keys: sampled.map((s) => s.key), options: () => n, apply: (p, i) => sampled.forEach((s) => { p[s.key] = drawSample(s.distribution, seed, s.key, i); }) });
    }
    const axisOf = new Map<string, number>();
    axes.forEach((a, i) => a.keys.forEach((k) => axisOf.set(k, i)));
    const computedKeys = new Set(this.computed.map((c) => c.key));
    for (const c of this.computed) {
      for (const k of c.spec !== undefined ? computedInputs(c.spec) : []) {
        if (!axisOf.has(k) && !computedKeys.has(k)) throw new ConfigurationError(`${this.where()}: computed ${c.key} reads ${k}, which the grid does not set`, { configKey: c.key, suggestions: [`Add ${k} to the grid or refer to a number instead.`] });
      }
    }
    const exclusionsAt: Match[][] = axes.map(() => []);
    const leafExclusions: Match[] = [];
    const referenced = axes.map(() => false);
    for (const m of this.exclusions) {
      const keys = Object.keys(m);
      const unknown = keys.find((k) => !axisOf.has(k) && !computedKeys.has(k));
      if (unknown !== undefined) throw new ConfigurationError(`${this.where()}: an exclusion names ${unknown}, which the grid does not set`, { configKey: unknown, suggestions: ['Exclude only keys of this grid (a typo?).'] });
      if (keys.some((k) => computedKeys.has(k))) leafExclusions.push(m);
      else {
        exclusionsAt[Math.max(...keys.map((k) => axisOf.get(k)!))].push(m);
        for (const k of keys) referenced[axisOf.get(k)!] = true;
      }
    }
    for (const a of this.valueAxes) if (a.kind === 'conditional') for (const k of Object.keys(a.when)) referenced[axisOf.get(k)!] = true;
    this.plan = { axes, exclusionsAt, leafExclusions, referenced, keyOrder: this.getKeys() };
    return this.plan;
  }

  /** The finished combination: keys in grid order, computed keys added, or undefined if a leaf rule drops it. */
  private finish(plan: Plan, params: ParameterSet): ParameterSet | undefined {
    const out: ParameterSet = {};
    for (const k of plan.keyOrder) if (params[k] !== undefined) out[k] = params[k];
    for (const c of this.computed) {
      const v = c.fn(out);
      if (v !== undefined) out[c.key] = checkValue(v, c.key, `${this.where()}: computed ${c.key}`);
    }
    if (plan.leafExclusions.some((m) => matches(m, out))) return undefined;
    if (!this.constraints.every((c) => c.fn(out))) return undefined;
    return out;
  }

  /**
   * Every combination, lazily, depth first over the axes (the last axis varies fastest). Exclusions prune a
   * subtree as soon as the keys they name are set, so excluded parts of a large grid are never walked.
   */
  *generatePermutations(): Generator<ParameterSet, void, undefined> {
    const plan = this.compile();
    const { axes } = plan;
    const n = axes.length;
    const params: ParameterSet = {};
    const choice = new Array<number>(n).fill(0);
    const lens = new Array<number>(n).fill(0);
    const unset = (i: number): void => axes[i].keys.forEach((k) => delete params[k]);
    const excluded = (i: number): boolean => plan.exclusionsAt[i].some((m) => matches(m, params));
    // Moves axis `level` to its next option not excluded, backing up as needed; the next axis to enter, or -1 when done.
    const next = (level: number): number => {
      while (level >= 0) {
        unset(level);
        choice[level] += 1;
        if (choice[level] < lens[level]) {
          axes[level].apply(params, choice[level]);
          if (!excluded(level)) return level + 1;
        } else level -= 1;
      }
      return -1;
    };
    let i = 0;
    while (true) {
      while (i < n) {
        lens[i] = axes[i].options(params);
        choice[i] = 0;
        axes[i].apply(params, 0);
        if (excluded(i)) {
          i = next(i);
          if (i < 0) return;
          continue;
        }
        i += 1;
      }
      const out = this.finish(plan, params);
      if (out !== undefined) yield out;
      i = next(n - 1);
      if (i < 0) return;
    }
  }

  /**
   * The exact number of combinations generatePermutations() yields (cached until the grid changes).
   *
   * Without constraints (and without exclusions naming computed keys) it is computed without walking the grid:
   * axes that no condition or exclusion reads contribute a factor (their option count), and only the axes those
   * read are branched on, so the cost is the size of that sub-grid (usually tiny), whatever the grid's size.
   * A constraint is an opaque predicate on the finished combination: then there is no closed form and the count
   * walks the whole grid lazily (time proportional to the combinations not pruned by exclusions, memory constant).
   */
  getParameterCount(): number {
    if (this.count !== undefined) return this.count;
    const plan = this.compile();
    let total: number;
    if (this.constraints.length > 0 || plan.leafExclusions.length > 0) {
      total = 0;
      for (const _ of this.generatePermutations()) total += 1;
    } else {
      const params: ParameterSet = {};
      const rec = (i: number): number => {
        if (i === plan.axes.length) return 1;
        const axis = plan.axes[i];
        const len = axis.options(params);
        if (!plan.referenced[i]) return len * rec(i + 1);
        let sum = 0;
        for (let j = 0; j < len; j++) {
          axis.apply(params, j);
          if (!plan.exclusionsAt[i].some((m) => matches(m, params))) sum += rec(i + 1);
          axis.keys.forEach((k) => delete params[k]);
        }
        return sum;
      };
      total = rec(0);
    }
    if (!Number.isSafeInteger(total)) {
      throw new ConfigurationError(`${this.where()} has more than 2^53 combinations`, { suggestions: ['Split the grid, or sample the space instead of enumerating it.'] });
    }
    this.count = total;
    return total;
  }

  /** A declarative description (the YAML grid form); functions are described, not serialized. */
  toSpec(): Record<string, unknown> {
    const spec: Record<string, unknown> = { name: this.name };
    if (this.description !== '') spec.description = this.description;
    const plain = this.valueAxes.filter((a): a is PlainAxis => a.kind === 'plain');
    if (plain.length > 0) spec.parameters = Object.fromEntries(plain.map((a) => [a.key, a.values]));
    const linked = this.valueAxes.filter((a): a is LinkedAxis => a.kind === 'linked');
    if (linked.length > 0) spec.linked = linked.map((a) => Object.fromEntries(a.keys.map((k, j) => [k, a.rows.map((r) => r[j])])));
    const cond = this.valueAxes.filter((a): a is ConditionalAxis => a.kind === 'conditional');
    if (cond.length > 0) spec.conditional = cond.map((a) => ({ key: a.key, values: a.values, when: a.when }));
    if (this.sampled.length > 0) spec.sampled = { samples: this.sampleCount, seed: this.seed, parameters: Object.fromEntries(this.sampled.map((s) => [s.key, s.distribution])) };
    if (this.computed.length > 0) spec.computed = Object.fromEntries(this.computed.map((c) => [c.key, c.spec ?? { function: c.description }]));
    if (this.exclusions.length > 0) spec.exclude = this.exclusions;
    if (this.constraints.length > 0) spec.constraints = this.constraints.map((c) => c.spec ?? { function: c.description });
    spec.count = this.getParameterCount();
    return spec;
  }

  /** One line per kind of parameter, for summaries. */
  describe(): string[] {
    const lines = this.valueAxes.map((a) => {
      if (a.kind === 'plain') return `${a.key}: ${a.values.map((v) => canonicalJson(v)).join(', ')}`;
      if (a.kind === 'linked') return `linked ${a.keys.join(' + ')}: ${a.rows.map((r) => `(${r.map((v) => canonicalJson(v)).join(', ')})`).join(', ')}`;
      return `${a.key}: ${a.values.map((v) => canonicalJson(v)).join(', ')} when ${canonicalJson(a.when)}`;
    });
    for (const s of this.sampled) lines.push(`${s.key}: sampled ${canonicalJson(s.distribution)} (${this.sampleCount} draws, seed ${this.seed})`);
    for (const c of this.computed) lines.push(`${c.key}: computed ${c.description}`);
    for (const m of this.exclusions) lines.push(`exclude ${canonicalJson(m)}`);
    for (const c of this.constraints) lines.push(`constraint ${c.description}`);
    return lines;
  }
}
