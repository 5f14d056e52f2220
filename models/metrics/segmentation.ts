// Segmentation metrics (docs/metrics.md): pixel accuracy and per-class IoU accumulated over a
// whole set (void ignored), mean IoU, per-pixel predictive entropy of the mean softmax, and
// patch-wise PAvPU (Mukhoti & Gal 2018) over w×w windows.
//
// Definitions:
// - Pixels whose label is the void label (CamVid: 11) count nowhere: not in accuracy, not in
//   TP/FP/FN (a prediction on a void pixel is neither a false positive nor anything else).
// - IoU_c = TP_c / (TP_c + FP_c + FN_c) over the accumulated confusion matrix. A class that is
//   absent from both the ground truth and the predictions of the whole set (TP + FP + FN = 0)
//   has IoU null (undefined), and mean IoU is the mean over the other classes. A class absent from
//   the ground truth but predicted somewhere has IoU 0 and counts.
// - Patches: the H×W map is tiled by non-overlapping w×w windows from the top-left corner;
//   at the right and bottom borders a partial window (when w does not divide H or W) uses the
//   pixels it has. Within a window only non-void pixels count: the patch is accurate when the
//   fraction of them predicted correctly is ≥ 0.5, its uncertainty is the mean entropy of those
//   pixels; a window with only void pixels is skipped (it is no patch).
// - PAvPU at threshold τ: uncertain means mean entropy > τ, certain ≤ τ;
//   PAvPU = (n_ac + n_iu) / n. Thresholds τ = lo + t(hi − lo), t on an even grid of [0, 1], with
//   lo, hi the min and max patch entropy over the validation split (entropyRange), applied to
//   the test split's patches; "mean PAvPU" is the mean over the grid.
import { pavpu } from './classification.js';

/** Confusion matrix over a whole set: rows = ground truth, columns = prediction; void skipped. */
export class SegmentationConfusion {
  /** [classes × classes] counts, row = true class, column = predicted class. */
  readonly matrix: Float64Array;
  constructor(readonly classes = 11, readonly voidLabel = 11) {
    if (!Number.isInteger(classes) || classes < 1) throw new Error(`SegmentationConfusion: classes must be a positive integer, got ${classes}`);
    this.matrix = new Float64Array(classes * classes);
  }

  /** Adds predicted classes and labels of the same pixels (any layout, same order). */
  add(pred: ArrayLike<number>, labels: ArrayLike<number>): this {
    if (pred.length !== labels.length) throw new Error(`SegmentationConfusion.add: ${pred.length} predictions for ${labels.length} labels`);
    const bad = addPixels(this.matrix, this.classes, this.voidLabel, pred, labels);
    if (bad >= 0) throw new Error(`SegmentationConfusion.add: pixel ${bad} has label ${labels[bad]} / prediction ${pred[bad]} outside 0..${this.classes - 1} (void ${this.voidLabel})`);
    return this;
  }

  private cell(t: number, p: number): number { return this.matrix[t * this.classes + p]; }

  /** Correct / non-void pixels (NaN when there are none). */
  pixelAccuracy(): number {
    let ok = 0, all = 0;
    for (let t = 0; t < this.classes; t++) for (let p = 0; p < this.classes; p++) { const v = this.cell(t, p); all += v; if (t === p) ok += v; }
    return all ? ok / all : NaN;
  }

  /** IoU of each class; null for a class absent from both ground truth and predictions. */
  iou(): (number | null)[] {
    return Array.from({ length: this.classes }, (_, c) => {
      let fp = 0, fn = 0;
      for (let k = 0; k < this.classes; k++) if (k !== c) { fn += this.cell(c, k); fp += this.cell(k, c); }
      const tp = this.cell(c, c);
      return tp + fp + fn > 0 ? tp / (tp + fp + fn) : null;
    });
  }

  /** Mean of iou() over the classes where it is defined (NaN if none is). */
  meanIoU(): number {
    const v = this.iou().filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
  }
}

/** Returns the index of the first invalid pixel, or −1. */
function addPixels(m: Float64Array, C: number, voidLabel: number, pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    if (t === voidLabel) continue;
    const p = pred[i];
    if (!(t >= 0 && t < C && p >= 0 && p < C) || !Number.isInteger(t) || !Number.isInteger(p)) return i;
    m[t * C + p]++;
  }
  return -1;
}

/** Argmax over channels of probabilities (or logits) [N, C, H, W] → classes [N, H, W]. */
export function argmaxChannels(p: ArrayLike<number>, N: number, C: number): Int32Array {
  const hw = p.length / (N * C);
  if (!Number.isInteger(hw)) throw new Error(`argmaxChannels: ${p.length} values are not [${N}, ${C}, H, W]`);
  const out = new Int32Array(N * hw);
  for (let n = 0; n < N; n++) argmaxImage(p, n * C * hw, C, hw, out, n * hw);
  return out;
}

function argmaxImage(p: ArrayLike<number>, off: number, C: number, hw: number, out: Int32Array, at: number): void {
  const best = new Float64Array(hw).fill(-Infinity);
  for (let c = 0; c < C; c++) {
    const o = off + c * hw;
    for (let i = 0; i < hw; i++) if (p[o + i] > best[i]) { best[i] = p[o + i]; out[at + i] = c; }
  }
}

/** Entropy (natural log) of each pixel's class distribution, probabilities [N, C, H, W] → [N, H, W]. */
export function pixelEntropy(p: ArrayLike<number>, N: number, C: number): Float64Array {
  const hw = p.length / (N * C);
  if (!Number.isInteger(hw)) throw new Error(`pixelEntropy: ${p.length} values are not [${N}, ${C}, H, W]`);
  const out = new Float64Array(N * hw);
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) entropyPlane(p, (n * C + c) * hw, hw, out, n * hw);
  return out;
}

function entropyPlane(p: ArrayLike<number>, off: number, hw: number, out: Float64Array, at: number): void {
  for (let i = 0; i < hw; i++) { const v = p[off + i]; if (v > 0) out[at + i] -= v * Math.log(v); }
}

export interface Patches {
  /** 1 when the patch's non-void pixel accuracy is ≥ 0.5. */
  accurate: Uint8Array;
  /** Mean entropy of the patch's non-void pixels. */
  entropy: Float64Array;
}

/**
 * The w×w patches (see the header) of N maps [N, H, W]: predictions, labels and per-pixel
 * entropies in the same layout. Patches of all maps, map by map, row-major.
 */
export function patches(pred: ArrayLike<number>, labels: ArrayLike<number>, entropy: ArrayLike<number>, N: number, H: number, W: number, o: { window?: number; voidLabel?: number } = {}): Patches {
  const w = o.window ?? 2, voidLabel = o.voidLabel ?? 11;
  if (!Number.isInteger(w) || w < 1) throw new Error(`patches: window must be a positive integer, got ${w}`);
  if (pred.length !== N * H * W || labels.length !== N * H * W || entropy.length !== N * H * W) {
    throw new Error(`patches: expected ${N}×${H}×${W} = ${N * H * W} values each, got ${pred.length} predictions, ${labels.length} labels, ${entropy.length} entropies`);
  }
  const rows = Math.ceil(H / w), cols = Math.ceil(W / w);
  const acc = new Uint8Array(N * rows * cols), ent = new Float64Array(N * rows * cols);
  let k = 0;
  for (let n = 0; n < N; n++) for (let r = 0; r < rows; r++) k = patchRow(pred, labels, entropy, n * H * W, H, W, r * w, w, voidLabel, acc, ent, k);
  return { accurate: acc.slice(0, k), entropy: ent.slice(0, k) };
}

/** One row of windows starting at row y0; appends the non-empty ones at k; returns the new k. */
function patchRow(pred: ArrayLike<number>, labels: ArrayLike<number>, entropy: ArrayLike<number>, off: number, H: number, W: number, y0: number, w: number, voidLabel: number, acc: Uint8Array, ent: Float64Array, k: number): number {
  const y1 = Math.min(H, y0 + w);
  for (let x0 = 0; x0 < W; x0 += w) {
    const x1 = Math.min(W, x0 + w);
    let n = 0, ok = 0, e = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const i = off + y * W + x;
        if (labels[i] === voidLabel) continue;
        n++;
        ok += +(pred[i] === labels[i]);
        e += entropy[i];
      }
    }
    if (n === 0) continue;
    acc[k] = +(ok / n >= 0.5);
    ent[k++] = e / n;
  }
  return k;
}

/** Concatenates patch sets (e.g. image by image). */
export function concatPatches(parts: readonly Patches[]): Patches {
  const n = parts.reduce((a, p) => a + p.accurate.length, 0);
  const out: Patches = { accurate: new Uint8Array(n), entropy: new Float64Array(n) };
  let at = 0;
  for (const p of parts) { out.accurate.set(p.accurate, at); out.entropy.set(p.entropy, at); at += p.accurate.length; }
  return out;
}

/** Min and max of entropies (the validation split's patch entropies give the threshold range). */
export function entropyRange(entropy: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity, max = -Infinity;
  for (let i = 0; i < entropy.length; i++) { if (entropy[i] < min) min = entropy[i]; if (entropy[i] > max) max = entropy[i]; }
  return { min, max };
}

/** Patch PAvPU at one threshold: (n_ac + n_iu)/n, uncertain = mean entropy > threshold. */
export function patchPavpu(p: Patches, threshold: number): number {
  return pavpu(p.accurate, p.entropy, threshold);
}

/** PAvPU at thresholds min + t(max − min), t on an even grid of `steps` points of [0, 1], and their mean. */
export function patchPavpuCurve(p: Patches, range: { min: number; max: number }, steps = 11): { t: number[]; threshold: number[]; pavpu: number[]; mean: number } {
  if (!Number.isInteger(steps) || steps < 2) throw new Error(`patchPavpuCurve: steps must be an integer ≥ 2, got ${steps}`);
  const t = Array.from({ length: steps }, (_, i) => i / (steps - 1));
  const threshold = t.map((s) => range.min + s * (range.max - range.min));
  const curve = threshold.map((th) => patchPavpu(p, th));
  return { t, threshold, pavpu: curve, mean: curve.reduce((a, b) => a + b, 0) / steps };
}
