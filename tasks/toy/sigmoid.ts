// The logistic function and its inverse, in forms that stay finite in float64.

/** σ(a) = 1 / (1 + e^(−a)). */
export function sigmoid(a: number): number {
  return a >= 0 ? 1 / (1 + Math.exp(-a)) : Math.exp(a) / (1 + Math.exp(a));
}

/** σ⁻¹(p) = log(p / (1 − p)): the logit whose keep probability is p. */
export function logit(p: number): number {
  return Math.log(p) - Math.log1p(-p);
}
