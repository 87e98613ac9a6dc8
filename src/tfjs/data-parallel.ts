import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { WRAPPED_MODEL } from '../checkpoint/index.js';
import { ConfigurationError } from '../errors/index.js';

/** A gradient paired with its variable's name, as optimizer.applyGradients takes them. */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}
import { getProcessGroup, isInitialized, ProcessGroup, type CallOptions } from '../collective/index.js';

/** The default group when set up, else a world of one (so single-process scripts run unchanged). */
function defaultGroup(group: ProcessGroup | undefined): ProcessGroup {
  if (group !== undefined) return group;
  return isInitialized() ? getProcessGroup() : ProcessGroup.single();
}

function checkFloat32(vars: readonly tf.Variable[], what: string): void {
  for (const v of vars) {
    if (v.dtype !== 'float32') throw new ConfigurationError(`${what}: variable ${v.name} is ${v.dtype}; only float32 variables are averaged and broadcast`);
  }
}

function totalSize(tensors: readonly tf.Tensor[]): number {
  let n = 0;
  for (const t of tensors) n += t.size;
  return n;
}

/** Copy tensors, in the given order, into one flat Float32Array (reused when `out` is big enough). */
export function flattenTensors(tensors: readonly tf.Tensor[], out?: Float32Array): Float32Array {
  const n = totalSize(tensors);
  const flat = out !== undefined && out.length === n ? out : new Float32Array(n);
  let off = 0;
  for (const t of tensors) {
    flat.set(t.dataSync() as Float32Array, off);
    off += t.size;
  }
  return flat;
}

/** Cut a flat array back into tensors shaped like `like` (copies, so `flat` may be reused). */
export function unflattenTensors(flat: Float32Array, like: readonly tf.Tensor[]): tf.Tensor[] {
  if (flat.length !== totalSize(like)) throw new ConfigurationError(`unflattenTensors: ${String(flat.length)} values for tensors of ${String(totalSize(like))} elements`);
  const out: tf.Tensor[] = [];
  let off = 0;
  for (const t of like) {
    out.push(tf.tensor(flat.slice(off, off + t.size), t.shape, 'float32'));
    off += t.size;
  }
  return out;
}

/** Give every rank `src`'s values of `vars` (one broadcast for all of them). */
export async function broadcastWeights(vars: readonly tf.Variable[], options: { src?: number; group?: ProcessGroup } & CallOptions = {}): Promise<void> {
  checkFloat32(vars, 'broadcastWeights');
  const g = defaultGroup(options.group);
  const flat = flattenTensors(vars);
  await g.broadcast(flat, options.src ?? 0, options);
  const fresh = unflattenTensors(flat, vars);
  vars.forEach((v, i) => v.assign(fresh[i]));
  tf.dispose(fresh);
}

/**
 * Average gradients across ranks: flattened in the order of `vars` into one Float32Array, one
 * allreduce (avg), rebuilt as tensors. Returns `[{name, tensor}]` in that order, which is the form
 * `optimizer.applyGradients` must be given (an object's integer-like keys would be reordered).
 * The input gradients are not disposed.
 */
export async function averageGradients(
  grads: tf.NamedTensorMap,
  vars: readonly tf.Variable[],
  options: { group?: ProcessGroup; buffer?: Float32Array } & CallOptions = {},
): Promise<NamedTensor[]> {
  const ordered = vars.map((v) => {
    const g = grads[v.name];
    if (g === undefined) throw new ConfigurationError(`averageGradients: no gradient for variable ${v.name}`, { suggestions: ['Pass the same variable list to tf.variableGrads and averageGradients; every variable must influence the loss.'] });
    return g;
  });
  const flat = flattenTensors(ordered, options.buffer);
  await defaultGroup(options.group).allReduce(flat, 'avg', options);
  const tensors = unflattenTensors(flat, ordered);
  return vars.map((v, i) => ({ name: v.name, tensor: tensors[i] }));
}

export interface DataParallelOptions extends CallOptions {
  /** The group to average over (default: the default group, or a world of one). */
  group?: ProcessGroup;
}

/**
 * Data-parallel training step for a TensorFlow.js optimizer: each rank computes gradients on its
 * own shard, one allreduce averages them, each rank applies the same averaged bits, so weights stay
 * bit-identical across ranks (same backend and version everywhere). The flat gradient buffer comes
 * from the group's allocateShared, so ranks on one host reduce it in place in shared memory.
 */
export class DataParallel {
  private buffer: Float32Array | undefined;
  private readonly group: ProcessGroup;

  constructor(
    readonly optimizer: tf.Optimizer,
    readonly variables: readonly tf.Variable[],
    private readonly options: DataParallelOptions = {},
  ) {
    if (variables.length === 0) throw new ConfigurationError('DataParallel needs at least one trainable variable');
    checkFloat32(variables, 'DataParallel');
    const names = new Set(variables.map((v) => v.name));
    if (names.size !== variables.length) throw new ConfigurationError('DataParallel: variable names must be unique (they key the gradients)');
    this.group = defaultGroup(options.group);
  }

  /** What a checkpoint saves as this wrapper's model: its variables (as torch's DDP saves its `.module`). */
  get [WRAPPED_MODEL](): tf.Variable[] {
    return [...this.variables];
  }

  /** Whether the gradients are reduced in place in shared memory (known after the first step). */
  get sharedGradients(): boolean {
    return this.buffer !== undefined && this.group.isShared(this.buffer);
  }

  /** Make every rank start from rank `src`'s weights. */
  async broadcastInitialWeights(src = 0): Promise<void> {
    await broadcastWeights(this.variables, { ...this.options, group: this.group, src });
  }

  /** One step: local gradients of `lossFn`, averaged across ranks, applied. Returns the local loss. */
  async step(lossFn: () => tf.Scalar): Promise<number> {
    const { value, grads } = tf.variableGrads(lossFn, [...this.variables]);
    try {
      // In the group's shared memory when it has some (every rank makes it at its first step), so the
      // gradients are flattened straight into memory the peers read: the zero-copy allreduce.
      this.buffer ??= await this.group.allocateShared(totalSize(this.variables), 'float32', this.options);
      const averaged = await averageGradients(grads, this.variables, { ...this.options, group: this.group, buffer: this.buffer });
      try {
        this.optimizer.applyGradients(averaged);
      } finally {
        tf.dispose(averaged.map((a) => a.tensor));
      }
      return (await value.data())[0];
    } finally {
      tf.dispose([value, ...Object.values(grads)]);
    }
  }
}

/** sha256 of every variable's bytes, in order: equal hashes mean bit-identical weights. */
export function weightsHash(vars: readonly tf.Tensor[]): string {
  const h = createHash('sha256');
  for (const v of vars) {
    const d = v.dataSync();
    h.update(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.digest('hex');
}

/** Select the WebAssembly backend (what tfjs offers in Node without native binaries). */
export async function useWasmBackend(): Promise<void> {
  await import('@tensorflow/tfjs-backend-wasm');
  const ok = await tf.setBackend('wasm');
  if (!ok) throw new ConfigurationError('TensorFlow.js could not start its wasm backend', { suggestions: ['Install @tensorflow/tfjs-backend-wasm at the same version as @tensorflow/tfjs.'] });
  await tf.ready();
}
