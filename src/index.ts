/**
 * elastic-harness: every part's public face, also reachable one by one as `elastic-harness/<part>`.
 * TensorFlow.js (`elastic-harness/tfjs`) is left out here so that importing the root never loads it.
 */
export * from './errors/index.js';
export * from './config/index.js';
export * from './scaling/index.js';
export * from './metrics/index.js';
export * from './rendezvous/index.js';
export * from './collective/index.js';
export * from './agent/index.js';
export * from './checkpoint/index.js';
