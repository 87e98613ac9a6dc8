import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMIT_FILE } from '../../src/checkpoint/index.js';
import { runWorker } from './run-helper.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'eh-preempt-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('preemption', () => {
  it('SIGUSR1: the step finishes, an emergency checkpoint is written, the exit code asks for a requeue; the rerun resumes from it and ends like an uninterrupted run', async () => {
    const opts = { epochs: 2, accumulation: 1, saveEvery: 1000, slowMs: 150 };
    const clean = runWorker({ opts: { ...opts, ckpt: tmp() } });
    assert.equal(await clean.exit, 0, clean.stderr.join('\n'));
    const cleanHash = clean.lines.find((l) => l.type === 'done')?.hash;

    const ckpt = tmp();
    const run = runWorker({ opts: { ...opts, ckpt } });
    let signalled = false;
    run.onLine((l) => {
      if (l.type === 'step' && l.step === 4 && !signalled) {
        signalled = true;
        run.child.kill('SIGUSR1');
      }
    });
    assert.equal(await run.exit, 75, `requeue exit code; stderr: ${run.stderr.join('\n')}`);
    const last = Math.max(...run.lines.filter((l) => l.type === 'step').map((l) => l.step as number));
    assert.ok(last >= 4 && last <= 5, `stopped right after the step under way (${last})`);
    const name = `epoch_000_step_${String(last).padStart(6, '0')}.ckpt`;
    assert.ok(existsSync(join(ckpt, name, COMMIT_FILE)), `emergency checkpoint ${name} committed (dir: ${readdirSync(ckpt).join(', ')})`);

    const again = runWorker({ opts: { ...opts, ckpt } });
    assert.equal(await again.exit, 0, again.stderr.join('\n'));
    const resumed = again.lines.find((l) => l.type === 'resumed');
    assert.equal(resumed?.step, last, 'resumed at the emergency checkpoint');
    assert.equal(again.lines.find((l) => l.type === 'done')?.hash, cleanHash, 'same final weights as without the preemption');
  });

  it('a configured signal (SIGUSR2) and an emergency checkpoint that cannot finish in time: PreemptionTimeoutError, still the requeue code', async () => {
    const ckpt = tmp();
    const run = runWorker({ opts: { epochs: 2, saveEvery: 1000, slowMs: 150, signal: 'SIGUSR2', maxCheckpointSec: 0.000001, ckpt } });
    let signalled = false;
    run.onLine((l) => {
      if (l.type === 'step' && l.step === 3 && !signalled) {
        signalled = true;
        run.child.kill('SIGUSR2');
      }
    });
    assert.equal(await run.exit, 75);
    assert.match(run.stderr.join('\n'), /PreemptionTimeoutError|did not finish within/);
  });
});
