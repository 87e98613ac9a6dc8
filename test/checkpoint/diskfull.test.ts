import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CheckpointSaveError } from '../../src/errors/index.js';
import { CheckpointManager, CheckpointState, CheckpointTier, type AsyncSavePolicy, type Tensor } from '../../src/checkpoint/index.js';

function stateAt(step: number, floats: number): CheckpointState {
  return new CheckpointState({ step, modelStateDict: { w: { dtype: 'F32', shape: [floats], data: new Float32Array(floats).fill(step) } } });
}

/** A real 8 MiB tmpfs: a 1 MiB checkpoint fits, a 10 MiB one cannot. Needs root (mount). */
async function withSmallDisk(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'eh-ckpt-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]);
  try {
    await fn(dir);
  } finally {
    execFileSync('umount', [dir]);
    await rm(dir, { recursive: true, force: true });
  }
}

const canMount = typeof process.getuid === 'function' && process.getuid() === 0;

for (const asyncSave of [false, true]) {
  for (const policy of ['warn', 'fail', 'retry'] as AsyncSavePolicy[]) {
    test(`disk full, ${asyncSave ? 'async' : 'sync'} save, policy ${policy}: the save fails as the policy says and the previous checkpoint stays whole`, { skip: canMount ? false : 'needs root to mount a tmpfs' }, async () => {
      await withSmallDisk(async (dir) => {
        const logs: string[] = [];
        const manager = new CheckpointManager({ nvmePath: dir, asyncSave, asyncSavePolicy: policy, asyncSaveRetries: 2, asyncSaveRetryDelay: 0.02 }, { logger: (m) => logs.push(m) });
        await manager.saveCheckpoint(stateAt(1, 256 * 1024), CheckpointTier.NVME);
        assert.equal(await manager.waitForPendingSaves(20_000), true);
        const big = stateAt(2, 10 * 256 * 1024);
        if (!asyncSave && policy !== 'warn') {
          await assert.rejects(manager.saveCheckpoint(big, CheckpointTier.NVME), (e: unknown) => e instanceof CheckpointSaveError && /ENOSPC|no space/i.test(e.message));
        } else if (!asyncSave) {
          assert.equal(await manager.saveCheckpoint(big, CheckpointTier.NVME), null);
          // As the README says: a failure under "warn", synchronous or not, makes the next wait answer false.
          assert.equal(await manager.waitForPendingSaves(20_000), false);
        } else {
          assert.equal(await manager.saveCheckpoint(big, CheckpointTier.NVME), path.join(dir, 'step_00000002'));
          if (policy === 'warn') assert.equal(await manager.waitForPendingSaves(20_000), false);
          else await assert.rejects(manager.waitForPendingSaves(20_000), (e: unknown) => e instanceof CheckpointSaveError && /ENOSPC|no space/i.test(e.message));
        }
        if (policy === 'retry') assert.equal(logs.filter((l) => /retrying/.test(l)).length, 2, logs.join('\n'));
        if (policy === 'warn') assert.ok(logs.some((l) => /failed; training goes on/.test(l)));
        // The error was reported once; the manager works on, and the old checkpoint is intact.
        assert.deepEqual(await readdir(dir), ['step_00000001']);
        const back = await manager.loadCheckpoint();
        assert.equal(back?.step, 1);
        assert.equal(((back!.modelStateDict.w as Tensor).data as Float32Array)[1000], 1);
        await manager.saveCheckpoint(stateAt(3, 1024), CheckpointTier.NVME);
        assert.equal(await manager.waitForPendingSaves(20_000), true);
        assert.equal((await manager.loadCheckpoint())?.step, 3);
        await manager.close();
      });
    });
  }
}

test('retry: a save that fails for lack of space succeeds on a later attempt once space is freed', { skip: canMount ? false : 'needs root to mount a tmpfs' }, async () => {
  await withSmallDisk(async (dir) => {
    const filler = path.join(dir, '.filler');
    await writeFile(filler, Buffer.alloc(5 * 1024 * 1024, 1));
    const logs: string[] = [];
    const manager = new CheckpointManager(
      { nvmePath: path.join(dir, 'ckpts'), asyncSave: true, asyncSavePolicy: 'retry', asyncSaveRetries: 3, asyncSaveRetryDelay: 0.05 },
      {
        logger: (m) => {
          logs.push(m);
          if (/retrying/.test(m)) void rm(filler, { force: true });
        },
      },
    );
    await manager.saveCheckpoint(stateAt(7, 1024 * 1024), CheckpointTier.NVME);
    assert.equal(await manager.waitForPendingSaves(20_000), true);
    assert.equal(logs.filter((l) => /retrying/.test(l)).length, 1, logs.join('\n'));
    const back = await manager.loadCheckpoint();
    assert.equal(back?.step, 7);
    assert.equal(((back!.modelStateDict.w as Tensor).data as Float32Array)[1024 * 1024 - 1], 7);
    await manager.close();
  });
});
