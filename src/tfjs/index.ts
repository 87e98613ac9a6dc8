/**
 * elastic-harness/tfjs, everything TensorFlow.js in one place: the data-parallel helper (gradients averaged across
 * ranks in one collective per step, rank 0's initial weights broadcast), TfjsModel / TfjsOptimizer (the
 * GenericTrainer's model side), and the checkpoint adapter, registered on import, that lets createCheckpointState,
 * loadCheckpointToModel and resumeTraining take tfjs models, variable lists and optimizers.
 */
import { registerStateAdapter } from '../checkpoint/index.js';
import { tfjsStateAdapter } from './checkpoint-adapter.js';

registerStateAdapter(tfjsStateAdapter);
export { DataParallel, averageGradients, broadcastWeights, flattenTensors, unflattenTensors, weightsHash, useWasmBackend, type DataParallelOptions, type NamedTensor } from './data-parallel.js';
export { TfjsModel, TfjsOptimizer } from './trainer-model.js';
export { fastMatMul } from './fast-matmul.js';
export { tfjsStateAdapter, tfRuntime, tfModelStateDict, tfVariablesStateDict, tfOptimizerStateDict, loadTfModel, loadTfVariables, loadTfOptimizer, isLayersModel, isTfOptimizer, isTfVariable, type Tf } from './checkpoint-adapter.js';
