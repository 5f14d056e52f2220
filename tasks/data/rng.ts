// Seeded uniform numbers in [0, 1) (mulberry32, engine/random.ts — the same generator as
// mnist.ts's permutation), shared by the data transforms and batch iterators.
export { mulberry32 } from '../../engine/random.js';

/** Mixes a seed with a stream number (epoch, worker…) into a new 32-bit seed. */
export function mixSeed(seed: number, stream: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul((stream >>> 0) + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}
