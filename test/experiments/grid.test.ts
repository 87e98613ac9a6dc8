import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigurationError } from '../../src/errors/index.js';
import { ParameterGrid, canonicalJson, type ParameterSet } from '../../src/experiments/index.js';

function all(g: ParameterGrid): ParameterSet[] {
  return [...g.generatePermutations()];
}

/** The count must equal what the walk yields, for every kind of grid. */
function countMatches(g: ParameterGrid): ParameterSet[] {
  const items = all(g);
  assert.equal(g.getParameterCount(), items.length, `grid ${g.name}`);
  return items;
}

test('plain parameters: the product, last axis fastest, dotted keys as given', () => {
  const g = new ParameterGrid('plain').addParameter('optimizer.lr', [1e-3, 1e-4, 1e-5]).addParameter('model.hidden_size', [128, 256, 512]);
  const items = countMatches(g);
  assert.equal(items.length, 9);
  assert.deepEqual(items[0], { 'optimizer.lr': 1e-3, 'model.hidden_size': 128 });
  assert.deepEqual(items[1], { 'optimizer.lr': 1e-3, 'model.hidden_size': 256 });
  assert.equal(new Set(items.map(canonicalJson)).size, 9);
});

test('an empty grid has one combination (the base config itself)', () => {
  const g = new ParameterGrid('empty');
  assert.deepEqual(countMatches(g), [{}]);
});

test('linked parameters vary together (zipped) and multiply with the others', () => {
  const g = new ParameterGrid('linked')
    .addLinkedParameters({ 'optimizer.type': ['adam', 'sgd'], 'optimizer.lr': [1e-3, 0.1] })
    .addParameter('training.batch_size', [16, 32, 64]);
  const items = countMatches(g);
  assert.equal(items.length, 6);
  for (const p of items) assert.equal(p['optimizer.lr'], p['optimizer.type'] === 'adam' ? 1e-3 : 0.1);
  assert.throws(() => new ParameterGrid('x').addLinkedParameters({ a: [1, 2], b: [1] }), (e: unknown) => e instanceof ConfigurationError && /one length: a has 2, b has 1/.test(e.message));
});

test('conditional parameters are present only when their condition holds; counts are exact', () => {
  const g = new ParameterGrid('cond')
    .addParameter('model.type', ['rnn', 'transformer', 'mlp'])
    .addConditionalParameter('model.num_heads', [4, 8], { 'model.type': 'transformer' })
    .addConditionalParameter('model.cell', ['lstm', 'gru'], { 'model.type': ['rnn'] })
    // A condition on a conditional key: only transformers with 8 heads get a head size.
    .addConditionalParameter('model.head_dim', [32, 64, 128], { 'model.num_heads': 8 })
    .addParameter('optimizer.lr', [1e-3, 1e-4]);
  const items = countMatches(g);
  // rnn: 2 cells; transformer: 4 heads (1) + 8 heads (3 dims) = 4; mlp: 1. Times 2 lrs.
  assert.equal(items.length, (2 + 4 + 1) * 2);
  for (const p of items) {
    assert.equal('model.num_heads' in p, p['model.type'] === 'transformer');
    assert.equal('model.cell' in p, p['model.type'] === 'rnn');
    assert.equal('model.head_dim' in p, p['model.num_heads'] === 8);
  }
  assert.throws(() => new ParameterGrid('bad').addConditionalParameter('a', [1], { b: 1 }), /which no earlier plain, linked or conditional parameter sets/);
});

test('sampled parameters: samples draws, reproducible from the seed, in range, independent of iteration order', () => {
  const make = (seed: number) =>
    new ParameterGrid('sampled')
      .addParameter('model.type', ['a', 'b'])
      .addSampledParameter('optimizer.lr', { distribution: 'loguniform', low: 1e-5, high: 1e-2 })
      .addSampledParameter('model.dropout', { distribution: 'uniform', low: 0, high: 0.5 })
      .addSampledParameter('init.scale', { distribution: 'normal', mean: 1, std: 0.1 })
      .addSampledParameter('optimizer.type', { distribution: 'choice', values: ['adam', 'sgd', 'rmsprop'], weights: [0, 1, 1] })
      .setSampling({ samples: 50, seed });
  const a = countMatches(make(7));
  assert.equal(a.length, 100);
  assert.deepEqual(all(make(7)), a);
  assert.notDeepEqual(all(make(8)), a);
  for (const p of a) {
    const lr = p['optimizer.lr'] as number;
    assert.ok(lr >= 1e-5 && lr <= 1e-2);
    const d = p['model.dropout'] as number;
    assert.ok(d >= 0 && d <= 0.5);
    assert.notEqual(p['optimizer.type'], 'adam', 'a zero weight is never drawn');
  }
  // The same draw for the same sample index whatever the other keys are.
  const lrs = a.filter((p) => p['model.type'] === 'a').map((p) => p['optimizer.lr']);
  assert.deepEqual(a.filter((p) => p['model.type'] === 'b').map((p) => p['optimizer.lr']), lrs);
  const logs = lrs.map((x) => Math.log10(x as number));
  assert.ok(Math.min(...logs) < -4 && Math.max(...logs) > -3, 'loguniform spreads over the decades');
  assert.throws(() => new ParameterGrid('x').addSampledParameter('a', { distribution: 'loguniform', low: 0, high: 1 }), /low > 0/);
  assert.throws(() => new ParameterGrid('x').addSampledParameter('a', { distribution: 'choice', values: [1, 2], weights: [1] }), /weights must be 2/);
});

test('computed parameters are derived from the others and do not change the count', () => {
  const g = new ParameterGrid('computed')
    .addParameter('training.batch_size', [16, 32])
    .addParameter('training.gradient_accumulation_steps', [1, 4])
    .addComputedParameter('training.effective_batch', { product: ['training.batch_size', 'training.gradient_accumulation_steps'] })
    .addComputedParameter('optimizer.lr', (p) => 1e-3 * Math.sqrt((p['training.effective_batch'] as number) / 16));
  const items = countMatches(g);
  assert.equal(items.length, 4);
  for (const p of items) {
    assert.equal(p['training.effective_batch'], (p['training.batch_size'] as number) * (p['training.gradient_accumulation_steps'] as number));
    assert.equal(p['optimizer.lr'], 1e-3 * Math.sqrt((p['training.effective_batch'] as number) / 16));
  }
});

test('exclusions and constraints drop combinations; the count equals the number generated', () => {
  const g = new ParameterGrid('rules')
    .addParameter('model.type', ['rnn', 'transformer'])
    .addParameter('model.hidden_size', [256, 512, 1024])
    .addParameter('optimizer.lr', [1e-3, 1e-4])
    .addExclusion({ 'model.type': 'rnn', 'model.hidden_size': [512, 1024] });
  assert.equal(countMatches(g).length, 12 - 4);
  g.addComputedParameter('training.width_lr', { product: ['model.hidden_size', 'optimizer.lr'] }).addConstraint({ key: 'training.width_lr', op: '<=', value: 0.5 });
  const items = countMatches(g);
  for (const p of items) assert.ok((p['training.width_lr'] as number) <= 0.5);
  assert.equal(items.length, 8 - 2);
  g.addConstraint((p) => p['model.type'] !== 'transformer' || p['optimizer.lr'] !== 1e-4);
  assert.equal(countMatches(g).length, 3);
  // An exclusion on a computed key is checked on the finished combination.
  g.addExclusion({ 'training.width_lr': 256 * 1e-3 });
  assert.equal(countMatches(g).length, 1);
  assert.throws(() => new ParameterGrid('x').addParameter('a', [1]).addExclusion({ b: 1 }).getParameterCount(), /names b, which the grid does not set/);
});

test('exclusions and conditions on a mixed grid: the fast count agrees with the walk', () => {
  const g = new ParameterGrid('mixed')
    .addParameter('a', [1, 2, 3])
    .addParameter('b', ['x', 'y'])
    .addConditionalParameter('c', [true, false], { a: [1, 3] })
    .addLinkedParameters({ d: [1, 2, 3, 4], e: ['p', 'q', 'r', 's'] })
    .addSampledParameter('f', { distribution: 'uniform', low: 0, high: 1 })
    .setSampling({ samples: 3, seed: 1 })
    .addExclusion({ b: 'y', c: false })
    .addExclusion({ a: 2, d: [2, 3] });
  countMatches(g);
});

test('a 10^8 grid yields its first combinations at once and counts without being walked', () => {
  const g = new ParameterGrid('huge');
  for (let i = 0; i < 8; i++) g.addParameter(`p.k${i}`, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const t0 = process.hrtime.bigint();
  assert.equal(g.getParameterCount(), 1e8);
  const it = g.generatePermutations();
  const first = [it.next().value, it.next().value, it.next().value] as ParameterSet[];
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  assert.ok(ms < 2000, `took ${ms} ms`);
  assert.deepEqual(first.map((p) => p['p.k7']), [0, 1, 2]);
  assert.equal(first[2]['p.k0'], 0);
  // An exclusion prunes whole subtrees: the fast count still answers without walking 10^8.
  g.addExclusion({ 'p.k0': [0, 1, 2, 3, 4] });
  assert.equal(g.getParameterCount(), 5e7);
  const second = g.generatePermutations().next().value as ParameterSet;
  assert.equal(second['p.k0'], 5);
});

test('bad grids: duplicate values, duplicate or overlapping keys, empty lists, bad keys', () => {
  assert.throws(() => new ParameterGrid('g').addParameter('a', [1, 1]), /lists the value 1 twice/);
  assert.throws(() => new ParameterGrid('g').addParameter('a', [1]).addParameter('a', [2]), /is given twice/);
  assert.throws(() => new ParameterGrid('g').addParameter('model', [{}]).addParameter('model.x', [2]), /overlaps model/);
  assert.throws(() => new ParameterGrid('g').addParameter('a', []), /non-empty list/);
  assert.throws(() => new ParameterGrid('g').addParameter('__proto__.x', [1]), /invalid segment/);
  assert.throws(() => new ParameterGrid('g').addParameter('a', [Number.NaN]), /NaN/);
  assert.throws(() => new ParameterGrid('g').addConstraint({ key: 'a', op: '~', value: 1 } as never), /op must be one of/);
});
