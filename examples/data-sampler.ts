/**
 * The elastic sampler and the resume path without any framework: a run of 2 ranks checkpoints part-way
 * through an epoch, "fails", and continues on 3 ranks; every sample of the epoch is used exactly once.
 *
 *   npx tsx examples/data-sampler.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointManager } from 'elastic-harness/checkpoint';
import { ElasticSampler, SeededRng, resumeTraining } from 'elastic-harness/data';

const dir = mkdtempSync(join(tmpdir(), 'eh-data-example-'));
const datasetSize = 1000;
const seen = new Uint8Array(datasetSize);

// World 1: two ranks (simulated in one process), 4 samples each per step, 20 steps, then a checkpoint.
const two = [0, 1].map((rank) => new ElasticSampler({ datasetSize, batchSize: 4, rank, worldSize: 2, seed: 42 }));
const rng = new SeededRng(7);
const manager = new CheckpointManager({ nvmePath: dir, asyncSave: false });
const first = await resumeTraining({ manager, sampler: two[0], rngs: { augment: rng }, world: { rank: 0, worldSize: 2 } });
for (let step = 1; step <= 20; step++) {
  for (const s of two) for (const i of s.nextBatch()!) seen[i]++;
  rng.next();
  first.stepCompleted(step);
}
await manager.saveCheckpoint(await first.capture({ step: 20 }));
console.log(`2 ranks: step 20, sampler state ${JSON.stringify(two[0].stateDict())}`);

// World 2: three ranks resume from rank 0's state; the rest of the epoch is re-split over them.
const three = [0, 1, 2].map((rank) => new ElasticSampler({ datasetSize, batchSize: 4, rank, worldSize: 3, seed: 42 }));
const resumed = await Promise.all(three.map((sampler, rank) => resumeTraining({ manager, sampler, rngs: { augment: new SeededRng(0) }, world: { rank, worldSize: 3 }, beacon: null })));
console.log(`3 ranks: resumed at step ${resumed[0].step} from ${resumed[0].tier}, ${three[0].length} batches left each`);
for (let batch = three[0].nextBatch(); batch !== null; batch = three[0].nextBatch()) {
  for (const i of batch) seen[i]++;
  for (const s of three.slice(1)) for (const i of s.nextBatch()!) seen[i]++;
}
const once = seen.every((c) => c === 1);
console.log(`every one of ${datasetSize} samples used exactly once: ${once}`);
await manager.close();
rmSync(dir, { recursive: true, force: true });
if (!once) process.exit(1);
