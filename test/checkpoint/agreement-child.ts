// Child of agreement.test.ts: one rank of a real process group; its queue agrees through the collective.
import { setTimeout as sleep } from 'node:timers/promises';
import path from 'node:path';
import { cleanupDistributed, getRank, setupDistributedEnvironment } from '../../src/collective/index.js';
import { AsyncCallsQueue, AsyncCheckpointer, AsyncRequest, loadStateDict, writerFunction } from '../../src/checkpoint/index.js';

const [dir] = process.argv.slice(2);
await setupDistributedEnvironment({ timeoutMs: 30_000 });
const rank = getRank();
const out: Record<string, unknown> = { rank };
const finalized: number[] = [];
const queue = new AsyncCallsQueue(); // default agreement: the collective's process group
queue.scheduleAsyncRequest(new AsyncRequest({ asyncFn: writerFunction(new URL('./writer-fns.ts', import.meta.url), 'wait'), asyncFnArgs: [rank === 1 ? 4000 : 20], finalizeFns: [() => void finalized.push(0)] }));
// Rank 0's call is done once the writer thread booted and slept 20 ms; rank 1's takes 4 s more.
await sleep(rank === 0 ? 2000 : 300);
out.early = await queue.maybeFinalizeAsyncCalls();
out.blocking = await queue.maybeFinalizeAsyncCalls({ blocking: true });
out.finalized = finalized;
const ckpt = new AsyncCheckpointer();
await ckpt.asyncSave({ w: { dtype: 'F32', shape: [2], data: new Float32Array([rank, 7]) }, step: 3 }, path.join(dir, `rank${rank}`, 'iter_0003'));
out.saved = await ckpt.finalizeAsyncSave({ blocking: true });
const back = (await loadStateDict(path.join(dir, `rank${rank}`, 'iter_0003'))) as { w: { data: Float32Array } };
out.loaded = Array.from(back.w.data);
await ckpt.close();
await cleanupDistributed();
process.stdout.write(`@@${JSON.stringify(out)}\n`);
process.exit(0);
