// Pooling on NCHW tensors: max and average k×k pooling with stride and zero padding (PyTorch
// semantics, floor mode; average pooling counts padding, count_include_pad=true), global
// average pooling, and centre-crop.
import { defineOp, apply, type Ref, type TestCase } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, fmtShape, Tensor } from '../tensor.js';
import { gridFor } from '../../kernels/common.js';
import { maxPoolForwardKernel, maxPoolBackwardKernel, maxPoolBackwardTiledKernel, avgPoolForwardKernel, avgPoolBackwardKernel } from '../../kernels/pool.js';
import { mean } from './reduce.js';
import { slice } from './layout.js';

export interface PoolGeometry { N: number; C: number; H: number; W: number; Ho: number; Wo: number; k: number; stride: number; pad: number }

/** Validates a pooling call and works out its output size. */
export function poolGeometry(name: string, x: readonly number[], k: number, stride: number, pad: number): PoolGeometry {
  if (x.length !== 4) throw new Error(`${name}: expects x [N, C, H, W], got ${fmtShape(x)}`);
  const int = (what: string, v: number, min: number): number => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${name}: ${what} must be an integer ≥ ${min}, got ${String(v)}`);
    return v;
  };
  const kk = int('kernel size', k, 1);
  const s = int('stride', stride, 1);
  const p = int('padding', pad, 0);
  if (p > Math.floor(kk / 2)) throw new Error(`${name}: padding ${p} must be at most half the kernel size ${kk}`);
  const [N, C, H, W] = x;
  const Ho = Math.floor((H + 2 * p - kk) / s) + 1;
  const Wo = Math.floor((W + 2 * p - kk) / s) + 1;
  if (Ho < 1 || Wo < 1) throw new Error(`${name}: kernel ${kk}x${kk} is larger than the padded input ${H + 2 * p}x${W + 2 * p} of ${fmtShape(x)}`);
  return { N, C, H, W, Ho, Wo, k: kk, stride: s, pad: p };
}

/** k×k windows; stride default k, padding default 0. */
type PoolAttrs = { kernel: number; stride?: number; padding?: number };

const geoOf = (name: string, x: readonly number[], attrs: PoolAttrs): PoolGeometry =>
  poolGeometry(name, x, attrs.kernel, attrs.stride ?? attrs.kernel, attrs.padding ?? 0);

const params = (g: PoolGeometry, total: number): Record<string, number> => ({ total, H: g.H, W: g.W, Ho: g.Ho, Wo: g.Wo, k: g.k, stride: g.stride, pad: g.pad });

function checkF32(name: string, x: Tensor): void {
  if (x.dtype !== 'f32') throw new Error(`${name}: expects an f32 tensor, got ${x.dtype} ${x}`);
}

// ---- float64 references ---------------------------------------------------------------

/** One output plane of a pooling reference (a small function so it gets compiled: --no-use-osr). */
function refPoolPlane(x: Float64Array, y: Float64Array, g: PoolGeometry, plane: number, max: boolean): void {
  for (let oy = 0; oy < g.Ho; oy++) for (let ox = 0; ox < g.Wo; ox++) {
    let acc = max ? -Infinity : 0;
    for (let ky = 0; ky < g.k; ky++) for (let kx = 0; kx < g.k; kx++) {
      const iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
      if (iy < 0 || ix < 0 || iy >= g.H || ix >= g.W) continue;
      const v = x[(plane * g.H + iy) * g.W + ix];
      acc = max ? Math.max(acc, v) : acc + v;
    }
    y[(plane * g.Ho + oy) * g.Wo + ox] = max ? acc : acc / (g.k * g.k);
  }
}

function refPool(name: string, x: Ref, attrs: PoolAttrs, max: boolean): Ref {
  const g = geoOf(name, x.shape, attrs);
  const y = new Float64Array(g.N * g.C * g.Ho * g.Wo);
  for (let p = 0; p < g.N * g.C; p++) refPoolPlane(x.data, y, g, p, max);
  return { shape: [g.N, g.C, g.Ho, g.Wo], data: y };
}

// ---- ops ------------------------------------------------------------------------------

const poolCases: TestCase<PoolAttrs>[] = [
  { inputs: [{ shape: [2, 3, 7, 5], distinct: true }], attrs: { kernel: 3, stride: 2, padding: 1 } },
  { inputs: [{ shape: [2, 3, 7, 5], distinct: true }], attrs: { kernel: 2 } },
  { inputs: [{ shape: [1, 2, 6, 9], distinct: true }], attrs: { kernel: 3, stride: 1, padding: 0 } },
  { inputs: [{ shape: [3, 1, 5, 5], distinct: true }], attrs: { kernel: 2, stride: 3, padding: 1 } },
  { inputs: [{ shape: [1, 5, 9, 11], distinct: true }], attrs: { kernel: 5, stride: 2, padding: 2 } },
  { inputs: [{ shape: [2, 1, 1, 1], distinct: true }], attrs: { kernel: 1 } },
  // windows tiling the input (the backward's one-thread-per-window form)
  { inputs: [{ shape: [2, 3, 6, 8], distinct: true }], attrs: { kernel: 2 } },
  { inputs: [{ shape: [1, 2, 6, 9], distinct: true }], attrs: { kernel: 3, stride: 3 } },
];

const maxPoolDef = defineOp<PoolAttrs, { argmax: Tensor }>({
  name: 'max_pool2d',
  forward([x], attrs, saved) {
    checkF32('max_pool2d', x);
    const g = geoOf('max_pool2d', x.shape, attrs);
    const shape = [g.N, g.C, g.Ho, g.Wo];
    const y = empty(shape, 'f32', 'max_pool2d');
    const arg = empty(shape, 'i32', 'max_pool2d.argmax');
    if (y.size) {
      dispatch({ kernel: maxPoolForwardKernel(), bindings: { x: x.buffer, y: y.buffer, arg: arg.buffer }, params: params(g, y.size), workgroups: [gridFor(y.size)] });
    }
    // the argmax is only needed by a backward pass, which there is exactly when x (the only
    // input) needs a gradient; without one it goes back to the pool now
    if (x.requiresGrad) saved.argmax = arg; else arg.dispose();
    return y;
  },
  backward(gr, node) {
    const x = node.inputs[0];
    const g = geoOf('max_pool2d', x.shape, node.attrs);
    const dx = empty(x.shape, 'f32', 'max_pool2d.grad');
    if (dx.size) {
      // windows that tile the input: one thread per window (outputs) writes all of dx
      const tiled = g.stride === g.k && g.pad === 0 && g.H % g.k === 0 && g.W % g.k === 0;
      const total = tiled ? gr.size : dx.size;
      dispatch({ kernel: tiled ? maxPoolBackwardTiledKernel() : maxPoolBackwardKernel(), bindings: { g: gr.buffer, arg: node.saved.argmax.buffer, dx: dx.buffer }, params: params(g, total), workgroups: [gridFor(total)] });
    }
    return [dx];
  },
  reference: ([x], attrs) => refPool('max_pool2d', x, attrs, true),
  cases: poolCases,
});

const avgPoolDef = defineOp<PoolAttrs>({
  name: 'avg_pool2d',
  forward([x], attrs) {
    checkF32('avg_pool2d', x);
    const g = geoOf('avg_pool2d', x.shape, attrs);
    const y = empty([g.N, g.C, g.Ho, g.Wo], 'f32', 'avg_pool2d');
    if (y.size) dispatch({ kernel: avgPoolForwardKernel(), bindings: { x: x.buffer, y: y.buffer }, params: params(g, y.size), workgroups: [gridFor(y.size)] });
    return y;
  },
  backward(gr, node) {
    const x = node.inputs[0];
    const g = geoOf('avg_pool2d', x.shape, node.attrs);
    const dx = empty(x.shape, 'f32', 'avg_pool2d.grad');
    if (dx.size) dispatch({ kernel: avgPoolBackwardKernel(), bindings: { g: gr.buffer, dx: dx.buffer }, params: params(g, dx.size), workgroups: [gridFor(dx.size)] });
    return [dx];
  },
  reference: ([x], attrs) => refPool('avg_pool2d', x, attrs, false),
  cases: poolCases.map((c) => ({ ...c, inputs: c.inputs.map((i) => ({ ...i, distinct: false })) })),
});

// ---- public functions -------------------------------------------------------------------

export interface PoolOptions {
  /** Default: the kernel size (non-overlapping windows). */
  stride?: number;
  /** Zero padding on each side (at most half the kernel size); default 0. */
  padding?: number;
}

/** Max pooling over k×k windows of x [N, C, H, W] (floor mode, PyTorch's MaxPool2d). */
export const maxPool2d = (x: Tensor, kernel: number, o: PoolOptions = {}): Tensor =>
  apply(maxPoolDef, [x], { kernel, stride: o.stride ?? kernel, padding: o.padding ?? 0 });

/** Average pooling over k×k windows (floor mode, count_include_pad=true: divides by k²). */
export const avgPool2d = (x: Tensor, kernel: number, o: PoolOptions = {}): Tensor =>
  apply(avgPoolDef, [x], { kernel, stride: o.stride ?? kernel, padding: o.padding ?? 0 });

/** Mean over H and W: [N, C, H, W] → [N, C] ([N, C, 1, 1] with keepdims). */
export function globalAvgPool2d(x: Tensor, o: { keepdims?: boolean } = {}): Tensor {
  if (x.ndim !== 4) throw new Error(`globalAvgPool2d: expects x [N, C, H, W], got ${fmtShape(x.shape)}`);
  return mean(x, [2, 3], { keepdims: !!o.keepdims });
}

/**
 * The central h×w part of the last two axes (U-Net skip connections): rows from ⌊(H − h)/2⌋,
 * columns from ⌊(W − w)/2⌋. Built on `slice`, so gradients flow.
 */
export function centerCrop(x: Tensor, h: number, w: number): Tensor {
  if (x.ndim < 2) throw new Error(`centerCrop: expects at least 2 axes, got ${fmtShape(x.shape)}`);
  const H = x.shape[x.ndim - 2], W = x.shape[x.ndim - 1];
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0 || h > H || w > W) {
    throw new Error(`centerCrop: cannot crop ${fmtShape(x.shape)} to ${h}x${w} (needs integers 0 ≤ h ≤ ${H}, 0 ≤ w ≤ ${W})`);
  }
  const top = Math.floor((H - h) / 2), left = Math.floor((W - w) / 2);
  const starts = x.shape.map((_, i) => (i === x.ndim - 2 ? top : i === x.ndim - 1 ? left : 0));
  const ends = x.shape.map((d, i) => (i === x.ndim - 2 ? top + h : i === x.ndim - 1 ? left + w : d));
  return slice(x, starts, ends);
}
