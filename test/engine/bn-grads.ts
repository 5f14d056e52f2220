// Float64 gradients of batch norm in training mode, from the op's reference: shared by the
// numerics suite and the subgroup-width child process.
import { registry, type Ref } from '../../engine/op.js';
import { refBatchStats } from '../../engine/ops/norm.js';
import { referenceOf } from '../../engine/testing.js';

/**
 * Gradients of Σ R⊙batchNorm(x; w, b) (training): with w = 1, b = 0 the op's float64 reference
 * gives x̂ exactly, so dw = Σ R·x̂, db = Σ R and dx = w·rsqrt(σ² + eps)·(R − db/M − x̂·dw/M) per
 * channel.
 */
export function bnGrads(x: Ref, R: ArrayLike<number>, w: ArrayLike<number>, eps: number): { dw: Float64Array; db: Float64Array; dx: Float64Array } {
  const C = x.shape[1], S = x.data.length / (x.shape[0] * C);
  const ones = { shape: [C], data: new Float64Array(C).fill(1) }, zeros = { shape: [C], data: new Float64Array(C) };
  const xh = referenceOf(registry.get('batch_norm')!, [x, ones, zeros], { eps }).data;
  const st = refBatchStats(x);
  const dw = new Float64Array(C), db = new Float64Array(C);
  const ch = (i: number): number => Math.floor(i / S) % C;
  for (let i = 0; i < R.length; i++) { dw[ch(i)] += R[i] * xh[i]; db[ch(i)] += R[i]; }
  const dx = Float64Array.from(xh, (v, i) => { const c = ch(i); return w[c] / Math.sqrt(st.var[c] + eps) * (R[i] - db[c] / st.count - v * dw[c] / st.count); });
  return { dw, db, dx };
}
