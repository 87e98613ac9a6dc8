import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigurationError } from '../../src/errors/index.js';
import { defaultConfig, didYouMean, toConfigurationError, validateElasticConfig, type ConfigValidationResult } from '../../src/config/index.js';

const v = validateElasticConfig;
const hasError = (r: ConfigValidationResult, re: RegExp): void => assert.ok(r.errors.some((e) => re.test(e)), `no error matching ${re}: ${JSON.stringify(r.errors)}`);
const hasWarning = (r: ConfigValidationResult, re: RegExp): void => assert.ok(r.warnings.some((e) => re.test(e)), `no warning matching ${re}: ${JSON.stringify(r.warnings)}`);
/** The single error a one-key mistake must give: exactly one, naming the key. */
function onlyError(input: unknown, re: RegExp): void {
  const r = v(input);
  assert.equal(r.valid, false);
  assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
  assert.match(r.errors[0], re);
  assert.equal(r.config, undefined);
}

test('an empty config is valid, with every default applied and typed', () => {
  const r = v({});
  assert.deepEqual(r, { valid: true, errors: [], warnings: [], issues: [], config: defaultConfig() });
  const c = r.config!;
  assert.equal(c.elastic.min_nodes, 1);
  assert.equal(c.elastic.max_nodes, null, 'null: the same as min_nodes');
  assert.equal(c.checkpoint.checkpoint_interval, 500);
  assert.equal(c.checkpoint.memory_snapshot_interval, 50);
  assert.equal(c.scaling.strategy, 'variable_batch');
  assert.equal(c.training.gradient_clipping.max_norm, 1);
  assert.equal(c.elastic.rdzv_conf.join_timeout, 600);
});

test('given values are kept, nested defaults still filled', () => {
  const r = v({ elastic: { min_nodes: 2, max_nodes: 8 }, training: { lr: 3e-4, gradient_clipping: { max_norm: 0.5 } }, scaling: { strategy: 'constant_batch', target_global_batch_size: 512 } });
  assert.equal(r.valid, true, r.errors.join('; '));
  assert.equal(r.config!.elastic.max_nodes, 8);
  assert.equal(r.config!.training.gradient_clipping.max_norm, 0.5);
  assert.equal(r.config!.training.gradient_clipping.enabled, true);
  assert.equal(r.config!.scaling.target_global_batch_size, 512);
});

test('every error rule of the issue, each with one message naming the key', () => {
  onlyError({ elastic: { min_nodes: 0 } }, /^elastic\.min_nodes: must be > 0, got 0$/);
  onlyError({ elastic: { min_nodes: -2, max_nodes: 4 } }, /elastic\.min_nodes: must be > 0, got -2/);
  onlyError({ elastic: { min_nodes: 3, max_nodes: 2 } }, /^elastic\.max_nodes \(2\) must be >= elastic\.min_nodes \(3\)$/);
  onlyError({ checkpoint: { checkpoint_interval: 0 } }, /^checkpoint\.checkpoint_interval: must be > 0, got 0$/);
  onlyError({ checkpoint: { checkpoint_interval: -500 } }, /checkpoint\.checkpoint_interval: must be > 0, got -500/);
  onlyError({ checkpoint: { memory_snapshot_interval: 0 } }, /^checkpoint\.memory_snapshot_interval: must be > 0, got 0$/);
  onlyError({ training: { lr: 0 } }, /^training\.lr: must be > 0, got 0$/);
  onlyError({ training: { lr: -1e-4 } }, /training\.lr: must be > 0, got -0\.0001/);
  onlyError({ training: { batch_size: 0 } }, /^training\.batch_size: must be > 0, got 0$/);
  onlyError({ scaling: { strategy: 'elastic' } }, /^scaling\.strategy: must be one of "variable_batch", "constant_batch", got "elastic"$/);
  onlyError({ scaling: { strategy: 'constant_bach' } }, /got "constant_bach" \(did you mean "constant_batch"\?\)/);
  onlyError({ scaling: { strategy: 'constant_batch' } }, /^scaling\.target_global_batch_size is required when scaling\.strategy is constant_batch/);
  onlyError({ scaling: { strategy: 'constant_batch', target_global_batch_size: 0 } }, /^scaling\.target_global_batch_size: must be > 0, got 0$/);
  onlyError({ scaling: { target_global_batch_size: -8 } }, /scaling\.target_global_batch_size: must be > 0, got -8/);
  onlyError({ training: { gradient_clipping: { max_norm: 0 } } }, /^training\.gradient_clipping\.max_norm: must be > 0, got 0$/);
  onlyError({ training: { gradient_clipping: { max_norm: -1 } } }, /training\.gradient_clipping\.max_norm: must be > 0, got -1/);
});

test('further cross-key errors', () => {
  onlyError({ elastic: { heartbeat_interval: 90, heartbeat_timeout: 90 } }, /elastic\.heartbeat_interval \(90\) must be below elastic\.heartbeat_timeout \(90\)/);
  onlyError({ scaling: { min_lr: 0.1, max_lr: 0.01 } }, /scaling\.min_lr \(0\.1\) must not exceed scaling\.max_lr \(0\.01\)/);
  onlyError({ training: { lr: 1e-4, min_lr: 1e-3 } }, /training\.min_lr \(0\.001\) must not exceed training\.lr \(0\.0001\)/);
  onlyError({ elastic: { rdzv_backend: 'static', min_nodes: 1, max_nodes: 2 } }, /static needs a fixed size/);
});

test('warning rules: valid, but said', () => {
  const outside = v({ elastic: { min_nodes: 2, max_nodes: 4, base_world_size: 8 } });
  assert.equal(outside.valid, true);
  hasWarning(outside, /^elastic\.base_world_size \(8\) is outside \[elastic\.min_nodes, elastic\.max_nodes\] = \[2, 4\]/);
  hasWarning(v({ elastic: { min_nodes: 2, max_nodes: 4, base_world_size: 1 } }), /base_world_size \(1\) is outside/);
  assert.deepEqual(v({ elastic: { min_nodes: 2, max_nodes: 4, base_world_size: 4 } }).warnings, []);
  const smaller = v({ checkpoint: { checkpoint_interval: 10, memory_snapshot_interval: 50 } });
  assert.equal(smaller.valid, true);
  assert.equal(smaller.warnings.length, 1);
  hasWarning(smaller, /checkpoint\.checkpoint_interval \(10\) is smaller than checkpoint\.memory_snapshot_interval \(50\)/);
  const notMultiple = v({ checkpoint: { checkpoint_interval: 120, memory_snapshot_interval: 50 } });
  assert.equal(notMultiple.valid, true);
  hasWarning(notMultiple, /checkpoint\.checkpoint_interval \(120\) is not a multiple of checkpoint\.memory_snapshot_interval \(50\).*use e\.g\. 100/);
  assert.deepEqual(v({ checkpoint: { checkpoint_interval: 150, memory_snapshot_interval: 50 } }).warnings, []);
  hasWarning(v({ training: { warmup_steps: 20, max_steps: 10 } }), /warmup_steps \(20\) exceeds training\.max_steps \(10\)/);
});

test('a wrong type names the key path and the type expected', () => {
  onlyError({ training: { lr: 'fast' } }, /^training\.lr: expected a number, got string "fast"$/);
  onlyError({ training: { lr: '0.001' } }, /training\.lr: expected a number, got string "0\.001" \(write it without quotes\)/);
  onlyError({ elastic: { min_nodes: 1.5 } }, /^elastic\.min_nodes: expected an integer, got 1\.5$/);
  onlyError({ elastic: { max_nodes: '4' } }, /elastic\.max_nodes: expected an integer, got string "4"/);
  onlyError({ checkpoint: { async_save: 'yes' } }, /^checkpoint\.async_save: expected a boolean \(true\/false\), got string "yes"$/);
  onlyError({ checkpoint: { nvme_path: 42 } }, /^checkpoint\.nvme_path: expected a string, got number 42$/);
  onlyError({ training: { gradient_clipping: 1.0 } }, /^training\.gradient_clipping: expected a mapping \(key: value\), got number 1$/);
  onlyError({ training: { gradient_clipping: { max_norm: [1] } } }, /training\.gradient_clipping\.max_norm: expected a number, got an array of 1/);
  onlyError({ elastic: 5 }, /^elastic: expected a mapping \(key: value\), got number 5$/);
  onlyError({ training: { optimizer: null } }, /training\.optimizer: expected a string, got null \(this key cannot be null/);
  onlyError({ checkpoint: { s3_endpoint: 'ftp://store' } }, /checkpoint\.s3_endpoint: expected an http\(s\) URL, got "ftp:\/\/store"/);
  onlyError({ elastic: { rdzv_id: 'my job' } }, /elastic\.rdzv_id: letters, digits/);
  onlyError({ elastic: { rdzv_endpoint: 'localhost' } }, /^elastic\.rdzv_endpoint: expected HOST:PORT, e\.g\. 127\.0\.0\.1:29400.*got "localhost"$/);
  for (const ok of ['', 'node1:29400', '[::1]:2379', 'http://etcd:2379']) assert.equal(v({ elastic: { rdzv_endpoint: ok } }).valid, true, ok);
});

test('all problems are reported at once, and a broken key does not trigger a second rule about it', () => {
  const r = v({ elastic: { min_nodes: 'two', max_nodes: 1 }, training: { lr: 0, batch_size: -1 }, checkpoint: { memory_snapshot_interval: 'often' } });
  assert.equal(r.errors.length, 4, JSON.stringify(r.errors));
  hasError(r, /elastic\.min_nodes: expected an integer/);
  hasError(r, /training\.lr/);
  hasError(r, /training\.batch_size/);
  hasError(r, /checkpoint\.memory_snapshot_interval: expected an integer/);
  assert.deepEqual(r.warnings, []);
  assert.deepEqual(r.issues.map((i) => i.path).sort(), ['checkpoint.memory_snapshot_interval', 'elastic.min_nodes', 'training.batch_size', 'training.lr']);
});

test('unknown keys give warnings naming them, with a did-you-mean where close', () => {
  const r = v({ elastic: { minNodes: 2, max_node: 4, colour: 'blue' }, trainig: { lr: 1 }, extras: {}, training: { gradient_clipping: { max_nrom: 2 } } });
  assert.equal(r.valid, true);
  hasWarning(r, /^unknown key elastic\.minNodes is ignored \(did you mean 'elastic\.min_nodes'\?\)$/);
  hasWarning(r, /^unknown key elastic\.max_node is ignored \(did you mean 'elastic\.max_nodes'\?\)$/);
  hasWarning(r, /^unknown key elastic\.colour is ignored$/);
  hasWarning(r, /^unknown section 'trainig' is ignored \(did you mean 'training'\?\)$/);
  hasWarning(r, /^unknown section 'extras' is ignored \(sections: elastic, checkpoint, scaling, training, model, data\)$/);
  hasWarning(r, /training\.gradient_clipping\.max_nrom is ignored \(did you mean 'training\.gradient_clipping\.max_norm'\?\)/);
  assert.equal(r.warnings.length, 6);
  const proto = v(JSON.parse('{"__proto__": {"x": 1}, "training": {"toString": 1, "constructor": 2}}'));
  hasWarning(proto, /unknown section '__proto__' is ignored/);
  hasWarning(proto, /unknown key training\.toString is ignored/);
  hasWarning(proto, /unknown key training\.constructor is ignored/);
  assert.equal((r.config!.elastic as Record<string, unknown>).colour, undefined, 'unknown keys of closed sections are dropped');
});

test('model and data keep keys of their own, warning only on likely typos', () => {
  const r = v({ model: { name: 'transformer', hidden_size: 768, layers: [1, 2] }, data: { path: '/d', tokenizer: 'bpe', shufle: false } });
  assert.equal(r.valid, true);
  assert.deepEqual(r.warnings, ["unknown key data.shufle is kept as written (did you mean 'data.shuffle'?)"]);
  assert.equal(r.config!.model.hidden_size, 768);
  assert.deepEqual(r.config!.model.layers, [1, 2]);
  assert.equal(r.config!.data.tokenizer, 'bpe');
  assert.equal(r.config!.data.shuffle, true);
  hasWarning(v({ model: { nmae: 'x' } }), /model\.nmae .*did you mean 'model\.name'/);
});

test('sections written empty in YAML (null) mean {}', () => {
  const r = v({ elastic: null, training: { gradient_clipping: null } });
  assert.equal(r.valid, true, r.errors.join('; '));
  assert.deepEqual(r.config, defaultConfig());
});

test('never throws, whatever the input', () => {
  const circular: Record<string, unknown> = { training: {} };
  (circular.training as Record<string, unknown>).self = circular;
  const hostile = { get elastic(): never { throw new Error('boom'); } };
  const inputs: unknown[] = [undefined, null, 0, 'yaml text', [], [{}], true, Symbol('s'), 10n, () => 1, new Date(), new Map(), circular, hostile, Object.create(null), { elastic: { min_nodes: Number.NaN } }, { elastic: { min_nodes: Infinity } }, { training: { lr: 10n } }, { [Symbol('k')]: 1 }, { __proto__: { elastic: 1 } }, JSON.parse('{"__proto__": {"x": 1}, "elastic": {"__proto__": 5}}')];
  for (const input of inputs) {
    let r: ConfigValidationResult | undefined;
    assert.doesNotThrow(() => {
      r = v(input);
    }, String(typeof input));
    assert.equal(typeof r!.valid, 'boolean');
    assert.ok(Array.isArray(r!.errors) && Array.isArray(r!.warnings));
    for (const e of r!.errors) assert.ok(!/\n\s+at /.test(e), `no stack trace in ${e}`);
  }
  assert.match(v('yaml text').errors[0], /the config must be a mapping of sections .*got string "yaml text"/);
  assert.match(v([]).errors[0], /got an array of 0/);
  assert.match(v(hostile).errors[0], /could not be validated: boom/);
  assert.match(v({ elastic: { min_nodes: Number.NaN } }).errors[0], /elastic\.min_nodes/);
  assert.match(v({ elastic: { min_nodes: Infinity } }).errors[0], /elastic\.min_nodes/);
});

test('toConfigurationError lists every error and carries the first key', () => {
  const one = toConfigurationError(v({ training: { lr: 0 } }), { source: 'train.yaml' });
  assert.ok(one instanceof ConfigurationError);
  assert.equal(one.configKey, 'training.lr');
  assert.match(one.message, /^Invalid configuration in train\.yaml: training\.lr: must be > 0, got 0/);
  assert.match(one.message, /docs\/api\/config\.md/);
  const many = toConfigurationError(v({ training: { lr: 0, batch_size: 0 } }));
  assert.match(many.message, /Invalid configuration \(2 errors\):\n {2}- training\.lr.*\n {2}- training\.batch_size/);
});

test('didYouMean: typos, swaps, other spellings; nothing for unrelated words', () => {
  assert.equal(didYouMean('max_nodse', ['min_nodes', 'max_nodes']), 'max_nodes');
  assert.equal(didYouMean('maxNodes', ['min_nodes', 'max_nodes']), 'max_nodes');
  assert.equal(didYouMean('max-nodes', ['min_nodes', 'max_nodes']), 'max_nodes');
  assert.equal(didYouMean('nmae', ['name', 'path']), 'name');
  assert.equal(didYouMean('hidden_size', ['name']), undefined);
  assert.equal(didYouMean('lr', ['seed', 'optimizer']), undefined);
});

test('keys of a section written at the top level are errors saying where they belong, their values checked there', () => {
  const r = v({ min_nodes: 0, max_nodes: -1 });
  assert.equal(r.valid, false);
  assert.equal(r.config, undefined);
  assert.deepEqual(r.errors, [
    'min_nodes is a key of the elastic section, not a section: write it indented under `elastic:` (as elastic.min_nodes); its value is wrong there too: elastic.min_nodes: must be > 0, got 0',
    'max_nodes is a key of the elastic section, not a section: write it indented under `elastic:` (as elastic.max_nodes); its value is wrong there too: elastic.max_nodes: must be > 0, got -1',
  ]);
  assert.deepEqual(r.issues.map((i) => i.path), ['min_nodes', 'max_nodes']);
  onlyError({ checkpoint_interval: 100 }, /^checkpoint_interval is a key of the checkpoint section, not a section: write it indented under `checkpoint:` \(as checkpoint\.checkpoint_interval\)$/);
  onlyError({ lr: 'fast', training: {} }, /as training\.lr\); its value is wrong there too: training\.lr: expected a number, got string "fast"$/);
  onlyError({ warmup_steps: 10 }, /^warmup_steps is a key of the scaling and training sections, not a section: write it indented under the one you mean \(scaling\.warmup_steps or training\.warmup_steps\)$/);
  // Still only a warning for a top-level key that is nobody's.
  assert.equal(v({ colour: 1 }).valid, true);
});
