/**
 * A world-size change on restart, with real processes: 2 workers under `eh run` are preempted (SIGUSR1 to the
 * agent: emergency checkpoint, exit 75), then the run resumes with 1 worker. The trainer rescales through
 * ElasticScalingManager (variable_batch, linear rule: the learning rate halves), every sample of every loader
 * is still seen exactly once per epoch, and the agent's step log shows the trainer's steps (loss, lr, throughput).
 */
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EVENTS_SUFFIX, STEPS_SUFFIX } from '../../src/metrics/index.js';
import { runWorker, type Line } from './run-helper.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'eh-world-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The JSON lines of the one file under `dir` whose name ends with `suffix`. */
function jsonLines(dir: string, suffix: string): Array<Record<string, unknown>> {
  const name = readdirSync(dir, { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith(suffix));
  assert.ok(name !== undefined, `a ${suffix} file in ${dir}: ${readdirSync(dir).join(', ')}`);
  return readFileSync(join(dir, name), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** loader -> the sample ids its batches of `epoch` held, over all ranks, in `lines` (steps up to `maxStep`). */
function idsOfEpoch(lines: readonly Line[], epoch: number, maxStep = Infinity): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const l of lines) {
    if (l.type !== 'batch' || l.epoch !== epoch || (l.step as number) > maxStep) continue;
    out.set(l.loader as string, [...(out.get(l.loader as string) ?? []), ...(l.ids as number[])]);
  }
  return out;
}

const SIZES: Record<string, number> = { a: 53, b: 29 };

function assertEachOnce(ids: Map<string, number[]>, what: string): void {
  for (const [loader, n] of Object.entries(SIZES)) {
    const got = [...(ids.get(loader) ?? [])].sort((x, y) => x - y);
    assert.deepEqual(got, Array.from({ length: n }, (_, i) => i), `${what}: loader ${loader}'s ${n} samples each exactly once`);
  }
}

describe('world size change on restart', () => {
  it('2 workers preempted, resumed with 1: lr rescaled (linear, 0.01 -> 0.005), each sample once per epoch, the agent logs the trainer\'s steps', async () => {
    const ckpt = tmp();
    // SEQUENTIAL, SUM_OF_LENGTHS: an epoch is each loader's batches once (WEIGHTED apportions steps by weight instead).
    const opts = { epochs: 2, accumulation: 1, saveEvery: 1000, slowMs: 120, ckpt, strategy: 'SEQUENTIAL', scaling: { baseLr: 0.01, baseWorldSize: 2 } };
    const first = runWorker({ workers: 2, opts });
    let signalled = false;
    first.onLine((l) => {
      if (l.type === 'step' && l.rank === 0 && l.step === 4 && !signalled) {
        signalled = true;
        first.child.kill('SIGUSR1');
      }
    });
    assert.equal(await first.exit, 75, first.stderr.slice(-20).join('\n'));
    const firstSteps = first.lines.filter((l) => l.type === 'step');
    const stoppedAt = Math.max(...firstSteps.map((l) => l.step as number));
    for (const l of firstSteps) assert.equal(l.lr, 0.01, 'the base lr at the base world size');

    const logDir = tmp();
    const second = runWorker({ workers: 1, opts, agentArgs: ['--log-dir', logDir] });
    assert.equal(await second.exit, 0, second.stderr.slice(-20).join('\n'));
    const resumed = second.lines.find((l) => l.type === 'resumed');
    assert.equal(resumed?.step, stoppedAt, 'resumed at the emergency checkpoint');
    const secondSteps = second.lines.filter((l) => l.type === 'step');
    assert.ok(secondSteps.length > 0);
    for (const l of secondSteps) {
      assert.equal(l.worldSize, 1);
      assert.ok(Math.abs((l.lr as number) - 0.005) < 1e-12, `linear rule at world 1: lr ${String(l.lr)}`);
    }

    // Epoch 0 was split across the two worlds: what the 2 ranks trained up to the checkpoint, then 1 rank.
    const before = idsOfEpoch(first.lines, 0, stoppedAt);
    const afterResume = idsOfEpoch(second.lines, 0);
    const split = new Map(Object.keys(SIZES).map((k) => [k, [...(before.get(k) ?? []), ...(afterResume.get(k) ?? [])]]));
    assert.ok((afterResume.get('a')?.length ?? 0) + (afterResume.get('b')?.length ?? 0) > 0, 'the resumed world trained part of epoch 0');
    assertEachOnce(split, 'epoch 0 (2 ranks, then 1)');
    assertEachOnce(idsOfEpoch(second.lines, 1), 'epoch 1 (1 rank)');
    const done = second.lines.find((l) => l.type === 'done');
    assert.equal(done?.steps, secondSteps.at(-1)?.step);

    // The agent's step records and events (from the trainer's reportMetrics).
    const steps = jsonLines(logDir, STEPS_SUFFIX);
    const trainerSteps = steps.filter((r) => r.rank === 0 && typeof r.loss === 'number' && typeof r.lr === 'number');
    // The monitor writes at most one record per rank per interval (the newest held back is written at the end).
    const trained = new Set(secondSteps.map((l) => l.step));
    assert.ok(trainerSteps.length >= 5, `agent step records with loss and lr: ${trainerSteps.length}`);
    for (const r of trainerSteps) {
      assert.ok(trained.has(r.step as number), `record of step ${String(r.step)} is a trainer step`);
      assert.ok(Math.abs((r.lr as number) - 0.005) < 1e-12 && Number.isFinite(r.loss) && (r.samplesPerSec as number) > 0);
    }
    assert.equal(trainerSteps.at(-1)?.step, secondSteps.at(-1)?.step, 'the last step reached the agent');
    // A fresh agent saw no failure, so it logs no recovery event; the tier reaches it as the report's resumedFrom.
    assert.ok(jsonLines(logDir, EVENTS_SUFFIX).some((e) => e.type === 'job-end' && e.outcome === 'succeeded'));
  });
});
