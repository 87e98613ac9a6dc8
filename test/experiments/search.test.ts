import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ConfigurationError } from '../../src/errors/index.js';
import { ConfigurationManager, NamingStrategy, ParameterGrid, ParameterGridSearch, ValidationError, gridFromSpec, loadSweepFile } from '../../src/experiments/index.js';

const base = {
  experiment_name: 'baseline',
  model: { type: 'transformer', hidden_size: 256 },
  optimizer: { type: 'adamw', lr: 1e-3 },
  training: { max_epochs: 50 },
};

test('generateExperiments deep-merges each combination into the base; the total is the sum over grids', () => {
  const gs = new ParameterGridSearch(base).setNamingStrategy(NamingStrategy.PARAMETER_BASED);
  gs.addGrid(
    new ParameterGrid('hyperparameters')
      .addParameter('optimizer.lr', [1e-4, 5e-4, 1e-3])
      .addParameter('model.hidden_size', [256, 512, 1024])
      .addParameter('training.gradient_accumulation_steps', [1, 2, 4]),
  );
  gs.addGrid(new ParameterGrid('dropout').addParameter('model.dropout', [0.1, 0.2]));
  assert.equal(gs.getTotalExperiments(), 27 + 2);
  const exps = [...gs.generateExperiments()];
  assert.equal(exps.length, 29);
  const e = exps[0];
  assert.equal(e.model.type, 'transformer', 'base keys stay');
  assert.equal(e.optimizer.type, 'adamw');
  assert.equal(e.optimizer.lr, 1e-4);
  assert.equal(e.training.max_epochs, 50);
  assert.equal(e.training.gradient_accumulation_steps, 1);
  assert.equal(e.experimentName, 'baseline_hidden256_lr1.0e-4_accum1');
  assert.equal(exps[28].model.dropout, 0.2);
  assert.equal(exps[28].model.hidden_size, 256);
  assert.equal(base.optimizer.lr, 1e-3, 'the base config is not changed');
});

test('a combination that makes the config invalid is a ValidationError naming the grid, the key and what was expected', () => {
  const gs = new ParameterGridSearch(base).addGrid(new ParameterGrid('bad').addParameter('optimizer.lr', [1e-3, -1]));
  const it = gs.generateExperiments();
  it.next();
  assert.throws(() => it.next(), (e: unknown) => e instanceof ValidationError && /grid "bad"/.test(e.message) && e.configKey === 'optimizer.lr' && /> 0/.test(e.expected ?? ''));
});

test('saveGridConfig and saveSummary write the sweep; a saved grid loads back with the same count', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-sweep-'));
  try {
    const grid = new ParameterGrid('g', 'a small search')
      .addParameter('model.type', ['rnn', 'transformer'])
      .addConditionalParameter('model.num_heads', [4, 8], { 'model.type': 'transformer' })
      .addSampledParameter('optimizer.lr', { distribution: 'loguniform', low: 1e-5, high: 1e-2 })
      .setSampling({ samples: 3, seed: 9 })
      .addExclusion({ 'model.num_heads': 8 });
    const gs = new ParameterGridSearch(base).addGrid(grid);
    await gs.saveGridConfig(join(dir, 'grid.json'));
    await gs.saveSummary(join(dir, 'summary.txt'));
    const saved = JSON.parse(readFileSync(join(dir, 'grid.json'), 'utf8')) as { total: number; grids: unknown[] };
    assert.equal(saved.total, 6);
    const again = gridFromSpec(saved.grids[0], 'grid.json');
    assert.equal(again.getParameterCount(), 6);
    assert.deepEqual([...again.generatePermutations()], [...grid.generatePermutations()]);
    const summary = readFileSync(join(dir, 'summary.txt'), 'utf8');
    assert.match(summary, /6 experiment\(s\)/);
    assert.match(summary, /Grid g: 6 combination\(s\) - a small search/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a sweep file in YAML: every kind of parameter, a base config beside it, naming', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-sweep-'));
  try {
    writeFileSync(join(dir, 'base.yaml'), 'experimentName: yml\nmodel: {type: mlp}\n');
    writeFileSync(
      join(dir, 'sweep.yaml'),
      `base_config: base.yaml
naming: hash_based
script: train.ts
grids:
  - name: all
    parameters:
      model.type: [rnn, transformer]
      training.batch_size: [16, 32]
    linked:
      - {optimizer.type: [adam, sgd], optimizer.lr: [1.0e-3, 0.1]}
    conditional:
      - {key: model.num_heads, values: [4, 8], when: {model.type: transformer}}
    sampled:
      samples: 2
      seed: 5
      parameters:
        model.dropout: {distribution: uniform, low: 0, high: 0.5}
    computed:
      training.effective: {product: [training.batch_size, 2]}
    exclude:
      - {model.type: rnn, optimizer.type: sgd}
    constraints:
      - {key: training.effective, op: '<', value: 64}
`,
    );
    const sweep = await loadSweepFile(join(dir, 'sweep.yaml'));
    assert.equal(sweep.script, 'train.ts');
    const exps = [...sweep.search.generateExperiments()];
    // (rnn: 1 optimizer + transformer: 2 optimizers x 2 heads) x 2 sampled draws x batch 16 only (constraint)
    assert.equal(exps.length, (1 + 4) * 2);
    assert.equal(sweep.search.getTotalExperiments(), exps.length);
    for (const e of exps) assert.match(e.experimentName, /^yml_[0-9a-f]{8}$/);
    writeFileSync(join(dir, 'escape.yaml'), 'base_config: ../../etc/passwd\nname: g\nparameters: {a.b: [1]}\n');
    await assert.rejects(loadSweepFile(join(dir, 'escape.yaml')), /leaves the sweep file's directory/);
    writeFileSync(join(dir, 'typo.yaml'), 'name: g\nparamters: {a.b: [1]}\n');
    await assert.rejects(loadSweepFile(join(dir, 'typo.yaml')), (e: unknown) => e instanceof ConfigurationError && /unknown field\(s\) paramters/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('ConfigurationManager: YAML and JSON round trips, defaults filled, invalid files name file, key, expectation, fix', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'eh-cm-'));
  try {
    const cm = new ConfigurationManager({ projectRoot: dir });
    await cm.saveConfig(base, 'configs/base.yaml');
    const loaded = await cm.loadConfig('base.yaml');
    assert.equal(loaded.experimentName, 'baseline');
    assert.equal(loaded.optimizer.lr, 1e-3);
    assert.equal(loaded.training.batch_size, 32, 'defaults filled');
    await cm.saveConfig(loaded, join(dir, 'out.json'));
    assert.deepEqual(await cm.loadConfig(join(dir, 'out.json')), loaded);
    assert.equal(parse(readFileSync(join(dir, 'configs/base.yaml'), 'utf8')).model.hidden_size, 256);
    const raw = await cm.loadConfig('base.yaml', { validate: false });
    assert.equal(raw.training && (raw.training as Record<string, unknown>).batch_size, undefined);

    writeFileSync(join(dir, 'bad.yaml'), 'experimentName: x\noptimizer: {lr: "fast"}\nmodle: {}\ntraining: {max_epochs: 0}\n');
    await assert.rejects(cm.loadConfig(join(dir, 'bad.yaml')), (e: unknown) => {
      assert.ok(e instanceof ValidationError && e instanceof ConfigurationError);
      assert.equal(e.file, join(dir, 'bad.yaml'));
      assert.match(e.message, /bad\.yaml/);
      assert.match(e.message, /optimizer\.lr: expected a number, got "fast"/);
      assert.match(e.message, /training\.max_epochs: expected a value > 0, got 0/);
      assert.match(e.message, /modle: unknown key/);
      assert.match(e.message, /Did you mean "model"\?/);
      return true;
    });
    writeFileSync(join(dir, 'syntax.yaml'), 'a: [1, 2\n');
    await assert.rejects(cm.loadConfig(join(dir, 'syntax.yaml')), /YAML syntax error .* at line/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
