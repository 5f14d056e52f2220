// Cross-entropy with integer labels: logits [N, C] or [N, C, d1, ...] (segmentation), labels
// [N] or [N, d1, ...] (i32). Per-position losses are the op; 'mean' divides by the number of
// labels that are not the ignore index.
import { defineOp, apply, type Ref } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, fmtShape, Tensor } from '../tensor.js';
import { crossEntropyKernel, crossEntropyGradKernel, labelMaskKernel } from '../../kernels/loss.js';
import { gridFor } from '../../kernels/common.js';
import { sum } from './reduce.js';
import { div, maximum, mul } from './elementwise.js';
import { full } from './elementwise.js';

function dims(logits: Tensor, labels: Tensor): [number, number, number] {
  if (labels.dtype !== 'i32') throw new Error(`cross_entropy: labels must be i32, got ${labels.dtype}`);
  if (logits.dtype !== 'f32' || logits.ndim < 2) throw new Error(`cross_entropy: logits must be f32 [N, C, ...], got ${logits}`);
  const want = [logits.shape[0], ...logits.shape.slice(2)];
  if (labels.shape.join() !== want.join()) {
    throw new Error(`cross_entropy: labels ${fmtShape(labels.shape)} do not match logits ${fmtShape(logits.shape)} (expected ${fmtShape(want)})`);
  }
  const [N, C] = logits.shape;
  return [N, C, logits.size / Math.max(1, N * C)];
}

/** Labels equal to ignoreIndex contribute nothing. */
type IgnoreAttrs = { ignoreIndex: number };

const ceDef = defineOp<IgnoreAttrs>({
  name: 'cross_entropy',
  forward([logits, labels], attrs) {
    const [N, C, S] = dims(logits, labels);
    const out = empty(labels.shape, 'f32', 'cross_entropy');
    if (N * S) dispatch({ kernel: crossEntropyKernel(), bindings: { logits: logits.buffer, labels: labels.buffer, loss: out.buffer }, params: { N, C, S, ignore: attrs.ignoreIndex }, workgroups: [gridFor(N * S)] });
    return out;
  },
  backward(g, node) {
    const [logits, labels] = node.inputs;
    const [N, C, S] = dims(logits, labels);
    const dx = empty(logits.shape, 'f32', 'cross_entropy.grad');
    if (N * S) dispatch({ kernel: crossEntropyGradKernel(), bindings: { logits: logits.buffer, labels: labels.buffer, g: g.buffer, dx: dx.buffer }, params: { N, C, S, ignore: node.attrs.ignoreIndex }, workgroups: [gridFor(N * S)] });
    return [dx, null];
  },
  reference([x, y], attrs): Ref {
    const [N, C] = x.shape;
    const S = x.data.length / (N * C);
    const data = new Float64Array(N * S);
    for (let n = 0; n < N; n++) for (let s = 0; s < S; s++) {
      const lab = y.data[n * S + s];
      if (lab === attrs.ignoreIndex) continue;
      const v = (c: number): number => x.data[(n * C + c) * S + s];
      let m = -Infinity;
      for (let c = 0; c < C; c++) m = Math.max(m, v(c));
      let z = 0;
      for (let c = 0; c < C; c++) z += Math.exp(v(c) - m);
      data[n * S + s] = m + Math.log(z) - v(lab);
    }
    return { shape: y.shape.slice(), data };
  },
  cases: [
    { inputs: [{ shape: [7, 5] }, { shape: [7], dtype: 'i32', ints: 5, grad: false }], attrs: { ignoreIndex: -100 } },
    { inputs: [{ shape: [2, 4, 3, 2] }, { shape: [2, 3, 2], dtype: 'i32', ints: 5, grad: false }], attrs: { ignoreIndex: 4 } },
  ],
});

const maskDef = defineOp<IgnoreAttrs>({
  name: 'label_mask',
  forward([labels], attrs) {
    if (labels.dtype !== 'i32') throw new Error(`label_mask: labels must be i32, got ${labels.dtype}`);
    const out = empty(labels.shape, 'f32', 'label_mask');
    if (labels.size) dispatch({ kernel: labelMaskKernel(), bindings: { labels: labels.buffer, mask: out.buffer }, params: { n: labels.size, ignore: attrs.ignoreIndex }, workgroups: [gridFor(labels.size)] });
    return out;
  },
  reference: ([y], attrs) => ({ shape: y.shape.slice(), data: y.data.map((v) => (v === attrs.ignoreIndex ? 0 : 1)) }),
  cases: [{ inputs: [{ shape: [9], dtype: 'i32', ints: 3, grad: false }], attrs: { ignoreIndex: 1 } }],
});

export interface CrossEntropyOptions {
  /** Labels equal to this contribute nothing (default -100, as in PyTorch). */
  ignoreIndex?: number;
  /** 'mean' over non-ignored labels (default), 'sum', or 'none' (per-position losses). */
  reduction?: 'mean' | 'sum' | 'none';
}

export function crossEntropy(logits: Tensor, labels: Tensor, o: CrossEntropyOptions = {}): Tensor {
  const ignoreIndex = o.ignoreIndex ?? -100;
  const losses = apply(ceDef, [logits, labels], { ignoreIndex });
  const reduction = o.reduction ?? 'mean';
  if (reduction === 'none') return losses;
  const total = sum(losses);
  if (reduction === 'sum') return total;
  if (reduction !== 'mean') throw new Error(`crossEntropy: reduction must be 'mean', 'sum' or 'none'; got '${reduction}'`);
  const count = maximum(sum(apply(maskDef, [labels], { ignoreIndex })), full([], 1));
  return div(total, count);
}

/** Per-example mean over positions is common enough to name (segmentation, LBD per-example losses). */
export const perExample = (losses: Tensor): Tensor => (losses.ndim <= 1 ? losses : mul(sum(losses, [...losses.shape.keys()].slice(1)), 1 / (losses.size / losses.shape[0])));
