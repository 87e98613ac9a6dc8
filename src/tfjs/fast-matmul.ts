import * as tf from '@tensorflow/tfjs';

const custom = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(sb)), tf.matMul(tf.transpose(sa), dy as tf.Tensor2D)];
    },
  };
}) as Parameters<typeof tf.customGrad>[0]);

/**
 * a · b with a backward pass that transposes explicitly. On the wasm backend a matMul with
 * transposeA/transposeB (what the built-in gradient uses) is about 10x slower than tf.transpose then
 * matMul, so an MLP's step is about twice as fast with this one. Same values as tf.matMul.
 */
export function fastMatMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return custom(a, b) as tf.Tensor2D;
}
