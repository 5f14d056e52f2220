// CPU-side image transforms on CHW Float32Arrays [n, c, h, w]: per-channel mean/std from a
// training set, normalisation, and seeded augmentation (random crop with zero padding,
// horizontal flip) as in the usual CIFAR recipe (pad 4, crop 32×32, flip with p = 0.5).
import { mulberry32 } from './rng.js';

export interface ChannelStats { mean: number[]; std: number[] }

function sumPlane(x: Float32Array, off: number, hw: number): number {
  let s = 0;
  for (let i = 0; i < hw; i++) s += x[off + i];
  return s;
}

function sqDevPlane(x: Float32Array, off: number, hw: number, m: number): number {
  let s = 0;
  for (let i = 0; i < hw; i++) {
    const d = x[off + i] - m;
    s += d * d;
  }
  return s;
}

/** Per-channel mean and (population) standard deviation over all images and pixels. */
export function channelStats(x: Float32Array, c: number, hw: number): ChannelStats {
  const n = x.length / (c * hw);
  if (!Number.isInteger(n) || n === 0) throw new Error(`channelStats: length ${x.length} is not a positive multiple of ${c}×${hw}`);
  const mean: number[] = [], std: number[] = [];
  for (let k = 0; k < c; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += sumPlane(x, (i * c + k) * hw, hw);
    const m = s / (n * hw);
    let v = 0;
    for (let i = 0; i < n; i++) v += sqDevPlane(x, (i * c + k) * hw, hw, m);
    mean.push(m);
    std.push(Math.sqrt(v / (n * hw)));
  }
  return { mean, std };
}

function affinePlane(x: Float32Array, off: number, hw: number, m: number, inv: number): void {
  for (let i = 0; i < hw; i++) x[off + i] = (x[off + i] - m) * inv;
}

/** (x - mean[c]) / std[c] in place; returns x. */
export function normalize(x: Float32Array, c: number, hw: number, stats: ChannelStats): Float32Array {
  const n = x.length / (c * hw);
  if (!Number.isInteger(n)) throw new Error(`normalize: length ${x.length} is not a multiple of ${c}×${hw}`);
  if (stats.mean.length !== c || stats.std.length !== c) throw new Error(`normalize: stats for ${stats.mean.length} channels, data has ${c}`);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      const s = stats.std[k];
      affinePlane(x, (i * c + k) * hw, hw, stats.mean[k], s > 0 ? 1 / s : 1);
    }
  }
  return x;
}

function reverseRow(src: Float32Array, so: number, dst: Float32Array, dO: number, w: number): void {
  for (let i = 0; i < w; i++) dst[dO + i] = src[so + w - 1 - i];
}

/** Every image mirrored left-right (a new array). */
export function flipHorizontal(x: Float32Array, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / w; r++) reverseRow(x, r * w, out, r * w, w);
  return out;
}

/** Copies one plane shifted by (dy, dx) (out[y][x] = in[y + dy][x + dx], zero outside), optionally mirrored. */
function shiftPlane(src: Float32Array, so: number, dst: Float32Array, dO: number, h: number, w: number, dy: number, dx: number, flip: boolean): void {
  const x0 = Math.max(0, -dx), x1 = Math.min(w, w - dx);
  for (let y = 0; y < h; y++) {
    const yi = y + dy;
    if (yi < 0 || yi >= h || x1 <= x0) continue; // dst is zero-filled already
    const rowIn = so + yi * w, rowOut = dO + y * w;
    if (!flip) dst.set(src.subarray(rowIn + x0 + dx, rowIn + x1 + dx), rowOut + x0);
    else copyRowMirrored(src, rowIn + dx, dst, rowOut, w, x0, x1);
  }
}

/** dst[rowOut + (w-1-x)] = src[rowIn + x] for x in [x0, x1). */
function copyRowMirrored(src: Float32Array, rowIn: number, dst: Float32Array, rowOut: number, w: number, x0: number, x1: number): void {
  for (let x = x0; x < x1; x++) dst[rowOut + w - 1 - x] = src[rowIn + x];
}

export interface AugmentOptions { pad?: number; flip?: boolean; seed: number }

/**
 * Random crop of each image from its zero-padded version (offsets uniform in [0, 2·pad]) and,
 * when `flip` (default true), a horizontal mirror with probability 1/2; same shape out, new array.
 * Padding is zero in the space x is in (after normalisation: the channel mean).
 */
export function randomCropFlip(x: Float32Array, c: number, h: number, w: number, opts: AugmentOptions): Float32Array {
  const pad = opts.pad ?? 4, flip = opts.flip ?? true;
  const rnd = mulberry32(opts.seed);
  const plane = h * w, n = x.length / (c * plane);
  if (!Number.isInteger(n)) throw new Error(`randomCropFlip: length ${x.length} is not a multiple of ${c}×${h}×${w}`);
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const dy = Math.floor(rnd() * (2 * pad + 1)) - pad;
    const dx = Math.floor(rnd() * (2 * pad + 1)) - pad;
    const f = flip && rnd() < 0.5;
    for (let k = 0; k < c; k++) shiftPlane(x, (i * c + k) * plane, out, (i * c + k) * plane, h, w, dy, dx, f);
  }
  return out;
}

/** Source taps for bilinear resizing of one axis (half-pixel centres, as PyTorch's align_corners=false). */
function bilinearTaps(from: number, to: number): { i0: Int32Array; i1: Int32Array; f: Float32Array } {
  const i0 = new Int32Array(to), i1 = new Int32Array(to), f = new Float32Array(to);
  const scale = from / to;
  for (let o = 0; o < to; o++) {
    const s = Math.max(0, (o + 0.5) * scale - 0.5);
    const lo = Math.min(Math.floor(s), from - 1);
    i0[o] = lo;
    i1[o] = Math.min(lo + 1, from - 1);
    f[o] = s - lo;
  }
  return { i0, i1, f };
}

function resizePlane(src: Float32Array, so: number, w: number, dst: Float32Array, dO: number, W: number,
  ty: ReturnType<typeof bilinearTaps>, tx: ReturnType<typeof bilinearTaps>): void {
  for (let y = 0; y < ty.f.length; y++) {
    const r0 = so + ty.i0[y] * w, r1 = so + ty.i1[y] * w, fy = ty.f[y], row = dO + y * W;
    for (let x = 0; x < W; x++) {
      const a = src[r0 + tx.i0[x]], b = src[r0 + tx.i1[x]], c = src[r1 + tx.i0[x]], d = src[r1 + tx.i1[x]];
      const fx = tx.f[x];
      dst[row + x] = (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy;
    }
  }
}

/**
 * Bilinear resize of every plane of [n, c, h, w] to [n, c, H, W] (a new array). Used per batch
 * for the paper's 224-px VGG inputs: resizing a whole data set up front would need 49× the memory.
 */
export function resizeBilinear(x: Float32Array, c: number, h: number, w: number, H: number, W: number): Float32Array {
  const plane = h * w, n = x.length / (c * plane);
  if (!Number.isInteger(n)) throw new Error(`resizeBilinear: length ${x.length} is not a multiple of ${c}×${h}×${w}`);
  if (!(Number.isInteger(H) && Number.isInteger(W) && H > 0 && W > 0)) throw new Error(`resizeBilinear: target size must be positive integers, got ${H}×${W}`);
  if (H === h && W === w) return x.slice();
  const ty = bilinearTaps(h, H), tx = bilinearTaps(w, W);
  const out = new Float32Array(n * c * H * W);
  for (let p = 0; p < n * c; p++) resizePlane(x, p * plane, w, out, p * H * W, W, ty, tx);
  return out;
}
