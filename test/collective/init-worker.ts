/**
 * A rank started by hand, as torch's tcp:// init is used (no agent): joins the group through
 * setupDistributedEnvironment({ initMethod: INIT_METHOD }), allreduces its rank + 1, prints the sum.
 */
import { allReduce, cleanupDistributed, getRank, setupDistributedEnvironment } from '../../src/collective/index.js';

const initMethod = process.env.INIT_METHOD;
if (initMethod === undefined) throw new Error('INIT_METHOD is not set');
const world = await setupDistributedEnvironment({ initMethod, timeoutMs: 20_000 });
const sum = await allReduce(new Float64Array([getRank() + 1]), 'sum');
process.stdout.write(`${JSON.stringify({ rank: world.rank, worldSize: world.worldSize, sum: sum[0] })}\n`);
await cleanupDistributed();
