/**
 * TensorFlow.js data-parallel helper: average gradients across ranks in one collective per step,
 * broadcast rank 0's initial weights. The collective itself lives in ../collective and does not
 * need TensorFlow.js. TfjsModel / TfjsOptimizer are the GenericTrainer's model side for tfjs.
 */
export { DataParallel, averageGradients, broadcastWeights, flattenTensors, unflattenTensors, weightsHash, useWasmBackend, type DataParallelOptions, type NamedTensor } from './data-parallel.js';
export { TfjsModel, TfjsOptimizer } from './trainer-model.js';
export { fastMatMul } from './fast-matmul.js';
