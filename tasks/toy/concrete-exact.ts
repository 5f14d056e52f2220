// The mean of the Concrete estimator on the toy model, without Monte Carlo noise. The loss is
// quadratic in the relaxed masks, so E_u[∂L/∂α_k] needs only three one-dimensional integrals
// per unit over the relaxed mask z̃ = σ((α + l)/t), l = logit(u) ~ Logistic(0, 1):
//   m = E[z̃],  g = E[z̃(1 − z̃)]/t = dm/dα,  h = E[z̃ · z̃(1 − z̃)]/t = ½ dE[z̃²]/dα,
// and then, with A_k = mean_i r_i c_ik, B_k = mean_i c_ik², C = mean_i c_i1 c_i2,
//   E[ĝ_1] = −2 A_1 g_1 + 2 B_1 h_1 + 2 C g_1 m_2   (and symmetrically for unit 2).
// The exact Bernoulli gradient has the same form with m = p, g = p(1 − p), h = p(1 − p)/2.
import type { ToyModel } from './model.js';
import { sigmoid } from './sigmoid.js';

export interface RelaxedMoments { m: number; g: number; h: number }

/** Trapezoid rule over l ∈ [−60, 60] in steps of t/50 (the integrand varies on a scale of t). */
export function relaxedMoments(alpha: number, t: number): RelaxedMoments {
  const step = t / 50, n = Math.ceil(120 / step);
  let m = 0, g = 0, h = 0;
  for (let j = 0; j <= n; j++) {
    const l = -60 + j * step, w = (j === 0 || j === n ? 0.5 : 1) * step;
    const s = sigmoid(l), f = s * (1 - s) * w;   // logistic density × weight
    const z = sigmoid((alpha + l) / t), zz = z * (1 - z);
    m += f * z; g += f * zz; h += f * z * zz;
  }
  return { m, g: g / t, h: h / t };
}

/** Sample moments of the model that the expected gradients need. */
export function moments(mdl: ToyModel): { A: [number, number]; B: [number, number]; C: number } {
  let a1 = 0, a2 = 0, b1 = 0, b2 = 0, c = 0;
  for (let i = 0; i < mdl.n; i++) {
    const r = mdl.r[i], c1 = mdl.c1[i], c2 = mdl.c2[i];
    a1 += r * c1; a2 += r * c2; b1 += c1 * c1; b2 += c2 * c2; c += c1 * c2;
  }
  const n = mdl.n;
  return { A: [a1 / n, a2 / n], B: [b1 / n, b2 / n], C: c / n };
}

/** E_u of the Concrete estimate at temperature t (what its Monte Carlo mean converges to). */
export function concreteExpectedGradient(mdl: ToyModel, alpha: ArrayLike<number>, t: number): [number, number] {
  const { A, B, C } = moments(mdl);
  const q = [relaxedMoments(alpha[0], t), relaxedMoments(alpha[1], t)];
  const grad = (k: number): number => -2 * A[k] * q[k].g + 2 * B[k] * q[k].h + 2 * C * q[k].g * q[1 - k].m;
  return [grad(0), grad(1)];
}

/** The exact Bernoulli gradient in the same form (a cross-check of the enumeration). */
export function bernoulliGradientFromMoments(mdl: ToyModel, alpha: ArrayLike<number>): [number, number] {
  const { A, B, C } = moments(mdl);
  const p = [sigmoid(alpha[0]), sigmoid(alpha[1])];
  const grad = (k: number): number => p[k] * (1 - p[k]) * (-2 * A[k] + B[k] + 2 * C * p[1 - k]);
  return [grad(0), grad(1)];
}
