/**
 * TensorFlow.js models, variable lists and optimizers to and from state dicts: the checkpoint part's adapter for
 * tfjs (registered when elastic-harness/tfjs is imported), so that createCheckpointState / loadCheckpointToModel /
 * resumeTraining take tfjs objects while the checkpoint part itself never imports TensorFlow.js.
 */
import type * as tfTypes from '@tensorflow/tfjs';
import { isTensor, type Dtype, type StateAdapter, type StateDict, type Tensor, type TypedArray } from '../checkpoint/index.js';
import { CheckpointValidationError } from '../errors/index.js';

export type Tf = typeof tfTypes;

/** The tfjs runtime: the one passed in, else the installed @tensorflow/tfjs. */
export async function tfRuntime(tf?: Tf): Promise<Tf> {
  return tf ?? ((await import('@tensorflow/tfjs')) as Tf);
}

interface VariableLike {
  name: string;
  shape: number[];
  dtype: string;
  dataSync(): TypedArray;
  assign(t: tfTypes.Tensor): void;
}

interface LayerVariableLike {
  originalName: string;
  shape: number[];
  dtype: string;
  read(): { dataSync(): TypedArray };
  write(t: tfTypes.Tensor): unknown;
}

export function isTfVariable(v: unknown): v is VariableLike {
  const x = v as Partial<VariableLike> & { trainable?: unknown } | null;
  return x !== null && typeof x === 'object' && typeof x.assign === 'function' && typeof x.dataSync === 'function' && typeof x.trainable === 'boolean';
}

export function isLayersModel(m: unknown): m is { weights: LayerVariableLike[] } {
  const x = m as { weights?: unknown; getWeights?: unknown } | null;
  return x !== null && typeof x === 'object' && typeof x.getWeights === 'function' && Array.isArray(x.weights);
}

export function isTfOptimizer(o: unknown): o is tfTypes.Optimizer {
  const x = o as { getWeights?: unknown; setWeights?: unknown; applyGradients?: unknown; getClassName?: unknown } | null;
  return x !== null && typeof x === 'object' && typeof x.getWeights === 'function' && typeof x.setWeights === 'function' && typeof x.applyGradients === 'function' && typeof x.getClassName === 'function';
}

const TO_DTYPE: Record<string, Dtype> = { float32: 'F32', int32: 'I32', bool: 'BOOL' };
const FROM_DTYPE: Record<string, 'float32' | 'int32' | 'bool'> = { F32: 'float32', I32: 'int32', BOOL: 'bool' };

/** A copy of a tfjs tensor's data as a state-dict tensor (copied at once: tfjs may reuse the memory). */
function toTensor(dtype: string, shape: number[], data: TypedArray, name: string): Tensor {
  const d = TO_DTYPE[dtype];
  if (d === undefined) throw new CheckpointValidationError(`tfjs tensor "${name}" has dtype ${dtype}, which checkpoints do not hold`, { invalidKeys: [name] });
  return { dtype: d, shape: [...shape], data: data.slice() };
}

function fromTensor(tf: Tf, t: Tensor, name: string): tfTypes.Tensor {
  const dtype = FROM_DTYPE[t.dtype];
  if (dtype === undefined) throw new CheckpointValidationError(`Tensor "${name}" has dtype ${t.dtype}, which tfjs cannot take`, { invalidKeys: [name] });
  return tf.tensor(t.data as Float32Array | Int32Array | Uint8Array, t.shape, dtype);
}

/** Model weights keyed by their original (not deduplicated) names, e.g. "dense1/kernel". */
export function tfModelStateDict(model: { weights: LayerVariableLike[] }): StateDict {
  const out: StateDict = {};
  for (const w of model.weights) out[w.originalName] = toTensor(w.dtype, w.shape, w.read().dataSync(), w.originalName);
  return out;
}

export function tfVariablesStateDict(vars: VariableLike[]): StateDict {
  const out: StateDict = {};
  for (const v of vars) out[v.name] = toTensor(v.dtype, v.shape, v.dataSync(), v.name);
  return out;
}

function mismatch(what: string, missing: string[], unexpected: string[]): CheckpointValidationError {
  return new CheckpointValidationError(`The checkpoint's ${what} does not match the target`, {
    missingKeys: missing,
    invalidKeys: unexpected,
    suggestions: ['Load into the same architecture it was saved from, or pass strict: false to load the matching part only.'],
  });
}

export async function loadTfModel(model: { weights: LayerVariableLike[] }, sd: StateDict, strict: boolean, tf?: Tf): Promise<void> {
  const rt = await tfRuntime(tf);
  const names = new Set(model.weights.map((w) => w.originalName));
  const missing = [...names].filter((n) => !isTensor(sd[n]));
  const unexpected = Object.keys(sd).filter((k) => !names.has(k));
  if (strict && (missing.length > 0 || unexpected.length > 0)) throw mismatch('model state', missing, unexpected);
  for (const w of model.weights) {
    const t = sd[w.originalName];
    if (!isTensor(t)) continue;
    if (t.shape.join() !== w.shape.join()) throw new CheckpointValidationError(`Weight "${w.originalName}" has shape [${t.shape}] in the checkpoint, [${w.shape}] in the model`, { invalidKeys: [w.originalName] });
    const value = fromTensor(rt, t, w.originalName);
    w.write(value);
    value.dispose();
  }
}

export async function loadTfVariables(vars: VariableLike[], sd: StateDict, strict: boolean, tf?: Tf): Promise<void> {
  const rt = await tfRuntime(tf);
  const names = new Set(vars.map((v) => v.name));
  const missing = [...names].filter((n) => !isTensor(sd[n]));
  const unexpected = Object.keys(sd).filter((k) => !names.has(k));
  if (strict && (missing.length > 0 || unexpected.length > 0)) throw mismatch('variables', missing, unexpected);
  for (const v of vars) {
    const t = sd[v.name];
    if (!isTensor(t)) continue;
    if (t.shape.join() !== v.shape.join()) throw new CheckpointValidationError(`Variable "${v.name}" has shape [${t.shape}] in the checkpoint, [${v.shape}] here`, { invalidKeys: [v.name] });
    const value = fromTensor(rt, t, v.name);
    v.assign(value);
    value.dispose();
  }
}

/** Own fields of the optimizer that are variables but not in getWeights() (Adam's accBeta1/accBeta2, Adamax's iteration). */
function extraVariables(opt: object): Array<[string, VariableLike]> {
  return Object.entries(opt).filter((e): e is [string, VariableLike] => isTfVariable(e[1]));
}

/**
 * Every slot of a tfjs optimizer: getWeights() (iteration count, moments, in order: tfjs matches them by
 * position), the variables it keeps outside getWeights() (without Adam's running accBeta1/accBeta2, which
 * setWeights() recomputes with pow, a resume differs in the last bits), and its config.
 */
export async function tfOptimizerStateDict(opt: tfTypes.Optimizer): Promise<StateDict> {
  const weights = await opt.getWeights();
  const list = weights.map((w) => ({ name: w.name, value: toTensor(w.tensor.dtype, w.tensor.shape, w.tensor.dataSync() as TypedArray, w.name) }));
  for (const w of weights) if (w.name === 'iter') w.tensor.dispose();
  const extras: StateDict = {};
  for (const [k, v] of extraVariables(opt)) extras[k] = toTensor(v.dtype, v.shape, v.dataSync(), k);
  const config = JSON.parse(JSON.stringify((opt as unknown as { getConfig(): unknown }).getConfig())) as StateDict;
  return { className: opt.getClassName(), config, weights: list, extraVariables: extras };
}

export async function loadTfOptimizer(opt: tfTypes.Optimizer, sd: StateDict, strict: boolean, tf?: Tf): Promise<void> {
  const rt = await tfRuntime(tf);
  if (sd.className !== opt.getClassName()) {
    throw new CheckpointValidationError(`The checkpoint holds a ${String(sd.className)} optimizer state, the optimizer is ${opt.getClassName()}`, { invalidKeys: ['optimizerStateDict.className'] });
  }
  const list = sd.weights;
  if (!Array.isArray(list) || !list.every((w) => typeof (w as StateDict)?.name === 'string' && isTensor((w as StateDict).value))) {
    throw new CheckpointValidationError('optimizerStateDict.weights is not a list of {name, value}', { invalidKeys: ['optimizerStateDict.weights'] });
  }
  const named = (list as Array<{ name: string; value: Tensor }>).map((w) => ({ name: w.name, tensor: fromTensor(rt, w.value, w.name) }));
  await opt.setWeights(named);
  for (const n of named) n.tensor.dispose();
  const extras = (sd.extraVariables ?? {}) as StateDict;
  const mine = new Map(extraVariables(opt));
  const missing = [...mine.keys()].filter((k) => !isTensor(extras[k]));
  if (strict && missing.length > 0) throw mismatch('optimizer state', missing, []);
  for (const [k, t] of Object.entries(extras)) {
    const v = mine.get(k);
    if (v === undefined || !isTensor(t)) {
      if (strict) throw mismatch('optimizer state', [], [k]);
      continue;
    }
    const value = fromTensor(rt, t, k);
    v.assign(value);
    value.dispose();
  }
  const lr = (sd.config as StateDict | undefined)?.learningRate;
  if (typeof lr === 'number') {
    const o = opt as unknown as { setLearningRate?: (x: number) => void; learningRate?: number };
    if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
    else if (typeof o.learningRate === 'number') o.learningRate = lr;
  }
}

function isVariableList(x: unknown): x is VariableLike[] {
  return Array.isArray(x) && x.length > 0 && x.every(isTfVariable);
}

/** The adapter elastic-harness/tfjs registers with the checkpoint part. */
export const tfjsStateAdapter: StateAdapter = {
  name: 'TensorFlow.js',
  matches: (x) => isLayersModel(x) || isTfOptimizer(x) || isVariableList(x),
  stateDict: (x) => {
    if (isLayersModel(x)) return tfModelStateDict(x);
    if (isTfOptimizer(x)) return tfOptimizerStateDict(x);
    return tfVariablesStateDict(x as VariableLike[]);
  },
  loadStateDict: (x, saved, strict, runtime) => {
    const tf = runtime as Tf | undefined;
    if (isLayersModel(x)) return loadTfModel(x, saved, strict, tf);
    if (isTfOptimizer(x)) return loadTfOptimizer(x, saved, strict, tf);
    return loadTfVariables(x as VariableLike[], saved, strict, tf);
  },
};
