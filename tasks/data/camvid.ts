// CamVid as SegNet distributes it: root/{train,val,test}/*.png
// RGB images (480×360), root/{train,val,test}annot/*.png grayscale labels (0-10 the 11 classes,
// 11 void), and root/{train,val,test}.txt listing "image label" pairs per line with a
// `/SegNet/CamVid/` prefix (stripped; paths are then taken relative to root).
//
// Images decode to a CHW Float32Array [n, 3, H, W] in [0, 1], labels to an Int32Array [n, H, W].
// Optional resize at load time (images: area average or bilinear; labels: nearest, so label
// values are kept). Strict: a missing file, an undecodable PNG, a label of another size than its
// image, a label value above 11, or images of different sizes (without `size`) is an Error naming
// the file. Also: a seeded horizontal flip, per-channel statistics and normalisation, and
// median-frequency class weights (Eigen & Fergus 2015, as SegNet uses them).
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { readCheckpoint, saveRecords, type TensorRecord } from '../../engine/checkpoint.js';
import { decodeImage } from './imagefolder.js';
import { mulberry32 } from './rng.js';

export const CAMVID_CLASSES = ['Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree', 'SignSymbol', 'Fence', 'Car', 'Pedestrian', 'Bicyclist'] as const;
export const CAMVID_NUM_CLASSES = 11;
/** The void label: excluded from the loss (crossEntropy ignoreIndex) and from every metric. */
export const CAMVID_VOID = 11;

export type CamVidSplitName = 'train' | 'val' | 'test';

export interface CamVidPair { image: string; label: string }

export interface CamVidSet {
  x: Float32Array; // [n, 3, height, width], values in [0, 1]
  y: Int32Array; // [n, height, width], 0..10 classes, 11 void
  n: number;
  height: number;
  width: number;
  pairs: CamVidPair[];
}

export interface CamVidOptions {
  /** Load at most this many pairs (the first ones of the list, after `offset`). */
  limit?: number;
  /** Skip this many pairs of the list first (default 0). */
  offset?: number;
  /** Resize every pair to [height, width] at load time (default: keep; all must then match). */
  size?: [number, number];
  /** How images are resized: 'area' (box average, default) or 'bilinear'. Labels: always nearest. */
  resize?: 'area' | 'bilinear';
}

const PREFIX = '/SegNet/CamVid/';

/** The pairs of root/<split>.txt, prefix stripped, as paths under root. */
export function readCamVidList(root: string, split: CamVidSplitName): CamVidPair[] {
  const list = join(root, `${split}.txt`);
  if (!existsSync(list)) throw new Error(`${list}: CamVid split list not found`);
  const pairs: CamVidPair[] = [];
  readFileSync(list, 'utf8').split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (!t) return;
    const parts = t.split(/\s+/);
    if (parts.length !== 2) throw new Error(`${list}:${i + 1}: expected "image label", got '${t}'`);
    const [image, label] = parts.map((p) => join(root, p.startsWith(PREFIX) ? p.slice(PREFIX.length) : p.replace(/^\/+/, '')));
    pairs.push({ image, label });
  });
  if (!pairs.length) throw new Error(`${list}: no pairs listed`);
  return pairs;
}

function readPng(file: string): { width: number; height: number; rgba: Uint8Array } {
  if (!existsSync(file)) throw new Error(`${file}: file not found`);
  if (!file.toLowerCase().endsWith('.png')) throw new Error(`${file}: not a .png file`);
  return decodeImage(file, readFileSync(file));
}

/** Loads (part of) a split; see CamVidOptions. */
export function loadCamVid(root: string, split: CamVidSplitName, o: CamVidOptions = {}): CamVidSet {
  const offset = o.offset ?? 0;
  const limit = o.limit ?? Infinity;
  if (!(limit > 0)) throw new Error(`loadCamVid: limit must be positive, got ${limit}`);
  if (!(Number.isInteger(offset) && offset >= 0)) throw new Error(`loadCamVid: offset must be a non-negative integer, got ${offset}`);
  if (o.size && !o.size.every((d) => Number.isInteger(d) && d >= 1)) throw new Error(`loadCamVid: size must be [height, width] positive integers, got ${JSON.stringify(o.size)}`);
  const mode = o.resize ?? 'area';
  if (mode !== 'area' && mode !== 'bilinear') throw new Error(`loadCamVid: resize must be 'area' or 'bilinear', got '${String(mode)}'`);
  const pairs = readCamVidList(root, split).slice(offset, offset + Math.min(limit, 1e9));
  if (!pairs.length) throw new Error(`loadCamVid: no pairs in ${split} from offset ${offset}`);
  let [height, width] = o.size ?? [0, 0];
  let x = new Float32Array(0), y = new Int32Array(0);
  pairs.forEach((p, i) => {
    const img = readPng(p.image);
    const lab = readPng(p.label);
    if (lab.width !== img.width || lab.height !== img.height) {
      throw new Error(`${p.label}: label is ${lab.width}×${lab.height} (width×height), its image ${p.image} is ${img.width}×${img.height}`);
    }
    if (height === 0) [height, width] = [img.height, img.width];
    if (!o.size && (img.height !== height || img.width !== width)) {
      throw new Error(`${p.image}: image is ${img.width}×${img.height} (width×height), expected ${width}×${height} (pass size to resize)`);
    }
    if (x.length === 0) {
      x = new Float32Array(pairs.length * 3 * height * width);
      y = new Int32Array(pairs.length * height * width);
    }
    const planes = new Float32Array(3 * img.height * img.width);
    rgbaToPlanes(img.rgba, planes, img.height * img.width);
    const labels = grayLabels(p.label, lab.rgba, img.height * img.width);
    const same = img.height === height && img.width === width;
    x.set(same ? planes : resizeImage(planes, 3, img.height, img.width, height, width, mode), i * 3 * height * width);
    y.set(same ? labels : resizeLabels(labels, img.height, img.width, height, width), i * height * width);
  });
  return { x, y, n: pairs.length, height, width, pairs };
}

function rgbaToPlanes(rgba: Uint8Array, out: Float32Array, hw: number): void {
  for (let c = 0; c < 3; c++) planeOf(rgba, out, c, hw);
}

function planeOf(rgba: Uint8Array, out: Float32Array, c: number, hw: number): void {
  const off = c * hw;
  for (let i = 0; i < hw; i++) out[off + i] = rgba[4 * i + c] / 255;
}

/** The gray value of each pixel (pngjs expands gray to RGBA); values above 11 are an error. */
function grayLabels(file: string, rgba: Uint8Array, hw: number): Int32Array {
  const out = new Int32Array(hw);
  let max = 0;
  for (let i = 0; i < hw; i++) { const v = rgba[4 * i]; out[i] = v; if (v > max) max = v; }
  if (max > CAMVID_VOID) throw new Error(`${file}: label value ${max} outside 0..${CAMVID_VOID} (11 classes and void)`);
  return out;
}

// ---- resizing ------------------------------------------------------------------------------

/** Per output index: source indices and weights (summing to 1) along one axis. */
interface Taps { idx: Int32Array[]; w: Float32Array[] }

/** Area (box) weights: output i covers source [i·s, (i+1)·s), s = from/to; fractional overlaps weigh in. */
function areaTaps(from: number, to: number): Taps {
  const s = from / to;
  const idx: Int32Array[] = [], w: Float32Array[] = [];
  for (let i = 0; i < to; i++) {
    const a = i * s, b = (i + 1) * s;
    const ks: number[] = [], ws: number[] = [];
    for (let k = Math.floor(a); k < Math.min(from, Math.ceil(b)); k++) {
      const ov = Math.min(b, k + 1) - Math.max(a, k);
      if (ov > 1e-9) { ks.push(k); ws.push(ov / s); }
    }
    idx.push(Int32Array.from(ks));
    w.push(Float32Array.from(ws));
  }
  return { idx, w };
}

/** Bilinear weights with half-pixel centres (align_corners = false), clamped at the borders. */
function bilinearTaps(from: number, to: number): Taps {
  const s = from / to;
  const idx: Int32Array[] = [], w: Float32Array[] = [];
  for (let i = 0; i < to; i++) {
    const c = Math.min(from - 1, Math.max(0, (i + 0.5) * s - 0.5));
    const k0 = Math.floor(c), k1 = Math.min(from - 1, k0 + 1), f = c - k0;
    idx.push(Int32Array.from([k0, k1]));
    w.push(Float32Array.from([1 - f, f]));
  }
  return { idx, w };
}

function applyRow(src: Float32Array, srcOff: number, stride: number, t: Taps, dst: Float32Array, dstOff: number, dstStride: number): void {
  for (let i = 0; i < t.idx.length; i++) {
    const ks = t.idx[i], ws = t.w[i];
    let v = 0;
    for (let j = 0; j < ks.length; j++) v += ws[j] * src[srcOff + ks[j] * stride];
    dst[dstOff + i * dstStride] = v;
  }
}

/**
 * Resizes C planes [C, H, W] to [C, h, w]: 'area' averages the source pixels each output pixel
 * covers (box filter, fractional overlaps weighted; the right choice for downscaling),
 * 'bilinear' interpolates (half-pixel centres). Separable: rows first, then columns.
 */
export function resizeImage(src: Float32Array, C: number, H: number, W: number, h: number, w: number, mode: 'area' | 'bilinear' = 'area'): Float32Array {
  if (src.length !== C * H * W) throw new Error(`resizeImage: ${src.length} values for [${C}, ${H}, ${W}]`);
  const taps = mode === 'area' ? areaTaps : bilinearTaps;
  const tw = taps(W, w), th = taps(H, h);
  const mid = new Float32Array(C * H * w);
  for (let r = 0; r < C * H; r++) applyRow(src, r * W, 1, tw, mid, r * w, 1);
  const out = new Float32Array(C * h * w);
  for (let c = 0; c < C; c++) for (let x = 0; x < w; x++) applyRow(mid, c * H * w + x, w, th, out, c * h * w + x, w);
  return out;
}

/** Nearest-neighbour resize of a label map [H, W] → [h, w] (source pixel under each output pixel's centre). */
export function resizeLabels(src: ArrayLike<number>, H: number, W: number, h: number, w: number): Int32Array {
  if (src.length !== H * W) throw new Error(`resizeLabels: ${src.length} values for [${H}, ${W}]`);
  const cols = Int32Array.from({ length: w }, (_, x) => Math.min(W - 1, Math.floor((x + 0.5) * W / w)));
  const out = new Int32Array(h * w);
  for (let y = 0; y < h; y++) nearestRow(src, Math.min(H - 1, Math.floor((y + 0.5) * H / h)) * W, cols, out, y * w);
  return out;
}

function nearestRow(src: ArrayLike<number>, off: number, cols: Int32Array, out: Int32Array, at: number): void {
  for (let x = 0; x < cols.length; x++) out[at + x] = src[off + cols[x]];
}

// ---- augmentation, statistics, class weights ---------------------------------------------

/**
 * Mirrors image i of x [n, C, H, W] and its labels y [n, H, W] left-right when flips[i]
 * (flipFlags draws them, seeded); returns mirrored copies, the inputs are untouched.
 */
export function flipHorizontal(x: Float32Array, y: Int32Array, n: number, H: number, W: number, flips: ArrayLike<boolean>): { x: Float32Array; y: Int32Array } {
  const C = x.length / (n * H * W);
  if (!Number.isInteger(C) || y.length !== n * H * W || flips.length !== n) throw new Error(`flipHorizontal: x ${x.length}, y ${y.length} values, ${flips.length} flags for n ${n}, ${H}×${W}`);
  const ox = x.slice(), oy = y.slice();
  for (let i = 0; i < n; i++) {
    if (!flips[i]) continue;
    for (let r = 0; r < C * H; r++) reverseRow(ox, (i * C * H + r) * W, W);
    for (let r = 0; r < H; r++) reverseRow(oy, (i * H + r) * W, W);
  }
  return { x: ox, y: oy };
}

function reverseRow(a: Float32Array | Int32Array, off: number, W: number): void {
  for (let l = off, r = off + W - 1; l < r; l++, r--) { const t = a[l]; a[l] = a[r]; a[r] = t; }
}

/** n independent fair coin flips from a seeded generator (mulberry32): which images to mirror. */
export function flipFlags(n: number, seed: number, p = 0.5): boolean[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => r() < p);
}

/** Mean and (population) standard deviation of each channel of x [n, C, H, W]. */
export function channelStats(x: Float32Array, n: number, C = 3): { mean: number[]; std: number[] } {
  const hw = x.length / (n * C);
  if (!Number.isInteger(hw)) throw new Error(`channelStats: ${x.length} values are not [${n}, ${C}, H, W]`);
  const s = new Float64Array(C), s2 = new Float64Array(C);
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) planeSums(x, (i * C + c) * hw, hw, s, s2, c);
  const N = n * hw;
  const mean = Array.from(s, (v) => v / N);
  return { mean, std: Array.from(s2, (v, c) => Math.sqrt(Math.max(0, v / N - mean[c] ** 2))) };
}

function planeSums(x: Float32Array, off: number, hw: number, s: Float64Array, s2: Float64Array, c: number): void {
  let a = 0, b = 0;
  for (let i = 0; i < hw; i++) { const v = x[off + i]; a += v; b += v * v; }
  s[c] += a;
  s2[c] += b;
}

/** (x − mean_c)/std_c per channel, in place (std 0 is treated as 1); returns x. */
export function normalizeChannels(x: Float32Array, n: number, stats: { mean: number[]; std: number[] }): Float32Array {
  const C = stats.mean.length, hw = x.length / (n * C);
  if (!Number.isInteger(hw)) throw new Error(`normalizeChannels: ${x.length} values are not [${n}, ${C}, H, W]`);
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) affinePlane(x, (i * C + c) * hw, hw, stats.mean[c], stats.std[c] > 0 ? 1 / stats.std[c] : 1);
  return x;
}

function affinePlane(x: Float32Array, off: number, hw: number, m: number, inv: number): void {
  for (let i = 0; i < hw; i++) x[off + i] = (x[off + i] - m) * inv;
}

/**
 * Median-frequency balancing (Eigen & Fergus 2015; SegNet's class weights):
 * freq_c = (pixels of class c) / (pixels of the images in which c appears), void excluded from
 * both counts; weight_c = median_c(freq) / freq_c (the median over the classes that appear).
 * A class that appears in no image gets weight 0. y is [n, H, W].
 */
export function medianFrequencyWeights(y: Int32Array, n: number, classes = CAMVID_NUM_CLASSES, voidLabel = CAMVID_VOID): Float32Array {
  const hw = y.length / n;
  if (!Number.isInteger(hw)) throw new Error(`medianFrequencyWeights: ${y.length} labels are not [${n}, H, W]`);
  const count = new Float64Array(classes), present = new Float64Array(classes);
  for (let i = 0; i < n; i++) countImage(y, i * hw, hw, classes, voidLabel, count, present);
  const freq = Array.from(count, (c, k) => (present[k] > 0 ? c / present[k] : 0));
  const seen = freq.filter((f) => f > 0).sort((a, b) => a - b);
  const m = seen.length ? (seen.length % 2 ? seen[(seen.length - 1) / 2] : (seen[seen.length / 2 - 1] + seen[seen.length / 2]) / 2) : 0;
  return Float32Array.from(freq, (f) => (f > 0 ? m / f : 0));
}

function countImage(y: Int32Array, off: number, hw: number, classes: number, voidLabel: number, count: Float64Array, present: Float64Array): void {
  const local = new Float64Array(classes);
  let valid = 0;
  for (let i = 0; i < hw; i++) {
    const v = y[off + i];
    if (v === voidLabel) continue;
    if (v < 0 || v >= classes) throw new Error(`medianFrequencyWeights: label ${v} outside 0..${classes - 1} (void ${voidLabel})`);
    local[v]++;
    valid++;
  }
  for (let c = 0; c < classes; c++) if (local[c] > 0) { count[c] += local[c]; present[c] += valid; }
}

export type CamVidSplits = Record<CamVidSplitName, CamVidSet>;

/**
 * The three splits, decoded and resized (not normalised). With `cache`, a safetensors file of
 * exactly this selection is read instead of the PNGs, and written after decoding otherwise:
 * decoding is most of a short run's start, and the cache lets a run go where the PNGs are not
 * (a 300-image selection at 80×60 is 22 MB, the PNGs 92 MB). A cache of another selection is
 * replaced; where `root` exists its lists must name the same files as the cache.
 */
export async function loadCamVidSplits(root: string, limits: Record<CamVidSplitName, number>, size: [number, number], cache?: string): Promise<CamVidSplits & { fromCache: boolean }> {
  const splits: CamVidSplitName[] = ['train', 'val', 'test'];
  const key = JSON.stringify({ format: 1, size, resize: 'area', limits });
  const haveRoot = existsSync(root);
  const listed = (s: CamVidSplitName): string[] => readCamVidList(root, s).slice(0, limits[s]).map((p) => `${relative(root, p.image)} ${relative(root, p.label)}`);
  if (cache && existsSync(cache)) {
    const { tensors, metadata } = await readCheckpoint(cache);
    const sameFiles = !haveRoot || splits.every((s) => metadata[`${s}.pairs`] === listed(s).join('\n'));
    if (metadata.key === key && sameFiles) {
      const out = { fromCache: true } as CamVidSplits & { fromCache: boolean };
      for (const s of splits) {
        const x = tensors.get(`${s}.x`), y = tensors.get(`${s}.y`);
        if (!x || !y || x.dtype !== 'f32' || y.dtype !== 'i32' || x.shape.length !== 4 || y.shape.length !== 3) throw new Error(`${cache}: CamVid cache lacks a valid ${s}.x (f32 [n,3,H,W]) or ${s}.y (i32 [n,H,W])`);
        const [n, , height, width] = x.shape;
        const pairs = (metadata[`${s}.pairs`] ?? '').split('\n').map((l) => { const [image, label] = l.split(' '); return { image: join(root, image), label: join(root, label) }; });
        out[s] = { x: x.data as Float32Array, y: y.data as Int32Array, n, height, width, pairs };
      }
      return out;
    }
    if (!haveRoot) throw new Error(`${cache}: CamVid cache holds another selection (${metadata.key}, wanted ${key}) and ${root} does not exist to decode from`);
  }
  if (!haveRoot) throw new Error(`${root}: CamVid folder not found`);
  const out = { fromCache: false } as CamVidSplits & { fromCache: boolean };
  for (const s of splits) out[s] = loadCamVid(root, s, { limit: limits[s], size });
  if (cache) {
    const metadata: Record<string, string> = { key };
    const records: [string, TensorRecord][] = [];
    for (const s of splits) {
      const d = out[s];
      metadata[`${s}.pairs`] = listed(s).join('\n');
      records.push([`${s}.x`, { dtype: 'f32', shape: [d.n, 3, d.height, d.width], data: d.x }], [`${s}.y`, { dtype: 'i32', shape: [d.n, d.height, d.width], data: d.y }]);
    }
    mkdirSync(dirname(cache), { recursive: true });
    await saveRecords(cache, records, metadata);
  }
  return out;
}
