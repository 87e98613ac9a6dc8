/**
 * Collectives among the ranks `eh run` starts: each rank holds its own "gradient", allReduce averages
 * them in place (the same bits on every rank), allGather collects one value from each rank, and
 * broadcastObject sends rank 0's settings to all. Alone (no launcher) it is a world of one.
 *
 *   npm run build && node dist/cli/main.js run --standalone --nproc-per-node 2 examples/collective.ts
 */
import { allGather, allReduce, broadcastObject, cleanupDistributed, setupDistributedEnvironment } from 'elastic-harness/collective';

const world = await setupDistributedEnvironment({ timeoutMs: 30_000 });
const { rank, worldSize } = world;

// Rank r's gradient is [r+1, 2(r+1), 3(r+1), 4(r+1)]; the average over ranks is known in closed form.
const grads = Float32Array.from([1, 2, 3, 4], (v) => v * (rank + 1));
await allReduce(grads, 'avg');
const meanFactor = (worldSize + 1) / 2;
const expected = [1, 2, 3, 4].map((v) => v * meanFactor);
if (grads.some((g, i) => Math.abs(g - expected[i]) > 1e-6)) throw new Error(`rank ${rank}: allReduce gave ${grads.join(',')}, expected ${expected.join(',')}`);

const ranks = await allGather(Int32Array.of(rank * 10));
const settings = await broadcastObject(rank === 0 ? { lr: 0.01, seed: 42 } : null, 0);

console.log(`rank ${rank}/${worldSize}: averaged grads [${grads.join(', ')}], gathered [${ranks.join(', ')}], settings ${JSON.stringify(settings)}`);
await cleanupDistributed();
