import { ConfigurationError } from '../errors/index.js';
import { ParameterGrid } from './grid.js';
import type { Distribution } from './sampling.js';
import type { ComputedSpec, ConstraintSpec } from './rules.js';

const GRID_FIELDS = ['name', 'description', 'parameters', 'linked', 'conditional', 'sampled', 'computed', 'exclude', 'constraints', 'count'] as const;

function mapping(v: unknown, what: string, where: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigurationError(`${where}: ${what} must be a mapping, got ${JSON.stringify(v)}`, { configKey: what, suggestions: ['See docs/api/experiments.md, "Grids in YAML".'] });
  return v as Record<string, unknown>;
}

function list(v: unknown, what: string, where: string): unknown[] {
  if (!Array.isArray(v)) throw new ConfigurationError(`${where}: ${what} must be a list, got ${JSON.stringify(v)}`, { configKey: what, suggestions: ['See docs/api/experiments.md, "Grids in YAML".'] });
  return v;
}

/**
 * A ParameterGrid from its declarative form (a grid in a YAML or JSON file, or toSpec()'s output):
 * name, description, parameters (plain), linked (list of mappings of equal-length lists), conditional (list of
 * {key, values, when}), sampled ({samples, seed, parameters: {key: distribution}}), computed ({key: spec}),
 * exclude (list of matches), constraints (list of {key, op, value|other}). `count` (written by toSpec) is ignored.
 */
export function gridFromSpec(spec: unknown, where: string): ParameterGrid {
  const o = mapping(spec, 'a grid', where);
  const unknown = Object.keys(o).filter((k) => !(GRID_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) {
    throw new ConfigurationError(`${where}: unknown grid field(s) ${unknown.join(', ')}`, { configKey: unknown[0], suggestions: [`A grid has the fields ${GRID_FIELDS.filter((f) => f !== 'count').join(', ')}.`] });
  }
  if (typeof o.name !== 'string' || o.name === '') throw new ConfigurationError(`${where}: a grid needs a name`, { configKey: 'name', suggestions: ['Add `name: my_search`.'] });
  const w = `${where}, grid ${JSON.stringify(o.name)}`;
  const grid = new ParameterGrid(o.name, typeof o.description === 'string' ? o.description : '');
  if (o.parameters !== undefined) for (const [k, v] of Object.entries(mapping(o.parameters, 'parameters', w))) grid.addParameter(k, list(v, k, w));
  if (o.linked !== undefined) for (const l of list(o.linked, 'linked', w)) grid.addLinkedParameters(mapping(l, 'linked entry', w) as Record<string, unknown[]>);
  if (o.conditional !== undefined) {
    for (const c of list(o.conditional, 'conditional', w)) {
      const e = mapping(c, 'conditional entry', w);
      if (typeof e.key !== 'string') throw new ConfigurationError(`${w}: a conditional entry needs key, values and when`, { configKey: 'conditional', suggestions: ['Write {key: model.num_heads, values: [4, 8], when: {model.type: transformer}}.'] });
      grid.addConditionalParameter(e.key, list(e.values, `${e.key}.values`, w), mapping(e.when, `${e.key}.when`, w));
    }
  }
  if (o.sampled !== undefined) {
    const s = mapping(o.sampled, 'sampled', w);
    grid.setSampling({ samples: s.samples as number | undefined, seed: s.seed as number | undefined });
    for (const [k, d] of Object.entries(mapping(s.parameters, 'sampled.parameters', w))) grid.addSampledParameter(k, d as Distribution);
  }
  if (o.computed !== undefined) for (const [k, c] of Object.entries(mapping(o.computed, 'computed', w))) grid.addComputedParameter(k, c as ComputedSpec);
  if (o.exclude !== undefined) for (const m of list(o.exclude, 'exclude', w)) grid.addExclusion(mapping(m, 'exclude entry', w));
  if (o.constraints !== undefined) for (const c of list(o.constraints, 'constraints', w)) grid.addConstraint(c as ConstraintSpec);
  return grid;
}
