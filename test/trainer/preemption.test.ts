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

  describe('under eh run: exit 75 is a requeue, not a crash', () => {
    const checkRequeued = (run: ReturnType<typeof runWorker>, ckpt: string): void => {
      const err = run.stderr.join('\n');
      assert.match(err, /ending with 75 so that the job is requeued/, err);
      assert.doesNotMatch(err, /FAILED|restart 1 of|Root cause/i, 'no failure counted, no crash report');
      assert.equal(run.lines.filter((l) => l.type === 'worker').length, 2, 'the workers were not restarted');
      const last = Math.max(...run.lines.filter((l) => l.type === 'step' && l.rank === 0).map((l) => l.step as number));
      assert.ok(existsSync(join(ckpt, `epoch_000_step_${String(last).padStart(6, '0')}.ckpt`, COMMIT_FILE)), `the emergency checkpoint of step ${last} is committed (${readdirSync(ckpt).join(', ')})`);
    };

    it('SIGUSR1 to the agent (as a SLURM batch shell sends it): the workers checkpoint, the agent ends with 75', async () => {
      const ckpt = tmp();
      const run = runWorker({ workers: 2, opts: { epochs: 2, saveEvery: 1000, slowMs: 150, ckpt } });
      let signalled = false;
      run.onLine((l) => {
        if (l.type === 'step' && l.step === 3 && !signalled) {
          signalled = true;
          run.child.kill('SIGUSR1');
        }
      });
      assert.equal(await run.exit, 75, run.stderr.slice(-20).join('\n'));
      checkRequeued(run, ckpt);
    });

    it('SIGUSR1 to one worker only (a scheduler signalling the job\'s processes): both ranks stop after the same step, the agent ends with 75', async () => {
      const ckpt = tmp();
      const run = runWorker({ workers: 2, opts: { epochs: 2, saveEvery: 1000, slowMs: 150, ckpt } });
      const pids = new Map<number, number>();
      let signalled = false;
      run.onLine((l) => {
        if (l.type === 'worker') pids.set(l.rank as number, l.pid as number);
        if (l.type === 'step' && l.step === 3 && !signalled) {
          signalled = true;
          process.kill(pids.get(1) as number, 'SIGUSR1');
        }
      });
      assert.equal(await run.exit, 75, run.stderr.slice(-20).join('\n'));
      checkRequeued(run, ckpt);
      const lastOf = (rank: number): number => Math.max(...run.lines.filter((l) => l.type === 'step' && l.rank === rank).map((l) => l.step as number));
      assert.equal(lastOf(0), lastOf(1), 'the preemption reached rank 0 through the allreduce');
    });
  });
});
