/**
 * The agent (`eh run`): it starts the workers, gives each its rank and world through the environment,
 * and restarts the whole group when one fails. Here rank 1 exits with an error on the first attempt;
 * the agent restarts the group (allowed by --max-restarts 1) and the second attempt finishes.
 *
 *   npm run build && node dist/cli/main.js run --standalone --nproc-per-node 2 --max-restarts 1 examples/agent/worker.ts
 */
import { barrier, cleanupDistributed, reportProgress, setupDistributedEnvironment } from 'elastic-harness/agent';

const attempt = Number(process.env.TORCHELASTIC_RESTART_COUNT ?? '0');
const world = await setupDistributedEnvironment(); // the process group, from the variables the agent set
console.log(`attempt ${attempt}: rank ${world.rank} of ${world.worldSize} (local rank ${world.localRank}), pid ${process.pid}`);

for (let step = 1; step <= 3; step++) {
  if (attempt === 0 && world.rank === 1 && step === 2) {
    console.error('rank 1: failing on purpose at step 2');
    process.exit(1); // the agent sees the exit, stops rank 0 and starts a new attempt
  }
  reportProgress(step); // a heartbeat carrying the step, shown by `eh monitor`
  await barrier();
}

console.log(`rank ${world.rank}: done after attempt ${attempt}`);
await cleanupDistributed();
