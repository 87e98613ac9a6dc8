/**
 * The GenericTrainer's model and optimizer interfaces for TensorFlow.js: gradients recorded with
 * tf.variableGrads into one flat Float32Array (the trainer averages it with one allreduce), applied with
 * optimizer.applyGradients([{name, tensor}, ...]) in variable order.
 */
import * as tf from '@tensorflow/tfjs';
import type { StateDict, Tensor } from '../checkpoint/index.js';
import { ConfigurationError, ValidationError } from '../errors/index.js';
import type { StepOutput, TrainerModel, TrainerOptimizer } from '../trainer/index.js';
import { loadTfOptimizer, tfOptimizerStateDict } from './checkpoint-adapter.js';
import { flattenTensors, unflattenTensors } from './data-parallel.js';

interface LayersModelLike {
  trainableWeights: Array<{ read(): tf.Tensor }>;
}

function variablesOf(source: readonly tf.Variable[] | LayersModelLike): tf.Variable[] {
  if (Array.isArray(source)) return [...source];
  const m = source as LayersModelLike;
  if (Array.isArray(m.trainableWeights)) return m.trainableWeights.map((w) => w.read() as tf.Variable);
  throw new ValidationError('TfjsModel takes a list of tf.Variable or a tf.LayersModel', { configKey: 'model' });
}

function scalarOf(v: unknown, key: string): tf.Tensor | number | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof tf.Tensor) {
    if (v.size !== 1) throw new ValidationError(`step output "${key}" has ${v.size} elements; outputs must be scalars`, { configKey: key });
    return v;
  }
  return undefined;
}

/** A tfjs model (its variables) as the trainer sees it. */
export class TfjsModel implements TrainerModel {
  readonly variables: tf.Variable[];
  readonly gradients: Float32Array;
  private readonly offsets: number[] = [];
  /** True until the first micro-batch after zeroGradients(): it sets the buffer, later ones add to it. */
  private empty = true;

  constructor(source: readonly tf.Variable[] | LayersModelLike) {
    this.variables = variablesOf(source).filter((v) => v.trainable);
    if (this.variables.length === 0) throw new ValidationError('the model has no trainable variables', { configKey: 'model' });
    const names = new Set<string>();
    let n = 0;
    for (const v of this.variables) {
      if (v.dtype !== 'float32') throw new ValidationError(`variable ${v.name} is ${v.dtype}; the trainer averages float32 variables only`, { configKey: 'model' });
      if (names.has(v.name)) throw new ValidationError(`two variables are named ${v.name}; names key the gradients and the checkpoint`, { configKey: 'model' });
      names.add(v.name);
      this.offsets.push(n);
      n += v.size;
    }
    this.gradients = new Float32Array(n);
  }

  zeroGradients(): void {
    this.gradients.fill(0);
    this.empty = true;
  }

  async computeGradients(step: () => StepOutput, scale: number): Promise<Record<string, number>> {
    const kept: Array<[string, tf.Tensor]> = [];
    const numbers: Record<string, number> = {};
    const { value, grads } = tf.variableGrads(() => {
      const out = step();
      const loss = scalarOf(out.loss, 'loss');
      if (!(loss instanceof tf.Tensor)) throw new ValidationError('the training step must return { loss } as a tf scalar computed from the variables', { configKey: 'loss' });
      for (const [k, v] of Object.entries(out)) {
        const s = scalarOf(v, k);
        if (typeof s === 'number') numbers[k] = s;
        else if (s !== undefined) kept.push([k, tf.keep(s)]);
      }
      return (scale === 1 ? loss : tf.mul(loss, scale)) as tf.Scalar;
    }, this.variables);
    try {
      this.variables.forEach((v, i) => {
        const g = grads[v.name];
        if (g === undefined) throw new ConfigurationError(`no gradient for variable ${v.name}: every trainable variable must influence the loss`, { configKey: 'model' });
        const data = g.dataSync() as Float32Array;
        const off = this.offsets[i];
        if (this.empty) this.gradients.set(data, off);
        else for (let j = 0; j < data.length; j++) this.gradients[off + j] += data[j];
      });
      this.empty = false;
      for (const [k, t] of kept) numbers[k] = (await t.data())[0];
      return numbers;
    } finally {
      tf.dispose([value, ...Object.values(grads), ...kept.map(([, t]) => t)]);
    }
  }

  async evaluate(step: () => StepOutput): Promise<Record<string, number>> {
    const kept: Array<[string, tf.Tensor]> = [];
    const numbers: Record<string, number> = {};
    tf.tidy(() => {
      const out = step();
      for (const [k, v] of Object.entries(out)) {
        const s = scalarOf(v, k);
        if (typeof s === 'number') numbers[k] = s;
        else if (s !== undefined) kept.push([k, tf.keep(s)]);
      }
    });
    try {
      for (const [k, t] of kept) numbers[k] = (await t.data())[0];
      return numbers;
    } finally {
      tf.dispose(kept.map(([, t]) => t));
    }
  }

  /** The averaged gradients of `vars` as tensors, in their order (what applyGradients takes). */
  gradientTensors(vars: readonly tf.Variable[]): Array<{ name: string; tensor: tf.Tensor }> {
    return vars.map((v) => {
      const i = this.variables.indexOf(v);
      if (i < 0) throw new ValidationError(`optimizer variable ${v.name} is not one of the model's trainable variables`, { configKey: 'optimizers' });
      return { name: v.name, tensor: tf.tensor(this.gradients.slice(this.offsets[i], this.offsets[i] + v.size), v.shape, 'float32') };
    });
  }

  getParameters(): Float32Array {
    return flattenTensors(this.variables);
  }

  setParameters(flat: Float32Array): void {
    const fresh = unflattenTensors(flat, this.variables);
    this.variables.forEach((v, i) => v.assign(fresh[i]));
    tf.dispose(fresh);
  }

  stateDict(): StateDict {
    const out: StateDict = {};
    for (const v of this.variables) out[v.name] = { dtype: 'F32', shape: [...v.shape], data: (v.dataSync() as Float32Array).slice() } satisfies Tensor;
    return out;
  }

  loadStateDict(state: StateDict): void {
    const missing = this.variables.filter((v) => !(v.name in state)).map((v) => v.name);
    if (missing.length > 0) throw new ValidationError(`the checkpoint has no values for ${missing.join(', ')}`, { configKey: 'modelStateDict' });
    for (const v of this.variables) {
      const t = state[v.name] as Tensor;
      if (t.shape.join() !== v.shape.join() || !(t.data instanceof Float32Array)) throw new ValidationError(`checkpoint tensor ${v.name} is ${t.dtype}[${t.shape}], the variable float32[${v.shape}]`, { configKey: `modelStateDict.${v.name}` });
      const value = tf.tensor(t.data, t.shape, 'float32');
      v.assign(value);
      value.dispose();
    }
  }
}

/** A tfjs optimizer over some (default all) of a TfjsModel's variables. */
export class TfjsOptimizer implements TrainerOptimizer {
  constructor(readonly optimizer: tf.Optimizer, private readonly options: { variables?: readonly tf.Variable[] } = {}) {}

  step(model: TrainerModel): void {
    if (!(model instanceof TfjsModel)) throw new ValidationError('TfjsOptimizer steps a TfjsModel', { configKey: 'model' });
    const named = model.gradientTensors(this.options.variables ?? model.variables);
    try {
      this.optimizer.applyGradients(named);
    } finally {
      tf.dispose(named.map((n) => n.tensor));
    }
  }

  get learningRate(): number | undefined {
    const lr = (this.optimizer as unknown as { learningRate?: unknown }).learningRate;
    return typeof lr === 'number' ? lr : undefined;
  }

  async stateDict(): Promise<StateDict> {
    return tfOptimizerStateDict(this.optimizer);
  }

  async loadStateDict(state: StateDict): Promise<void> {
    await loadTfOptimizer(this.optimizer, state, true, tf);
  }
}
