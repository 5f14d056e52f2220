// Classification metrics from predictive probabilities: accuracy, predictive entropy, PAvPU
// (Mukhoti & Gal 2018; docs/metrics.md).

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

/** Probability floor of `nll` (a prediction of exactly 0 for the true class costs −log 1e-12 ≈ 27.6). */
export const NLL_CLAMP = 1e-12;

/** Mean negative log-likelihood of the labels under probabilities [n, C] (natural log, p clamped at 1e-12). */
export function nll(probs: ArrayLike<number>, labels: ArrayLike<number>, C: number): number {
  const n = checkRows('nll', probs, labels, C);
  let s = 0;
  for (let i = 0; i < n; i++) s += rowNll(probs, i * C, labels[i], C);
  return n ? s / n : NaN;
}

function rowNll(p: ArrayLike<number>, off: number, label: number, C: number): number {
  if (!Number.isInteger(label) || label < 0 || label >= C) throw new Error(`nll: label ${label} outside [0, ${C})`);
  return -Math.log(Math.max(p[off + label], NLL_CLAMP));
}

function checkRows(name: string, probs: ArrayLike<number>, labels: ArrayLike<number>, C: number): number {
  if (!Number.isInteger(C) || C < 1) throw new Error(`${name}: C must be a positive integer, got ${C}`);
  if (probs.length !== labels.length * C) throw new Error(`${name}: ${probs.length} probabilities for ${labels.length} labels × ${C} classes`);
  return labels.length;
}

/**
 * Expected calibration error (Guo et al. 2017): confidence = the largest probability of a row,
 * prediction = its argmax; `bins` equal-width bins over [0, 1], bin b = (b/bins, (b+1)/bins]
 * (a confidence of 0 goes to bin 0); ECE = Σ_b |acc_b − conf_b|·n_b/n.
 */
export function expectedCalibrationError(probs: ArrayLike<number>, labels: ArrayLike<number>, C: number, bins = 15): number {
  const n = checkRows('expectedCalibrationError', probs, labels, C);
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`expectedCalibrationError: bins must be a positive integer, got ${bins}`);
  const count = new Float64Array(bins), conf = new Float64Array(bins), acc = new Float64Array(bins);
  for (let i = 0; i < n; i++) addToBin(probs, i * C, labels[i], C, bins, count, conf, acc);
  return n ? binGaps(count, conf, acc) / n : NaN;
}

function addToBin(p: ArrayLike<number>, off: number, label: number, C: number, bins: number, count: Float64Array, conf: Float64Array, acc: Float64Array): void {
  const k = argmaxRow(p, off, C);
  const c = p[off + k];
  const b = binOf(c, bins);
  count[b]++;
  conf[b] += c;
  acc[b] += +(k === label);
}

/**
 * The bin (b/bins, (b+1)/bins] holding confidence c, edges being the doubles nearest b/bins:
 * c·bins alone misplaces a confidence on an edge that doubles cannot hold exactly (0.3·10 is
 * 3.0000000000000004, which would put 0.3 in (0.3, 0.4]).
 */
export function binOf(c: number, bins: number): number {
  let b = Math.min(bins - 1, Math.max(0, Math.ceil(c * bins) - 1));
  if (b > 0 && c <= b / bins) b--;
  else if (b < bins - 1 && c > (b + 1) / bins) b++;
  return b;
}

/** Σ_b |Σacc_b − Σconf_b| = Σ_b n_b·|acc_b − conf_b|. */
function binGaps(count: Float64Array, conf: Float64Array, acc: Float64Array): number {
  let s = 0;
  for (let b = 0; b < count.length; b++) if (count[b]) s += Math.abs(acc[b] - conf[b]);
  return s;
}
