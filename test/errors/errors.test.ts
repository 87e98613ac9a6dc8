import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  COMMON_ISSUES,
  CheckpointError,
  CheckpointLoadError,
  CheckpointSaveError,
  CheckpointValidationError,
  ConfigurationError,
  DataLoadingError,
  DistributedSetupError,
  ElasticTrainingError,
  TopologyChangeError,
} from '../../src/errors/index.js';

test('hierarchy matches the reference', () => {
  const all = [
    new ConfigurationError('x'),
    new DistributedSetupError('x'),
    new CheckpointLoadError('x'),
    new CheckpointSaveError('x'),
    new CheckpointValidationError('x'),
    new TopologyChangeError('x'),
    new DataLoadingError('x'),
  ];
  for (const e of all) {
    assert.ok(e instanceof ElasticTrainingError);
    assert.ok(e instanceof Error);
    assert.equal(e.name, e.constructor.name);
  }
  assert.ok(new CheckpointLoadError('x') instanceof CheckpointError);
  assert.ok(new CheckpointSaveError('x') instanceof CheckpointError);
  assert.ok(new CheckpointValidationError('x') instanceof CheckpointError);
  assert.ok(!(new ConfigurationError('x') instanceof CheckpointError));
});

test('ConfigurationError carries key and suggestions into the message', () => {
  const e = new ConfigurationError('Invalid scaling strategy', { configKey: 'scaling.strategy', suggestions: ["Use 'variable_batch' or 'constant_batch'"] });
  assert.equal(e.configKey, 'scaling.strategy');
  assert.deepEqual(e.suggestions, ["Use 'variable_batch' or 'constant_batch'"]);
  assert.match(e.message, /scaling\.strategy/);
  assert.match(e.message, /variable_batch/);
  assert.equal(e.problem, 'Invalid scaling strategy (key: scaling.strategy)');
});

test('DistributedSetupError lists missing variables with their COMMON_ISSUES hints', () => {
  const e = new DistributedSetupError('Failed to initialize distributed', { missingVars: ['RANK', 'WORLD_SIZE'], context: { backend: 'tcp' } });
  assert.deepEqual(e.missingVars, ['RANK', 'WORLD_SIZE']);
  assert.deepEqual(e.context, { backend: 'tcp' });
  assert.match(e.message, /missing: RANK, WORLD_SIZE/);
  assert.ok(e.message.includes(COMMON_ISSUES.RANK));
  assert.ok(e.message.includes(COMMON_ISSUES.WORLD_SIZE));
  assert.ok(!e.message.includes(COMMON_ISSUES.MASTER_PORT));
  for (const key of ['RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT', 'timeout', 'connection refused']) {
    assert.equal(typeof COMMON_ISSUES[key], 'string', key);
  }
});

test('DistributedSetupError recognises symptoms in the message', () => {
  assert.ok(new DistributedSetupError('store at 127.0.0.1:1 refused: connect ECONNREFUSED').message.includes(COMMON_ISSUES['connection refused']));
  assert.ok(new DistributedSetupError('allreduce timed out after 5000 ms').message.includes(COMMON_ISSUES.timeout));
});

test('checkpoint errors carry path, tier and cause', () => {
  const cause = new Error('ENOSPC: no space left on device');
  const e = new CheckpointSaveError('Disk full', { path: '/nvme/step_1000', tier: 'NVME', cause });
  assert.equal(e.path, '/nvme/step_1000');
  assert.equal(e.tier, 'NVME');
  assert.equal(e.cause, cause);
  assert.equal(e.originalError, cause);
  assert.match(e.message, /Disk full \[tier NVME, \/nvme\/step_1000\]/);
  const v = new CheckpointValidationError('Invalid checkpoint structure', { missingKeys: ['modelStateDict'], invalidKeys: ['step'] });
  assert.deepEqual(v.missingKeys, ['modelStateDict']);
  assert.deepEqual(v.invalidKeys, ['step']);
  assert.match(v.message, /missing keys: modelStateDict/);
  assert.match(v.message, /invalid keys: step/);
});

test('TopologyChangeError and DataLoadingError carry their attributes', () => {
  const t = new TopologyChangeError('World size below min_nodes', { oldWorldSize: 4, newWorldSize: 0 });
  assert.equal(t.oldWorldSize, 4);
  assert.equal(t.newWorldSize, 0);
  assert.match(t.message, /4 -> 0/);
  const d = new DataLoadingError('File not found', { filePath: 'data/train.jsonl' });
  assert.equal(d.filePath, 'data/train.jsonl');
  assert.match(d.message, /data\/train\.jsonl/);
  assert.ok(d.suggestions.length > 0);
});

test('every error explains what to do', () => {
  for (const e of [new CheckpointLoadError('x'), new CheckpointSaveError('x'), new CheckpointValidationError('x'), new DataLoadingError('x', { filePath: 'f' })]) {
    assert.ok(e.suggestions.length > 0, e.name);
    assert.match(e.message, /->/);
  }
  const json = new CheckpointSaveError('Disk full', { path: 'p', tier: 'NVME', cause: new Error('ENOSPC') }).toJSON();
  assert.equal(json.name, 'CheckpointSaveError');
  assert.equal(json.cause, 'ENOSPC');
});

test('errors raised without advice still say what to do', () => {
  const plain = [
    new ConfigurationError('batch size is 0', { configKey: 'training.batch_size' }),
    new ConfigurationError('bad value'),
    new DistributedSetupError('peer vanished'),
    new TopologyChangeError('World size below min_nodes', { oldWorldSize: 4, newWorldSize: 0 }),
  ];
  for (const e of plain) {
    assert.ok(e.suggestions.length > 0, e.name);
    assert.match(e.message, /\n {2}-> \S/, e.name);
  }
  assert.match(plain[0].message, /Correct training\.batch_size/);
  assert.equal(plain[0].problem, 'batch size is 0 (key: training.batch_size)', 'the problem alone stays free of advice');
  const given = new ConfigurationError('x', { suggestions: ['do y'] });
  assert.deepEqual(given.suggestions, ['do y'], 'given advice replaces the generic one');
  const hinted = new DistributedSetupError('missing env', { missingVars: ['RANK'] });
  assert.deepEqual(hinted.suggestions, [COMMON_ISSUES.RANK], 'COMMON_ISSUES hints replace the generic one');
});
