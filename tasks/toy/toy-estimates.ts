// The three estimators on the toy model, fused into one pass over the samples so that ARM,
// DisARM and Concrete read the same u draws (one u per sample and hidden unit). Each estimates
// the gradient of the mean loss, so each is the mean over samples of per-sample terms.
import type { ToyModel } from './model.js';
import { sigmoid } from './sigmoid.js';

/** Indices into the output of toyEstimates. */
export const ARM = 0, DISARM = 2, CONCRETE = 4;
export const ESTIMATORS = ['arm', 'disarm', 'concrete'] as const;
export type EstimatorName = (typeof ESTIMATORS)[number];

/**
 * One estimate of (∂E/∂α1, ∂E/∂α2) by each estimator, from u (length 2n, u[2i + k] for sample
 * i and unit k), written to out = [arm1, arm2, disarm1, disarm2, concrete1, concrete2].
 * t is the Concrete temperature.
 */
export function toyEstimates(m: ToyModel, alpha: ArrayLike<number>, u: Float64Array, t: number, out: Float64Array): Float64Array {
  const a1 = alpha[0], a2 = alpha[1];
  // z1 = 1[u > σ(−α)], z2 = 1[u < σ(α)]
  const lo1 = sigmoid(-a1), hi1 = sigmoid(a1), lo2 = sigmoid(-a2), hi2 = sigmoid(a2);
  const s1 = 0.5 * sigmoid(Math.abs(a1)), s2 = 0.5 * sigmoid(Math.abs(a2));
  const r = m.r, c1 = m.c1, c2 = m.c2, n = m.n;
  let arm1 = 0, arm2 = 0, dis1 = 0, dis2 = 0, con1 = 0, con2 = 0;
  for (let i = 0; i < n; i++) {
    const u1 = u[2 * i], u2 = u[2 * i + 1];
    const za1 = u1 > lo1 ? 1 : 0, zb1 = u1 < hi1 ? 1 : 0;
    const za2 = u2 > lo2 ? 1 : 0, zb2 = u2 < hi2 ? 1 : 0;
    const ea = r[i] - za1 * c1[i] - za2 * c2[i];
    const eb = r[i] - zb1 * c1[i] - zb2 * c2[i];
    const d = ea * ea - eb * eb;
    arm1 += d * (u1 - 0.5);
    arm2 += d * (u2 - 0.5);
    if (za1 !== zb1) dis1 += zb1 ? -d : d;
    if (za2 !== zb2) dis2 += zb2 ? -d : d;
    // Concrete: z̃_k = σ((α_k + logit u)/t); L = (r − z̃1 c1 − z̃2 c2)²; ∂L/∂α_k = −2 e c_k z̃_k(1 − z̃_k)/t
    const zt1 = sigmoid((a1 + Math.log(u1) - Math.log1p(-u1)) / t);
    const zt2 = sigmoid((a2 + Math.log(u2) - Math.log1p(-u2)) / t);
    const e = r[i] - zt1 * c1[i] - zt2 * c2[i];
    con1 -= e * c1[i] * zt1 * (1 - zt1);
    con2 -= e * c2[i] * zt2 * (1 - zt2);
  }
  out[0] = arm1 / n; out[1] = arm2 / n;
  out[2] = (dis1 * s1) / n; out[3] = (dis2 * s2) / n;
  out[4] = (2 * con1) / (t * n); out[5] = (2 * con2) / (t * n);
  return out;
}
