// softmax and log-softmax along one axis (fused row kernels; other axes are permuted last).
import { defineOp, apply, type Ref, type TestCase } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, Tensor } from '../tensor.js';
import { normAxes } from '../shape.js';
import { softmaxKernel } from '../../kernels/softmax.js';
import { permute } from './layout.js';
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
    dispatch({ kernel: softmaxKernel(log), buffers: [src.buffer, y.buffer], params: [rows, R], workgroups: [wx, Math.ceil(rows / wx)] });
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

const cases: TestCase[] = [
  { inputs: [{ shape: [7, 5] }], attrs: { axis: -1 } },
  { inputs: [{ shape: [3, 4, 2] }], attrs: { axis: 1 } },
  { inputs: [{ shape: [2, 130] }], attrs: { axis: 1 } },
  { inputs: [{ shape: [1] }], attrs: { axis: 0 } },
];

const softmaxDef = defineOp({
  name: 'softmax',
  forward([x], attrs, saved) {
    const y = launch(x, normAxes('softmax', attrs.axis as number, x.ndim)[0], false);
    saved.y = y;
    return y;
  },
  backward(g, node) {
    // dx = y ⊙ (g − Σ g⊙y)
    const y = node.saved.y as Tensor;
    const axis = normAxes('softmax', node.attrs.axis as number, y.ndim)[0];
    return [mul(y, sub(g, sum(mul(g, y), axis, { keepdims: true })))];
  },
  reference: ([x], attrs) => ref(x, normAxes('softmax', attrs.axis as number, x.shape.length)[0], false),
  mixesBatch: (node, _input, axis) => normAxes('softmax', node.attrs.axis as number, node.inputs[0].ndim)[0] === axis,
  cases,
});

const logSoftmaxDef = defineOp({
  name: 'log_softmax',
  forward([x], attrs, saved) {
    const y = launch(x, normAxes('log_softmax', attrs.axis as number, x.ndim)[0], true);
    saved.y = y;
    return y;
  },
  backward(g, node) {
    // dx = g − softmax ⊙ Σ g
    const y = node.saved.y as Tensor;
    const axis = normAxes('log_softmax', node.attrs.axis as number, y.ndim)[0];
    return [sub(g, mul(exp(y), sum(g, axis, { keepdims: true })))];
  },
  reference: ([x], attrs) => ref(x, normAxes('log_softmax', attrs.axis as number, x.shape.length)[0], true),
  mixesBatch: (node, _input, axis) => normAxes('log_softmax', node.attrs.axis as number, node.inputs[0].ndim)[0] === axis,
  cases,
});

export const softmax = (x: Tensor, axis = -1): Tensor => apply(softmaxDef, [x], { axis });
export const logSoftmax = (x: Tensor, axis = -1): Tensor => apply(logSoftmaxDef, [x], { axis });
