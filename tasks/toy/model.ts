// The toy model of §3.1: one input, two hidden ReLU units with plain Bernoulli masks, one
// output, squared error, 3,000 samples from the same network without the ReLU and the masks
// (a linear model) plus N(0, 0.1²) noise. Weights are random and then held fixed. With only
// two masks the expected loss and its gradient wrt the logits are exact by enumeration.
import { Rng } from './rng.js';
import { sigmoid } from './sigmoid.js';

export interface ToyWeights { w1: [number, number]; b1: [number, number]; w2: [number, number]; b2: number }

export interface ToyModel {
  n: number;
  noise: number;
  weights: ToyWeights;
  /** How many weight draws were rejected before both units were active often enough. */
  rejected: number;
  x: Float64Array;
  y: Float64Array;
  /** Share of samples on which each hidden unit is active (pre-activation > 0). */
  active: [number, number];
  /** r_i = y_i − b2, and c_ik = w2_k · relu(w1_k x_i + b1_k): f(x_i; z) = b2 + z_1 c_i1 + z_2 c_i2. */
  r: Float64Array;
  c1: Float64Array;
  c2: Float64Array;
  /** mean_i L_i(z) for the four masks, indexed z_1 + 2 z_2. */
  maskLoss: Float64Array;
}

export interface ToyModelOptions {
  samples: number;
  seed: number;
  noise?: number;
  /** Each unit must be active on a share of samples inside [minActive, 1 − minActive]. */
  minActive?: number;
}

const relu = (v: number): number => (v > 0 ? v : 0);

/** Per-sample squared error with masks (z1, z2) ∈ {0,1}² (or relaxed masks in [0, 1]). */
export function sampleLoss(m: ToyModel, i: number, z1: number, z2: number): number {
  const e = m.r[i] - z1 * m.c1[i] - z2 * m.c2[i];
  return e * e;
}

function meanMaskLoss(m: ToyModel, z1: number, z2: number): number {
  let s = 0;
  for (let i = 0; i < m.n; i++) s += sampleLoss(m, i, z1, z2);
  return s / m.n;
}

/**
 * x ~ N(0, 1); w1, w2 Glorot-uniform (limit √2 for fan 1→2 and 2→1), b1, b2 ~ U(−½, ½);
 * y = w2ᵀ(w1 x + b1) + b2 + N(0, noise²). Weight draws are rejected until |w1_k|, |w2_k| ≥ 0.3
 * and each unit is active on between minActive and 1 − minActive of the samples, so that
 * neither unit's gradient is trivially zero.
 */
export function makeToyModel(o: ToyModelOptions): ToyModel {
  const n = o.samples, noise = o.noise ?? 0.1, minActive = o.minActive ?? 0.25;
  const rng = new Rng(o.seed, 1);
  const x = new Float64Array(n), eps = new Float64Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.normal();
  for (let i = 0; i < n; i++) eps[i] = rng.normal();
  const lim = Math.SQRT2, u = (a: number, b: number): number => a + (b - a) * rng.uniform();
  let rejected = 0;
  for (;;) {
    const w: ToyWeights = {
      w1: [u(-lim, lim), u(-lim, lim)], b1: [u(-0.5, 0.5), u(-0.5, 0.5)],
      w2: [u(-lim, lim), u(-lim, lim)], b2: u(-0.5, 0.5),
    };
    const active: [number, number] = [0, 0];
    for (let i = 0; i < n; i++) for (let k = 0; k < 2; k++) if (w.w1[k] * x[i] + w.b1[k] > 0) active[k]++;
    active[0] /= n; active[1] /= n;
    const ok = [0, 1].every((k) => Math.abs(w.w1[k]) >= 0.3 && Math.abs(w.w2[k]) >= 0.3 &&
      active[k] >= minActive && active[k] <= 1 - minActive);
    if (!ok) { rejected++; continue; }
    const y = new Float64Array(n), r = new Float64Array(n), c1 = new Float64Array(n), c2 = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const h1 = w.w1[0] * x[i] + w.b1[0], h2 = w.w1[1] * x[i] + w.b1[1];
      y[i] = w.w2[0] * h1 + w.w2[1] * h2 + w.b2 + noise * eps[i];
      r[i] = y[i] - w.b2;
      c1[i] = w.w2[0] * relu(h1);
      c2[i] = w.w2[1] * relu(h2);
    }
    const m: ToyModel = { n, noise, weights: w, rejected, x, y, active, r, c1, c2, maskLoss: new Float64Array(4) };
    for (let z = 0; z < 4; z++) m.maskLoss[z] = meanMaskLoss(m, z & 1, z >> 1);
    return m;
  }
}

/** E_z[mean_i L_i(z)] with z_k ~ Ber(σ(α_k)), by enumerating the four masks. */
export function expectedLoss(m: ToyModel, alpha: ArrayLike<number>): number {
  const p1 = sigmoid(alpha[0]), p2 = sigmoid(alpha[1]), L = m.maskLoss;
  return (1 - p1) * (1 - p2) * L[0] + p1 * (1 - p2) * L[1] + (1 - p1) * p2 * L[2] + p1 * p2 * L[3];
}

/** ∂E/∂α_k = p_k(1 − p_k)(E[L | z_k = 1] − E[L | z_k = 0]), exact. */
export function exactGradient(m: ToyModel, alpha: ArrayLike<number>): [number, number] {
  const p1 = sigmoid(alpha[0]), p2 = sigmoid(alpha[1]), L = m.maskLoss;
  const d1 = p2 * (L[3] - L[2]) + (1 - p2) * (L[1] - L[0]);
  const d2 = p1 * (L[3] - L[1]) + (1 - p1) * (L[2] - L[0]);
  return [p1 * (1 - p1) * d1, p2 * (1 - p2) * d2];
}
