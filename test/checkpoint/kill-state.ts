// The state a kill-test child saves at each step: derived from the step alone, so the parent can rebuild
// exactly what any committed step must contain.
import { CheckpointState } from '../../src/checkpoint/index.js';

export function killTestState(step: number): CheckpointState {
  const n = 256 * 1024 + (step % 7) * 1000;
  const w = new Float32Array(n);
  let x = (step * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    w[i] = (x >>> 0) / 4294967296;
  }
  const idx = new BigInt64Array(64).map((_, i) => BigInt(step) * 1000n + BigInt(i));
  return new CheckpointState({
    step,
    epoch: Math.floor(step / 10),
    modelStateDict: { w: { dtype: 'F32', shape: [n], data: w } },
    optimizerStateDict: { state: { idx: { dtype: 'I64', shape: [8, 8], data: idx } }, lr: 0.001 * step },
    datasetState: { position: step * 64 },
    metrics: { loss: 1 / step },
    worldSize: 1,
    timestamp: step,
  });
}
