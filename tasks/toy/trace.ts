// Trace runs (Fig. 1 g-h): gradient descent on (α1, α2) from a start point.
// - `path`: descent with the exact gradient (as in the paper); at every step each estimator's
//   gradient is also estimated there (the mean of `mc` single-u estimates, all three estimators
//   from the same draws), so the plot shows how closely each follows the true gradient.
// - `descent`: four separate descents, each driven by one gradient (exact, or an estimator's
//   `mc`-draw estimate), recording the keep probabilities and the exact expected loss.
import type { ToyModel } from './model.js';
import { exactGradient, expectedLoss } from './model.js';
import { sigmoid, logit } from './sigmoid.js';
import { Rng } from './rng.js';
import { toyEstimates, ESTIMATORS, type EstimatorName } from './toy-estimates.js';

export interface TraceOptions { steps: number; mc: number; lr: number; start: [number, number]; temperature: number; seed: number }

export interface PathStep {
  step: number;
  keep: [number, number];
  loss: number;
  exact: [number, number];
  arm: [number, number];
  disarm: [number, number];
  concrete: [number, number];
}

export interface Descent { keep: [number, number][]; loss: number[] }

export interface Trace {
  settings: TraceOptions;
  path: PathStep[];
  descent: Record<'exact' | EstimatorName, Descent>;
}

/** The mean of `mc` single-u estimates by all three estimators at alpha: [arm1, arm2, dis1, dis2, con1, con2]. */
export function meanEstimates(m: ToyModel, alpha: ArrayLike<number>, mc: number, t: number, rng: Rng, u: Float64Array): Float64Array {
  const out = new Float64Array(6), acc = new Float64Array(6);
  for (let j = 0; j < mc; j++) {
    toyEstimates(m, alpha, rng.fillUniform(u), t, out);
    for (let q = 0; q < 6; q++) acc[q] += out[q] / mc;
  }
  return acc;
}

const pair = (v: ArrayLike<number>, q = 0): [number, number] => [v[q], v[q + 1]];

/** A learning rate that moves the start logits by 0.2 on the first exact step. */
export function defaultLr(m: ToyModel, start: [number, number]): number {
  const g = exactGradient(m, [logit(start[0]), logit(start[1])]);
  return 0.2 / Math.max(Math.abs(g[0]), Math.abs(g[1]), 1e-12);
}

export function runTrace(m: ToyModel, o: TraceOptions, onStep?: () => void): Trace {
  const u = new Float64Array(2 * m.n);
  const rngPath = new Rng(o.seed, 2), rngDescent = ESTIMATORS.map((_, q) => new Rng(o.seed, 3 + q));
  const start = (): [number, number] => [logit(o.start[0]), logit(o.start[1])];
  const record = (a: number[]): { keep: [number, number]; loss: number } => ({ keep: [sigmoid(a[0]), sigmoid(a[1])], loss: expectedLoss(m, a) });

  const path: PathStep[] = [];
  const descent = Object.fromEntries(['exact', ...ESTIMATORS].map((e) => [e, { keep: [], loss: [] }])) as unknown as Trace['descent'];
  const alphas: Record<string, [number, number]> = Object.fromEntries(['exact', ...ESTIMATORS].map((e) => [e, start()]));
  for (let s = 0; s <= o.steps; s++) {
    // the exact path, with every estimator evaluated on it
    const a = alphas.exact, exact = exactGradient(m, a);
    const est = meanEstimates(m, a, o.mc, o.temperature, rngPath, u);
    path.push({ step: s, ...record(a), exact, arm: pair(est, 0), disarm: pair(est, 2), concrete: pair(est, 4) });
    // each descent records its state, then steps with its own gradient
    for (const e of ['exact', ...ESTIMATORS] as const) {
      const r = record(alphas[e]);
      descent[e].keep.push(r.keep); descent[e].loss.push(r.loss);
    }
    if (s === o.steps) break;
    alphas.exact = [a[0] - o.lr * exact[0], a[1] - o.lr * exact[1]];
    ESTIMATORS.forEach((e, q) => {
      const g = pair(meanEstimates(m, alphas[e], o.mc, o.temperature, rngDescent[q], u), 2 * q);
      alphas[e] = [alphas[e][0] - o.lr * g[0], alphas[e][1] - o.lr * g[1]];
    });
    onStep?.();
  }
  return { settings: o, path, descent };
}
