// Shape and data-movement ops: reshape (a view), permute/transpose, expand (broadcast_to),
// slice, pad, concat, index_select. All but reshape run one strided-copy kernel.
import { defineOp, apply, type Ref } from '../op.js';
import { dispatch, copyBuffer } from '../dispatch.js';
import { empty, fmtShape, numel, stridesOf, Tensor, zeros, type Shape } from '../tensor.js';
import { broadcastShapes, broadcastStrides, collapseDims, normAxes, stridedOffset } from '../shape.js';
import { stridedCopyKernel, indexSelectKernel, indexAddKernel } from '../../kernels/layout.js';
import { dimsParam, gridFor } from '../../kernels/common.js';
import { sumTo as sumToShape } from './reduce.js';

/** Strided copy: gather (dst contiguous over `shape`) or scatter (src contiguous). */
function copy(mode: 'gather' | 'scatter', src: Tensor, dst: Tensor, shape: Shape, strides: number[], srcBase = 0, dstBase = 0): void {
  const n = numel(shape);
  if (n === 0) return;
  // the contiguous side's strides take part in merging too
  const c = collapseDims(shape, [strides, stridesOf(shape)]);
  // A few long contiguous runs (concat / slice along channels of NCHW: one run per image) are
  // buffer copies: a memcpy each instead of a kernel computing an offset per element.
  const d = c.shape.length, inner = c.strides[0][d - 1] === 1 ? c.shape[d - 1] : 0;
  const rows = d === 1 ? 1 : d === 2 ? c.shape[0] : 0;
  if (inner >= MIN_RUN && rows > 0 && rows <= MAX_RUNS && src.buffer !== dst.buffer) {
    const outer = d === 2 ? c.strides[0][0] : 0;
    for (let r = 0; r < rows; r++) {
      const [from, to] = mode === 'gather' ? [srcBase + r * outer, dstBase + r * inner] : [srcBase + r * inner, dstBase + r * outer];
      copyBuffer(src.buffer, 4 * from, dst.buffer, 4 * to, 4 * inner);
    }
    return;
  }
  dispatch({
    kernel: stridedCopyKernel(mode, c.shape.length),
    bindings: { src: src.buffer, dst: dst.buffer },
    params: { n, ndim: c.shape.length, srcBase, dstBase, shape: c.shape, st: dimsParam(c.strides[0], 0) },
    workgroups: [gridFor(n)],
  });
}

/** Runs of at least MIN_RUN elements, at most MAX_RUNS of them, are copied as buffer copies. */
const MIN_RUN = 1024, MAX_RUNS = 64;

/** Plain-loop reference of a strided gather. */
function refGather(x: Ref, shape: number[], strides: number[], base = 0): Ref {
  const data = new Float64Array(numel(shape));
  for (let i = 0; i < data.length; i++) data[i] = x.data[base + stridedOffset(i, shape, strides)];
  return { shape, data };
}

// ---- reshape -------------------------------------------------------------------------

function resolveShape(x: Shape, shape: Shape): number[] {
  const out = shape.slice();
  const k = out.indexOf(-1);
  if (k >= 0) {
    const rest = numel(out.filter((_, i) => i !== k));
    out[k] = rest === 0 ? 0 : numel(x) / rest;
  }
  if (!out.every((d) => Number.isInteger(d) && d >= 0) || numel(out) !== numel(x)) {
    throw new Error(`reshape: cannot reshape ${fmtShape(x)} (${numel(x)} elements) to ${fmtShape(shape)}`);
  }
  return out;
}

/** reshape's and expand's attribute: the target shape. */
type ShapeAttrs = { shape: number[] };

const reshapeDef = defineOp<ShapeAttrs>({
  name: 'reshape',
  forward: ([x], attrs) => x.view(resolveShape(x.shape, attrs.shape)),
  backward: (g, node) => [g.view(node.inputs[0].shape)],
  reference: ([x], attrs) => ({ shape: resolveShape(x.shape, attrs.shape), data: x.data.slice() }),
  cases: [{ inputs: [{ shape: [3, 4] }], attrs: { shape: [2, -1, 3] } }, { inputs: [{ shape: [5] }], attrs: { shape: [1, 5] } }],
});

// ---- permute -------------------------------------------------------------------------

function checkPerm(x: Shape, perm: readonly number[]): number[] {
  const p = perm.map((a) => (a < 0 ? a + x.length : a));
  if (p.length !== x.length || [...p].sort((a, b) => a - b).some((a, i) => a !== i)) {
    throw new Error(`permute: [${perm.join(', ')}] is not a permutation of the ${x.length} axes of ${fmtShape(x)}`);
  }
  return p;
}

const permuteDef = defineOp<{ perm: number[] }>({
  name: 'permute',
  forward([x], attrs) {
    const p = checkPerm(x.shape, attrs.perm);
    const st = stridesOf(x.shape);
    const shape = p.map((a) => x.shape[a]);
    const out = empty(shape, x.dtype, 'permute');
    copy('gather', x, out, shape, p.map((a) => st[a]));
    return out;
  },
  backward(g, node) {
    const p = checkPerm(node.inputs[0].shape, node.attrs.perm);
    const inv = new Array<number>(p.length);
    p.forEach((a, i) => (inv[a] = i));
    return [permute(g, inv)];
  },
  reference([x], attrs) {
    const p = checkPerm(x.shape, attrs.perm);
    const st = stridesOf(x.shape);
    return refGather(x, p.map((a) => x.shape[a]), p.map((a) => st[a]));
  },
  cases: [
    { inputs: [{ shape: [3, 5] }], attrs: { perm: [1, 0] } },
    { inputs: [{ shape: [2, 3, 4] }], attrs: { perm: [2, 0, 1] } },
    { inputs: [{ shape: [2, 1, 3, 2] }], attrs: { perm: [3, 1, 0, 2] } },
  ],
});

// ---- expand ---------------------------------------------------------------------------

const expandDef = defineOp<ShapeAttrs>({
  name: 'expand',
  forward([x], attrs) {
    const shape = attrs.shape;
    const target = broadcastShapes('expand', x.shape, shape);
    if (target.join() !== shape.join()) throw new Error(`expand: ${fmtShape(x.shape)} cannot be broadcast to ${fmtShape(shape)}`);
    const out = empty(shape, x.dtype, 'expand');
    copy('gather', x, out, shape, broadcastStrides(x.shape, shape));
    return out;
  },
  backward: (g, node) => [sumToShape(g, node.inputs[0].shape)],
  reference: ([x], attrs) => refGather(x, attrs.shape.slice(), broadcastStrides(x.shape, attrs.shape)),
  cases: [
    { inputs: [{ shape: [3, 1] }], attrs: { shape: [3, 5] } },
    { inputs: [{ shape: [4] }], attrs: { shape: [2, 3, 4] } },
    { inputs: [{ shape: [] }], attrs: { shape: [7] } },
  ],
});

// ---- slice / pad -----------------------------------------------------------------------

function sliceBounds(x: Shape, starts: readonly number[], ends: readonly number[]): [number[], number[]] {
  if (starts.length !== x.length || ends.length !== x.length) {
    throw new Error(`slice: starts/ends need ${x.length} entries for ${fmtShape(x)}; got [${starts.join(', ')}] / [${ends.join(', ')}]`);
  }
  const s = starts.map((v, i) => (v < 0 ? v + x[i] : v));
  const e = ends.map((v, i) => (v < 0 ? v + x[i] : Math.min(v, x[i])));
  s.forEach((v, i) => {
    if (v < 0 || v > e[i]) throw new Error(`slice: axis ${i}: range ${starts[i]}..${ends[i]} is invalid for size ${x[i]}`);
  });
  return [s, e];
}

const sliceDef = defineOp<{ starts: number[]; ends: number[] }>({
  name: 'slice',
  forward([x], attrs) {
    const [s, e] = sliceBounds(x.shape, attrs.starts, attrs.ends);
    const shape = s.map((v, i) => e[i] - v);
    const st = stridesOf(x.shape);
    const out = empty(shape, x.dtype, 'slice');
    copy('gather', x, out, shape, st, s.reduce((acc, v, i) => acc + v * st[i], 0));
    return out;
  },
  backward(g, node) {
    const x = node.inputs[0];
    const [s, e] = sliceBounds(x.shape, node.attrs.starts, node.attrs.ends);
    return [pad(g, s, e.map((v, i) => x.shape[i] - v))];
  },
  reference([x], attrs) {
    const [s, e] = sliceBounds(x.shape, attrs.starts, attrs.ends);
    const st = stridesOf(x.shape);
    return refGather(x, s.map((v, i) => e[i] - v), st, s.reduce((acc, v, i) => acc + v * st[i], 0));
  },
  cases: [
    { inputs: [{ shape: [7, 5] }], attrs: { starts: [1, 0], ends: [4, 5] } },
    { inputs: [{ shape: [3, 4, 5] }], attrs: { starts: [0, 1, 2], ends: [3, 3, -1] } },
  ],
});

const padDef = defineOp<{ before: number[]; after: number[] }>({
  name: 'pad',
  forward([x], attrs) {
    const { before, after } = attrs;
    if (before.length !== x.ndim || after.length !== x.ndim || [...before, ...after].some((v) => !Number.isInteger(v) || v < 0)) {
      throw new Error(`pad: before/after need ${x.ndim} non-negative integers for ${fmtShape(x.shape)}`);
    }
    const shape = x.shape.map((d, i) => d + before[i] + after[i]);
    const out = zeros(shape, x.dtype);
    const st = stridesOf(shape);
    copy('scatter', x, out, x.shape, st, 0, before.reduce((acc, v, i) => acc + v * st[i], 0));
    return out;
  },
  backward(g, node) {
    const x = node.inputs[0];
    const before = node.attrs.before;
    return [slice(g, before, before.map((b, i) => b + x.shape[i]))];
  },
  reference([x], attrs) {
    const { before, after } = attrs;
    const shape = x.shape.map((d, i) => d + before[i] + after[i]);
    const data = new Float64Array(numel(shape));
    const st = stridesOf(shape);
    const base = before.reduce((acc, v, i) => acc + v * st[i], 0);
    for (let i = 0; i < x.data.length; i++) data[base + stridedOffset(i, x.shape, st)] = x.data[i];
    return { shape, data };
  },
  cases: [{ inputs: [{ shape: [3, 5] }], attrs: { before: [1, 0], after: [2, 3] } }],
});

// ---- concat ----------------------------------------------------------------------------

function concatShape(shapes: Shape[], axis: number): number[] {
  const first = shapes[0];
  for (const s of shapes) {
    if (s.length !== first.length || s.some((d, i) => i !== axis && d !== first[i])) {
      throw new Error(`concat: shapes ${shapes.map(fmtShape).join(', ')} differ outside axis ${axis}`);
    }
  }
  const out = first.slice();
  out[axis] = shapes.reduce((acc, s) => acc + s[axis], 0);
  return out;
}

/** concat's and index_select's attribute: the axis (negative counts from the end). */
type AxisAttrs = { axis: number };

const concatDef = defineOp<AxisAttrs>({
  name: 'concat',
  forward(xs, attrs) {
    if (xs.length === 0) throw new Error('concat: needs at least one tensor');
    const axis = normAxes('concat', attrs.axis, xs[0].ndim)[0];
    const shape = concatShape(xs.map((x) => x.shape), axis);
    const out = empty(shape, xs[0].dtype, 'concat');
    const st = stridesOf(shape);
    let at = 0;
    for (const x of xs) {
      copy('scatter', x, out, x.shape, st, 0, at * st[axis]);
      at += x.shape[axis];
    }
    return out;
  },
  backward(g, node) {
    const axis = normAxes('concat', node.attrs.axis, g.ndim)[0];
    let at = 0;
    return node.inputs.map((x) => {
      const s = g.shape.map((_, i) => (i === axis ? at : 0));
      const e = g.shape.map((d, i) => (i === axis ? at + x.shape[axis] : d));
      at += x.shape[axis];
      return slice(g, s, e);
    });
  },
  reference(xs, attrs) {
    const axis = normAxes('concat', attrs.axis, xs[0].shape.length)[0];
    const shape = concatShape(xs.map((x) => x.shape), axis);
    const data = new Float64Array(numel(shape));
    const st = stridesOf(shape);
    let at = 0;
    for (const x of xs) {
      for (let i = 0; i < x.data.length; i++) data[at * st[axis] + stridedOffset(i, x.shape, st)] = x.data[i];
      at += x.shape[axis];
    }
    return { shape, data };
  },
  cases: [
    { inputs: [{ shape: [2, 3] }, { shape: [2, 5] }], attrs: { axis: 1 } },
    { inputs: [{ shape: [1, 3, 2] }, { shape: [2, 3, 2] }, { shape: [1, 3, 2] }], attrs: { axis: 0 } },
  ],
});

// ---- index_select (gather rows) ------------------------------------------------------------

function selectDims(x: Shape, axis: number): [number, number, number] {
  const A = numel(x.slice(0, axis));
  const C = numel(x.slice(axis + 1));
  return [A, x[axis], C];
}

const indexSelectDef = defineOp<AxisAttrs>({
  name: 'index_select',
  forward([x, idx], attrs) {
    if (idx.dtype !== 'i32' || idx.ndim !== 1) throw new Error(`index_select: indices must be a 1-d i32 tensor, got ${idx}`);
    const axis = normAxes('index_select', attrs.axis, x.ndim)[0];
    const [A, R, C] = selectDims(x.shape, axis);
    const shape = x.shape.slice();
    shape[axis] = idx.size;
    const out = empty(shape, 'f32', 'index_select');
    const n = A * idx.size * C;
    if (n) dispatch({ kernel: indexSelectKernel(), bindings: { x: x.buffer, idx: idx.buffer, y: out.buffer }, params: { A, J: idx.size, C, R }, workgroups: [gridFor(n)] });
    return out;
  },
  backward(g, node) {
    const [x, idx] = node.inputs;
    const axis = normAxes('index_select', node.attrs.axis, x.ndim)[0];
    const [A, R, C] = selectDims(x.shape, axis);
    const gx = zeros(x.shape);
    const n = A * idx.size * C;
    if (n) dispatch({ kernel: indexAddKernel(), bindings: { g: g.buffer, idx: idx.buffer, gx: gx.buffer }, params: { A, J: idx.size, C, R }, workgroups: [gridFor(n)] });
    return [gx, null];
  },
  reference([x, idx], attrs) {
    const axis = normAxes('index_select', attrs.axis, x.shape.length)[0];
    const [A, R, C] = selectDims(x.shape, axis);
    const J = idx.data.length;
    const shape = x.shape.slice();
    shape[axis] = J;
    const data = new Float64Array(A * J * C);
    for (let a = 0; a < A; a++) for (let j = 0; j < J; j++) for (let c = 0; c < C; c++) {
      data[(a * J + j) * C + c] = x.data[(a * R + idx.data[j]) * C + c];
    }
    return { shape, data };
  },
  cases: [
    { inputs: [{ shape: [6, 3] }, { shape: [9], dtype: 'i32', ints: 6, grad: false }], attrs: { axis: 0 } },
    { inputs: [{ shape: [2, 5, 3] }, { shape: [4], dtype: 'i32', ints: 5, grad: false }], attrs: { axis: 1 } },
  ],
});

// ---- public functions ----------------------------------------------------------------------

/** A view with another shape (one -1 is inferred); on the tape, so gradients flow. */
export const reshape = (x: Tensor, shape: readonly number[]): Tensor => apply(reshapeDef, [x], { shape: shape.slice() });
export const flatten = (x: Tensor, fromAxis = 1): Tensor => reshape(x, [...x.shape.slice(0, fromAxis), -1]);
export const permute = (x: Tensor, perm: readonly number[]): Tensor => apply(permuteDef, [x], { perm: perm.slice() });
/** Swaps two axes (the last two by default). */
export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const [i, j] = [a < 0 ? a + x.ndim : a, b < 0 ? b + x.ndim : b];
  const perm = [...x.shape.keys()];
  [perm[i], perm[j]] = [perm[j], perm[i]];
  return permute(x, perm);
}
export const expand = (x: Tensor, shape: readonly number[]): Tensor => apply(expandDef, [x], { shape: shape.slice() });
/** x[starts[0]:ends[0], ...]; negative values count from the end. */
export const slice = (x: Tensor, starts: readonly number[], ends: readonly number[]): Tensor =>
  apply(sliceDef, [x], { starts: starts.slice(), ends: ends.slice() });
/** Zero padding: `before[i]` and `after[i]` elements on each side of axis i. */
export const pad = (x: Tensor, before: readonly number[], after: readonly number[]): Tensor =>
  apply(padDef, [x], { before: before.slice(), after: after.slice() });
export const concat = (xs: Tensor[], axis = 0): Tensor => apply(concatDef, xs, { axis });
/** Rows (along `axis`) picked by an i32 index tensor; an index out of range gives NaN. */
export const indexSelect = (x: Tensor, indices: Tensor, axis = 0): Tensor => apply(indexSelectDef, [x, indices], { axis });
