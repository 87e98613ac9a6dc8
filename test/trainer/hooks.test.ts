import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { TfjsModel, TfjsOptimizer } from '../../src/tfjs/index.js';
import { GenericTrainer, NULL_LOGGER, TrainerError, createDataLoader, type TrainerHooks } from '../../src/trainer/index.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function makeTrainer(extra: Record<string, unknown> = {}): { trainer: GenericTrainer; loaders: ReturnType<typeof createDataLoader>[]; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'eh-hooks-'));
  dirs.push(dir);
  const w = tf.variable(tf.zeros([3, 1]), true, `w_${dirs.length}`);
  const trainer = new GenericTrainer({
    config: { trainLoaderConfig: { dataloaderNames: ['only'] }, checkpoint: { rootDir: dir, asyncSave: false, resume: false }, ...extra },
    model: new TfjsModel([w]),
    optimizers: [new TfjsOptimizer(tf.train.sgd(0.1))],
    logger: NULL_LOGGER,
  });
  trainer.setTrainingStep((_t, batch) => {
    const b = batch as tf.Tensor2D;
    return { loss: tf.mean(tf.square(tf.sub(tf.matMul(b, w), 1))) };
  });
  const loaders = [createDataLoader({ datasetSize: 12, batchSize: 4, getBatch: (idx) => tf.tensor2d(idx.flatMap((i) => [i, 1, -i]), [idx.length, 3]), disposeBatch: (b) => (b as tf.Tensor).dispose() })];
  return { trainer, loaders, dir };
}

class ThrowingHook implements TrainerHooks<GenericTrainer> {
  calls: string[] = [];
  onEpochStart(_t: GenericTrainer, epoch: number): void {
    this.calls.push(`start ${epoch}`);
  }
  onEpochEnd(): void {
    throw new Error('boom at the epoch end');
  }
}

describe('trainer hooks', () => {
  it('a hook that throws fails fit() with a TrainerError naming the hook; onException sees it', async () => {
    const { trainer, loaders } = makeTrainer();
    const hook = new ThrowingHook();
    const seen: unknown[] = [];
    trainer.hookManager.registerHook(hook);
    trainer.hookManager.registerHook({ onException: (_t, e) => void seen.push(e) });
    await assert.rejects(trainer.fit({ trainLoaders: loaders, maxEpochs: 2 }), (e: unknown) => {
      assert.ok(e instanceof TrainerError);
      assert.equal(e.phase, 'ThrowingHook.onEpochEnd');
      assert.match(e.message, /hook ThrowingHook\.onEpochEnd threw: boom at the epoch end/);
      return true;
    });
    assert.deepEqual(hook.calls, ['start 0'], 'training stopped at the first epoch end');
    assert.equal(seen.length, 1);
    assert.equal(trainer.globalStep, 3, '12 samples in batches of 4: 3 steps before the epoch end');
  });

  it('with continueOnHookError the failure is reported and training goes on; hooks see every step', async () => {
    const { trainer, loaders } = makeTrainer({ hooks: { continueOnHookError: true } });
    const steps: number[] = [];
    trainer.hookManager.registerHook(new ThrowingHook());
    trainer.hookManager.registerHook({ onStepEnd: (_t, s) => void steps.push(s) });
    await trainer.fit({ trainLoaders: loaders, maxEpochs: 2 });
    assert.deepEqual(steps, [1, 2, 3, 4, 5, 6]);
  });

  it('gradient accumulation: 10 batches with k = 4 are 3 optimizer steps, 17 with 5 are 4', async () => {
    for (const [batches, k, expected] of [[10, 4, 3], [17, 5, 4]] as const) {
      const { trainer } = makeTrainer({ performance: { gradientAccumulationSteps: k, shuffle: false } });
      const loader = createDataLoader({ datasetSize: batches * 2, batchSize: 2, getBatch: (idx) => tf.tensor2d(idx.flatMap((i) => [i, 1, -i]), [idx.length, 3]), disposeBatch: (b) => (b as tf.Tensor).dispose() });
      let micro = 0;
      const inner = trainer as unknown as { trainingStep: (...a: unknown[]) => unknown };
      const step = inner.trainingStep;
      inner.trainingStep = (...a: unknown[]) => {
        micro += 1;
        return step(...a);
      };
      await trainer.fit({ trainLoaders: [loader], maxEpochs: 1 });
      assert.equal(micro, batches);
      assert.equal(trainer.globalStep, expected, `${batches} batches, k = ${k}`);
    }
  });

  it('a wrong number of loader names, or a step that returns no loss, is a clear error', async () => {
    const { trainer, loaders } = makeTrainer();
    await assert.rejects(trainer.fit({ trainLoaders: [...loaders, ...loaders], maxEpochs: 1 }), /2 trainLoaders for 1 names/);
    const t2 = makeTrainer().trainer;
    t2.setTrainingStep(() => ({}) as never);
    await assert.rejects(t2.fit({ trainLoaders: loaders, maxEpochs: 1 }), /not an object with a loss/);
  });
});
