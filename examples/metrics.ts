/**
 * Run metrics: a TrainingMetrics object fed with the events of a short run (steps and tokens,
 * checkpoint saves per tier, gradient norms and clipping, a failure and its recovery, an lr
 * rescaling), then the summary a run prints at its end (throughput, training efficiency, ...) and the
 * JSON form that survives a restart. A settable clock stands in for wall time so the run takes no time.
 *
 *   node --import tsx examples/metrics.ts
 */
import { TrainingMetrics } from 'elastic-harness/metrics';

let now = 1_000; // seconds
const metrics = new TrainingMetrics({ clock: () => now });

for (let step = 1; step <= 100; step++) {
  now += 0.5; // a step of 0.5 s processing 4096 tokens
  metrics.updateStep(step, step * 4096); // tokens so far
  metrics.gradient.recordStep({ gradNorm: 1 + (step % 10) / 10, clipped: step % 25 === 0 });
  if (step % 10 === 0) metrics.checkpoint.recordSave('MEMORY', 0.01, { bytes: 4e6 });
  if (step % 50 === 0) {
    metrics.checkpoint.recordSave('NVME', 0.02, { bytes: 4e6, blocking: true }); // staging pause
    metrics.checkpoint.recordSave('NVME', 0.8, { bytes: 4e6, blocking: false }); // background write
  }
  if (step === 60) {
    now += 6; // a worker was lost; the group restarted on 1 rank from the memory snapshot of step 60
    metrics.recovery.recordRecovery({ oldWorldSize: 2, newWorldSize: 1, recoveryTime: 6, checkpointTier: 'MEMORY', stepResumed: 60 });
    metrics.lr.recordAdjustment({ oldLr: 0.002, newLr: 0.001, reason: 'world 2 -> 1', step: 60 });
  }
}

metrics.logSummary(); // the closing summary, one line each
const saved = JSON.stringify(metrics.toJSON()); // what a run keeps in its checkpoint
const restored = new TrainingMetrics({ clock: () => now });
restored.loadJSON(JSON.parse(saved));
console.log(`restored from JSON: step ${restored.summary().step}, ${restored.summary().recovery.events} recovery event(s)`);
