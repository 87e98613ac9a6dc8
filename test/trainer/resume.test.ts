import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { COMMIT_FILE } from '../../src/checkpoint/index.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { batchesByStep, runWorker } from './run-helper.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'eh-resume-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('mid-epoch resume', () => {
  it('a worker SIGKILLed mid-epoch (2 workers, 2 loaders, accumulation 2): the same batches and the same weights as an uninterrupted run', async () => {
    const opts = { epochs: 2, accumulation: 2, saveEvery: 5, slowMs: 250 };
    const clean = runWorker({ workers: 2, opts: { ...opts, ckpt: tmp() } });
    assert.equal(await clean.exit, 0, clean.stderr.slice(-20).join('\n'));

    const ckpt = tmp();
    const faulty = runWorker({ workers: 2, opts: { ...opts, ckpt, holdUntil: { afterStep: 10, file: join(ckpt, 'epoch_001_step_000010.ckpt', COMMIT_FILE) } } });
    const pids = new Map<number, number>();
    let killedAt = 0;
    faulty.onLine((l) => {
      if (l.type === 'worker') pids.set(l.rank as number, l.pid as number);
      // 2 ranks: 12 micro-batches (7 of a, 5 of b) = 6 steps an epoch. Once step 10's checkpoint (epoch 2,
      // 4 of 6 steps done) is committed, kill: the resume is mid-epoch.
      if (l.type === 'step' && l.rank === 0 && killedAt === 0 && existsSync(join(ckpt, 'epoch_001_step_000010.ckpt', COMMIT_FILE))) {
        killedAt = l.step as number;
        process.kill(pids.get(1) as number, 'SIGKILL');
      }
    });
    assert.equal(await faulty.exit, 0, faulty.stderr.slice(-20).join('\n'));
    assert.ok(killedAt >= 10 && killedAt < 12, `the kill happened before the end (step ${killedAt})`);
    const resumed = faulty.lines.filter((l) => l.type === 'resumed');
    assert.equal(resumed.length, 2, 'both ranks resumed');
    for (const r of resumed) {
      assert.equal(r.step, 10, 'from the newest checkpoint before the kill');
      assert.equal(r.epoch, 1, 'in the middle of the second epoch');
    }
    const doneClean = clean.lines.filter((l) => l.type === 'done');
    const doneFaulty = faulty.lines.filter((l) => l.type === 'done');
    assert.equal(doneClean.length, 2);
    assert.equal(doneFaulty.length, 2);
    assert.equal(doneFaulty[0].steps, doneClean[0].steps);
    assert.equal(doneClean[0].hash, doneClean[1].hash, 'ranks agree');
    assert.equal(doneFaulty[0].hash, doneClean[0].hash, 'the same final weights as the uninterrupted run');
    assert.equal(doneFaulty[1].hash, doneClean[0].hash);

    const a = batchesByStep(clean.lines);
    const b = batchesByStep(faulty.lines);
    assert.equal(a.size, 2 * (doneClean[0].steps as number), 'every step of both ranks logged');
    assert.deepEqual([...b.entries()].sort(), [...a.entries()].sort(), 'every step saw the same batches');
    // The ranks took different samples (each its share of every global batch).
    assert.notEqual(a.get('0:1'), a.get('1:1'));
  });
});
