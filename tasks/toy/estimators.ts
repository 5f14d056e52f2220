// Gradient estimators for Bernoulli logits (docs/estimators.md §2-3), for one u ~ U(0, 1) per Bernoulli
// variable. ARM and DisARM both read the antithetic pair z1 = 1[u > σ(−α)], z2 = 1[u < σ(α)]
// (each ~ Ber(σ(α))) and weight the loss difference f(z1) − f(z2):
//   ARM:    (f(z1) − f(z2)) · (u − ½)
//   DisARM: (f(z1) − f(z2)) · ½ (−1)^{z2} 1[z1 ≠ z2] σ(|α|)
// Concrete relaxes keep ~ Ber(σ(α)) to z̃ = σ((α + log u − log(1 − u)) / t) and differentiates
// through z̃ (biased with respect to the Bernoulli model).
import { sigmoid } from './sigmoid.js';

/** The antithetic pair's first mask, 1[u > σ(−α)]. */
export const armZ1 = (u: number, alpha: number): number => (u > sigmoid(-alpha) ? 1 : 0);
/** The antithetic pair's second mask, 1[u < σ(α)]. */
export const armZ2 = (u: number, alpha: number): number => (u < sigmoid(alpha) ? 1 : 0);

/** ARM's weight on f(z1) − f(z2). */
export const armWeight = (u: number): number => u - 0.5;

/** DisARM's weight on f(z1) − f(z2): ½ (−1)^{z2} 1[z1 ≠ z2] σ(|α|). */
export function disarmWeight(u: number, alpha: number): number {
  const z1 = armZ1(u, alpha), z2 = armZ2(u, alpha);
  return z1 === z2 ? 0 : (z2 ? -0.5 : 0.5) * sigmoid(Math.abs(alpha));
}

/** Concrete (relaxed Bernoulli) keep mask at temperature t. */
export function concreteMask(u: number, alpha: number, t: number): number {
  return sigmoid((alpha + Math.log(u) - Math.log1p(-u)) / t);
}

/** ∂z̃/∂α of the Concrete keep mask: z̃(1 − z̃)/t. */
export function concreteMaskGrad(u: number, alpha: number, t: number): number {
  const z = concreteMask(u, alpha, t);
  return (z * (1 - z)) / t;
}

type BlackBox = (z: number[]) => number;

function armLike(f: BlackBox, alpha: ArrayLike<number>, u: ArrayLike<number>, weight: (u: number, a: number) => number): number[] {
  const K = alpha.length;
  const z1 = Array.from({ length: K }, (_, k) => armZ1(u[k], alpha[k]));
  const z2 = Array.from({ length: K }, (_, k) => armZ2(u[k], alpha[k]));
  const d = f(z1) - f(z2);
  return Array.from({ length: K }, (_, k) => d * weight(u[k], alpha[k]));
}

/** ARM estimate of ∇_α E_{z ~ Ber(σ(α))}[f(z)] from one u per variable. */
export function armEstimate(f: BlackBox, alpha: ArrayLike<number>, u: ArrayLike<number>): number[] {
  return armLike(f, alpha, u, armWeight);
}

/** DisARM estimate of the same gradient from the same u. */
export function disarmEstimate(f: BlackBox, alpha: ArrayLike<number>, u: ArrayLike<number>): number[] {
  return armLike(f, alpha, u, disarmWeight);
}

/**
 * Concrete estimate: ∂f(z̃)/∂α_k = f'_k(z̃) · ∂z̃_k/∂α_k, with df(z̃) the gradient of f at the
 * relaxed masks (a relaxation needs f to be defined on [0, 1]^K).
 */
export function concreteEstimate(df: (z: number[]) => number[], alpha: ArrayLike<number>, u: ArrayLike<number>, t: number): number[] {
  const K = alpha.length;
  const z = Array.from({ length: K }, (_, k) => concreteMask(u[k], alpha[k], t));
  const g = df(z);
  return Array.from({ length: K }, (_, k) => g[k] * concreteMaskGrad(u[k], alpha[k], t));
}
