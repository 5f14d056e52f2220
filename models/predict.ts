// Monte Carlo dropout prediction (Gal & Ghahramani 2016) for any model: S forward passes with
// every dropout layer drawing fresh masks (the rest of the model in eval mode: batch norm on its
// running statistics), the softmax of each pass averaged into the predictive distribution, and
// its uncertainty split as in BALD (Houlsby et al. 2011):
//   predictive entropy  H[E_s p_s]            (total uncertainty)
//   expected entropy    E_s H[p_s]            (aleatoric: noise the model believes is in the data)
//   mutual information  H[E_s p_s] − E_s H[p_s]  (epistemic: disagreement between the passes)
// The sums run on the GPU; one read-back at the end.
import { scope, softmax, logSoftmax, add, mul, sum, neg, noGrad, slice, concat, type Tensor } from '../engine/index.js';
import { DropoutLayer } from '../layers/dropout/base.js';
import type { Module } from '../layers/module.js';

export interface MCPredictOptions {
  /** Stochastic passes S (default 30; 1 with `stochastic: false`). */
  samples?: number;
  /**
   * Whether the dropout layers draw masks (default true). False gives the deterministic
   * prediction (dropout at its expectation) in the same format, for comparison.
   */
  stochastic?: boolean;
  /** The logits of a batch (default `model.forward(x)`), e.g. a model's classifier head only. */
  forward?: (x: Tensor) => Tensor;
  /** The class axis of the logits (default −1; [N, C, H, W] segmentation maps: 1). */
  axis?: number;
  /** Rows of x per pass (default: all at once); smaller batches bound GPU memory. */
  batchSize?: number;
}

export interface MCPrediction {
  /** Shape of the logits (and of `probs`). */
  shape: number[];
  /** Mean predictive probabilities E_s softmax(logits_s). */
  probs: Float32Array;
  /** Per prediction (the logits' shape without the class axis), in nats: H[E_s p_s]. */
  entropy: Float32Array;
  /** E_s H[p_s]. */
  expectedEntropy: Float32Array;
  /** H[E_s p_s] − E_s H[p_s] ≥ 0 (rounding below 0 is clamped). */
  mutualInformation: Float32Array;
  /** The passes that were averaged. */
  samples: number;
}

/**
 * MC-dropout prediction of `model` on `x` (see the file header). The model's training mode and
 * its dropout layers' `sampleAtEval` are restored afterwards. A model without dropout (or
 * `stochastic: false`) gives S identical passes: mutual information 0.
 */
export async function mcPredict(model: Module, x: Tensor, o: MCPredictOptions = {}): Promise<MCPrediction> {
  const stochastic = o.stochastic ?? true;
  const S = stochastic ? o.samples ?? 30 : 1;
  if (!Number.isInteger(S) || S < 1) throw new Error(`mcPredict: samples must be a positive integer, got ${o.samples}`);
  const forward = o.forward ?? ((b: Tensor) => model.forward(b));
  const rows = x.shape[0];
  const bs = o.batchSize ?? rows;
  if (!Number.isInteger(bs) || bs < 1) throw new Error(`mcPredict: batchSize must be a positive integer, got ${o.batchSize}`);
  const drops = model.modules().filter((m): m is DropoutLayer => m instanceof DropoutLayer);
  const was = { training: model.modules().map((m) => m.training), sample: drops.map((d) => d.sampleAtEval) };
  model.eval();
  for (const d of drops) d.sampleAtEval = stochastic;
  try {
    return await scope(async () => {
      const meanParts: Tensor[] = [], entParts: Tensor[] = [];
      for (let at = 0; at < rows; at += bs) {
        const n = Math.min(bs, rows - at);
        const xb = n === rows ? x : slice(x, [at, ...x.shape.slice(1).map(() => 0)], [at + n, ...x.shape.slice(1)]);
        const [m, e] = noGrad(() => {
          let acc: Tensor | null = null, accH: Tensor | null = null;
          for (let s = 0; s < S; s++) {
            const logits = forward(xb);
            const ax = normAxis(o.axis ?? -1, logits.ndim);
            const p = softmax(logits, ax);
            const h = neg(sum(mul(p, logSoftmax(logits, ax)), [ax]));
            acc = acc ? add(acc, p) : p;
            accH = accH ? add(accH, h) : h;
          }
          return [mul(acc!, 1 / S), mul(accH!, 1 / S)];
        });
        meanParts.push(m); entParts.push(e);
      }
      const mean = meanParts.length === 1 ? meanParts[0] : concat(meanParts, 0);
      const expH = entParts.length === 1 ? entParts[0] : concat(entParts, 0);
      const probs = (await mean.data()) as Float32Array, expectedEntropy = (await expH.data()) as Float32Array;
      const ax = normAxis(o.axis ?? -1, mean.ndim);
      const entropy = entropyAlong(probs, mean.shape, ax);
      const mutualInformation = entropy.map((h, i) => Math.max(0, h - expectedEntropy[i]));
      return { shape: mean.shape.slice(), probs, entropy, expectedEntropy, mutualInformation, samples: S };
    });
  } finally {
    model.modules().forEach((m, i) => { m.training = was.training[i]; });
    drops.forEach((d, i) => { d.sampleAtEval = was.sample[i]; });
  }
}

function normAxis(a: number, nd: number): number {
  const ax = a < 0 ? a + nd : a;
  if (!(ax >= 0 && ax < nd)) throw new Error(`mcPredict: axis ${a} is not an axis of the ${nd}-d logits`);
  return ax;
}

/** −Σ_c p log p along `axis` of a row-major array of `shape` (in float64, then float32). */
function entropyAlong(p: Float32Array, shape: readonly number[], axis: number): Float32Array {
  const C = shape[axis];
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = p.length / (C * inner);
  const out = new Float32Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let h = 0;
      for (let c = 0; c < C; c++) { const v = p[(o * C + c) * inner + i]; if (v > 0) h -= v * Math.log(v); }
      out[o * inner + i] = h;
    }
  }
  return out;
}
