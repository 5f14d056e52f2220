// Seeded mini-batch iteration over host arrays (x: [n, d] Float32Array, y: [n] Int32Array) and a
// seeded train/validation split. The iterator is lazy: each step gathers only the next batch's
// host arrays. (Overlapping the GPU upload of batch k+1 with the compute of batch k is for later;
// a caller can already pull the next batch before awaiting the current step.)
import { permutation } from './mnist.js';
import { mixSeed } from './rng.js';

export interface Batch { x: Float32Array; y: Int32Array; idx: Int32Array }

export interface BatchOptions {
  batchSize: number;
  /** Shuffling seed; each epoch uses a different permutation derived from (seed, epoch). */
  seed: number;
  epoch?: number;
  shuffle?: boolean; // default true
  dropLast?: boolean; // default false: a smaller last batch
  /** Iterate over these rows only (e.g. splitValidation's train indices). */
  indices?: ArrayLike<number>;
}

function gatherInto(x: Float32Array, d: number, rows: Int32Array, out: Float32Array): void {
  for (let i = 0; i < rows.length; i++) out.set(x.subarray(rows[i] * d, (rows[i] + 1) * d), i * d);
}

/** The order of rows for one epoch. */
export function epochOrder(opts: BatchOptions, n: number): Int32Array {
  const base = opts.indices ? Int32Array.from(opts.indices) : Int32Array.from({ length: n }, (_, i) => i);
  if (opts.shuffle === false) return base;
  const p = permutation(base.length, mixSeed(opts.seed, opts.epoch ?? 0));
  return p.map((j) => base[j]);
}

export function* batches(x: Float32Array, y: Int32Array, opts: BatchOptions): Generator<Batch> {
  const n = y.length, bs = opts.batchSize;
  if (!(Number.isInteger(bs) && bs > 0)) throw new Error(`batches: batchSize must be a positive integer, got ${bs}`);
  if (n === 0 || x.length % n !== 0) throw new Error(`batches: x length ${x.length} is not a multiple of ${n} labels`);
  const d = x.length / n;
  const order = epochOrder(opts, n);
  for (const r of order) if (r < 0 || r >= n) throw new Error(`batches: index ${r} out of range [0, ${n})`);
  for (let s = 0; s < order.length; s += bs) {
    const e = Math.min(order.length, s + bs);
    if (e - s < bs && opts.dropLast) return;
    const idx = order.slice(s, e);
    const bx = new Float32Array(idx.length * d);
    gatherInto(x, d, idx, bx);
    yield { x: bx, y: idx.map((r) => y[r]), idx };
  }
}

/** Number of batches one epoch yields. */
export function batchCount(n: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

/** A seeded split of 0..n-1: round(n·fraction) rows for validation; both lists sorted ascending. */
export function splitValidation(n: number, fraction: number, seed: number): { train: Int32Array; val: Int32Array } {
  if (!(fraction >= 0 && fraction < 1)) throw new Error(`splitValidation: fraction must be in [0, 1), got ${fraction}`);
  const p = permutation(n, seed);
  const nv = Math.round(n * fraction);
  return { train: p.slice(nv).sort(), val: p.slice(0, nv).sort() };
}
