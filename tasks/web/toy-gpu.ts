// The toy gradient study's estimator comparison (tasks/toy: §3.1, Fig. 1) on the GPU, through the
// engine's own LBD kernels: each replicate draws one u per (sample, hidden unit); ARM and DisARM
// come from lbd_dropout's two antithetic passes (z1 = 1[u > σ(−α)], z2 = 1[u < σ(α)], plain
// masks) and lbd_estimate on the per-sample loss differences, exactly as a training step computes
// them; Concrete differentiates the relaxed masks σ((α + log u − log(1 − u))/t) made from the
// same u by the engine's autodiff. The float64 study (tasks/toy/toy-estimates.ts) is the check.
import {
  tensor, scope, lbdDropout, lbdEstimate, sub, mul, div, sum, mean, square, log, sigmoid, add, affine, concat, draw,
  Generator, type Tensor,
} from '../../engine/index.js';
import type { ToyModel } from '../toy/model.js';
import { ESTIMATORS, type EstimatorName } from '../toy/toy-estimates.js';

/** count estimates of (∂E/∂α1, ∂E/∂α2) by each estimator: [estimator][logit][replicate]. */
export type ToyGpuEstimates = Record<EstimatorName, [Float64Array, Float64Array]>;

export interface ToyGpuOptions {
  /** Estimates per estimator. */
  count: number;
  /** Concrete temperature. */
  temperature: number;
  generator: Generator;
  /** Called after each block of replicates with how many are done (the page's progress). */
  progress?: (done: number) => void;
}

/** Replicates per read-back: one GPU round trip per block instead of one per estimate. */
const BLOCK = 25;

export async function toyEstimatesGpu(m: ToyModel, alpha: [number, number], o: ToyGpuOptions): Promise<ToyGpuEstimates> {
  const n = m.n, R = o.count;
  const cData = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) { cData[2 * i] = m.c1[i]; cData[2 * i + 1] = m.c2[i]; }
  const c = tensor(cData, [n, 2]).keep();
  const r = tensor(Float32Array.from(m.r), [n]).keep();
  const alphaT = tensor(alpha, [2]).keep();
  const out: ToyGpuEstimates = { arm: [new Float64Array(R), new Float64Array(R)], disarm: [new Float64Array(R), new Float64Array(R)], concrete: [new Float64Array(R), new Float64Array(R)] };
  // E_i(z) = (r_i − z1 c_i1 − z2 c_i2)², per sample
  const perSample = (zc: Tensor): Tensor => square(sub(r, sum(zc, [1])));
  try {
    for (let start = 0; start < R; start += BLOCK) {
      const rows = Math.min(BLOCK, R - start);
      const block = await scope(async () => {
        const parts: Tensor[] = [];
        for (let j = 0; j < rows; j++) {
          const d = o.generator.reserve(2 * n);
          const e2 = perSample(lbdDropout(c, alphaT, { draw: d, pass: 2, scaled: false }));
          const e1 = perSample(lbdDropout(c, alphaT, { draw: d, pass: 1, scaled: false }));
          const diff = sub(e1, e2);
          const arm = lbdEstimate(diff, alphaT, { draw: d, units: 2, estimator: 'arm', scale: 1 / n });
          const disarm = lbdEstimate(diff, alphaT, { draw: d, units: 2, estimator: 'disarm', scale: 1 / n });
          // Concrete: the same u (same draw), relaxed masks, gradient by the tape
          const u = draw('uniform', [n, 2], d, 0, 1);
          const a = tensor(alpha, [2]).requireGrad();
          const zt = sigmoid(div(add(a, sub(log(u), log(affine(u, -1, 1)))), o.temperature));
          mean(perSample(mul(zt, c))).backward();
          parts.push(arm, disarm, a.grad!);
        }
        return new Float32Array(await concat(parts, 0).data());
      });
      for (let j = 0; j < rows; j++) {
        for (const [e, name] of ESTIMATORS.entries()) {
          out[name][0][start + j] = block[6 * j + 2 * e];
          out[name][1][start + j] = block[6 * j + 2 * e + 1];
        }
      }
      o.progress?.(start + rows);
    }
  } finally {
    c.dispose(); r.dispose(); alphaT.dispose();
  }
  return out;
}
