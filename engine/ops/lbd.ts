// Learnable Bernoulli dropout ops (Boluki et al. 2020; docs/estimators.md §2-4).
//   lbd_dropout(x, α): y = x ⊙ z (/ σ(α) with inverted scaling), z from one u per example and
//     unit — z2 = 1[u < σ(α)] on the recorded pass, z1 = 1[u > σ(−α)] when the tape is replayed.
//     Its backward is the path-wise part of the logits' gradient (through 1/σ(α));
//     the distribution part comes from lbd_estimate.
//   lbd_estimate(d, α): per-unit ARM or DisARM terms from per-example loss differences
//     d = E(z1) − E(z2), summed over the batch.
// x is read as [B, U, S]: B = shape[0], U = shape[1] Bernoulli units per example (features or
// channels), S = the rest (a channel's mask is shared over its H×W). α has U logits or 1.
import { defineOp, apply, type TestCase } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, fmtShape, Tensor, zeros } from '../tensor.js';
import { randomTwin, type Draw } from '../random.js';
import { lbdApplyKernel, lbdEstimateKernel } from '../../kernels/lbd.js';
import { gridFor } from '../../kernels/common.js';
import { mul, sub, sigmoid } from './elementwise.js';
import { sum } from './reduce.js';

export type Estimator = 'arm' | 'disarm';

export interface LBDAttrs {
  draw: Draw;
  /** 2: z2 = 1[u < σ(α)] (the recorded pass); 1: z1 = 1[u > σ(−α)]. */
  pass: 1 | 2;
  /** Inverted scaling y = x ⊙ z / σ(α) (default) or plain masks y = x ⊙ z. */
  scaled: boolean;
}

function dims(x: readonly number[], alpha: readonly number[], op: string): [number, number, number, number] {
  if (x.length < 2) throw new Error(`${op}: x must be [batch, units, ...], got ${fmtShape(x)}`);
  const [B, U] = x;
  const S = x.slice(2).reduce((p, d) => p * d, 1);
  if (alpha.length !== 1 || (alpha[0] !== U && alpha[0] !== 1)) {
    throw new Error(`${op}: logits ${fmtShape(alpha)} must hold one logit per unit (${U}) or a single one, for x ${fmtShape(x)}`);
  }
  return [B, U, S, alpha[0]];
}

const seedWords = (d: Draw): [number, number] => [d.seed >>> 0, Math.floor(d.seed / 2 ** 32) >>> 0];

function applyKernel(x: Tensor, alpha: Tensor, a: LBDAttrs): Tensor {
  const [, U, S, L] = dims(x.shape, alpha.shape, 'lbd_dropout');
  const y = empty(x.shape, 'f32', 'lbd_dropout');
  if (!y.size) return y;
  const [lo, hi] = seedWords(a.draw);
  dispatch({
    kernel: lbdApplyKernel(),
    buffers: [x.buffer, alpha.buffer, y.buffer],
    params: { n: y.size, U, S, L, seedLo: lo, seedHi: hi, offset: a.draw.offset, stream: a.draw.stream, which: a.pass, scaled: a.scaled ? 1 : 0 },
    workgroups: [gridFor(y.size)],
  });
  return y;
}

const sig = (a: number): number => 1 / (1 + Math.exp(-a));

/** The (u, z) of every (example, unit), as the kernels compute them. */
export function refMasks(B: number, U: number, alpha: ArrayLike<number>, draw: Draw): { u: Float64Array; z1: Uint8Array; z2: Uint8Array } {
  const u = randomTwin('uniform', B * U, draw.seed, draw.stream, draw.offset);
  const z1 = new Uint8Array(B * U), z2 = new Uint8Array(B * U);
  for (let i = 0; i < B * U; i++) {
    const a = alpha[alpha.length > 1 ? i % U : 0];
    // the kernel compares in f32
    z1[i] = +(u[i] > Math.fround(sig(-a)));
    z2[i] = +(u[i] < Math.fround(sig(a)));
  }
  return { u, z1, z2 };
}

const draw0: Draw = { seed: 77, stream: 1, offset: 5 };

const applyDef = defineOp({
  name: 'lbd_dropout',
  forward([x, alpha], attrs, saved) {
    const y = applyKernel(x, alpha, attrs as unknown as LBDAttrs);
    saved.y = y;
    return y;
  },
  backward(g, node) {
    const [x, alpha] = node.inputs;
    const a = node.attrs as unknown as LBDAttrs;
    const dx = x.requiresGrad ? applyKernel(g, alpha, a) : null;
    if (!alpha.requiresGrad) return [dx, null];
    if (!a.scaled) return [dx, zeros(alpha.shape)]; // plain masks: no path through α (z is held fixed)
    // path-wise term: ∂(1/σ(α))/∂α = −(1 − σ(α))/σ(α), so dα_k = −(1 − p_k) Σ_{units of k} g·y
    const y = node.saved.y as Tensor;
    const axes = [0, ...Array.from({ length: x.ndim - 2 }, (_, i) => i + 2)];
    let gy = sum(mul(g, y), axes);
    if (alpha.size === 1) gy = sum(gy, [0], { keepdims: true });
    return [dx, mul(gy, sub(sigmoid(alpha), 1))];
  },
  reference([x, alpha], attrs) {
    const a = attrs as unknown as LBDAttrs;
    const [B, U, S] = dims(x.shape, alpha.shape, 'lbd_dropout');
    const { z1, z2 } = refMasks(B, U, alpha.data, a.draw);
    const data = new Float64Array(x.data.length);
    for (let e = 0; e < data.length; e++) {
      const bu = Math.floor(e / S);
      const p = sig(alpha.data[alpha.data.length > 1 ? bu % U : 0]);
      const z = (a.pass === 2 ? z2 : z1)[bu];
      data[e] = z ? x.data[e] * (a.scaled ? 1 / p : 1) : 0;
    }
    return { shape: x.shape.slice(), data };
  },
  cases: [
    { inputs: [{ shape: [5, 3] }, { shape: [3] }], attrs: { draw: draw0, pass: 2, scaled: true } },
    { inputs: [{ shape: [5, 3] }, { shape: [3] }], attrs: { draw: draw0, pass: 1, scaled: true } },
    { inputs: [{ shape: [4, 3] }, { shape: [1] }], attrs: { draw: draw0, pass: 2, scaled: false } },
    { inputs: [{ shape: [3, 2, 3, 2] }, { shape: [2] }], attrs: { draw: { seed: 3, stream: 0, offset: 0 }, pass: 1, scaled: true } },
    { inputs: [{ shape: [2, 4, 5] }, { shape: [1] }], attrs: { draw: { seed: 9, stream: 2, offset: 1 }, pass: 2, scaled: true } },
  ] as TestCase[],
});

const estimateDef = defineOp({
  name: 'lbd_estimate',
  forward([d, alpha], attrs) {
    const { draw, U, estimator, scale } = attrs as { draw: Draw; U: number; estimator: Estimator; scale: number };
    if (d.ndim !== 1) throw new Error(`lbd_estimate: loss differences must be 1-d [batch], got ${fmtShape(d.shape)}`);
    if (alpha.size !== 1 && alpha.size !== U) throw new Error(`lbd_estimate: ${alpha.size} logits for ${U} units`);
    const g = empty([U], 'f32', 'lbd_estimate');
    const [lo, hi] = seedWords(draw);
    dispatch({
      kernel: lbdEstimateKernel(),
      buffers: [d.buffer, alpha.buffer, g.buffer],
      params: { U, L: alpha.size, seedLo: lo, seedHi: hi, offset: draw.offset, stream: draw.stream, B: d.size, estimator: estimator === 'disarm' ? 1 : 0, scale },
      workgroups: [gridFor(U)],
    });
    return g;
  },
  reference([d, alpha], attrs) {
    const { draw, U, estimator, scale } = attrs as { draw: Draw; U: number; estimator: Estimator; scale: number };
    const B = d.data.length;
    const { u, z1, z2 } = refMasks(B, U, alpha.data, draw);
    const g = new Float64Array(U);
    for (let j = 0; j < U; j++) {
      const a = alpha.data[alpha.data.length > 1 ? j : 0];
      for (let b = 0; b < B; b++) {
        const i = b * U + j;
        g[j] += estimator === 'arm'
          ? d.data[b] * (u[i] - 0.5)
          : z1[i] !== z2[i] ? 0.5 * d.data[b] * (z2[i] ? -1 : 1) * sig(Math.abs(a)) : 0;
      }
      g[j] *= scale;
    }
    return { shape: [U], data: g };
  },
  cases: [
    { inputs: [{ shape: [6] }, { shape: [3] }], attrs: { draw: draw0, U: 3, estimator: 'arm', scale: 1 / 6 } },
    { inputs: [{ shape: [6] }, { shape: [3] }], attrs: { draw: draw0, U: 3, estimator: 'disarm', scale: 1 / 6 } },
    { inputs: [{ shape: [70] }, { shape: [1] }], attrs: { draw: { seed: 5, stream: 0, offset: 2 }, U: 5, estimator: 'disarm', scale: 1 } },
  ] as TestCase[],
});

/** y = x ⊙ z (/ σ(α)); see the file comment. */
export function lbdDropout(x: Tensor, alpha: Tensor, a: LBDAttrs): Tensor {
  return apply(applyDef, [x, alpha], { ...a });
}

/** Per-unit ARM/DisARM terms [U] from per-example loss differences d [B]. */
export function lbdEstimate(d: Tensor, alpha: Tensor, o: { draw: Draw; units: number; estimator: Estimator; scale: number }): Tensor {
  return apply(estimateDef, [d, alpha], { draw: o.draw, U: o.units, estimator: o.estimator, scale: o.scale });
}
