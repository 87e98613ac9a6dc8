/**
 * elastic-harness: every part's public face, also reachable one by one as `elastic-harness/<part>`.
 */
export * from './errors/index.js';
export * from './config/index.js';
export * from './scaling/index.js';
export * from './metrics/index.js';
