/**
 * Multi-tier checkpoints without any framework: a plain state dict (typed-array tensors + JSON) saved
 * every 10 steps to memory and every 20 steps to the local-disk (NVMe) tier, asynchronously (the save
 * returns once the data is staged; a worker thread writes it), keeping the last 2 on disk; then a
 * fresh manager, as after a crash, restores the newest whole checkpoint and the weights match.
 *
 *   node --import tsx examples/checkpoint.ts
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointManager, CheckpointState, CheckpointTier, tensor } from 'elastic-harness/checkpoint';

const dir = mkdtempSync(join(tmpdir(), 'eh-ckpt-example-'));
const options = { nvmePath: dir, memorySnapshotInterval: 10, checkpointInterval: 20, keepLastN: 2, asyncSave: true };
const manager = new CheckpointManager(options);

const weights = new Float32Array(1024);
// At most maxStagingBuffers (default 2) saves are in flight. This loop is far faster than a real step, so
// the third save waits for the first write, which also started the writer thread: the pause shows there.
for (let step = 1; step <= 60; step++) {
  for (let i = 0; i < weights.length; i++) weights[i] += 0.001 * ((i % 7) - 3); // a stand-in for a training step
  const state = (): CheckpointState =>
    new CheckpointState({ step, modelStateDict: { 'dense/kernel': tensor('F32', [32, 32], weights.slice()) }, optimizerStateDict: { lr: 0.01 } });
  if (manager.shouldCheckpoint(step, CheckpointTier.MEMORY)) await manager.saveCheckpoint(state(), CheckpointTier.MEMORY);
  if (manager.shouldCheckpoint(step, CheckpointTier.NVME)) {
    const t0 = performance.now();
    await manager.saveCheckpoint(state(), CheckpointTier.NVME); // staged; the write continues in the background
    console.log(`step ${step}: NVMe save returned after ${(performance.now() - t0).toFixed(1)} ms`);
  }
}
await manager.waitForPendingSaves();
await manager.close();
console.log(`on disk (keepLastN 2): ${readdirSync(dir).sort().join(', ')}`);

// A new process would start here: the memory tier is gone with the old one, the disk tier remains.
const restarted = new CheckpointManager(options);
const resumed = await restarted.loadCheckpoint();
if (!resumed) throw new Error('no checkpoint found');
const kernel = resumed.modelStateDict['dense/kernel'] as { data: Float32Array };
const same = kernel.data.every((v, i) => v === weights[i]);
console.log(`restored step ${resumed.step} from ${String(restarted.lastLoadedTier)}; weights equal to step 60's: ${same}`);
if (!same || resumed.step !== 60) throw new Error('the restored checkpoint does not match');
await restarted.close();
rmSync(dir, { recursive: true, force: true });
