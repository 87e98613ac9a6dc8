import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExperimentNamer, MAX_NAME_LENGTH, NamingStrategy, ParameterGrid, ParameterGridSearch, formatValue, parameterBasedName } from '../../src/experiments/index.js';

const SAFE = /^[A-Za-z0-9._+=-]+$/;

test('values are formatted compactly', () => {
  assert.equal(formatValue(1e-4), '1.0e-4');
  assert.equal(formatValue(5e-4), '5.0e-4');
  assert.equal(formatValue(2.5e-5), '2.5e-5');
  assert.equal(formatValue(0.5), '0.5');
  assert.equal(formatValue(256), '256');
  assert.equal(formatValue(true), 'T');
  assert.equal(formatValue(false), 'F');
  assert.equal(formatValue(null), 'none');
  assert.equal(formatValue([64, 64]), '64x64');
  assert.equal(formatValue('a b/c:d'), 'a-b-c-d');
});

test('parameter-based names: abbreviations, sorted keys (independent of the order), no forbidden characters', () => {
  const a = parameterBasedName('base', { 'optimizer.learning_rate': 1e-4, 'training.batch_size': 32, 'model.use_bias': true });
  const b = parameterBasedName('base', { 'model.use_bias': true, 'training.batch_size': 32, 'optimizer.learning_rate': 1e-4 });
  assert.equal(a, b);
  assert.equal(a, 'base_use_biasT_lr1.0e-4_batch32');
  // Two keys with one short form are told apart by their sections.
  assert.equal(parameterBasedName('b', { 'model.type': 'rnn', 'optimizer.type': 'sgd' }), 'b_model-typernn_opt-typesgd');
  const odd = parameterBasedName('b', { 'data.path': '/data/set one:<x>', 'x.tab': 'a\tb' });
  assert.match(odd, SAFE);
  assert.doesNotMatch(odd, /[/:<>\s]/);
});

test('long names are cut to 120 characters and end in an 8-hex-digit hash that keeps them apart', () => {
  const params = (v: number) => Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`section.parameter_number_${i}`, i === 29 ? v : i]));
  const n1 = parameterBasedName('experiment', params(1));
  const n2 = parameterBasedName('experiment', params(2));
  assert.ok(n1.length <= MAX_NAME_LENGTH && n2.length <= MAX_NAME_LENGTH);
  assert.match(n1, /_[0-9a-f]{8}$/);
  assert.notEqual(n1, n2);
  assert.equal(n1.slice(0, -9), n2.slice(0, -9), 'the difference is beyond the cut');
});

test('hash-based and timestamp-based names; no two names are ever the same', () => {
  const g = new ParameterGrid('g').addSampledParameter('model.a', { distribution: 'choice', values: [1, 2] }).setSampling({ samples: 40, seed: 3 });
  for (const strategy of Object.values(NamingStrategy)) {
    const s = new ParameterGridSearch({ experimentName: 'exp' }).setNamingStrategy(strategy).addGrid(g);
    // A second grid repeating the first one's combinations.
    s.addGrid(new ParameterGrid('again').addParameter('model.a', [1, 2]));
    const names = [...s.generateExperiments()].map((e) => e.experimentName);
    assert.equal(names.length, 42);
    assert.equal(new Set(names).size, 42, `${strategy}: ${names.join(' ')}`);
    for (const n of names) {
      assert.match(n, SAFE);
      assert.ok(n.length <= MAX_NAME_LENGTH);
      if (strategy === NamingStrategy.HASH_BASED) assert.match(n, /^exp_[0-9a-f]{8}$/);
      if (strategy === NamingStrategy.TIMESTAMP_BASED) assert.match(n, /^exp_\d{8}-\d{6}_\d{4,}$/);
    }
    // The same sweep gives the same names each time it is walked.
    assert.deepEqual([...s.generateExperiments()].map((e) => e.experimentName), names);
  }
});

test('a hash-based name depends on the parameters only, not their order', () => {
  const a = new ExperimentNamer(NamingStrategy.HASH_BASED, 'x').next({ p: 1, q: 2 });
  const b = new ExperimentNamer(NamingStrategy.HASH_BASED, 'x').next({ q: 2, p: 1 });
  assert.equal(a, b);
});
