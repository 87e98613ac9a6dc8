import { ConfigurationError } from '../errors/index.js';
import { canonicalJson, checkKey, checkValue, sameValue, type ParamValue, type ParameterSet } from './values.js';

/**
 * The declarative forms of computed parameters and constraints, for grids written in YAML (a grid file is data,
 * never code: there is no expression evaluator). In code, any function can be given instead.
 */

export type ComputedSpec =
  | { product: (string | number)[] }
  | { sum: (string | number)[] }
  | { ratio: [string | number, string | number] }
  | { copy: string }
  | { format: string };

export type ConstraintOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'not_in';
export type ConstraintSpec = { key: string; op: ConstraintOp; value: ParamValue } | { key: string; op: ConstraintOp; other: string };

const OPS: readonly ConstraintOp[] = ['==', '!=', '<', '<=', '>', '>=', 'in', 'not_in'];

function numberOf(params: ParameterSet, term: string | number, key: string): number {
  if (typeof term === 'number') return term;
  const v = params[term];
  if (typeof v !== 'number') {
    throw new ConfigurationError(`computed parameter ${key}: ${term} is ${v === undefined ? 'absent' : JSON.stringify(v)}, not a number, in ${canonicalJson(params)}`, {
      configKey: key,
      suggestions: [`Only refer to numeric parameters that every combination has, or restrict ${key} with a constraint.`],
    });
  }
  return v;
}

/** Keys a computed spec reads (checked against the grid when it is added). */
export function computedInputs(spec: ComputedSpec): string[] {
  if ('product' in spec) return spec.product.filter((t): t is string => typeof t === 'string');
  if ('sum' in spec) return spec.sum.filter((t): t is string => typeof t === 'string');
  if ('ratio' in spec) return spec.ratio.filter((t): t is string => typeof t === 'string');
  if ('copy' in spec) return [spec.copy];
  return [...spec.format.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
}

export function checkComputedSpec(spec: unknown, key: string, where: string): ComputedSpec {
  const fail = (): never => {
    throw new ConfigurationError(`${where}: computed parameter ${key} must be one of {product: [...]}, {sum: [...]}, {ratio: [a, b]}, {copy: key}, {format: "text {key}"}, got ${JSON.stringify(spec)}`, {
      configKey: key,
      suggestions: ['Terms are parameter keys or numbers, e.g. {product: [training.batch_size, training.gradient_accumulation_steps]}.'],
    });
  };
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec) || Object.keys(spec).length !== 1) return fail();
  const o = spec as Record<string, unknown>;
  const terms = (v: unknown): (string | number)[] => (Array.isArray(v) && v.length > 0 && v.every((t) => typeof t === 'string' || (typeof t === 'number' && Number.isFinite(t))) ? (v as (string | number)[]) : fail());
  let out: ComputedSpec;
  if ('product' in o) out = { product: terms(o.product) };
  else if ('sum' in o) out = { sum: terms(o.sum) };
  else if ('ratio' in o) {
    const t = terms(o.ratio);
    if (t.length !== 2) fail();
    out = { ratio: [t[0], t[1]] };
  } else if ('copy' in o && typeof o.copy === 'string') out = { copy: o.copy };
  else if ('format' in o && typeof o.format === 'string') out = { format: o.format };
  else return fail();
  for (const k of computedInputs(out)) checkKey(k, `${where}: computed parameter ${key}`);
  return out;
}

export function computeFromSpec(spec: ComputedSpec, params: ParameterSet, key: string): ParamValue {
  if ('product' in spec) return spec.product.reduce<number>((a, t) => a * numberOf(params, t, key), 1);
  if ('sum' in spec) return spec.sum.reduce<number>((a, t) => a + numberOf(params, t, key), 0);
  if ('ratio' in spec) return numberOf(params, spec.ratio[0], key) / numberOf(params, spec.ratio[1], key);
  if ('copy' in spec) return structuredClone(params[spec.copy] ?? null);
  return spec.format.replace(/\{([^}]+)\}/g, (_, k: string) => {
    const v = params[k];
    return v === undefined ? '' : typeof v === 'string' ? v : canonicalJson(v);
  });
}

export function checkConstraintSpec(spec: unknown, where: string): ConstraintSpec {
  const fail = (why: string): never => {
    throw new ConfigurationError(`${where}: constraint ${JSON.stringify(spec)}: ${why}`, {
      suggestions: [`Write {key: a.b, op: "<=", value: 512} or {key: a.b, op: "<=", other: c.d}; op is one of ${OPS.join(' ')}.`],
    });
  };
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return fail('expected a mapping');
  const o = spec as Record<string, unknown>;
  const extra = Object.keys(o).filter((k) => !['key', 'op', 'value', 'other'].includes(k));
  if (extra.length > 0) fail(`unknown field(s) ${extra.join(', ')}`);
  const key = checkKey(o.key, where);
  if (!OPS.includes(o.op as ConstraintOp)) fail(`op must be one of ${OPS.join(' ')}`);
  const op = o.op as ConstraintOp;
  if (('value' in o) === ('other' in o)) fail('give exactly one of value (a literal) and other (another key)');
  if ('other' in o) return { key, op, other: checkKey(o.other, where) };
  const value = checkValue(o.value, key, where);
  if ((op === 'in' || op === 'not_in') && !Array.isArray(value)) fail(`${op} needs a list as its value`);
  return { key, op, value };
}

function compare(a: ParamValue, op: ConstraintOp, b: ParamValue): boolean {
  switch (op) {
    case '==':
      return sameValue(a, b);
    case '!=':
      return !sameValue(a, b);
    case 'in':
      return Array.isArray(b) && b.some((x) => sameValue(a, x));
    case 'not_in':
      return !(Array.isArray(b) && b.some((x) => sameValue(a, x)));
    default: {
      if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) return false;
      const x = a as number | string;
      const y = b as number | string;
      return op === '<' ? x < y : op === '<=' ? x <= y : op === '>' ? x > y : x >= y;
    }
  }
}

/** Whether a combination satisfies a declarative constraint; one whose key (or other key) is absent holds. */
export function satisfies(spec: ConstraintSpec, params: ParameterSet): boolean {
  const a = params[spec.key];
  const b = 'other' in spec ? params[spec.other] : spec.value;
  if (a === undefined || b === undefined) return true;
  return compare(a, spec.op, b);
}

export function describeConstraint(spec: ConstraintSpec): string {
  return `${spec.key} ${spec.op} ${'other' in spec ? spec.other : canonicalJson(spec.value)}`;
}
