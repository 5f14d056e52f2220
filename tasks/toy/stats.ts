// Monte Carlo summaries of gradient estimates: mean, standard deviation, bias against the exact
// gradient, mean squared error, and the bias's z-score (with a floor under the standard error,
// since an estimator can have exactly zero variance, e.g. DisARM at keep ½ for f(z) = z).

export interface EstimateSummary {
  mean: number[];
  std: number[];
  bias: number[];
  mse: number[];
  n: number;
}

/** Standard errors below this are raised to it in z-scores (gradients here are ≳ 1e-4). */
export const SE_FLOOR = 1e-10;

export function mean(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s / v.length;
}

/** Sample standard deviation (n − 1 in the denominator). */
export function std(v: ArrayLike<number>): number {
  const m = mean(v);
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2;
  return v.length > 1 ? Math.sqrt(s / (v.length - 1)) : 0;
}

/** Mean squared error against a known value. */
export function mse(v: ArrayLike<number>, exact: number): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - exact) ** 2;
  return s / v.length;
}

/** One estimator's summary: `values[k]` holds the estimates of component k. */
export function summarize(values: ArrayLike<number>[], exact: ArrayLike<number>): EstimateSummary {
  const m = values.map(mean);
  return {
    mean: m,
    std: values.map(std),
    bias: m.map((v, k) => v - exact[k]),
    mse: values.map((v, k) => mse(v, exact[k])),
    n: values[0].length,
  };
}

/** bias / max(std/√n, SE_FLOOR) per component. */
export function zScores(s: EstimateSummary): number[] {
  return s.bias.map((b, k) => b / Math.max(s.std[k] / Math.sqrt(s.n), SE_FLOOR));
}

export interface Bin { lo: number; hi: number; count: number }

/**
 * `bins` equal-width bins over `range`, or else over [min, max] of the values and the extra
 * points (e.g. the exact value); values outside `range` fall into the end bins.
 */
export function histogram(values: ArrayLike<number>, bins: number, include: number[] = [], range?: [number, number]): Bin[] {
  let lo = Math.min(...include), hi = Math.max(...include);
  for (let i = 0; i < values.length; i++) { lo = Math.min(lo, values[i]); hi = Math.max(hi, values[i]); }
  if (range) [lo, hi] = range;
  if (!(hi > lo)) { const pad = Math.max(Math.abs(lo) * 1e-3, 1e-12); lo -= pad; hi += pad; }
  const w = (hi - lo) / bins;
  const out: Bin[] = Array.from({ length: bins }, (_, b) => ({ lo: lo + b * w, hi: lo + (b + 1) * w, count: 0 }));
  for (let i = 0; i < values.length; i++) out[Math.max(0, Math.min(bins - 1, Math.floor((values[i] - lo) / w)))].count++;
  return out;
}
