// Multiplicative-noise dropouts with a learnable rate, differentiable with respect to that rate
// (reparameterisation), the noise regenerated from a Philox draw in the backward pass instead of
// being stored (kernels/noise.ts):
//   gaussian_dropout(x, logAlpha): y = x ⊙ (1 + √a·ε), ε ~ N(0, 1), a = exp(logAlpha)
//     (variational Gaussian dropout, Kingma, Salimans & Welling 2015);
//   concrete_dropout(x, logit): y = x ⊙ (1 − z̃)/(1 − p), p = σ(logit),
//     z̃ = σ((logit + log u − log(1 − u))/t), u ~ U(0, 1) (Gal, Hron & Kendall 2017).
// The rate tensor has one value (a per-layer rate, shape [] or [1]) or one per unit of axis 1
// of x (shape [x.shape[1]]). Noise value j = ⌊i / share⌋ serves element i (share = 1: per
// element; share = H·W on [N, C, H, W]: per example and channel). It is element j of
// randomTwin('normal' | 'uniform', ⌈n / share⌉, seed, stream, offset); reserve the draw with
// generator.reserve(noiseCount(x.shape, share)).
import { defineOp, apply, type Ref, type TestCase } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, numel, fmtShape, type Tensor, type Shape } from '../tensor.js';
import { randomTwin, type Draw } from '../random.js';
import { sum } from './reduce.js';
import { noiseDropoutKernel, type NoiseKind } from '../../kernels/noise.js';
import { gridFor } from '../../kernels/common.js';

// The checks take the declared types yet test the values: the public functions take them from
// JavaScript callers too.
function checkDraw(name: string, d: Draw): Draw {
  const ok = (v: number, max: number): boolean => Number.isSafeInteger(v) && v >= 0 && v < max;
  if (!d || typeof d !== 'object' || !ok(d.seed, 2 ** 53) || !ok(d.stream, 2 ** 32) || !ok(d.offset, 2 ** 32)) {
    throw new Error(`${name}: draw must be { seed, stream, offset } from Generator.reserve(n), got ${JSON.stringify(d)}`);
  }
  return d;
}

function checkShare(name: string, share: number): number {
  if (!Number.isSafeInteger(share) || share < 1) throw new Error(`${name}: share must be an integer ≥ 1, got ${String(share)}`);
  return share;
}

function checkTemperature(name: string, t: number): number {
  if (typeof t !== 'number' || !(t > 0) || !Number.isFinite(t)) throw new Error(`${name}: temperature must be a finite number > 0, got ${String(t)}`);
  return t;
}

/** How many noise values a draw must cover for x of this shape. */
export function noiseCount(shape: Shape, share = 1): number {
  return Math.ceil(numel(shape) / share);
}

/** Layout of the rate over x: elements per unit (inner) and the number of rate values (units). */
function unitLayout(name: string, x: Shape, th: Shape): { inner: number; units: number } {
  const units = numel(th);
  const inner = x.length >= 2 ? numel(x.slice(2)) : 1;
  const perLayer = units === 1 && th.length <= 1;
  const perUnit = x.length >= 2 && th.length === 1 && th[0] === x[1];
  if (!perLayer && !perUnit) {
    throw new Error(`${name}: the rate must have shape [] or [1] (one per layer) or [${x.length >= 2 ? x[1] : 'C'}] (one per unit of axis 1 of x ${fmtShape(x)}), got ${fmtShape(th)}`);
  }
  return { inner, units };
}

/** gaussian_dropout's attributes; share: consecutive elements per noise value (default 1). */
type GaussianAttrs = { draw: Draw; share?: number };
/** concrete_dropout's: also the relaxation's temperature. */
type ConcreteAttrs = GaussianAttrs & { temperature: number };

/** The attributes checked, as the kernels and references take them (t: 0 for Gaussian noise). */
interface Checked { draw: Draw; share: number; t: number }

function readAttrs(name: string, attrs: GaussianAttrs): Checked {
  return { draw: checkDraw(name, attrs.draw), share: checkShare(name, attrs.share ?? 1), t: 0 };
}

function readConcreteAttrs(attrs: ConcreteAttrs): Checked {
  return { ...readAttrs('concrete_dropout', attrs), t: checkTemperature('concrete_dropout', attrs.temperature) };
}

function params(n: number, a: Checked, inner: number, units: number): Record<string, number> {
  const d = a.draw;
  return { n, seedLo: d.seed >>> 0, seedHi: Math.floor(d.seed / 2 ** 32) >>> 0, offset: d.offset, stream: d.stream, share: a.share, inner, units, t: a.t };
}

function forwardOf(name: string, kind: NoiseKind, x: Tensor, th: Tensor, a: Checked): Tensor {
  for (const t of [x, th]) if (t.dtype !== 'f32') throw new Error(`${name}: expects f32 tensors, got ${t.dtype} ${t}`);
  const { inner, units } = unitLayout(name, x.shape, th.shape);
  const y = empty(x.shape, 'f32', name);
  if (!y.size) return y;
  dispatch({
    kernel: noiseDropoutKernel(kind, 'forward'),
    bindings: { x: x.buffer, theta: th.buffer, y: y.buffer },
    params: params(y.size, a, inner, units),
    workgroups: [gridFor(Math.ceil(y.size / 4))],
  });
  return y;
}

/** [dx, dθ]: one kernel gives dx and the per-element terms of dθ, summed over all but axis 1. */
function backwardOf(name: string, kind: NoiseKind, g: Tensor, x: Tensor, th: Tensor, a: Checked): Tensor[] {
  const { inner, units } = unitLayout(name, x.shape, th.shape);
  const dx = empty(x.shape, 'f32', `${name}.dx`);
  const e = empty(x.shape, 'f32', `${name}.dtheta`);
  if (x.size) {
    dispatch({
      kernel: noiseDropoutKernel(kind, 'backward'),
      bindings: { g: g.buffer, x: x.buffer, theta: th.buffer, dx: dx.buffer, e: e.buffer },
      params: params(x.size, a, inner, units),
      workgroups: [gridFor(Math.ceil(x.size / 4))],
    });
  }
  const axes = units === 1 ? undefined : [...x.shape.keys()].filter((k) => k !== 1);
  const s = sum(e, axes);
  e.dispose();
  const dth = s.view(th.shape);
  s.dispose();
  return [dx, dth];
}

// ---- float64 references ------------------------------------------------------------------

const softplus = (v: number): number => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
const logSigmoid = (v: number): number => Math.min(v, 0) - Math.log1p(Math.exp(-Math.abs(v)));

/** y_i = x_i · f(noise_j, θ_k): the loop the references share (kept small for --no-use-osr). */
function refNoise(name: string, kind: NoiseKind, x: Ref, th: Ref, a: Checked, f: (v: number, th: number) => number): Ref {
  const { inner, units } = unitLayout(name, x.shape, th.shape);
  const n = x.data.length;
  const d = a.draw;
  const raw = randomTwin(kind === 'gaussian' ? 'normal' : 'uniform', Math.ceil(n / a.share), d.seed, d.stream, d.offset);
  const noise = kind === 'gaussian' ? raw : raw.map((u) => Math.log(u) - Math.log(1 - u));
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = x.data[i] * f(noise[Math.floor(i / a.share)], th.data[Math.floor(i / inner) % units]);
  return { shape: x.shape.slice(), data };
}

/** The Gaussian noise factor ξ = 1 + √a·ε (float64). */
export const refGaussianFactor = (eps: number, logAlpha: number): number => 1 + Math.exp(0.5 * logAlpha) * eps;
/** The Concrete keep factor (1 − z̃)/(1 − p) for L = log u − log(1 − u) (float64). */
export const refConcreteFactor = (L: number, logit: number, t: number): number => Math.exp(logSigmoid(-(logit + L) / t) + softplus(logit));

export const refGaussianDropout = (x: Ref, logAlpha: Ref, draw: Draw, share = 1): Ref =>
  refNoise('gaussian_dropout', 'gaussian', x, logAlpha, { draw, share, t: 0 }, refGaussianFactor);
export const refConcreteDropout = (x: Ref, logit: Ref, draw: Draw, temperature: number, share = 1): Ref =>
  refNoise('concrete_dropout', 'concrete', x, logit, { draw, share, t: temperature }, (v, th) => refConcreteFactor(v, th, temperature));

// ---- the ops -------------------------------------------------------------------------------

const d = (seed: number, stream = 0, offset = 0): Draw => ({ seed, stream, offset });
/** Shapes: per-unit rates on [N, F] and [N, C, H, W] (per element and shared over H·W), per-layer rates. */
const caseShapes = <E extends Record<string, unknown>>(extra: E, thRange: [number, number]): TestCase<E & GaussianAttrs>[] => [
  { inputs: [{ shape: [7, 5] }, { shape: [5], range: thRange }], attrs: { ...extra, draw: d(7) } },
  { inputs: [{ shape: [2, 3, 4, 5] }, { shape: [3], range: thRange }], attrs: { ...extra, draw: d(2 ** 40 + 3, 2, 11) } },
  { inputs: [{ shape: [2, 3, 4, 5] }, { shape: [3], range: thRange }], attrs: { ...extra, draw: d(5, 1, 3), share: 20 } },
  { inputs: [{ shape: [2, 3, 1, 3] }, { shape: [3], range: thRange }], attrs: { ...extra, draw: d(6), share: 3 } },
  { inputs: [{ shape: [65] }, { shape: [], range: thRange }], attrs: { ...extra, draw: d(1, 0, 5) } },
  { inputs: [{ shape: [4, 6] }, { shape: [1], range: thRange }], attrs: { ...extra, draw: d(3) } },
];

const gaussianDef = defineOp<GaussianAttrs>({
  name: 'gaussian_dropout',
  forward: ([x, la], attrs) => forwardOf('gaussian_dropout', 'gaussian', x, la, readAttrs('gaussian_dropout', attrs)),
  backward: (g, node) => {
    const [x, la] = node.inputs;
    return backwardOf('gaussian_dropout', 'gaussian', g, x, la, readAttrs('gaussian_dropout', node.attrs));
  },
  reference: ([x, la], attrs) => {
    const a = readAttrs('gaussian_dropout', attrs);
    return refGaussianDropout(x, la, a.draw, a.share);
  },
  cases: caseShapes({}, [-3, 0.5]),
});

const concreteDef = defineOp<ConcreteAttrs>({
  name: 'concrete_dropout',
  forward: ([x, th], attrs) => forwardOf('concrete_dropout', 'concrete', x, th, readConcreteAttrs(attrs)),
  backward: (g, node) => {
    const [x, th] = node.inputs;
    return backwardOf('concrete_dropout', 'concrete', g, x, th, readConcreteAttrs(node.attrs));
  },
  reference: ([x, th], attrs) => {
    const a = readConcreteAttrs(attrs);
    return refConcreteDropout(x, th, a.draw, a.t, a.share);
  },
  cases: [
    ...caseShapes({ temperature: 0.1 }, [-2.5, 1]),
    { inputs: [{ shape: [5, 4] }, { shape: [4] }], attrs: { temperature: 0.5, draw: d(11, 4, 2) } },
  ],
});

export interface NoiseDropoutOptions {
  /** Consecutive elements sharing one noise value (1: per element; H·W on [N, C, H, W]: per channel). */
  share?: number;
}

/**
 * Variational Gaussian dropout: x ⊙ (1 + √a·ε) with a = exp(logAlpha) (no cap here: clamp
 * logAlpha first for a ≤ 1), ε element ⌊i/share⌋ of the normal draw. Differentiable in x and
 * logAlpha; ε is regenerated in the backward pass.
 */
export function gaussianDropout(x: Tensor, logAlpha: Tensor, draw: Draw, o: NoiseDropoutOptions = {}): Tensor {
  return apply(gaussianDef, [x, logAlpha], { draw: { ...checkDraw('gaussian_dropout', draw) }, share: checkShare('gaussian_dropout', o.share ?? 1) });
}

/**
 * Concrete (relaxed Bernoulli) dropout with drop probability σ(logit) and inverted scaling:
 * x ⊙ (1 − z̃)/(1 − p). Differentiable in x and the logit (through z̃ and 1/(1 − p)); u is
 * regenerated in the backward pass.
 */
export function concreteDropout(x: Tensor, logit: Tensor, draw: Draw, o: NoiseDropoutOptions & { temperature?: number } = {}): Tensor {
  return apply(concreteDef, [x, logit], {
    draw: { ...checkDraw('concrete_dropout', draw) },
    share: checkShare('concrete_dropout', o.share ?? 1),
    temperature: checkTemperature('concrete_dropout', o.temperature ?? 0.1),
  });
}
