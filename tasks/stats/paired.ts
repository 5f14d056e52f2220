// Paired statistics for "method A beats method B" claims (issue 29). Two sources of variation,
// tested separately, and a claim is only called when both agree:
//
// - Seeds (training randomness): per seed, A − B on the same seed (same data order, same initial
//   weights), then a Student-t interval over seeds. With 3-5 seeds this is the weak test.
// - Test examples (which images / users the test set happens to hold): a paired bootstrap that
//   resamples test examples with replacement, recomputes every seed's metric for A and B on the
//   same resample, and averages A − B over seeds. It holds the trained networks fixed, so it
//   says nothing about seeds; the t-interval says nothing about the test set's sampling.
//
// Metrics are recomputed from per-example tables (tasks/stats/tables.ts) with a weight per example
// (how often a resample drew it), so one resample costs O(n), not O(n log n) or a copy.
// Everything here is pure arithmetic on host arrays: no GPU.
import { mulberry32 } from '../data/rng.js';

// ---------------------------------------------------------------------------------------------
// Student's t distribution: CDF through the regularized incomplete beta function, quantiles by
// bisection on the CDF (monotone, so bisection cannot fail; 200 halvings reach double precision).

// Lanczos approximation (g = 7, 9 terms): |relative error| < 1e-15 for x > 0.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (!(x > 0)) throw new Error(`logGamma: x must be > 0, got ${x}`);
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x); // reflection keeps the series accurate
  const z = x - 1;
  let a = LANCZOS[0];
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** The continued fraction of I_x(a, b) (modified Lentz), converging fast for x < (a + 1)/(a + b + 2). */
function betaFraction(x: number, a: number, b: number): number {
  const TINY = 1e-300, EPS = 1e-16;
  const qab = a + b, qap = a + 1, qam = a - 1;
  let c = 1, d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 1000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d; h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d; if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c; if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new Error(`regularizedBeta: no convergence at x = ${x}, a = ${a}, b = ${b}`);
}

/** The regularized incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b), 0 ≤ x ≤ 1. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new Error(`regularizedBeta: a and b must be > 0, got ${a}, ${b}`);
  if (!(x >= 0 && x <= 1)) throw new Error(`regularizedBeta: x must be in [0, 1], got ${x}`);
  if (x === 0 || x === 1) return x;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  // the fraction converges on the side below the mean; the other side by I_x(a, b) = 1 − I_{1−x}(b, a)
  return x < (a + 1) / (a + b + 2) ? (front * betaFraction(x, a, b)) / a : 1 - (front * betaFraction(1 - x, b, a)) / b;
}

/** P(T > t) for t ≥ 0, T ~ Student-t with `df` degrees of freedom: ½ I_{df/(df+t²)}(df/2, ½). */
function tUpperTail(t: number, df: number): number {
  return 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5);
}

/** P(T ≤ t), T ~ Student-t with df > 0 degrees of freedom. */
export function tCdf(t: number, df: number): number {
  if (!(df > 0)) throw new Error(`tCdf: df must be > 0, got ${df}`);
  if (Number.isNaN(t)) return NaN;
  if (t === Infinity) return 1;
  if (t === -Infinity) return 0;
  const tail = tUpperTail(Math.abs(t), df);
  return t >= 0 ? 1 - tail : tail;
}

/** The p-quantile of Student's t with df degrees of freedom (0 < p < 1). */
export function tQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1)) throw new Error(`tQuantile: p must be in (0, 1), got ${p}`);
  if (!(df > 0)) throw new Error(`tQuantile: df must be > 0, got ${df}`);
  if (p === 0.5) return 0;
  // solve P(T > t) = q on t > 0 (the tail, not 1 − CDF: no cancellation for p near 1)
  const q = p > 0.5 ? 1 - p : p;
  let lo = 0, hi = 1;
  while (tUpperTail(hi, df) > q) { lo = hi; hi *= 2; }
  for (let i = 0; i < 200 && hi - lo > 1e-15 * hi; i++) {
    const mid = 0.5 * (lo + hi);
    if (tUpperTail(mid, df) > q) lo = mid; else hi = mid;
  }
  const t = 0.5 * (lo + hi);
  return p > 0.5 ? t : -t;
}

/** Standard normal quantiles for 80 % power at a two-sided 5 % level (the bootstrap's MDE). */
export const Z_975 = 1.959963984540054;
export const Z_80 = 0.8416212335729143;

// ---------------------------------------------------------------------------------------------
// Minimal detectable effects: the true difference a test of this size would find with 80 %
// probability at a two-sided 5 % level. A claim whose effect is smaller than this was never
// going to be decided by the run, whatever its verdict.

/** Seed-level paired t-test on n seeds with differences of standard deviation sd: (t_{.975,n−1} + t_{.8,n−1})·sd/√n. */
export function mdeSeeds(sd: number, n: number): number | null {
  if (n < 2 || !Number.isFinite(sd)) return null;
  return (tQuantile(0.975, n - 1) + tQuantile(0.8, n - 1)) * sd / Math.sqrt(n);
}

/** Bootstrap (normal approximation): (z_{.975} + z_{.8})·SE ≈ 2.80·SE. */
export function mdeBootstrap(se: number): number | null {
  return Number.isFinite(se) ? (Z_975 + Z_80) * se : null;
}

// ---------------------------------------------------------------------------------------------
// Seed-level paired differences.

export interface SeedStats {
  /** Seeds with both methods. */
  n: number;
  mean: number;
  /** Sample standard deviation of the differences (n − 1 in the denominator); null for one seed. */
  sd: number | null;
  /** 95 % t-interval of the mean difference; null for fewer than 2 seeds. */
  ci: [number, number] | null;
  /** Two-sided p of the paired t-test (null for < 2 seeds; 1 when every difference is 0, 0 when they are equal and non-zero). */
  p: number | null;
  mde: number | null;
}

/** Mean, 95 % t-interval, two-sided p and MDE of per-seed differences A − B. */
export function seedStats(diffs: readonly number[]): SeedStats {
  const n = diffs.length;
  if (n === 0) return { n, mean: NaN, sd: null, ci: null, p: null, mde: null };
  const mean = diffs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { n, mean, sd: null, ci: null, p: null, mde: null };
  const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / (n - 1));
  const se = sd / Math.sqrt(n), tq = tQuantile(0.975, n - 1);
  let p: number;
  if (se > 0) p = regularizedBeta((n - 1) / (n - 1 + (mean / se) ** 2), (n - 1) / 2, 0.5); // = 2·P(T > |t|)
  else p = mean === 0 ? 1 : 0;
  return { n, mean, sd, ci: [mean - tq * se, mean + tq * se], p, mde: mdeSeeds(sd, n) };
}

// ---------------------------------------------------------------------------------------------
// Paired bootstrap over test examples.

/**
 * A run's test outputs, one entry per test example, from which its metrics can be recomputed for
 * any multiset of the examples. Example i of every table of one comparison is the same example.
 */
export interface ExampleTable {
  /** Test examples (images, users): the resampling unit. */
  readonly n: number;
  /** Names of the metrics evaluate() returns, in its order. */
  readonly metrics: readonly string[];
  /** The metrics over the multiset holding example i w[i] times (w of length n, Σw > 0). */
  evaluate(w: Float64Array): Float64Array;
}

export interface BootstrapOptions {
  /** Resamples (default 2000). */
  B?: number;
  /** Seed of the resampling generator (mulberry32; default 1). */
  seed?: number;
}

export const DEFAULT_B = 2000;
export const DEFAULT_BOOTSTRAP_SEED = 1;

/** Example multiplicities of one resample of n out of n with replacement (written into `out`). */
export function resampleWeights(n: number, rng: () => number, out = new Float64Array(n)): Float64Array {
  out.fill(0);
  for (let k = 0; k < n; k++) out[Math.floor(rng() * n)]++;
  return out;
}

/**
 * Every table's metrics on the same B resamples: result[table][metric][b]. The resamples depend
 * only on (n, B, seed), so a report rebuilt from the same run files gives the same numbers.
 */
export function bootstrapTables(tables: readonly ExampleTable[], o: BootstrapOptions = {}): Float64Array[][] {
  const B = o.B ?? DEFAULT_B, seed = o.seed ?? DEFAULT_BOOTSTRAP_SEED;
  if (!Number.isInteger(B) || B < 1) throw new Error(`bootstrapTables: B must be a positive integer, got ${B}`);
  if (!tables.length) return [];
  const n = tables[0].n;
  for (const t of tables) if (t.n !== n) throw new Error(`bootstrapTables: tables of ${n} and ${t.n} examples cannot be paired (not the same test set)`);
  const out = tables.map((t) => t.metrics.map(() => new Float64Array(B)));
  const rng = mulberry32(seed), w = new Float64Array(n);
  for (let b = 0; b < B; b++) {
    resampleWeights(n, rng, w);
    tables.forEach((t, i) => { const v = t.evaluate(w); for (let m = 0; m < v.length; m++) out[i][m][b] = v[m]; });
  }
  return out;
}

/** The q-quantile of sorted values, linear between order statistics (R's type 7). */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (!n) return NaN;
  const h = (n - 1) * q, lo = Math.floor(h), hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export interface BootstrapStats {
  B: number;
  /** Seed of the resampling generator. */
  rngSeed: number;
  /** Test examples resampled. */
  examples: number;
  /** Mean over seeds of A − B on the whole test set (recomputed from the per-example tables). */
  estimate: number;
  /** Mean and standard deviation (the SE) of the resampled differences. */
  mean: number;
  se: number;
  /** 95 % percentile interval of the resampled differences. */
  ci: [number, number];
  /**
   * Two-sided: twice the smaller share of resampled differences at or beyond 0 on either side,
   * each count + 1 over B + 1 (so p is never 0 from finitely many resamples), at most 1.
   */
  p: number;
  mde: number | null;
}

/** Summary of resampled differences (A − B averaged over seeds, one value per resample). */
export function bootstrapStats(diffs: Float64Array, estimate: number, meta: { rngSeed: number; examples: number }): BootstrapStats {
  const B = diffs.length;
  let s = 0, le = 0, ge = 0;
  for (const d of diffs) { s += d; if (d <= 0) le++; if (d >= 0) ge++; }
  const mean = s / B;
  let ss = 0;
  for (const d of diffs) ss += (d - mean) ** 2;
  const se = B > 1 ? Math.sqrt(ss / (B - 1)) : NaN;
  const sorted = Float64Array.from(diffs).sort();
  return {
    B, rngSeed: meta.rngSeed, examples: meta.examples, estimate, mean, se,
    ci: [quantileSorted(sorted, 0.025), quantileSorted(sorted, 0.975)],
    p: Math.min(1, (2 * (Math.min(le, ge) + 1)) / (B + 1)),
    mde: mdeBootstrap(se),
  };
}

/** Per resample b, the mean over seeds of A_s[b] − B_s[b] (paired resamples, same b for every run). */
export function pairedReplicates(a: readonly Float64Array[], b: readonly Float64Array[]): Float64Array {
  if (a.length !== b.length || !a.length) throw new Error(`pairedReplicates: ${a.length} and ${b.length} seeds`);
  const B = a[0].length, out = new Float64Array(B);
  for (let s = 0; s < a.length; s++) for (let k = 0; k < B; k++) out[k] += a[s][k] - b[s][k];
  for (let k = 0; k < B; k++) out[k] /= a.length;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Verdicts.

export type Better = 'higher' | 'lower';
export type Verdict = 'supported' | 'contradicted' | 'undecided';

/** Where an interval of A − B lies: +1 above 0, −1 below 0, 0 touching or straddling it (or missing). */
const side = (ci: [number, number] | null | undefined): number => (!ci ? 0 : ci[0] > 0 ? 1 : ci[1] < 0 ? -1 : 0);

/**
 * `supported` when both intervals of A − B exclude 0 on the side the paper claims (A higher when
 * higher is better, lower when lower is), `contradicted` when both exclude it on the other side,
 * `undecided` otherwise (either interval touches 0, they disagree, or one is missing).
 */
export function verdict(seedCi: [number, number] | null, bootCi: [number, number] | null, better: Better): Verdict {
  const want = better === 'higher' ? 1 : -1, s = side(seedCi), b = side(bootCi);
  if (s === want && b === want) return 'supported';
  if (s === -want && b === -want) return 'contradicted';
  return 'undecided';
}

/**
 * The effect the run could have detected: the larger of the two MDEs, since a verdict needs both
 * tests. Null when either is missing (one seed, or no per-example data): then no effect size was
 * detectable by both.
 */
export function detectableEffect(seed: number | null, boot: number | null): number | null {
  return seed === null || boot === null || !Number.isFinite(seed) || !Number.isFinite(boot) ? null : Math.max(seed, boot);
}
