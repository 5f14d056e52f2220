// Reductions over any set of axes: sum, mean, max, logsumexp.
import { defineOp, apply, type Ref, type TestCase } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, fmtShape, numel, Tensor, type Shape } from '../tensor.js';
import { normAxes } from '../shape.js';
import { reduceColsKernel, reduceRowsKernel, reduceOuterInnerKernel, type ReduceKind } from '../../kernels/reduce.js';
import { gridFor } from '../../kernels/common.js';
import { expand, permute } from './layout.js';
import { mul, exp, sub, eq, affine } from './elementwise.js';

/** Output shape of reducing `axes` (sorted, normalised). */
function reducedShape(shape: Shape, axes: number[], keepdims: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => { if (!axes.includes(i)) out.push(d); else if (keepdims) out.push(1); });
  return out;
}

/** Runs a reduction kernel; returns the result shaped like keepdims. */
function launch(kind: ReduceKind, x: Tensor, axes: number[], mean: boolean): Tensor {
  if (x.dtype !== 'f32') throw new Error(`reduce: expects f32, got ${x.dtype}`);
  const keepShape = reducedShape(x.shape, axes, true);
  // Collapse to [A, R, C] if the reduced axes form one block (ignoring size-1 axes).
  const kinds = x.shape.map((d, i) => (d === 1 ? '' : axes.includes(i) ? 'R' : 'K'));
  let src = x;
  let A = 1, R = 1, C = 1;
  const pattern = kinds.join('');
  if (/^R+K+R+$/.test(pattern)) {
    // reduced axes on both sides of the kept block (NCHW over N, H, W): [A, kept, C], no permute
    let seenK = false;
    x.shape.forEach((d, i) => {
      if (kinds[i] === 'K') { R *= d; seenK = true; } else if (kinds[i] === 'R') { if (seenK) C *= d; else A *= d; }
    });
    const out = empty(keepShape, 'f32', `reduce.${kind}`);
    const wx = Math.min(R, 65535);
    dispatch({ kernel: reduceOuterInnerKernel(kind), bindings: { x: x.buffer, y: out.buffer }, params: { A, R, C, scale: mean ? 1 / (A * C) : 1 }, workgroups: [wx, Math.min(65535, Math.ceil(R / wx))] });
    return out;
  }
  if (/^K*R*K*$/.test(pattern)) {
    let seenR = false;
    x.shape.forEach((d, i) => {
      if (kinds[i] === 'R') { R *= d; seenR = true; } else if (kinds[i] === 'K') { if (seenR) C *= d; else A *= d; }
    });
  } else {
    const keep = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    src = permute(x, [...keep, ...axes]);
    for (const i of keep) A *= x.shape[i];
    for (const i of axes) R *= x.shape[i];
  }
  const out = empty(keepShape, 'f32', `reduce.${kind}`);
  if (R === 0) throw new Error(`reduce ${kind}: cannot reduce over an empty axis of ${fmtShape(x.shape)}`);
  const params = { A, R, C, scale: mean ? 1 / R : 1 };
  if (C === 1 && R >= 256) {
    const wx = Math.min(A, 65535);
    dispatch({ kernel: reduceRowsKernel(kind), bindings: { x: src.buffer, y: out.buffer }, params, workgroups: [wx, Math.min(65535, Math.ceil(A / wx))] });
  } else {
    dispatch({ kernel: reduceColsKernel(kind), bindings: { x: src.buffer, y: out.buffer }, params, workgroups: [gridFor(A * C)] });
  }
  if (src !== x) src.dispose();
  return out;
}

function refReduce(x: Ref, axes: number[], keepdims: boolean, f: (v: number[]) => number): Ref {
  const shape = reducedShape(x.shape, axes, keepdims);
  const keepShape = reducedShape(x.shape, axes, true);
  const groups = new Map<number, number[]>();
  const n = numel(x.shape);
  for (let i = 0; i < n; i++) {
    let rem = i, o = 0, mult = 1;
    for (let d = x.shape.length - 1; d >= 0; d--) {
      const c = rem % x.shape[d];
      rem = Math.floor(rem / x.shape[d]);
      o += (axes.includes(d) ? 0 : c) * mult;
      mult *= keepShape[d];
    }
    let g = groups.get(o);
    if (!g) groups.set(o, (g = []));
    g.push(x.data[i]);
  }
  const data = new Float64Array(numel(shape));
  for (const [o, v] of groups) data[o] = f(v);
  return { shape, data };
}

/** The axes reduced (default all), kept as size 1 with keepdims. */
type ReduceAttrs = { axes?: number[]; keepdims?: boolean };

const cases: TestCase<ReduceAttrs>[] = [
  { inputs: [{ shape: [7, 5] }], attrs: { axes: [1] } },
  { inputs: [{ shape: [7, 5] }], attrs: { axes: [0], keepdims: true } },
  { inputs: [{ shape: [3, 4, 5] }], attrs: { axes: [0, 2] } },
  { inputs: [{ shape: [3, 4, 5] }], attrs: { axes: [1] } },
  { inputs: [{ shape: [2, 3, 1, 4] }], attrs: { axes: [1, 2, 3], keepdims: true } },
  { inputs: [{ shape: [3, 300] }], attrs: { axes: [1] } },
  { inputs: [{ shape: [1] }], attrs: { axes: [0] } },
  { inputs: [{ shape: [6, 5] }], attrs: {} },
  // outer and inner axes reduced around a kept one (a conv bias's gradient over N, H, W)
  { inputs: [{ shape: [3, 4, 5, 2] }], attrs: { axes: [0, 2, 3] } },
  { inputs: [{ shape: [2, 3, 1, 70] }], attrs: { axes: [0, 2, 3], keepdims: true } },
];

const lse = (v: number[]): number => { const m = Math.max(...v); return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0)); };
const sumOf = (v: number[]): number => v.reduce((s, x) => s + x, 0);

function declare(name: string, kind: ReduceKind, mean: boolean, f: (v: number[]) => number,
  grad: (gx: Tensor, x: Tensor, y: Tensor, R: number) => Tensor, distinct = false) {
  return defineOp<ReduceAttrs, { y: Tensor }>({
    name,
    forward(inputs, attrs, saved) {
      const x = inputs[0];
      const axes = normAxes(name, attrs.axes, x.ndim);
      const y = launch(kind, x, axes, mean);
      saved.y = y;
      return attrs.keepdims ? y : y.view(reducedShape(x.shape, axes, false));
    },
    backward(g, node) {
      const x = node.inputs[0];
      const axes = normAxes(name, node.attrs.axes, x.ndim);
      const keepShape = reducedShape(x.shape, axes, true);
      const gk = g.view(keepShape);
      const gx = expand(gk, x.shape);
      gk.dispose();
      const R = axes.reduce((p, a) => p * x.shape[a], 1);
      return [grad(gx, x, node.saved.y, R)];
    },
    mixesBatch: (node, _input, axis) => normAxes(name, node.attrs.axes, node.inputs[0].ndim).includes(axis),
    reference: ([x], attrs) => refReduce(x, normAxes(name, attrs.axes, x.shape.length), !!attrs.keepdims, f),
    cases: cases.map((c) => ({ ...c, inputs: c.inputs.map((i) => ({ ...i, distinct })) })),
  });
}

const sumDef = declare('sum', 'sum', false, sumOf, (gx) => gx);
const meanDef = declare('mean', 'sum', true, (v) => sumOf(v) / v.length, (gx, _x, _y, R) => affine(gx, 1 / R, 0));
const maxDef = declare('max', 'max', false, (v) => Math.max(...v),
  (gx, x, y) => mul(gx, eq(x, expand(y, x.shape))), true);
const lseDef = declare('logsumexp', 'lse', false, lse, (gx, x, y) => mul(gx, exp(sub(x, expand(y, x.shape)))));

export interface ReduceOptions { keepdims?: boolean }
type Axes = number | number[] | undefined;
const norm = (axes: Axes): number[] | undefined => (typeof axes === 'number' ? [axes] : axes);

/** Sum over `axes` (all axes when omitted). */
export const sum = (x: Tensor, axes?: Axes, o: ReduceOptions = {}): Tensor => apply(sumDef, [x], { axes: norm(axes), keepdims: !!o.keepdims });
export const mean = (x: Tensor, axes?: Axes, o: ReduceOptions = {}): Tensor => apply(meanDef, [x], { axes: norm(axes), keepdims: !!o.keepdims });
export const max = (x: Tensor, axes?: Axes, o: ReduceOptions = {}): Tensor => apply(maxDef, [x], { axes: norm(axes), keepdims: !!o.keepdims });
export const logsumexp = (x: Tensor, axes?: Axes, o: ReduceOptions = {}): Tensor => apply(lseDef, [x], { axes: norm(axes), keepdims: !!o.keepdims });

/** Sums a broadcast gradient back to `shape` (the inverse of broadcasting). */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (g.shape.length === shape.length && g.shape.every((d, i) => d === shape[i])) return g;
  const lead = g.ndim - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => { if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i); });
  const s = axes.length ? sum(g, axes, { keepdims: true }) : g;
  const out = s.view(shape);
  if (s !== g) s.dispose();
  return out;
}
