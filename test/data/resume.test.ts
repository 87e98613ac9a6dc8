import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CheckpointManager, tensor, type StateDict } from 'elastic-harness/checkpoint';
import { ConfigurationError, CheckpointLoadError } from 'elastic-harness/errors';
import { TrainingMetrics } from 'elastic-harness/metrics';
import { ElasticScalingManager, GradAccumulationConfig, ScalingConfig } from 'elastic-harness/scaling';
import { ElasticSampler, FileProgressBeacon, SeededRng, resumeTraining } from 'elastic-harness/data';

const root = mkdtempSync(join(tmpdir(), 'eh-resume-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A model whose state is one plain tensor: enough to see that the resume path restores it. */
class TinyModel {
  w = new Float32Array([1, 2, 3]);
  stateDict(): StateDict {
    return { w: tensor('F32', [3], this.w.slice()) };
  }
  loadStateDict(s: StateDict): void {
    this.w.set((s.w as { data: Float32Array }).data);
  }
}

class FakeOptimizer {
  learningRate = 0.1;
  setLearningRate(lr: number): void {
    this.learningRate = lr;
  }
}

function scalingFor(strategy: 'constant_batch' | 'variable_batch', optimizer: FakeOptimizer): ElasticScalingManager {
  return new ElasticScalingManager({
    strategy,
    optimizer,
    lrConfig: new ScalingConfig({ baseLr: 0.1, baseBatchSize: 4, baseWorldSize: 2, warmupSteps: strategy === 'variable_batch' ? 5 : 0, maxLr: 1 }),
    accumConfig: strategy === 'constant_batch' ? new GradAccumulationConfig({ targetGlobalBatchSize: 16, localBatchSize: 4, baseWorldSize: 2 }) : undefined,
  });
}

function fixedClock(start: number): { now: () => number; set: (t: number) => void } {
  let t = start;
  return { now: () => t, set: (x) => (t = x) };
}

test('resume: a fresh start loads nothing and records no recovery; scaling adapts to the starting world', async () => {
  const dir = join(root, 'fresh');
  const manager = new CheckpointManager({ nvmePath: dir, asyncSave: false });
  const opt = new FakeOptimizer();
  const scaling = scalingFor('variable_batch', opt);
  const metrics = new TrainingMetrics();
  const r = await resumeTraining({ manager, model: new TinyModel(), scaling, world: { rank: 0, worldSize: 4 }, metrics });
  assert.equal(r.resumed, false);
  assert.equal(r.step, 0);
  assert.equal(r.topologyChange?.accumulationSteps, 1);
  assert.equal(r.topologyChange?.lr, 0.2, 'linear rule: twice the world, twice the rate');
  assert.deepEqual(metrics.lr.adjustments.map((a) => a.reason), ['initial_world_size']);
  assert.equal(r.stepCompleted(1), null);
  assert.equal(metrics.recovery.events.length, 0);
  await manager.close();
});

test('resume: model, sampler, RNG, scaling and metrics restored; 2 -> 1 under constant_batch keeps the global batch; the recovery is timed from the last progress', async () => {
  const dir = join(root, 'constant');
  const clock = fixedClock(1000);
  const manager = new CheckpointManager({ nvmePath: dir, asyncSave: false });
  const model = new TinyModel();
  const opt = new FakeOptimizer();
  const scaling = scalingFor('constant_batch', opt);
  const sampler = new ElasticSampler({ datasetSize: 100, batchSize: 4, rank: 0, worldSize: 2, seed: 3 });
  const rng = new SeededRng(8);
  const metrics = new TrainingMetrics({ clock: clock.now });
  const first = await resumeTraining({ manager, model, scaling, sampler, rngs: { augment: rng }, world: { rank: 0, worldSize: 2 }, metrics, clock: clock.now });
  assert.equal(first.topologyChange, null);
  assert.equal(scaling.accumulationSteps, 2);
  // Two optimizer steps of two micro-batches each.
  for (let step = 1; step <= 2; step++) {
    for (let m = 0; m < 2; m++) {
      sampler.nextBatch();
      scaling.shouldStep();
    }
    model.w[0] += 1;
    rng.next();
    clock.set(1000 + step);
    first.stepCompleted(step);
  }
  await manager.saveCheckpoint(await first.capture({ step: 2, epoch: 0 }));
  const drawsAfterSave = [rng.next(), rng.next()];
  // The failure comes mid-window, after more progress: the window's micro-batch is not in the checkpoint.
  sampler.nextBatch();
  scaling.shouldStep();
  await assert.rejects(first.capture({ step: 3 }), (e: unknown) => e instanceof ConfigurationError && /middle of an accumulation window/.test(e.message));
  clock.set(1003.5);
  first.stepCompleted(3);

  // A new process, one rank left.
  clock.set(1010);
  const model2 = new TinyModel();
  const opt2 = new FakeOptimizer();
  const scaling2 = scalingFor('constant_batch', opt2);
  const sampler2 = new ElasticSampler({ datasetSize: 100, batchSize: 4, rank: 0, worldSize: 1, seed: 3 });
  const rng2 = new SeededRng(0);
  const metrics2 = new TrainingMetrics({ clock: clock.now });
  const manager2 = new CheckpointManager({ nvmePath: dir, asyncSave: false });
  const r = await resumeTraining({ manager: manager2, model: model2, scaling: scaling2, sampler: sampler2, rngs: { augment: rng2 }, world: { rank: 0, worldSize: 1 }, metrics: metrics2, clock: clock.now });
  assert.equal(r.step, 2);
  assert.equal(r.tier, 'NVME');
  assert.equal(r.previousWorldSize, 2);
  assert.equal(r.failureTime, 1003.5, 'the newest progress record, newer than the checkpoint');
  assert.deepEqual([...model2.w], [3, 2, 3]);
  assert.equal(sampler2.cursor, 32, '2 optimizer steps x 2 micro-batches x 4 samples x 2 ranks');
  assert.deepEqual([rng2.next(), rng2.next()], drawsAfterSave);
  assert.equal(scaling2.accumulationSteps, 4, 'half the world, twice the accumulation');
  assert.equal(scaling2.effectiveBatchSize, 16, 'the global batch stays the target');
  assert.equal(scaling2.accumManager?.currentMicroStep, 0, 'the interrupted window restarts empty');
  assert.equal(opt2.learningRate, 0.1);
  assert.equal(metrics2.step, 2, 'metrics restored in place from the checkpoint');
  assert.equal(metrics2.checkpoint.loadCount('NVME'), 1);
  clock.set(1012);
  const event = r.stepCompleted(3)!;
  assert.deepEqual({ ...event, timestamp: 0 }, { timestamp: 0, oldWorldSize: 2, newWorldSize: 1, recoveryTime: 8.5, checkpointTier: 'NVME', stepResumed: 2, kind: 'failure' });
  assert.equal(r.stepCompleted(4), null, 'one event per resume');
  assert.equal(metrics2.summary().recovery.workerFailures, 1);
  // The metrics travel with the next checkpoint.
  const saved = await r.capture({ step: 4 });
  assert.equal((saved.metrics.recovery as { events: unknown[] }).events.length, 1);
  await Promise.all([manager.close(), manager2.close()]);
});

test('resume: variable_batch 1 -> 2 rescales the learning rate with warm-up, records it and a join', async () => {
  const dir = join(root, 'variable');
  const opt = new FakeOptimizer();
  const scaling = scalingFor('variable_batch', opt);
  const manager = new CheckpointManager({ nvmePath: dir, asyncSave: false });
  const a = await resumeTraining({ manager, scaling, world: { rank: 0, worldSize: 1 }, beacon: null });
  assert.equal(scaling.lrManager.targetLr, 0.05);
  for (let i = 0; i < 5; i++) scaling.stepLr();
  assert.equal(opt.learningRate, 0.05, 'the warm-up to the one-rank rate is over');
  a.stepCompleted(1);
  await manager.saveCheckpoint(await a.capture({ step: 1 }));
  const opt2 = new FakeOptimizer();
  const scaling2 = scalingFor('variable_batch', opt2);
  const metrics = new TrainingMetrics();
  const r = await resumeTraining({ manager, scaling: scaling2, world: { rank: 0, worldSize: 2 }, metrics, beacon: null });
  assert.equal(r.topologyChange?.lr, 0.1);
  assert.ok(scaling2.isWarmingUp, 'the new rate is reached through warm-up');
  assert.ok(opt2.learningRate < 0.1);
  const adj = metrics.lr.adjustments.at(-1)!;
  assert.deepEqual([adj.oldLr, adj.newLr, adj.reason, adj.step], [0.05, 0.1, 'topology_change', 1]);
  assert.equal(r.stepCompleted(2)?.kind, 'join');
  await manager.close();
});

test('resume: a checkpoint without a named sampler, or a progress record from before the checkpoint', async () => {
  const dir = join(root, 'names');
  const manager = new CheckpointManager({ nvmePath: dir, asyncSave: false });
  const sampler = new ElasticSampler({ datasetSize: 10, batchSize: 2 });
  const beacon = new FileProgressBeacon(join(root, 'beacon'));
  beacon.write(0, { time: 1, step: 0, worldSize: 7 });
  const a = await resumeTraining({ manager, data: { train: sampler }, beacon });
  await manager.saveCheckpoint(await a.capture({ step: 1 }));
  const r = await resumeTraining({ manager, data: { train: new ElasticSampler({ datasetSize: 10, batchSize: 2 }) }, beacon });
  assert.equal(r.previousWorldSize, 1, 'a record older than the checkpoint is ignored');
  assert.equal(r.failureTime, r.state!.timestamp);
  await assert.rejects(resumeTraining({ manager, data: { val: sampler }, beacon }), (e: unknown) => e instanceof CheckpointLoadError && /named "val"/.test(e.message) && /train/.test(e.message));
  await manager.close();
});
