// Seeded counter-based random numbers on the GPU (Philox4x32-10) and their TypeScript twin.
// A Generator hands out disjoint counter ranges, so draws never overlap and any draw can be
// regenerated from (seed, stream, offset) instead of being stored.
import { dispatch } from './dispatch.js';
import { empty, type Shape, type Tensor } from './tensor.js';
import { randomKernel } from '../kernels/random.js';
import { gridFor } from '../kernels/common.js';

const M0 = 0xd2511f53, M1 = 0xcd9e8d57, W0 = 0x9e3779b9, W1 = 0xbb67ae85;

function mulhi32(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/** Philox4x32-10 of one counter: the same bits as the WGSL kernel. */
export function philox(ctr: [number, number, number, number], key: [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi32(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** 24 bits to (0, 1): (2m + 1) / 2^24, exact in f32 and f64. */
export const unit = (x: number): number => ((x >>> 9) * 2 + 1) * 5.9604644775390625e-8;

const splitSeed = (seed: number): [number, number] => [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];

/** The TypeScript twin of a GPU draw (float64; uniform values match the GPU bit for bit). */
export function randomTwin(kind: 'uniform' | 'normal', n: number, seed: number, stream: number, offset: number, a = 0, b = 1): Float64Array {
  const out = new Float64Array(n);
  const key = splitSeed(seed);
  for (let q = 0; q * 4 < n; q++) {
    const bits = philox([q + offset, stream, 0, 0], key);
    let v: number[];
    if (kind === 'uniform') v = bits.map((x) => a + (b - a) * unit(x));
    else {
      const r0 = Math.sqrt(-2 * Math.log(unit(bits[0]))), t0 = 2 * Math.PI * unit(bits[1]);
      const r1 = Math.sqrt(-2 * Math.log(unit(bits[2]))), t1 = 2 * Math.PI * unit(bits[3]);
      v = [r0 * Math.cos(t0), r0 * Math.sin(t0), r1 * Math.cos(t1), r1 * Math.sin(t1)].map((z) => a + b * z);
    }
    for (let j = 0; j < 4 && q * 4 + j < n; j++) out[q * 4 + j] = v[j];
  }
  return out;
}

export interface Draw { seed: number; stream: number; offset: number }

// The counter's first word holds 2^32 blocks of four values; a long run outgrows that (SIVAE's
// input masks at ML-20M's size draw 40 M values a step), so a generator then moves on to the
// next "lap": the lap number rides in the stream word's upper 16 bits (the kernels and the twin
// take the stream word as is, so nothing else changes). A draw never straddles two laps.
const LAP = 2 ** 32, MAX_STREAM = 2 ** 16;

/** Everything that fixes a generator's future draws (saved by module checkpoints). */
export interface GeneratorState { seed: number; stream: number; position: number }

export class Generator {
  private offset = 0;
  private lap = 0;
  private s: number;
  private st: number;
  constructor(seed: number, stream = 0) {
    this.s = checkSeed(seed, 'Generator');
    this.st = checkStream(stream, 'Generator');
  }

  get seed(): number { return this.s; }
  get stream(): number { return this.st; }

  /** Seed, stream and position: a generator set to this state draws what the original would have. */
  get state(): GeneratorState { return { seed: this.s, stream: this.st, position: this.position }; }
  setState(st: GeneratorState): void {
    const seed = checkSeed(st?.seed, 'Generator.setState'), stream = checkStream(st?.stream, 'Generator.setState');
    this.seek(st.position);
    this.s = seed;
    this.st = stream;
  }

  /** The next unused counter, laps included (saved in checkpoints so a resumed run draws what it would have). */
  get position(): number { return this.lap * LAP + this.offset; }
  seek(position: number): void {
    if (!Number.isSafeInteger(position) || position < 0 || position >= MAX_STREAM * LAP) throw new Error(`Generator.seek: position must be an integer in [0, 2^48), got ${position}`);
    this.lap = Math.floor(position / LAP);
    this.offset = position % LAP;
  }

  /** Reserves counters for n values and says where they are (for regeneration or the twin). */
  reserve(n: number): Draw {
    const blocks = Math.ceil(n / 4);
    if (blocks > LAP) throw new Error(`Generator: one draw of ${n} values is more than a counter lap holds`);
    if (this.offset + blocks > LAP) { this.lap++; this.offset = 0; }
    if (this.lap >= MAX_STREAM) throw new Error('Generator: counter space exhausted (2^48 blocks); use another seed');
    const d = { seed: this.seed, stream: this.stream + this.lap * MAX_STREAM, offset: this.offset };
    this.offset += blocks;
    return d;
  }

  /** Uniform on (lo, hi). */
  uniform(shape: Shape, lo = 0, hi = 1): Tensor { return draw('uniform', shape, this.reserve(count(shape)), lo, hi); }
  /** Normal with the given mean and standard deviation. */
  normal(shape: Shape, mean = 0, std = 1): Tensor { return draw('normal', shape, this.reserve(count(shape)), mean, std); }
}

const count = (shape: Shape): number => shape.reduce((p, d) => p * d, 1);

function checkSeed(seed: number, who: string): number {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`${who}: seed must be a non-negative safe integer, got ${seed}`);
  return seed;
}
function checkStream(stream: number, who: string): number {
  if (!Number.isInteger(stream) || stream < 0 || stream >= MAX_STREAM) throw new Error(`${who}: stream must be an integer in [0, 2^16), got ${stream}`);
  return stream;
}

/** Fills a new tensor from an explicit draw (same (seed, stream, offset) → same values). */
export function draw(kind: 'uniform' | 'normal', shape: Shape, d: Draw, a: number, b: number): Tensor {
  const t = empty(shape, 'f32', `random.${kind}`);
  const [lo, hi] = splitSeed(d.seed);
  if (t.size) {
    dispatch({ kernel: randomKernel(kind), bindings: { y: t.buffer }, params: { n: t.size, seedLo: lo, seedHi: hi, offset: d.offset, stream: d.stream, a, b }, workgroups: [gridFor(Math.ceil(t.size / 4))] });
  }
  return t;
}

let global = new Generator(0x5eed);
/** Re-seeds the process-wide generator that rand/randn and initialisers use. */
export function manualSeed(seed: number): void { global = new Generator(seed); }
export const rand = (shape: Shape, lo = 0, hi = 1): Tensor => global.uniform(shape, lo, hi);
export const randn = (shape: Shape, mean = 0, std = 1): Tensor => global.normal(shape, mean, std);
export const defaultGenerator = (): Generator => global;

/**
 * A seeded host-side generator of uniform numbers in [0, 1) (mulberry32): shuffling data,
 * drawing test inputs. Not the GPU's stream (Generator): cheap, 32-bit state, for host work.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
