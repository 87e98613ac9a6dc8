// Child for manager.test.ts: one asynchronous save, then the script ends (waiting for the save or not).
import { CheckpointManager, CheckpointState, CheckpointTier } from '../../src/checkpoint/index.js';

const [dir, mode] = process.argv.slice(2);
const manager = new CheckpointManager({ nvmePath: dir, asyncSave: true });
const step = mode === 'wait' ? 2 : 1;
const w = new Float32Array(1 << 20).fill(step);
await manager.saveCheckpoint(new CheckpointState({ step, modelStateDict: { w: { dtype: 'F32', shape: [w.length], data: w } } }), CheckpointTier.NVME);
if (mode === 'wait') process.stdout.write(`saved ${String(await manager.waitForPendingSaves(20_000))}\n`);
