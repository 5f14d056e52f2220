// Elementwise ops with broadcasting. Each row of the table below is one op: its WGSL
// expression, its float64 reference and its backward rule.
import { defineOp, apply, type OpDef, type Ref, type TestCase } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, numel, Tensor, type DType, type Shape } from '../tensor.js';
import { broadcastShapes, broadcastStrides, collapseDims, stridedOffset } from '../shape.js';
import { elementwiseKernel } from '../../kernels/elementwise.js';
import { gridFor } from '../../kernels/common.js';
import { fillKernel } from '../../kernels/layout.js';
import { sumTo } from './reduce.js';

type Fn = (a: number, b: number, c: number, s0: number, s1: number) => number;
type Grad = (g: Tensor, x: Tensor[], out: Tensor, s0: number, s1: number) => (Tensor | null)[];

/** Two scalars the expression may read (clamp's bounds, affine's scale and shift). */
type EwAttrs = { s0?: number; s1?: number };
const scalarsOf = (a: EwAttrs): [number, number] => [a.s0 ?? 0, a.s1 ?? 0];

interface EwSpec {
  name: string;
  arity: number;
  expr: string;
  ref: Fn;
  grad?: Grad;
  cases: TestCase<EwAttrs>[];
}

// ---- launching -------------------------------------------------------------------------

function launch(name: string, expr: string, inputs: Tensor[], s0 = 0, s1 = 0, outType: DType = 'f32'): Tensor {
  for (const t of inputs) {
    if (t.dtype !== 'f32') throw new Error(`${name}: expects f32 tensors, got ${t.dtype} ${t}`);
  }
  const outShape = inputs.length ? broadcastShapes(name, ...inputs.map((t) => t.shape)) : [];
  const n = numel(outShape);
  const out = empty(outShape, outType, name);
  if (n === 0) return out;
  const same = inputs.every((t) => t.shape.length === outShape.length && t.shape.every((d, i) => d === outShape[i]));
  const layout = !same ? 'strided' : n % 4 === 0 ? 'vec4' : 'contiguous';
  const c = layout === 'strided' ? collapseDims(outShape, inputs.map((t) => broadcastStrides(t.shape, outShape))) : null;
  const kernel = elementwiseKernel({ name, expr, arity: inputs.length, layout, ndim: c?.shape.length });
  const count = layout === 'vec4' ? n / 4 : n;
  const params: Record<string, number | readonly number[]> = { n: count, ndim: c ? c.shape.length : outShape.length, s0, s1 };
  if (c) {
    params.shape = c.shape;
    c.strides.forEach((st, i) => { params[`st_${'abc'[i]}`] = st; });
  }
  const bindings: Record<string, GPUBuffer> = { out: out.buffer };
  inputs.forEach((t, i) => { bindings[`in_${'abc'[i]}`] = t.buffer; });
  dispatch({ kernel, bindings, params, workgroups: [gridFor(count)] });
  return out;
}

function refEw(inputs: Ref[], f: Fn, s0: number, s1: number): Ref {
  const shape = broadcastShapes('reference', ...inputs.map((r) => r.shape));
  const st = inputs.map((r) => broadcastStrides(r.shape, shape));
  const n = numel(shape);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = inputs.map((r, k) => r.data[stridedOffset(i, shape, st[k])]);
    data[i] = f(v[0], v[1], v[2], s0, s1);
  }
  return { shape, data };
}

// ---- test shapes -------------------------------------------------------------------------

const unaryCases = (range?: [number, number], awayFromZero?: number): TestCase<EwAttrs>[] =>
  [[7, 5], [1], [65], [2, 3, 4], []].map((shape) => ({ inputs: [{ shape, range, awayFromZero }] }));

const binaryCases = (rb?: [number, number], awayB?: number, ra?: [number, number]): TestCase<EwAttrs>[] =>
  [
    [[7, 5], [7, 5]], [[3, 1, 5], [4, 5]], [[6], [1]], [[], [3]], [[2, 1], [1, 3]], [[4, 4], [4, 4]],
  ].map(([a, b]) => ({ inputs: [{ shape: a, range: ra }, { shape: b, range: rb, awayFromZero: awayB }] }));

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

// ---- the table ---------------------------------------------------------------------------

const specs: EwSpec[] = [
  { name: 'add', arity: 2, expr: 'a + b', ref: (a, b) => a + b, cases: binaryCases(),
    grad: (g, [a, b]) => [sumTo(g, a.shape), sumTo(g, b.shape)] },
  { name: 'sub', arity: 2, expr: 'a - b', ref: (a, b) => a - b, cases: binaryCases(),
    grad: (g, [a, b]) => [sumTo(g, a.shape), sumTo(neg(g), b.shape)] },
  { name: 'mul', arity: 2, expr: 'a * b', ref: (a, b) => a * b, cases: binaryCases(),
    grad: (g, [a, b]) => [sumTo(mul(g, b), a.shape), sumTo(mul(g, a), b.shape)] },
  { name: 'div', arity: 2, expr: 'a / b', ref: (a, b) => a / b, cases: binaryCases(undefined, 0.5),
    grad: (g, [a, b], y) => [sumTo(div(g, b), a.shape), sumTo(neg(div(mul(g, y), b)), b.shape)] },
  { name: 'pow', arity: 2, expr: 'pow(a, b)', ref: (a, b) => a ** b, cases: binaryCases([-1.5, 1.5], undefined, [0.3, 2]),
    grad: (g, [a, b], y) => [sumTo(mul(g, mul(b, div(y, a))), a.shape), sumTo(mul(g, mul(y, log(a))), b.shape)] },
  { name: 'maximum', arity: 2, expr: 'max(a, b)', ref: (a, b) => Math.max(a, b), cases: binaryCases(),
    grad: (g, [a, b]) => [sumTo(mul(g, ge(a, b)), a.shape), sumTo(mul(g, lt(a, b)), b.shape)] },
  { name: 'minimum', arity: 2, expr: 'min(a, b)', ref: (a, b) => Math.min(a, b), cases: binaryCases(),
    grad: (g, [a, b]) => [sumTo(mul(g, le(a, b)), a.shape), sumTo(mul(g, gt(a, b)), b.shape)] },
  { name: 'gt', arity: 2, expr: 'select(T(0.0), T(1.0), a > b)', ref: (a, b) => +(a > b), cases: binaryCases() },
  { name: 'lt', arity: 2, expr: 'select(T(0.0), T(1.0), a < b)', ref: (a, b) => +(a < b), cases: binaryCases() },
  { name: 'ge', arity: 2, expr: 'select(T(0.0), T(1.0), a >= b)', ref: (a, b) => +(a >= b), cases: binaryCases() },
  { name: 'le', arity: 2, expr: 'select(T(0.0), T(1.0), a <= b)', ref: (a, b) => +(a <= b), cases: binaryCases() },
  { name: 'eq', arity: 2, expr: 'select(T(0.0), T(1.0), a == b)', ref: (a, b) => +(a === b), cases: binaryCases() },
  { name: 'where', arity: 3, expr: 'select(c, b, a != T(0.0))', ref: (a, b, c) => (a !== 0 ? b : c),
    cases: [[[7, 5], [7, 5], [7, 5]], [[4, 1], [1, 3], [4, 3]], [[5], [], [5]]].map((s): TestCase<EwAttrs> => ({
      inputs: [{ shape: s[0], ints: 2, dtype: 'f32', grad: false }, { shape: s[1] }, { shape: s[2] }] })),
    grad: (g, [c, a, b]) => [null, sumTo(mul(g, c), a.shape), sumTo(mul(g, sub(onesLikeScalar(), c)), b.shape)] },
  { name: 'neg', arity: 1, expr: '-a', ref: (a) => -a, cases: unaryCases(), grad: (g) => [neg(g)] },
  { name: 'exp', arity: 1, expr: 'exp_acc(a)', ref: Math.exp, cases: unaryCases(), grad: (g, _x, y) => [mul(g, y)] },
  { name: 'log', arity: 1, expr: 'log_acc(a)', ref: Math.log, cases: unaryCases([0.2, 3]), grad: (g, [a]) => [div(g, a)] },
  { name: 'sqrt', arity: 1, expr: 'sqrt(a)', ref: Math.sqrt, cases: unaryCases([0.2, 3]),
    grad: (g, _x, y) => [div(affine(g, 0.5, 0), y)] },
  { name: 'abs', arity: 1, expr: 'abs(a)', ref: Math.abs, cases: unaryCases(undefined, 0.05), grad: (g, [a]) => [mul(g, sign(a))] },
  { name: 'sign', arity: 1, expr: 'sign(a)', ref: Math.sign, cases: unaryCases(undefined, 0.05) },
  { name: 'relu', arity: 1, expr: 'max(a, T(0.0))', ref: (a) => Math.max(a, 0), cases: unaryCases(undefined, 0.05),
    grad: (g, [a]) => [reluGrad(g, a)] },
  { name: 'relu_grad', arity: 2, expr: 'select(T(0.0), a, b > T(0.0))', ref: (g, a) => (a > 0 ? g : 0), cases: binaryCases() },
  { name: 'sigmoid', arity: 1, expr: 'T(1.0) / (T(1.0) + exp(-a))', ref: sigmoid, cases: unaryCases([-6, 6]),
    grad: (g, _x, y) => [sigmoidGrad(g, y)] },
  { name: 'sigmoid_grad', arity: 2, expr: 'a * b * (T(1.0) - b)', ref: (g, y) => g * y * (1 - y), cases: binaryCases() },
  { name: 'tanh', arity: 1, expr: 'sign(a) * (T(1.0) - exp(T(-2.0) * abs(a))) / (T(1.0) + exp(T(-2.0) * abs(a)))',
    ref: Math.tanh, cases: unaryCases([-4, 4]), grad: (g, _x, y) => [tanhGrad(g, y)] },
  { name: 'tanh_grad', arity: 2, expr: 'a * (T(1.0) - b * b)', ref: (g, y) => g * (1 - y * y), cases: binaryCases() },
  { name: 'softplus', arity: 1, expr: 'max(a, T(0.0)) + log(T(1.0) + exp(-abs(a)))',
    ref: (a) => Math.max(a, 0) + Math.log1p(Math.exp(-Math.abs(a))), cases: unaryCases([-5, 5]),
    grad: (g, [a]) => [mul(g, sigmoidOp(a))] },
  { name: 'log_sigmoid', arity: 1, expr: 'min(a, T(0.0)) - log(T(1.0) + exp(-abs(a)))',
    ref: (a) => Math.min(a, 0) - Math.log1p(Math.exp(-Math.abs(a))), cases: unaryCases([-5, 5]),
    grad: (g, [a]) => [mul(g, sigmoidOp(neg(a)))] },
  // H(σ(a)) = −p log p − (1 − p) log(1 − p) with p = σ(a), as softplus(a) − a·p (stable for
  // any a); dH/da = −a·p(1 − p). One pass for the entropy of LBD's Eq. 3 regularizer instead of
  // nine ops; the reference uses the textbook form, not the identity.
  { name: 'bernoulli_entropy', arity: 1, expr: 'max(a, T(0.0)) + log(T(1.0) + exp(-abs(a))) - a / (T(1.0) + exp(-a))',
    ref: (a) => { const p = sigmoid(a); return -(p * Math.log(p) + (1 - p) * Math.log(1 - p)); }, cases: unaryCases([-6, 6]),
    grad: (g, [a]) => [bernoulliEntropyGrad(g, a)] },
  { name: 'bernoulli_entropy_grad', arity: 2, expr: '-a * b / ((T(1.0) + exp(-b)) * (T(1.0) + exp(b)))',
    ref: (g, a) => { const p = sigmoid(a); return -g * a * p * (1 - p); }, cases: binaryCases() },
  { name: 'clamp', arity: 1, expr: 'clamp(a, T(s0), T(s1))', ref: (a, _b, _c, lo, hi) => Math.min(Math.max(a, lo), hi),
    cases: unaryCases().map((c) => ({ ...c, attrs: { s0: -1, s1: 0.5 } })),
    grad: (g, [a], _y, lo, hi) => [mul(g, mul(ge(a, scalarLike(lo)), le(a, scalarLike(hi))))] },
  { name: 'affine', arity: 1, expr: 'a * s0 + s1', ref: (a, _b, _c, s0, s1) => a * s0 + s1,
    cases: unaryCases().map((c) => ({ ...c, attrs: { s0: -1.5, s1: 0.25 } })),
    grad: (g, _x, _y, s0) => [affine(g, s0, 0)] },
];

type EwSaved = { out: Tensor };

const defs = new Map<string, OpDef<EwAttrs, EwSaved>>();
for (const s of specs) {
  defs.set(s.name, defineOp<EwAttrs, EwSaved>({
    name: s.name,
    forward(inputs, attrs, saved) {
      if (inputs.length !== s.arity) throw new Error(`${s.name}: expects ${s.arity} inputs, got ${inputs.length}`);
      const out = launch(s.name, s.expr, inputs, ...scalarsOf(attrs));
      saved.out = out;
      return out;
    },
    backward: s.grad
      ? (g, node) => s.grad!(g, node.inputs, node.saved.out, ...scalarsOf(node.attrs))
      : undefined,
    reference: (inputs, attrs) => refEw(inputs, s.ref, ...scalarsOf(attrs)),
    cases: s.cases,
  }));
}

const op = (name: string) => defs.get(name)!;
const run1 = (name: string) => (a: Tensor): Tensor => apply(op(name), [a]);
const run2 = (name: string) => (a: Tensor, b: Tensor): Tensor => apply(op(name), [a, b]);

// ---- public functions ------------------------------------------------------------------

/** a + b; a number b adds a constant. */
export const add = (a: Tensor, b: Tensor | number): Tensor => typeof b === 'number' ? affine(a, 1, b) : run2('add')(a, b);
export const sub = (a: Tensor, b: Tensor | number): Tensor => typeof b === 'number' ? affine(a, 1, -b) : run2('sub')(a, b);
export const mul = (a: Tensor, b: Tensor | number): Tensor => typeof b === 'number' ? affine(a, b, 0) : run2('mul')(a, b);
export const div = (a: Tensor, b: Tensor | number): Tensor => typeof b === 'number' ? affine(a, 1 / b, 0) : run2('div')(a, b);
export const pow = run2('pow');
export const maximum = run2('maximum');
export const minimum = run2('minimum');
/** Comparisons give 1.0 where true and 0.0 elsewhere (no gradient). */
export const gt = run2('gt');
export const lt = run2('lt');
export const ge = run2('ge');
export const le = run2('le');
export const eq = run2('eq');
/** cond ≠ 0 ? a : b, broadcasting all three. */
export const where = (cond: Tensor, a: Tensor, b: Tensor): Tensor => apply(op('where'), [cond, a, b]);
export const neg = run1('neg');
export const exp = run1('exp');
export const log = run1('log');
export const sqrt = run1('sqrt');
export const abs = run1('abs');
export const sign = run1('sign');
export const relu = run1('relu');
export const sigmoid_ = run1('sigmoid');
export const tanh = run1('tanh');
export const softplus = run1('softplus');
export const logSigmoid = run1('log_sigmoid');
/** The entropy of a Bernoulli(σ(a)) variable, elementwise. */
export const bernoulliEntropy = run1('bernoulli_entropy');
export const square = (a: Tensor): Tensor => mul(a, a);
export const clamp = (a: Tensor, lo: number, hi: number): Tensor => apply(op('clamp'), [a], { s0: lo, s1: hi });
/** a · scale + shift. */
export const affine = (a: Tensor, scale: number, shift: number): Tensor => apply(op('affine'), [a], { s0: scale, s1: shift });
export { sigmoid_ as sigmoid };

const sigmoidOp = run1('sigmoid');
const reluGrad = run2('relu_grad');
const sigmoidGrad = run2('sigmoid_grad');
const tanhGrad = run2('tanh_grad');
const bernoulliEntropyGrad = run2('bernoulli_entropy_grad');

// ---- fill ----------------------------------------------------------------------------

type FillAttrs = { shape: number[]; value: number; dtype?: DType };

const fillDef = defineOp<FillAttrs>({
  name: 'fill',
  forward(_inputs, attrs) {
    const { shape, value: v } = attrs;
    const dtype = attrs.dtype ?? 'f32';
    const out = empty(shape, dtype, 'fill');
    const bits = dtype === 'f32' ? new Uint32Array(new Float32Array([v]).buffer)[0] : v >>> 0;
    if (out.size) dispatch({ kernel: fillKernel(), bindings: { y: out.buffer }, params: { n: out.size, bits }, workgroups: [gridFor(out.size)] });
    return out;
  },
  reference: (_i, attrs) => ({ shape: attrs.shape.slice(), data: new Float64Array(numel(attrs.shape)).fill(attrs.value) }),
  cases: [{ inputs: [], attrs: { shape: [3, 5], value: 2.5 } }, { inputs: [], attrs: { shape: [], value: -1 } }],
});

export function full(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  return apply(fillDef, [], { shape: shape.slice(), value, dtype });
}
export const ones = (shape: Shape): Tensor => full(shape, 1);
const scalarLike = (v: number): Tensor => full([], v);
const onesLikeScalar = (): Tensor => full([], 1);
