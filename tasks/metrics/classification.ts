// Classification metrics from predictive probabilities: accuracy, predictive entropy, PAvPU
// (Mukhoti & Gal 2018; REFERENCE.md §5).

/** Index of the largest of each row of [n, C]. */
export function argmaxRows(p: ArrayLike<number>, C: number): Int32Array {
  const n = p.length / C;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = argmaxRow(p, i * C, C);
  return out;
}

function argmaxRow(p: ArrayLike<number>, off: number, C: number): number {
  let best = 0;
  for (let c = 1; c < C; c++) if (p[off + c] > p[off + best]) best = c;
  return best;
}

export function accuracy(pred: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (pred.length !== labels.length) throw new Error(`accuracy: ${pred.length} predictions for ${labels.length} labels`);
  let ok = 0;
  for (let i = 0; i < pred.length; i++) ok += +(pred[i] === labels[i]);
  return pred.length ? ok / pred.length : NaN;
}

/** Entropy of each row of probabilities [n, C] (natural log). */
export function predictiveEntropy(p: ArrayLike<number>, C: number): Float64Array {
  const n = p.length / C;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rowEntropy(p, i * C, C);
  return out;
}

function rowEntropy(p: ArrayLike<number>, off: number, C: number): number {
  let h = 0;
  for (let c = 0; c < C; c++) { const v = p[off + c]; if (v > 0) h -= v * Math.log(v); }
  return h;
}

/**
 * PAvPU at one entropy threshold: (n_ac + n_iu) / n, "certain" meaning entropy ≤ threshold.
 */
export function pavpu(correct: ArrayLike<boolean | number>, entropy: ArrayLike<number>, threshold: number): number {
  let good = 0;
  for (let i = 0; i < entropy.length; i++) good += +(!!correct[i] === entropy[i] <= threshold);
  return entropy.length ? good / entropy.length : NaN;
}

/** PAvPU over thresholds min + t(max − min), t on an even grid of `steps` points in [0, 1], and their mean. */
export function pavpuCurve(correct: ArrayLike<boolean | number>, entropy: ArrayLike<number>, steps = 11): { t: number[]; pavpu: number[]; mean: number } {
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < entropy.length; i++) { lo = Math.min(lo, entropy[i]); hi = Math.max(hi, entropy[i]); }
  const t = Array.from({ length: steps }, (_, i) => i / (steps - 1));
  const curve = t.map((s) => pavpu(correct, entropy, lo + s * (hi - lo)));
  return { t, pavpu: curve, mean: curve.reduce((a, b) => a + b, 0) / steps };
}
