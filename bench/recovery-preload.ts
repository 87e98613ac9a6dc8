/**
 * What the recovery benchmark's standby workers load in advance (`eh run --preload bench/recovery-preload.ts`):
 * TensorFlow.js with its WebAssembly backend initialised, the collective and the agent-memory client. The worker imports this
 * same module, so in a standby it is already evaluated and costs nothing on the recovery path.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { agentMemory } from '../src/agent/index.js';
import { allReduce, cleanupDistributed, setupDistributedEnvironment } from '../src/collective/index.js';

if (tf.getBackend() !== 'wasm') {
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new Error('the tfjs wasm backend did not initialise');
  await tf.ready();
}

export { tf, agentMemory, allReduce, cleanupDistributed, setupDistributedEnvironment };
