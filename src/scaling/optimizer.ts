import { ConfigurationError } from '../errors/index.js';

/**
 * Anything whose learning rate can be set:
 * - a function `(lr) => void`;
 * - an object with `setLearningRate(lr)` (TensorFlow.js SGD and Momentum, which cache the rate and must be told);
 * - an object with a numeric `learningRate` field (TensorFlow.js Adam, RMSProp, Adagrad, Adamax, Adadelta read it on
 *   every step). TypeScript sees that tfjs field as protected, which is why the type is `object` and not
 *   `{ learningRate: number }`: the shape is checked at run time instead.
 */
export type OptimizerLike = ((lr: number) => void) | LearningRateSetter | LearningRateHolder | object;

export interface LearningRateSetter {
  setLearningRate(lr: number): void;
}

export interface LearningRateHolder {
  learningRate: number;
}

export type LrSetter = (lr: number) => void;

function hasMethod(obj: object, name: string): boolean {
  return typeof (obj as Record<string, unknown>)[name] === 'function';
}

/** Resolves how to set `optimizer`'s learning rate, or throws a ConfigurationError saying what is accepted. */
export function lrSetterFor(optimizer: OptimizerLike): LrSetter {
  if (typeof optimizer === 'function') return (lr) => (optimizer as LrSetter)(lr);
  if (optimizer !== null && typeof optimizer === 'object') {
    if (hasMethod(optimizer, 'setLearningRate')) return (lr) => (optimizer as LearningRateSetter).setLearningRate(lr);
    if (typeof (optimizer as Record<string, unknown>).learningRate === 'number') {
      return (lr) => {
        (optimizer as LearningRateHolder).learningRate = lr;
      };
    }
  }
  throw new ConfigurationError('The optimizer has no settable learning rate', {
    configKey: 'optimizer',
    suggestions: ['Pass an object with a numeric `learningRate` field or a `setLearningRate(lr)` method (any TensorFlow.js optimizer), or a function (lr) => void.'],
  });
}

/** The optimizer's current learning rate when it exposes one as a number, else undefined. */
export function readLearningRate(optimizer: OptimizerLike): number | undefined {
  if (typeof optimizer === 'function' || optimizer === null || typeof optimizer !== 'object') return undefined;
  const lr = (optimizer as Record<string, unknown>).learningRate;
  return typeof lr === 'number' ? lr : undefined;
}
