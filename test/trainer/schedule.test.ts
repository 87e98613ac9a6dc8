import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  apportion,
  buildEpochSchedule,
  countByLoader,
  optimizerStepsPerEpoch,
  accumulationWindow,
  nextWindow,
  parseTrainerConfig,
  formatFilename,
  checkFilenameTemplate,
  MetricsManager,
  ConfigurationError,
  ValidationError,
  type MultiDataLoaderConfigInput,
} from '../../src/trainer/index.js';

const order = (cfg: MultiDataLoaderConfigInput, lengths: number[], seed = 0, epoch = 0) => buildEpochSchedule(cfg, lengths, { seed, epoch }).map((s) => s.loaderIndex).join('');

function throwsKey(fn: () => unknown, key: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ValidationError, `a ValidationError, got ${String(e)}`);
    assert.ok(e instanceof ConfigurationError);
    assert.match(e.configKey ?? '', key);
    return true;
  });
}

describe('largest-remainder apportioning', () => {
  it('gives .5/.3/.2 of 100 as exactly 50/30/20, and 7 equal weights of 100 as two 15s and five 14s', () => {
    assert.deepEqual(apportion(100, [0.5, 0.3, 0.2]), [50, 30, 20]);
    assert.deepEqual(apportion(100, [1, 1, 1, 1, 1, 1, 1]), [15, 15, 14, 14, 14, 14, 14]);
    assert.deepEqual(apportion(10, [0.57, 0.43]), [6, 4]);
    for (const [t, w] of [[17, [1, 2, 3]], [1, [0.2, 0.8]], [0, [1, 1]], [101, [0.1, 0.1, 0.8]]] as const) assert.equal(apportion(t, [...w]).reduce((a, b) => a + b, 0), t);
  });
  it('refuses negative, all-zero and empty weights, naming the key', () => {
    throwsKey(() => apportion(10, [1, -1]), /dataloaderWeights\[1\]/);
    throwsKey(() => apportion(10, [0, 0]), /dataloaderWeights/);
    throwsKey(() => apportion(10, []), /dataloaderWeights/);
  });
});

describe('buildEpochSchedule', () => {
  it('WEIGHTED: counts by largest remainder, order a pure function of (seed, epoch)', () => {
    const cfg: MultiDataLoaderConfigInput = { samplingStrategy: 'WEIGHTED', dataloaderNames: ['a', 'b', 'c'], dataloaderWeights: [0.5, 0.3, 0.2], epochLengthPolicy: 'FIXED_NUM_STEPS', stepsPerEpoch: 100 };
    const s = buildEpochSchedule(cfg, [100, 100, 100], { seed: 3, epoch: 0 });
    assert.deepEqual(countByLoader(s, 3), [50, 30, 20]);
    assert.equal(s[0].loaderName, ['a', 'b', 'c'][s[0].loaderIndex]);
    assert.equal(order(cfg, [100, 100, 100], 3, 0), order(cfg, [100, 100, 100], 3, 0), 'same seed and epoch, same order');
    assert.notEqual(order(cfg, [100, 100, 100], 3, 0), order(cfg, [100, 100, 100], 3, 1), 'another epoch, another order');
    assert.notEqual(order(cfg, [100, 100, 100], 3, 0), order(cfg, [100, 100, 100], 4, 0), 'another seed, another order');
    const seven = buildEpochSchedule({ samplingStrategy: 'WEIGHTED', dataloaderNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g'], dataloaderWeights: [1, 1, 1, 1, 1, 1, 1], epochLengthPolicy: 'FIXED_NUM_STEPS', stepsPerEpoch: 100 }, [50, 50, 50, 50, 50, 50, 50]);
    assert.deepEqual(countByLoader(seven, 7), [15, 15, 14, 14, 14, 14, 14]);
  });
  it('WEIGHTED without cycling caps a loader at its length', () => {
    const s = buildEpochSchedule({ samplingStrategy: 'WEIGHTED', dataloaderNames: ['a', 'b'], dataloaderWeights: [0.9, 0.1], cycleShortLoaders: false }, [5, 20]);
    assert.deepEqual(countByLoader(s, 2), [5, 2], 'SUM = 25 steps: quotas 22.5 and 2.5, the tie goes to a (23, capped to its 5), b 2');
  });
  it('ROUND_ROBIN with bursts; a short loader drops out under SUM_OF_LENGTHS', () => {
    assert.equal(order({ dataloaderNames: ['a', 'b'] }, [3, 5]), '01010111');
    assert.equal(order({ dataloaderNames: ['a', 'b'], burstSize: 2 }, [3, 5]), '00110111');
    assert.equal(order({ dataloaderNames: ['a', 'b', 'c'] }, [2, 2, 2]), '012012');
  });
  it('ALTERNATING follows the pattern (with bursts), out-of-range indices refused', () => {
    assert.equal(order({ dataloaderNames: ['a', 'b'], samplingStrategy: 'ALTERNATING', alternatingPattern: [0, 0, 1] }, [4, 4]), '00100111');
    assert.equal(order({ dataloaderNames: ['a', 'b'], samplingStrategy: 'ALTERNATING', alternatingPattern: [1, 0], burstSize: 2 }, [3, 3]), '110010');
    throwsKey(() => order({ dataloaderNames: ['a', 'b'], samplingStrategy: 'ALTERNATING', alternatingPattern: [0, 2] }, [1, 1]), /alternatingPattern\[1\]/);
    throwsKey(() => order({ dataloaderNames: ['a', 'b'], samplingStrategy: 'ALTERNATING' }, [1, 1]), /alternatingPattern/);
  });
  it('SEQUENTIAL: one loader after another', () => {
    assert.equal(order({ dataloaderNames: ['a', 'b'], samplingStrategy: 'SEQUENTIAL' }, [2, 3]), '00111');
  });
  it('each epoch-length policy', () => {
    const base = { dataloaderNames: ['a', 'b'] };
    assert.equal(buildEpochSchedule({ ...base, epochLengthPolicy: 'SUM_OF_LENGTHS' }, [2, 4]).length, 6);
    assert.equal(order({ ...base, epochLengthPolicy: 'MAX_OF_LENGTHS' }, [2, 4]), '01010101', 'the short loader cycles to the longest length');
    assert.equal(order({ ...base, epochLengthPolicy: 'MIN_OF_LENGTHS' }, [2, 4]), '0101', 'every loader as long as the shortest');
    assert.equal(order({ ...base, epochLengthPolicy: 'FIXED_NUM_STEPS', stepsPerEpoch: 7 }, [2, 4]), '0101010', 'cycling until the fixed total');
    assert.equal(order({ ...base, epochLengthPolicy: 'FIXED_NUM_STEPS', stepsPerEpoch: 9, cycleShortLoaders: false }, [2, 4]), '010111', 'without cycling the epoch ends when every loader is empty');
    assert.equal(order({ ...base, samplingStrategy: 'SEQUENTIAL', epochLengthPolicy: 'MAX_OF_LENGTHS' }, [2, 4]), '00001111');
    assert.equal(order({ ...base, samplingStrategy: 'SEQUENTIAL', epochLengthPolicy: 'FIXED_NUM_STEPS', stepsPerEpoch: 8 }, [2, 4]), '00111100');
    throwsKey(() => order({ ...base, epochLengthPolicy: 'FIXED_NUM_STEPS' }, [2, 4]), /stepsPerEpoch/);
  });
  it('names must be unique and match the loaders', () => {
    throwsKey(() => order({ dataloaderNames: ['a', 'a'] }, [1, 1]), /dataloaderNames\[1\]/);
    throwsKey(() => order({ dataloaderNames: ['a', 'b'] }, [1, 1, 1]), /dataloaderNames/);
    throwsKey(() => order({ dataloaderNames: [] }, []), /dataloaderNames/);
    throwsKey(() => order({ dataloaderNames: ['a'], samplingStrategy: 'WEIGHTED' }, [1]), /dataloaderWeights/);
    throwsKey(() => order({ dataloaderNames: ['a', 'b'], samplingStrategy: 'WEIGHTED', dataloaderWeights: [0, 0] }, [1, 1]), /dataloaderWeights/);
    throwsKey(() => order({ dataloaderNames: ['a', 'b'], samplingStrategy: 'WEIGHTED', dataloaderWeights: [-0.5, 1] }, [1, 1]), /dataloaderWeights\[0\]/);
  });
});

describe('gradient accumulation counts', () => {
  it('an optimizer step every k micro-batches and at the end of the epoch', () => {
    assert.equal(optimizerStepsPerEpoch(10, 4), 3);
    assert.equal(optimizerStepsPerEpoch(17, 5), 4);
    assert.deepEqual(accumulationWindow(9, 10, 4), { start: 8, length: 2, last: true });
    assert.deepEqual(accumulationWindow(5, 10, 4), { start: 4, length: 4, last: false });
    let steps = 0;
    for (let p = 0; p < 17; ) {
      const w = nextWindow(p, 17, 5);
      p += w.length;
      steps += 1;
    }
    assert.equal(steps, 4);
  });
});

describe('trainer configuration', () => {
  it('fills documented defaults', () => {
    const c = parseTrainerConfig({ trainLoaderConfig: { dataloaderNames: ['x'] } });
    assert.equal(c.trainLoaderConfig.samplingStrategy, 'ROUND_ROBIN');
    assert.equal(c.checkpoint.filenameTemplate, 'epoch_{epoch:03d}_step_{step:06d}.ckpt');
    assert.equal(c.checkpoint.maxCheckpoints, 5);
    assert.equal(c.faultTolerance.preemptionSignal, 'SIGUSR1');
    assert.equal(c.faultTolerance.requeueExitCode, 75);
    assert.equal(c.logging.loggerType, 'console');
  });
  it('a bad value or an unknown key is a ValidationError naming the key', () => {
    throwsKey(() => parseTrainerConfig({ trainLoaderConfig: { dataloaderNames: ['x'] }, checkpoint: { maxCheckpoints: 0 } }), /^checkpoint\.maxCheckpoints$/);
    throwsKey(() => parseTrainerConfig({ trainLoaderConfig: { dataloaderNames: ['x'] }, logging: { loggerType: 'wandb' as 'json' } }), /^logging\.loggerType$/);
    throwsKey(() => parseTrainerConfig({ trainLoaderConfig: { dataloaderNames: ['x'] }, checkpoint: { monitorMode: 'up' as 'min' } }), /^checkpoint\.monitorMode$/);
    throwsKey(() => parseTrainerConfig({ trainLoaderConfig: { dataloaderNames: ['x'] }, performance: { gradientAccumulationStep: 2 } as never }), /^performance$/);
    throwsKey(() => parseTrainerConfig({} as never), /^trainLoaderConfig$/);
    throwsKey(() => parseTrainerConfig({ trainLoaderConfig: { dataloaderNames: ['x'] }, checkpoint: { filenameTemplate: 'step_{step:06d}_epoch_{epoch}' } }), /filenameTemplate/);
  });
  it('file names from the template', () => {
    assert.equal(formatFilename('epoch_{epoch:03d}_step_{step:06d}.ckpt', { epoch: 2, step: 140 }), 'epoch_002_step_000140.ckpt');
    assert.equal(checkFilenameTemplate('ckpt-{step}'), undefined);
    assert.match(checkFilenameTemplate('epoch_{epoch}') ?? '', /no \{step\}/);
    assert.match(checkFilenameTemplate('../{step}') ?? '', /path segment/);
    assert.match(checkFilenameTemplate('{step}_{foo}') ?? '', /only \{epoch\} and \{step\}/);
  });
});

describe('MetricsManager', () => {
  it('WEIGHTED_AVERAGE weights batches by size, SIMPLE_AVERAGE counts each once; per-loader names', async () => {
    const w = new MetricsManager({ aggregationStrategy: 'WEIGHTED_AVERAGE' });
    const s = new MetricsManager({ aggregationStrategy: 'SIMPLE_AVERAGE' });
    for (const m of [w, s]) {
      m.add('a', { loss: 1 }, 30);
      m.add('b', { loss: 4 }, 10);
    }
    assert.deepEqual(w.compute(), { 'a/loss': 1, 'b/loss': 4, loss: (30 + 40) / 40 });
    assert.deepEqual(s.compute(), { 'a/loss': 1, 'b/loss': 4, loss: 2.5 });
    // Reduction across ranks sums sums and weights: two identical ranks give the same average.
    const reduced = await w.reduce(async (v) => v.map((x) => x * 2), 'train/');
    assert.equal(reduced['train/loss'], 70 / 40);
    throwsKey(() => new MetricsManager({ aggregationStrategy: 'MEDIAN' as 'SIMPLE_AVERAGE' }), /aggregationStrategy/);
  });
});
