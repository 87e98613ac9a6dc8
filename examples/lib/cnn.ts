/**
 * A small convolutional classifier for the digits that trains on tfjs's wasm backend, which has no
 * Conv2DBackpropFilter: the 5x5 patches are taken by a forward-only conv2d with an identity kernel (the
 * images need no gradient), and the convolution itself is a matMul of the patches with the filters.
 * conv 5x5/2 (16 filters) -> ReLU -> dense 128 -> ReLU -> dense 10. Initial weights from a seed.
 */
import * as tf from '@tensorflow/tfjs';
import { fastMatMul } from 'elastic-harness/tfjs';
import { CLASSES } from './mnist.js';
import { SeededRng } from 'elastic-harness/data';

const K = 5;
const STRIDE = 2;
const OUT = Math.floor((28 - K) / STRIDE) + 1; // 12

export interface Cnn {
  variables: tf.Variable[];
  logits(x: tf.Tensor2D): tf.Tensor2D;
}

export function createCnn(options: { filters?: number; hidden?: number; seed?: number } = {}): Cnn {
  const filters = options.filters ?? 16;
  const hidden = options.hidden ?? 128;
  const rand = new SeededRng(options.seed ?? 42);
  const r = (): number => rand.next();
  const uniform = (name: string, shape: number[], fanIn: number) =>
    tf.variable(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (r() * 2 - 1) * Math.sqrt(6 / fanIn)), shape), true, name);
  const identity = tf.tidy(() => tf.reshape(tf.eye(K * K), [K, K, 1, K * K]) as tf.Tensor4D);
  const wc = uniform('conv_w', [K * K, filters], K * K);
  const bc = tf.variable(tf.zeros([filters]), true, 'conv_b');
  const flat = OUT * OUT * filters;
  const w1 = uniform('fc1_w', [flat, hidden], flat);
  const b1 = tf.variable(tf.zeros([hidden]), true, 'fc1_b');
  const w2 = uniform('fc2_w', [hidden, CLASSES], hidden);
  const b2 = tf.variable(tf.zeros([CLASSES]), true, 'fc2_b');
  return {
    variables: [wc, bc, w1, b1, w2, b2],
    logits: (x) => {
      const n = x.shape[0];
      const patches = tf.reshape(tf.conv2d(tf.reshape(x, [n, 28, 28, 1]) as tf.Tensor4D, identity, STRIDE, 'valid'), [n * OUT * OUT, K * K]) as tf.Tensor2D;
      const conv = tf.relu(tf.add(fastMatMul(patches, wc as tf.Tensor2D), bc));
      const h = tf.relu(tf.add(fastMatMul(tf.reshape(conv, [n, flat]) as tf.Tensor2D, w1 as tf.Tensor2D), b1)) as tf.Tensor2D;
      return tf.add(fastMatMul(h, w2 as tf.Tensor2D), b2) as tf.Tensor2D;
    },
  };
}
