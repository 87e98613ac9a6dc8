import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointSaveError, ConfigurationError } from '../../src/errors/index.js';
import {
  AsyncCallsQueue,
  AsyncCheckpointer,
  AsyncRequest,
  writerFunction,
  type WriterFunction,
  CheckpointManager,
  defaultAgreement,
  CheckpointState,
  CheckpointTier,
  MemoryLimitExceeded,
  MemorySnapshotBackend,
  NVMeBackend,
  loadStateDict,
  type StateDict,
  type Tensor,
} from '../../src/checkpoint/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function stateAt(step: number, n = 1000): CheckpointState {
  const w = new Float32Array(n).map((_, i) => step * 1000 + i);
  return new CheckpointState({ step, epoch: 1, modelStateDict: { w: { dtype: 'F32', shape: [n], data: w } }, metrics: { loss: 1 / (step + 1) }, datasetState: { position: step * 32 }, worldSize: 2 });
}

function weights(s: CheckpointState): Float32Array {
  return (s.modelStateDict.w as Tensor).data as Float32Array;
}

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-ckpt-mgr-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('CheckpointState: toDict/fromDict round trip, clone is deep, fromDict names missing and invalid keys', () => {
  const s = stateAt(3);
  const c = s.clone();
  weights(s)[0] = -1;
  assert.equal(weights(c)[0], 3000);
  const back = CheckpointState.fromDict(s.toDict());
  assert.equal(back.step, 3);
  assert.equal(back.worldSize, 2);
  assert.deepEqual(back.datasetState, { position: 96 });
  assert.throws(() => CheckpointState.fromDict({ step: -1, epoch: 0 }), (e: unknown) => e instanceof Error && /missing keys: .*modelStateDict/.test(e.message) && /invalid keys: step/.test(e.message));
  assert.equal(CheckpointState.fromDict({ step: 4 }, { validate: false }).epoch, 0);
});

test('MemorySnapshotBackend: copies, evicts the oldest, reports usage, refuses a snapshot over the limit', async () => {
  const m = new MemorySnapshotBackend({ maxSnapshots: 2, maxMemoryMb: 0.05 });
  const s1 = stateAt(1, 1000);
  await m.save(s1);
  weights(s1)[0] = 42;
  assert.equal(weights(await m.load())[0], 1000);
  await m.save(stateAt(2, 1000));
  await m.save(stateAt(3, 1000));
  assert.equal(m.numSnapshots, 2);
  assert.equal(m.latestStep, 3);
  assert.deepEqual(await m.listCheckpoints(), ['step_00000002', 'step_00000003']);
  assert.ok(m.memoryUsageBytes() >= 8000);
  const loaded = await m.load('step_00000002');
  weights(loaded)[1] = -5;
  assert.equal(weights(await m.load('step_00000002'))[1], 2001);
  await assert.rejects(m.save(stateAt(4, 20000)), (e: unknown) => e instanceof MemoryLimitExceeded && e.requestedBytes > 80000 && e.availableBytes === Math.floor(0.05 * 1024 * 1024));
  // A snapshot that fits only after evictions evicts the oldest first.
  await m.save(stateAt(5, 12500));
  assert.deepEqual(await m.listCheckpoints(), ['step_00000005']);
  m.clear();
  assert.equal(m.numSnapshots, 0);
  assert.equal(m.latestStep, null);
});

test('NVMeBackend: step 10 sorts after step 9, exists/delete/cleanup, saveAsync copies before returning', async () => {
  await withDir(async (dir) => {
    const b = new NVMeBackend(dir);
    for (const step of [9, 10, 2]) await b.save(stateAt(step));
    assert.deepEqual(await b.listCheckpoints(), ['step_00000002', 'step_00000009', 'step_00000010']);
    await b.save(stateAt(11), 'run-a_step_11');
    assert.equal(await b.getLatestCheckpoint(), 'run-a_step_11');
    assert.deepEqual(await b.listCheckpoints('run-a'), ['run-a_step_11']);
    assert.equal(await b.exists('step_00000009'), true);
    await b.delete('step_00000009');
    assert.equal(await b.exists('step_00000009'), false);
    assert.deepEqual(await b.cleanupOldCheckpoints(1), ['step_00000002', 'step_00000010']);
    const s = stateAt(20);
    const pending = await b.saveAsync(s);
    weights(s).fill(0);
    assert.equal(await pending.done, path.join(dir, 'step_00000020'));
    assert.equal(weights(await b.load('step_00000020'))[5], 20005);
    // Re-saving an existing name replaces it atomically.
    await b.save(stateAt(20, 10));
    assert.equal(weights(await b.load('step_00000020')).length, 10);
    assert.deepEqual((await readdir(dir)).sort(), ['run-a_step_11', 'step_00000020']);
    await assert.rejects(b.save(stateAt(1), '../escape'), ConfigurationError);
  });
});

test('NVMeBackend: cleanups asked for while one runs share the next run, so deletes never overlap', async () => {
  await withDir(async (dir) => {
    const b = new NVMeBackend(dir, { fsync: false });
    for (let step = 1; step <= 10; step++) await b.save(stateAt(step, 10));
    let inFlight = 0;
    let most = 0;
    let deletes = 0;
    const realDelete = b.delete.bind(b);
    b.delete = async (name: string): Promise<void> => {
      inFlight++;
      deletes++;
      most = Math.max(most, inFlight);
      try {
        await realDelete(name);
      } finally {
        inFlight--;
      }
    };
    const results = await Promise.all([b.cleanupOldCheckpoints(5), b.cleanupOldCheckpoints(4), b.cleanupOldCheckpoints(3), b.cleanupOldCheckpoints(6)]);
    assert.equal(most, 1, 'one delete at a time');
    assert.equal(deletes, 7, 'each old checkpoint deleted once');
    assert.deepEqual(results[0], ['step_00000001', 'step_00000002', 'step_00000003', 'step_00000004', 'step_00000005']);
    // The three later calls share one run, with the smallest keepLast asked for.
    assert.deepEqual(results[1], ['step_00000006', 'step_00000007']);
    assert.equal(results[2], results[1]);
    assert.equal(results[3], results[1]);
    assert.deepEqual(await b.listCheckpoints(), ['step_00000008', 'step_00000009', 'step_00000010']);
    assert.deepEqual((await readdir(dir)).filter((e) => e.startsWith('.')), []);
    // And afterwards a call runs on its own again.
    assert.deepEqual(await b.cleanupOldCheckpoints(1), ['step_00000008', 'step_00000009']);
  });
});

test('CheckpointManager: async saves return after staging, retention per tier, shouldCheckpoint, S3 needs a bucket', async () => {
  await withDir(async (dir) => {
    const manager = new CheckpointManager({ nvmePath: dir, keepLastN: { NVME: 2 }, checkpointInterval: 10, memorySnapshotInterval: 5, asyncSaveRetryDelay: 0.01 });
    manager.reserveStaging(stateAt(0, 100_000));
    assert.equal(manager.stagingPool.allocatedBytes, 1024 * 1024);
    assert.equal(manager.shouldCheckpoint(10, CheckpointTier.NVME), true);
    assert.equal(manager.shouldCheckpoint(0, CheckpointTier.NVME), false);
    assert.equal(manager.shouldCheckpoint(15, CheckpointTier.MEMORY), true);
    assert.equal(manager.shouldCheckpoint(12, CheckpointTier.MEMORY), false);
    for (const step of [10, 20, 30]) {
      const s = stateAt(step, 100_000);
      const where = await manager.saveCheckpoint(s, CheckpointTier.NVME);
      assert.equal(where, path.join(dir, `step_000000${step}`));
      weights(s).fill(-1); // training goes on and changes the live state at once
    }
    assert.equal(await manager.waitForPendingSaves(30_000), true);
    assert.deepEqual(await manager.backend(CheckpointTier.NVME).listCheckpoints(), ['step_00000020', 'step_00000030']);
    const loaded = await manager.loadCheckpoint();
    assert.equal(loaded?.step, 30);
    assert.equal(weights(loaded!)[99_999], 30_000 + 99_999);
    // Staging buffers are reused, not reallocated: at most two (double buffering), and no more after further saves.
    assert.equal(manager.stagingPool.inUse, 0);
    const allocated = manager.stagingPool.allocatedBytes;
    assert.ok(allocated <= 2 * 1024 * 1024, String(allocated));
    for (const step of [31, 32]) {
      await manager.saveCheckpoint(stateAt(step, 100_000), CheckpointTier.NVME);
      assert.equal(await manager.waitForPendingSaves(30_000), true);
    }
    assert.equal(manager.stagingPool.allocatedBytes, allocated);
    assert.deepEqual(await manager.backend(CheckpointTier.NVME).listCheckpoints(), ['step_00000031', 'step_00000032']);
    await assert.rejects(manager.saveCheckpoint(stateAt(40), CheckpointTier.S3), (e: unknown) => e instanceof ConfigurationError && e.configKey === 's3Bucket');
    assert.throws(() => new CheckpointManager({ asyncSavePolicy: 'maybe' as 'warn' }), ConfigurationError);
    assert.throws(() => new CheckpointManager({ checkpointInterval: 0 }), ConfigurationError);
    await manager.close();
  });
});

test('loadCheckpoint takes the newest step across tiers, memory first on a tie, and clearMemorySnapshots empties memory', async () => {
  await withDir(async (dir) => {
    const manager = new CheckpointManager({ nvmePath: dir, asyncSave: false });
    await manager.saveCheckpoint(stateAt(20), CheckpointTier.MEMORY);
    await manager.saveCheckpoint(stateAt(30), CheckpointTier.NVME);
    assert.equal((await manager.loadCheckpoint())?.step, 30);
    assert.equal(manager.lastLoadedTier, CheckpointTier.NVME);
    await manager.saveCheckpoint(stateAt(30), CheckpointTier.MEMORY);
    assert.equal((await manager.loadCheckpoint())?.step, 30);
    assert.equal(manager.lastLoadedTier, CheckpointTier.MEMORY);
    await manager.saveCheckpoint(stateAt(40), CheckpointTier.MEMORY);
    assert.equal((await manager.loadCheckpoint({ tier: CheckpointTier.NVME }))?.step, 30);
    assert.equal((await manager.loadCheckpoint({ path: 'step_00000040' }))?.step, 40);
    assert.equal(manager.lastLoadedTier, CheckpointTier.MEMORY);
    assert.deepEqual(await manager.memory.listCheckpoints(), ['step_00000030', 'step_00000040']);
    manager.clearMemorySnapshots();
    assert.equal((await manager.loadCheckpoint())?.step, 30);
    await withDir(async (empty) => {
      const m2 = new CheckpointManager({ nvmePath: empty });
      assert.equal(await m2.loadCheckpoint(), null);
      await m2.close();
    });
    await manager.close();
  });
});

test('AsyncCallsQueue: increasing indices, finalize on the main thread in order, frozen requests, rank agreement, close/restart', async () => {
  await withDir(async (dir) => {
    let peerDone = 0;
    const agreed: number[] = [];
    const queue = new AsyncCallsQueue({ agreement: { allReduceMin: async (v) => { agreed.push(v); return Math.min(v, peerDone); } } });
    const order: number[] = [];
    const fns = new URL('./writer-fns.ts', import.meta.url);
    const req = (i: number, ms: number): AsyncRequest => new AsyncRequest({ asyncFn: writerFunction(fns, 'wait'), asyncFnArgs: [ms], finalizeFns: [() => { order.push(i); }] });
    const r0 = req(0, 10);
    assert.equal(queue.scheduleAsyncRequest(r0), 0);
    assert.equal(queue.scheduleAsyncRequest(req(1, 30)), 1);
    assert.throws(() => r0.addFinalizeFn(() => undefined), ConfigurationError);
    // Blocking waits for call 0 on this rank; the peer is not done, so nothing is finalized.
    assert.deepEqual(await queue.maybeFinalizeAsyncCalls({ blocking: true }), []);
    assert.equal(queue.getNumUnfinalizedCalls(), 2);
    peerDone = 1;
    assert.deepEqual(await queue.maybeFinalizeAsyncCalls({ blocking: true }), [0, 1]);
    assert.deepEqual(order, [0, 1]);
    assert.ok(agreed.length >= 3);
    // A failing call raises at finalization.
    queue.scheduleAsyncRequest(new AsyncRequest({ asyncFn: writerFunction(fns, 'fail'), asyncFnArgs: ['disk on fire'] }));
    await assert.rejects(queue.maybeFinalizeAsyncCalls({ blocking: true, noDist: true }), (e: unknown) => e instanceof CheckpointSaveError && /disk on fire/.test(e.message));
    // A closure cannot run on the writer thread: refused at once, with the fix.
    assert.throws(() => new AsyncRequest({ asyncFn: (async () => undefined) as unknown as WriterFunction }), (e: unknown) => e instanceof ConfigurationError && /writerFunction/.test(e.message));
    assert.throws(() => writerFunction('./relative.js', 'f'), ConfigurationError);

    // Several ranks and no agreement given: asking for agreement is refused with the fix, noDist still works.
    const guessing = new AsyncCallsQueue({ agreement: defaultAgreement({ WORLD_SIZE: '4' }) });
    guessing.scheduleAsyncRequest(new AsyncRequest({ asyncFn: writerFunction(fns, 'wait'), asyncFnArgs: [1] }));
    await assert.rejects(guessing.maybeFinalizeAsyncCalls({ blocking: true }), (e: unknown) => e instanceof ConfigurationError && /WORLD_SIZE=4/.test(e.message));
    assert.deepEqual(await guessing.maybeFinalizeAsyncCalls({ blocking: true, noDist: true }), [0]);
    await guessing.close();
    await queue.close();

    // asyncFn and preloadFn run on the persistent writer thread (not the main thread), preloadFn first, its result
    // asyncFn's arguments; finalize functions run on the main thread; onSettled frees resources before finalization.
    const shared = new SharedArrayBuffer(8 * 4);
    let settledBeforeFinalize = false;
    let finalizedOnMain: boolean | undefined;
    const q2 = new AsyncCallsQueue();
    q2.scheduleAsyncRequest(new AsyncRequest<[SharedArrayBuffer, number]>({
      asyncFn: writerFunction(fns, 'record'),
      asyncFnArgs: [shared, 1],
      preloadFn: writerFunction(fns, 'addFortyOne'),
      onSettled: () => void (settledBeforeFinalize = finalizedOnMain === undefined),
      finalizeFns: [async () => void (finalizedOnMain = (await import('node:worker_threads')).isMainThread)],
    }));
    await q2.maybeFinalizeAsyncCalls({ blocking: true });
    const seen = Array.from(new Float64Array(shared));
    assert.equal(seen[0], 42, 'preloadFn got asyncFnArgs and asyncFn got its result');
    assert.equal(seen[1], 0, 'preloadFn ran off the main thread');
    assert.equal(seen[2], q2.caller.threadId, 'preloadFn ran on the persistent writer');
    assert.equal(seen[3], -q2.caller.threadId!, 'asyncFn ran on the persistent writer');
    assert.equal(finalizedOnMain, true);
    assert.equal(settledBeforeFinalize, true);
    await q2.close();

    const ckpt = new AsyncCheckpointer();
    const sd: StateDict = { w: { dtype: 'F32', shape: [3], data: new Float32Array([1, 2, 3]) }, step: 7 };
    assert.equal(await ckpt.asyncSave(sd, path.join(dir, 'iter_0007')), 0);
    ((sd.w as Tensor).data as Float32Array).fill(0);
    assert.equal(ckpt.queue.caller.isAlive, true);
    const first = ckpt.queue.caller.startCount;
    assert.deepEqual(await ckpt.finalizeAsyncSave({ blocking: true }), [0]);
    assert.deepEqual(Array.from(((await loadStateDict(path.join(dir, 'iter_0007'))) as unknown as { w: Tensor }).w.data as Float32Array), [1, 2, 3]);
    await ckpt.close({ abort: true });
    assert.equal(ckpt.queue.caller.isAlive, false);
    assert.equal(await ckpt.asyncSave(sd, path.join(dir, 'iter_0008')), 1);
    assert.equal(ckpt.queue.caller.startCount, first + 1);
    assert.deepEqual(await ckpt.finalizeAsyncSave({ blocking: true }), [1]);
    await ckpt.close();
  });
});

function runChild(args: string[], timeoutMs: number): Promise<{ code: number | null; ms: number; out: string }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'child-async-exit.ts'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child did not exit within ${timeoutMs} ms (the writer thread kept it alive?)`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, ms: Date.now() - t0, out });
    });
  });
}

test('the writer thread neither keeps a finished process alive nor loses a save in flight when the script ends', async () => {
  await withDir(async (dir) => {
    // The script returns right after an async save: the process waits for the write, then exits by itself.
    const r1 = await runChild([dir, 'no-wait'], 30_000);
    assert.equal(r1.code, 0);
    const b = new NVMeBackend(dir);
    assert.deepEqual(await b.listCheckpoints(), ['step_00000001']);
    // After waiting for its saves, an idle writer must not hold the process.
    const r2 = await runChild([dir, 'wait'], 30_000);
    assert.equal(r2.code, 0);
    assert.match(r2.out, /saved true/);
    assert.deepEqual(await b.listCheckpoints(), ['step_00000001', 'step_00000002']);
  });
});
