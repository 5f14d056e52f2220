// Learnable Bernoulli dropout ops (Boluki et al. 2020; docs/estimators.md §2-4).
//   lbd_dropout(x, α): y = x ⊙ z (/ σ(α) with inverted scaling), z from one u per example and
//     unit — z2 = 1[u < σ(α)] on the recorded pass, z1 = 1[u > σ(−α)] when the tape is replayed.
//     Its backward is the path-wise part of the logits' gradient (through 1/σ(α));
//     the distribution part comes from lbd_estimate.
//   lbd_estimate(e1, α[, e2][, prev]): per-unit ARM or DisARM terms from per-example loss
//     differences d = E(z1) − E(z2) (e1 − e2 when e2 is given), summed over the batch; optionally
//     the joint form (every example takes Σ_b d_b), several copies of the batch, the sum into one
//     logit and the addition to the logit's gradient so far — one dispatch per LBD use.
//   lbd_regularizer(α[, W]): Eq. 3 / N in one dispatch (two for per-unit logits), its backward
//     (dα and dW) in one.
// x is read as [B, U, S]: B = shape[0], U = shape[1] Bernoulli units per example (features or
// channels), S = the rest (a channel's mask is shared over its H×W). α has U logits or 1.
import { defineOp, apply } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, fmtShape, Tensor, zeros } from '../tensor.js';
import { randomTwin, type Draw } from '../random.js';
import { lbdApplyKernel, lbdEstimateKernel, lbdBackwardKernel, lbdRegularizerKernel, lbdRegularizerGradKernel } from '../../kernels/lbd.js';
import { gridFor, WG } from '../../kernels/common.js';
import { sum } from './reduce.js';

export type Estimator = 'arm' | 'disarm';

export type LBDAttrs = {
  draw: Draw;
  /** 2: z2 = 1[u < σ(α)] (the recorded pass); 1: z1 = 1[u > σ(−α)]. */
  pass: 1 | 2;
  /** Inverted scaling y = x ⊙ z / σ(α) (default) or plain masks y = x ⊙ z. */
  scaled: boolean;
  /**
   * Set by LearnableBernoulliDropout: α's gradient is only complete with the estimator's term,
   * so a backward reaching α outside withLbdEstimator (lbdGradients) is an error, not a silent
   * path-wise-only gradient.
   */
  needsEstimator?: boolean;
};

let estimatorDepth = 0;
/**
 * Runs `fn` (a backward) as lbdGradients does, adding the ARM / DisARM term afterwards: inside it
 * lbd_dropout may hand its logits their path-wise gradient.
 */
export function withLbdEstimator<T>(fn: () => T): T {
  estimatorDepth++;
  try { return fn(); } finally { estimatorDepth--; }
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
    bindings: { x: x.buffer, alpha: alpha.buffer, y: y.buffer },
    params: { n: y.size, U, S, L, seedLo: lo, seedHi: hi, offset: a.draw.offset, stream: a.draw.stream, which: a.pass, scaled: a.scaled ? 1 : 0 },
    workgroups: [gridFor(Math.ceil(y.size / S / 4))], // a thread per four (example, unit) masks
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

const applyDef = defineOp<LBDAttrs, { y: Tensor }>({
  name: 'lbd_dropout',
  forward([x, alpha], attrs, saved) {
    const y = applyKernel(x, alpha, attrs);
    saved.y = y;
    return y;
  },
  backward(g, node) {
    const [x, alpha] = node.inputs;
    const a = node.attrs;
    if (alpha.requiresGrad && a.needsEstimator && estimatorDepth === 0) {
      throw new Error('backward(): the graph holds learnable Bernoulli dropout whose logits need the ARM / DisARM estimator — train the model with lbdStep (or lbdGradients), not a plain backward(); to train only the weights, freeze the logits (for (const t of splitParameters(model).logits) t.requiresGrad = false)');
    }
    if (!alpha.requiresGrad || !a.scaled) {
      const dx = x.requiresGrad ? applyKernel(g, alpha, a) : null;
      // plain masks: no path through α (z is held fixed)
      return [dx, alpha.requiresGrad ? zeros(alpha.shape) : null];
    }
    // path-wise term: ∂(1/σ(α))/∂α = −(1 − σ(α))/σ(α), so dα_k = −(1 − p_k) Σ_{units of k} g·y;
    // one kernel gives it and dx (lbdBackwardKernel)
    const [B, U, S, L] = dims(x.shape, alpha.shape, 'lbd_dropout');
    const dx = x.requiresGrad ? empty(x.shape, 'f32', 'lbd_dropout.dx') : null;
    const da = empty(alpha.shape, 'f32', 'lbd_dropout.dalpha');
    const [lo, hi] = seedWords(a.draw);
    const spare = dx ? null : empty([1], 'f32', 'lbd_dropout.unused');
    dispatch({
      kernel: lbdBackwardKernel(),
      bindings: { g: g.buffer, y: node.saved.y.buffer, alpha: alpha.buffer, dx: (dx ?? spare)!.buffer, da: da.buffer },
      params: { U, S, L, B, seedLo: lo, seedHi: hi, offset: a.draw.offset, stream: a.draw.stream, which: a.pass, wantDx: dx ? 1 : 0 },
      workgroups: [L > 1 && S === 1 ? gridFor(U) : Math.min(L, gridFor(L * WG))],
    });
    spare?.dispose();
    return [dx, da];
  },
  reference([x, alpha], a) {
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
  ],
});

type EstimateAttrs = {
  draw: Draw; U: number; estimator: Estimator; scale: number;
  /** Rows the layer saw (a multiple of the losses' length B; row r is example r mod B); default B. */
  rows?: number;
  /** Inputs: [e1, α, e2?, prev?]; d_b = e1_b − e2_b with pair (else e1_b). */
  pair?: boolean;
  /** Every row takes Σ_b d_b (the joint-vector form). */
  joint?: boolean;
  /** Sum the units' terms into the single logit: output [1] instead of [U]. */
  summed?: boolean;
  /** Add the result to prev (the logit's gradient so far), the last input. */
  accumulate?: boolean;
};

const estimateDef = defineOp<EstimateAttrs>({
  name: 'lbd_estimate',
  forward(inputs, a) {
    const [e1, alpha] = inputs;
    const e2 = a.pair ? inputs[2] : null;
    const prev = a.accumulate ? inputs[a.pair ? 3 : 2] : null;
    const { draw, U } = a;
    const B = e1.size, rows = a.rows ?? B;
    if (e1.ndim !== 1) throw new Error(`lbd_estimate: loss differences must be 1-d [batch], got ${fmtShape(e1.shape)}`);
    if (e2 && e2.shape.join() !== e1.shape.join()) throw new Error(`lbd_estimate: losses ${fmtShape(e1.shape)} and ${fmtShape(e2.shape)} differ`);
    if (alpha.size !== 1 && alpha.size !== U) throw new Error(`lbd_estimate: ${alpha.size} logits for ${U} units`);
    if (!(rows > 0 && rows % B === 0)) throw new Error(`lbd_estimate: ${rows} rows are not a multiple of the ${B} losses`);
    if (a.summed && alpha.size !== 1) throw new Error(`lbd_estimate: summed needs a single logit, got ${alpha.size}`);
    const outShape = a.summed ? [1] : [U];
    if (prev && prev.shape.join() !== outShape.join()) throw new Error(`lbd_estimate: prev ${fmtShape(prev.shape)} for output ${fmtShape(outShape)}`);
    const g = empty(outShape, 'f32', 'lbd_estimate');
    const [lo, hi] = seedWords(draw);
    dispatch({
      kernel: lbdEstimateKernel(),
      bindings: { e1: e1.buffer, e2: (e2 ?? alpha).buffer, alpha: alpha.buffer, prev: (prev ?? alpha).buffer, g: g.buffer },
      params: {
        U, L: alpha.size, seedLo: lo, seedHi: hi, offset: draw.offset, stream: draw.stream, B, estimator: a.estimator === 'disarm' ? 1 : 0, scale: a.scale,
        rows, pair: e2 ? 1 : 0, joint: a.joint ? 1 : 0, summed: a.summed ? 1 : 0, accumulate: prev ? 1 : 0,
      },
      workgroups: [a.summed ? 1 : gridFor(U)],
    });
    return g;
  },
  reference(inputs, a) {
    const [e1, alpha] = inputs;
    const e2 = a.pair ? inputs[2] : null;
    const prev = a.accumulate ? inputs[a.pair ? 3 : 2] : null;
    const { draw, U, estimator, scale } = a;
    const B = e1.data.length, rows = a.rows ?? B;
    const d = Float64Array.from(e1.data, (v, b) => v - (e2 ? e2.data[b] : 0));
    const D = d.reduce((s, v) => s + v, 0);
    const { u, z1, z2 } = refMasks(rows, U, alpha.data, draw);
    const g = new Float64Array(U);
    for (let j = 0; j < U; j++) {
      const al = alpha.data[alpha.data.length > 1 ? j : 0];
      for (let r = 0; r < rows; r++) {
        const i = r * U + j, dr = a.joint ? D : d[r % B];
        g[j] += estimator === 'arm'
          ? dr * (u[i] - 0.5)
          : z1[i] !== z2[i] ? 0.5 * dr * (z2[i] ? -1 : 1) * sig(Math.abs(al)) : 0;
      }
      g[j] *= scale;
    }
    const out = a.summed ? Float64Array.of(g.reduce((s, v) => s + v, 0)) : g;
    if (prev) out.forEach((v, k) => { out[k] = v + prev.data[k]; });
    return { shape: [out.length], data: out };
  },
  cases: [
    { inputs: [{ shape: [6] }, { shape: [3] }], attrs: { draw: draw0, U: 3, estimator: 'arm', scale: 1 / 6 } },
    { inputs: [{ shape: [6] }, { shape: [3] }], attrs: { draw: draw0, U: 3, estimator: 'disarm', scale: 1 / 6 } },
    { inputs: [{ shape: [70] }, { shape: [1] }], attrs: { draw: { seed: 5, stream: 0, offset: 2 }, U: 5, estimator: 'disarm', scale: 1 } },
    // what lbdStep asks for: both losses, copies of the batch, the joint form, the sum into one
    // logit (over more units than a workgroup has threads) and the gradient so far
    { inputs: [{ shape: [4] }, { shape: [3] }, { shape: [4] }, { shape: [3] }], attrs: { draw: draw0, U: 3, estimator: 'arm', scale: 0.25, rows: 8, pair: true, accumulate: true } },
    { inputs: [{ shape: [5] }, { shape: [3] }, { shape: [5] }], attrs: { draw: draw0, U: 3, estimator: 'disarm', scale: 0.2, pair: true, joint: true } },
    { inputs: [{ shape: [3] }, { shape: [1] }, { shape: [3] }, { shape: [1] }], attrs: { draw: { seed: 11, stream: 3, offset: 0 }, U: 70, estimator: 'arm', scale: 1 / 3, rows: 6, pair: true, summed: true, accumulate: true } },
    { inputs: [{ shape: [4] }, { shape: [1] }, { shape: [4] }], attrs: { draw: { seed: 12, stream: 1, offset: 3 }, U: 90, estimator: 'disarm', scale: 0.25, pair: true, joint: true, summed: true } },
  ],
});

type RegAttrs = {
  /** The weight's unit axis (the next layer's input features or channels). */
  axis: number;
  /** The entropy term's weight: perLogit/N (perLogit = the units one logit stands for). */
  ent: number;
  /** The weight term's c = 1/(2 s² N). */
  c: number;
  /** ‖W_k‖²/σ(α_k) (inverted scaling) or σ(α_k)‖W_k‖² (plain masks). */
  inverted: boolean;
};

/** The weight as [A, U, R] around its unit axis (no weight: nothing to read). */
function regDims(alpha: readonly number[], w: readonly number[] | null, axis: number): { A: number; U: number; R: number; n: number } {
  const L = alpha[0];
  if (alpha.length !== 1) throw new Error(`lbd_regularizer: logits must be 1-d, got ${fmtShape(alpha)}`);
  if (!w) return { A: 0, U: 1, R: 1, n: 0 };
  if (!(Number.isInteger(axis) && axis >= 0 && axis < w.length)) throw new Error(`lbd_regularizer: unit axis ${axis} out of range for the weight ${fmtShape(w)}`);
  const U = w[axis];
  if (L !== 1 && L !== U) throw new Error(`lbd_regularizer: ${L} logits for a weight ${fmtShape(w)} with ${U} units on axis ${axis}`);
  const A = w.slice(0, axis).reduce((p, d) => p * d, 1), R = w.slice(axis + 1).reduce((p, d) => p * d, 1);
  return { A, U, R, n: A * U * R };
}

const regParams = (L: number, d: { A: number; U: number; R: number; n: number }, a: RegAttrs) =>
  ({ L, A: d.A, U: d.U, R: d.R, n: d.n, inverted: a.inverted ? 1 : 0, ent: a.ent, c: a.c });

const regDef = defineOp<RegAttrs, { sv: Tensor }>({
  name: 'lbd_regularizer',
  forward(inputs, a, saved) {
    const [alpha, w] = inputs;
    const d = regDims(alpha.shape, w?.shape ?? null, a.axis);
    const L = alpha.size;
    const t = empty(L === 1 ? [] : [L], 'f32', 'lbd_regularizer');
    // for the backward: each logit's ‖W_k‖² and the weight's factor 1/σ(α_k) (plain: σ(α_k))
    const sv = empty([2 * L], 'f32', 'lbd_regularizer.saved');
    dispatch({
      kernel: lbdRegularizerKernel(),
      bindings: { alpha: alpha.buffer, w: (w ?? alpha).buffer, t: t.buffer, sv: sv.buffer },
      params: regParams(L, d, a),
      workgroups: [gridFor(L * WG)],
    });
    saved.sv = sv;
    if (L === 1) return t;
    // per-unit logits: the terms' sum (a second dispatch)
    const r = sum(t);
    t.dispose();
    return r;
  },
  backward(g, node) {
    const a = node.attrs;
    const [alpha, w] = node.inputs;
    const d = regDims(alpha.shape, w?.shape ?? null, a.axis);
    const L = alpha.size;
    const da = empty(alpha.shape, 'f32', 'lbd_regularizer.dalpha');
    const dw = empty(w ? w.shape : [1], 'f32', 'lbd_regularizer.dw');
    dispatch({
      kernel: lbdRegularizerGradKernel(),
      bindings: { gr: g.buffer, alpha: alpha.buffer, w: (w ?? alpha).buffer, sv: node.saved.sv.buffer, dw: dw.buffer, da: da.buffer },
      params: regParams(L, d, a),
      workgroups: [gridFor(Math.max(L > 1 ? d.A * d.U : d.n, L))],
    });
    const wantW = !!w && w.requiresGrad;
    if (!wantW) dw.dispose();
    const out: (Tensor | null)[] = [alpha.requiresGrad ? da : (da.dispose(), null)];
    if (w) out.push(wantW ? dw : null);
    return out;
  },
  reference(inputs, a) {
    const [alpha, w] = inputs;
    const d = regDims(alpha.shape, w?.shape ?? null, a.axis);
    const L = alpha.data.length;
    const norms = new Float64Array(L);
    if (w) w.data.forEach((v, e) => { norms[L > 1 ? Math.floor(e / d.R) % d.U : 0] += v * v; });
    let r = 0;
    alpha.data.forEach((al, k) => {
      const p = sig(al);
      r += -a.ent * -(p * Math.log(p) + (1 - p) * Math.log(1 - p)) + a.c * (a.inverted ? norms[k] / p : norms[k] * p);
    });
    return { shape: [], data: Float64Array.of(r) };
  },
  // coefficients of order 1 keep the gradients of order 1, where the check's tolerance is relative
  cases: [
    // per-unit logits before a linear layer's weight [in, out] (units on axis 0) and a conv's [Co, Ci, kh, kw] (axis 1)
    { inputs: [{ shape: [3] }, { shape: [3, 4] }], attrs: { axis: 0, ent: 1.5, c: 0.8, inverted: true } },
    { inputs: [{ shape: [4] }, { shape: [2, 4, 3, 3] }], attrs: { axis: 1, ent: 1, c: 0.6, inverted: false } },
    // rows of a unit's entries at least a workgroup long (the kernels' row walk)
    { inputs: [{ shape: [3] }, { shape: [2, 3, 70] }], attrs: { axis: 1, ent: 2, c: 0.05, inverted: true } },
    // one logit over a weight with more entries than a workgroup has threads; no weight at all
    { inputs: [{ shape: [1] }, { shape: [5, 30] }], attrs: { axis: 1, ent: 3, c: 0.3, inverted: true } },
    { inputs: [{ shape: [1] }, { shape: [2, 3, 2] }], attrs: { axis: 2, ent: 2, c: 1, inverted: false } },
    { inputs: [{ shape: [3] }], attrs: { axis: 0, ent: 10, c: 0.1, inverted: true } },
  ],
});

/** y = x ⊙ z (/ σ(α)); see the file comment. */
export function lbdDropout(x: Tensor, alpha: Tensor, a: LBDAttrs): Tensor {
  return apply(applyDef, [x, alpha], { ...a });
}

/** Per-unit ARM/DisARM terms [U] from per-example loss differences d [B]. */
export function lbdEstimate(d: Tensor, alpha: Tensor, o: { draw: Draw; units: number; estimator: Estimator; scale: number }): Tensor {
  return apply(estimateDef, [d, alpha], { draw: o.draw, U: o.units, estimator: o.estimator, scale: o.scale });
}

/**
 * A logit tensor's whole ARM/DisARM gradient term in one dispatch (what lbdStep adds per LBD use):
 * d_b = e1_b − e2_b, or Σ_b of them for every example (joint); `rows` = k·B rows (row r is
 * example r mod B); the units' terms summed into α's shape; added to `prev` when given.
 */
export function lbdEstimateInto(e1: Tensor, e2: Tensor, alpha: Tensor, o: { draw: Draw; units: number; rows: number; estimator: Estimator; scale: number; joint: boolean; prev: Tensor | null }): Tensor {
  const summed = alpha.size === 1;
  const inputs = [e1, alpha, e2, ...(o.prev ? [o.prev] : [])];
  return apply(estimateDef, inputs, { draw: o.draw, U: o.units, estimator: o.estimator, scale: o.scale, rows: o.rows, pair: true, joint: o.joint, summed, accumulate: !!o.prev });
}

/**
 * Eq. 3 / N for logits α and the next layer's weight W (or none): −ent·Σ_k H(σ(α_k)) +
 * c·Σ_k ‖W_k‖²/σ(α_k) (σ(α_k)‖W_k‖² for plain masks), W_k the entries on unit k of `axis`
 * (all of W for a single logit); ent = perLogit/N, c = 1/(2 s² N).
 */
export function lbdRegularizer(alpha: Tensor, weight: Tensor | null, a: RegAttrs): Tensor {
  return apply(regDef, weight ? [alpha, weight] : [alpha], { ...a });
}
