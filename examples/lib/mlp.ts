/** A small MLP classifier for the digits (tfjs variables, seeded initial weights, fast matMul on wasm). */
import * as tf from '@tensorflow/tfjs';
import { fastMatMul } from 'elastic-harness/tfjs';
import { CLASSES, PIXELS } from './mnist.js';
import { SeededRng } from 'elastic-harness/data';

export interface Mlp {
  variables: tf.Variable[];
  logits(x: tf.Tensor2D): tf.Tensor2D;
}

/** 784 -> hidden -> 10, ReLU, He-style uniform initial weights from `seed`. */
export function createMlp(hidden = 128, seed = 42): Mlp {
  const rand = new SeededRng(seed);
  const r = (): number => rand.next();
  const param = (name: string, shape: number[], scale: number) => tf.variable(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * scale), shape), true, name);
  const w1 = param('w1', [PIXELS, hidden], Math.sqrt(6 / PIXELS));
  const b1 = tf.variable(tf.zeros([hidden]), true, 'b1');
  const w2 = param('w2', [hidden, CLASSES], Math.sqrt(6 / hidden));
  const b2 = tf.variable(tf.zeros([CLASSES]), true, 'b2');
  return {
    variables: [w1, b1, w2, b2],
    logits: (x) => tf.add(fastMatMul(tf.relu(tf.add(fastMatMul(x, w1 as tf.Tensor2D), b1)) as tf.Tensor2D, w2 as tf.Tensor2D), b2) as tf.Tensor2D,
  };
}
