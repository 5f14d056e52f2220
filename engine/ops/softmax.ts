// softmax and log-softmax along one axis (fused row kernels; other axes are permuted last).
import { defineOp, apply, type NoAttrs, type Ref, type TestCase } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, Tensor } from '../tensor.js';
import { normAxes } from '../shape.js';
import { softmaxKernel, multinomialKernel, multinomialGradKernel, l2NormalizeKernel } from '../../kernels/softmax.js';
import { rowGrid } from '../../kernels/common.js';
import { permute, reshape } from './layout.js';
import { mul, sub, exp } from './elementwise.js';
import { sum } from './reduce.js';

function launch(x: Tensor, axis: number, log: boolean): Tensor {
  if (x.dtype !== 'f32') throw new Error(`softmax: expects f32, got ${x}`);
  const last = axis === x.ndim - 1;
  const perm = [...x.shape.keys()].filter((i) => i !== axis).concat(axis);
  const src = last ? x : permute(x, perm);
  const R = x.shape[axis];
  const rows = x.size / Math.max(R, 1);
  const y = empty(src.shape, 'f32', log ? 'log_softmax' : 'softmax');
  if (x.size) {
    const wx = Math.min(rows, 65535);
    dispatch({ kernel: softmaxKernel(log), bindings: { x: src.buffer, y: y.buffer }, params: { rows, R }, workgroups: [wx, Math.ceil(rows / wx)] });
  }
  if (last) return y;
  src.dispose();
  const inv = new Array<number>(perm.length);
  perm.forEach((a, i) => (inv[a] = i));
  const out = permute(y, inv);
  y.dispose();
  return out;
}

function ref(x: Ref, axis: number, log: boolean): Ref {
  const R = x.shape[axis];
  const C = x.shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const A = x.data.length / (R * C);
  const data = new Float64Array(x.data.length);
  for (let a = 0; a < A; a++) for (let c = 0; c < C; c++) {
    const idx = (r: number): number => (a * R + r) * C + c;
    let m = -Infinity;
    for (let r = 0; r < R; r++) m = Math.max(m, x.data[idx(r)]);
    let s = 0;
    for (let r = 0; r < R; r++) s += Math.exp(x.data[idx(r)] - m);
    for (let r = 0; r < R; r++) data[idx(r)] = log ? x.data[idx(r)] - m - Math.log(s) : Math.exp(x.data[idx(r)] - m) / s;
  }
  return { shape: x.shape.slice(), data };
}

/** The axis normalised over (negative counts from the end); the output, kept for the backward. */
type SoftmaxAttrs = { axis: number };
type SoftmaxSaved = { y: Tensor };

const cases: TestCase<SoftmaxAttrs>[] = [
  { inputs: [{ shape: [7, 5] }], attrs: { axis: -1 } },
  { inputs: [{ shape: [3, 4, 2] }], attrs: { axis: 1 } },
  { inputs: [{ shape: [2, 130] }], attrs: { axis: 1 } },
  { inputs: [{ shape: [1] }], attrs: { axis: 0 } },
];

/** softmax and log_softmax: one definition; the log form and the backward are what differ. */
function softmaxOp(name: 'softmax' | 'log_softmax', log: boolean, grad: (g: Tensor, y: Tensor, axis: number) => Tensor) {
  const axisOf = (attrs: SoftmaxAttrs, ndim: number): number => normAxes(name, attrs.axis, ndim)[0];
  return defineOp<SoftmaxAttrs, SoftmaxSaved>({
    name,
    forward([x], attrs, saved) {
      const y = launch(x, axisOf(attrs, x.ndim), log);
      saved.y = y;
      return y;
    },
    backward: (g, node) => [grad(g, node.saved.y, axisOf(node.attrs, node.saved.y.ndim))],
    reference: ([x], attrs) => ref(x, axisOf(attrs, x.shape.length), log),
    mixesBatch: (node, _input, axis) => axisOf(node.attrs, node.inputs[0].ndim) === axis,
    cases,
  });
}

// dx = y ⊙ (g − Σ g⊙y)
const softmaxDef = softmaxOp('softmax', false, (g, y, axis) => mul(y, sub(g, sum(mul(g, y), axis, { keepdims: true }))));
// dx = g − softmax ⊙ Σ g
const logSoftmaxDef = softmaxOp('log_softmax', true, (g, y, axis) => sub(g, mul(exp(y), sum(g, axis, { keepdims: true }))));

export const softmax = (x: Tensor, axis = -1): Tensor => apply(softmaxDef, [x], { axis });
export const logSoftmax = (x: Tensor, axis = -1): Tensor => apply(logSoftmaxDef, [x], { axis });

// ---- multinomial log-likelihood ------------------------------------------------------------

/** One workgroup per row (two grid dimensions beyond 65,535 rows). */

function checkRows(l: Tensor, x: Tensor): [number, number] {
  if (l.dtype !== 'f32' || x.dtype !== 'f32' || l.ndim !== 2 || x.shape.join() !== l.shape.join()) {
    throw new Error(`multinomial_log_lik: expects f32 logits [rows, R] and counts of the same shape, got ${l} and ${x}`);
  }
  return [l.shape[0], l.shape[1]];
}

/**
 * Σ_r x_r·log softmax(l)_r per row (Mult-VAE's reconstruction term) as one op: the forward is
 * one pass over l and x (online max/sum, Σx, Σx·l), the backward to l one pass with the saved
 * per-row max, Σ exp(l − max) and Σx; composed it took log_softmax + mul + sum forward and five
 * passes back.
 */
const multinomialDef = defineOp<NoAttrs, { stats: Tensor }>({
  name: 'multinomial_log_lik',
  forward([l, x], _attrs, saved) {
    const [rows, R] = checkRows(l, x);
    const out = empty([rows], 'f32', 'multinomial_log_lik');
    const stats = empty([rows, 3], 'f32', 'multinomial_log_lik.stats');
    if (rows) dispatch({ kernel: multinomialKernel(), bindings: { l: l.buffer, x: x.buffer, out: out.buffer, stats: stats.buffer }, params: { rows, R }, workgroups: rowGrid(rows) });
    // kept whenever an input needs a gradient, that is, whenever there is a backward
    if (l.requiresGrad || x.requiresGrad) saved.stats = stats; else stats.dispose();
    return out;
  },
  backward(g, node) {
    const [l, x] = node.inputs;
    const [rows, R] = checkRows(l, x);
    const stats = node.saved.stats;
    let dl: Tensor | null = null;
    if (l.requiresGrad) {
      dl = empty(l.shape, 'f32', 'multinomial_log_lik.dl');
      if (rows) dispatch({ kernel: multinomialGradKernel(), bindings: { l: l.buffer, x: x.buffer, stats: stats.buffer, g: g.buffer, dl: dl.buffer }, params: { rows, R }, workgroups: rowGrid(rows) });
    }
    // d/dx = log softmax(l)·g: the counts are data in Mult-VAE; composed, for completeness
    const dx = x.requiresGrad ? mul(apply(logSoftmaxDef, [l], { axis: -1 }), reshape(g, [rows, 1])) : null;
    return [dl, dx];
  },
  reference([l, x]) {
    const [rows, R] = l.shape;
    const ls = ref(l, 1, true);
    const data = new Float64Array(rows);
    for (let i = 0; i < rows * R; i++) data[Math.floor(i / R)] += x.data[i] * ls.data[i];
    return { shape: [rows], data };
  },
  mixesBatch: (_node, _input, axis) => axis === 1, // a sum over each row's entries, rows kept apart
  cases: [
    { inputs: [{ shape: [3, 5] }, { shape: [3, 5], range: [0, 2] }] },
    { inputs: [{ shape: [2, 200] }, { shape: [2, 200], range: [0, 1] }] },
    { inputs: [{ shape: [1, 1] }, { shape: [1, 1] }] },
  ],
});

/** Σ_r x_r·log softmax(logits)_r over the last axis: shape of logits without its last axis. */
export function multinomialLogLik(logits: Tensor, x: Tensor): Tensor {
  if (logits.ndim === 2) return apply(multinomialDef, [logits, x]);
  if (logits.ndim < 1 || x.shape.join() !== logits.shape.join()) throw new Error(`multinomialLogLik: expects logits and counts of one shape [..., R], got ${logits} and ${x}`);
  const R = logits.shape[logits.ndim - 1];
  const rows = logits.size / Math.max(R, 1);
  return reshape(apply(multinomialDef, [reshape(logits, [rows, R]), reshape(x, [rows, R])]), logits.shape.slice(0, -1));
}

// ---- rows scaled to unit L2 norm -------------------------------------------------------------

/**
 * x / sqrt(clamp(Σ x², 1e-12, 3e38)) over the last axis as one op: the recommenders normalise
 * every input row (a [500, 20108] batch at ML-20M's shape); composed it was a square, a row sum,
 * a clamp, a sqrt and a broadcasting divide — three passes over the batch, the divide a strided one.
 */
const l2NormalizeDef = defineOp<NoAttrs>({
  name: 'l2_normalize',
  forward([x]) {
    if (x.dtype !== 'f32' || x.ndim !== 2) throw new Error(`l2_normalize: expects f32 rows [rows, R], got ${x}`);
    const [rows, R] = x.shape;
    const y = empty(x.shape, 'f32', 'l2_normalize');
    if (rows && R) dispatch({ kernel: l2NormalizeKernel(false), bindings: { x: x.buffer, y: y.buffer }, params: { rows, R }, workgroups: rowGrid(rows) });
    return y;
  },
  backward(g, node) {
    const [x] = node.inputs;
    const [rows, R] = x.shape;
    const dx = empty(x.shape, 'f32', 'l2_normalize.dx');
    if (rows && R) dispatch({ kernel: l2NormalizeKernel(true), bindings: { x: x.buffer, g: g.buffer, dx: dx.buffer }, params: { rows, R }, workgroups: rowGrid(rows) });
    return [dx];
  },
  reference([x]) {
    const [rows, R] = x.shape;
    const data = new Float64Array(x.data.length);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < R; i++) s += x.data[r * R + i] ** 2;
      const n = Math.sqrt(Math.min(Math.max(s, 1e-12), 3e38));
      for (let i = 0; i < R; i++) data[r * R + i] = x.data[r * R + i] / n;
    }
    return { shape: x.shape, data };
  },
  mixesBatch: (_node, _input, axis) => axis === 1, // each row by its own norm
  cases: [
    { inputs: [{ shape: [4, 7] }] },
    { inputs: [{ shape: [3, 150], range: [0, 1] }] },
    { inputs: [{ shape: [1, 1], awayFromZero: 0.5 }] },
    { inputs: [{ shape: [2, 70] }] },
  ],
});

/** Rows scaled to unit L2 norm over the last axis (an all-zero row stays zero). */
export function l2Normalize(x: Tensor): Tensor {
  if (x.ndim === 2) return apply(l2NormalizeDef, [x]);
  if (x.ndim < 1) throw new Error(`l2Normalize: expects at least one axis, got ${x}`);
  const R = x.shape[x.ndim - 1];
  return reshape(apply(l2NormalizeDef, [reshape(x, [x.size / Math.max(R, 1), R])]), x.shape);
}
