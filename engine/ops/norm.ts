// Batch normalisation (PyTorch's F.batch_norm) over axis 1 of [N, C], [N, C, L] or
// [N, C, H, W]. Training mode is one fused op (batch statistics, biased variance for
// normalising, analytic backward; kernels/norm.ts) that also updates the running statistics in
// place when given them (momentum, unbiased variance), outside the tape and without a
// read-back. Eval mode is composed of elementwise ops with the running statistics, so its
// gradients come from autograd.
import { defineOp, apply, type Ref, type TestCase } from '../op.js';
import { dispatch, f32 } from '../dispatch.js';
import { empty, fmtShape, Tensor } from '../tensor.js';
import { bnStatsKernel, bnApplyKernel, bnGradSumKernel, bnGradInputKernel, bnRunningKernel, planeGrid } from '../../kernels/norm.js';
import { gridFor } from '../../kernels/common.js';
import { add, div, full, mul, sqrt, sub } from './elementwise.js';
import { sideEffectsEnabled } from '../tape.js';
import { reshape } from './layout.js';

interface BnDims { C: number; S: number; M: number }

function bnDims(name: string, x: readonly number[], w: readonly number[], b: readonly number[]): BnDims {
  if (x.length < 2) throw new Error(`${name}: expects x [N, C, ...], got ${fmtShape(x)}`);
  const C = x[1];
  if (w.length !== 1 || w[0] !== C) throw new Error(`${name}: weight ${fmtShape(w)} does not match the ${C} channels of x ${fmtShape(x)}`);
  if (b.length !== 1 || b[0] !== C) throw new Error(`${name}: bias ${fmtShape(b)} does not match the ${C} channels of x ${fmtShape(x)}`);
  const S = x.slice(2).reduce((p, d) => p * d, 1);
  return { C, S, M: x[0] * S };
}

interface Running { mean: Tensor; var: Tensor; momentum: number }

// ---- float64 reference ------------------------------------------------------------------

/** One channel of the reference (a small function, compiled despite --no-use-osr). */
function refChannel(x: Float64Array, y: Float64Array, d: BnDims, c: number, w: number, b: number, eps: number): void {
  const at = (j: number): number => (Math.floor(j / d.S) * d.C + c) * d.S + (j % d.S);
  let s = 0;
  for (let j = 0; j < d.M; j++) s += x[at(j)];
  const mu = s / d.M;
  let q = 0;
  for (let j = 0; j < d.M; j++) q += (x[at(j)] - mu) ** 2;
  const r = 1 / Math.sqrt(q / d.M + eps);
  for (let j = 0; j < d.M; j++) y[at(j)] = (x[at(j)] - mu) * r * w + b;
}

/** Per-channel batch mean and biased variance of a float64 array (for tests). */
export function refBatchStats(x: Ref): { mean: Float64Array; var: Float64Array; count: number } {
  const C = x.shape[1], S = x.shape.slice(2).reduce((p, d) => p * d, 1), M = x.shape[0] * S;
  const mean = new Float64Array(C), v = new Float64Array(C);
  for (let i = 0; i < x.data.length; i++) mean[Math.floor(i / S) % C] += x.data[i] / M;
  for (let i = 0; i < x.data.length; i++) { const c = Math.floor(i / S) % C; v[c] += (x.data[i] - mean[c]) ** 2 / M; }
  return { mean, var: v, count: M };
}

// ---- the training-mode op -----------------------------------------------------------------

const bnCases: TestCase[] = [
  { inputs: [{ shape: [7, 5] }, { shape: [5] }, { shape: [5] }], attrs: { eps: 1e-5 } },
  { inputs: [{ shape: [2, 3, 7, 5] }, { shape: [3] }, { shape: [3] }], attrs: { eps: 1e-5 } },
  { inputs: [{ shape: [3, 4, 1, 1] }, { shape: [4] }, { shape: [4] }], attrs: { eps: 0.1 } },
  { inputs: [{ shape: [2, 3, 9] }, { shape: [3] }, { shape: [3] }], attrs: { eps: 1e-5 } },
  { inputs: [{ shape: [5, 2, 13, 11] }, { shape: [2] }, { shape: [2] }], attrs: { eps: 1e-5 } },
];

const channelGrid = (C: number): [number] => [Math.min(C, 4096)];

const batchNormDef = defineOp({
  name: 'batch_norm',
  forward([x, w, b], attrs, saved) {
    for (const t of [x, w, b]) if (t.dtype !== 'f32') throw new Error(`batch_norm: expects f32 tensors, got ${t.dtype} ${t}`);
    const d = bnDims('batch_norm', x.shape, w.shape, b.shape);
    if (d.M < 2) throw new Error(`batch_norm: training needs more than one value per channel, got x ${fmtShape(x.shape)}`);
    const eps = attrs.eps as number;
    const stats = empty([2 * d.C], 'f32', 'batch_norm.stats');
    dispatch({ kernel: bnStatsKernel(), buffers: [x.buffer, stats.buffer], params: [d.C, d.S, d.M, f32(eps)], workgroups: channelGrid(d.C) });
    const y = empty(x.shape, 'f32', 'batch_norm');
    dispatch({ kernel: bnApplyKernel(), buffers: [x.buffer, stats.buffer, w.buffer, b.buffer, y.buffer], params: [y.size / d.S, d.C, d.S, f32(eps)], workgroups: planeGrid(y.size / d.S, d.S) });
    const run = attrs.running as Running | undefined;
    if (run) {
      dispatch({
        kernel: bnRunningKernel(),
        buffers: [stats.buffer, run.mean.buffer, run.var.buffer],
        params: [d.C, f32(run.momentum), f32(d.M / (d.M - 1)), 0],
        workgroups: [gridFor(d.C)],
      });
    }
    // the statistics are only needed by a backward pass
    if (x.requiresGrad || w.requiresGrad || b.requiresGrad) saved.stats = stats; else stats.dispose();
    return y;
  },
  backward(g, node) {
    const [x, w, b] = node.inputs;
    const d = bnDims('batch_norm', x.shape, w.shape, b.shape);
    const eps = node.attrs.eps as number;
    const stats = node.saved.stats as Tensor;
    const dw = empty([d.C], 'f32', 'batch_norm.dw');
    const db = empty([d.C], 'f32', 'batch_norm.db');
    dispatch({ kernel: bnGradSumKernel(), buffers: [g.buffer, x.buffer, stats.buffer, dw.buffer, db.buffer], params: [d.C, d.S, d.M, f32(eps)], workgroups: channelGrid(d.C) });
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = empty(x.shape, 'f32', 'batch_norm.dx');
      dispatch({
        kernel: bnGradInputKernel(),
        buffers: [g.buffer, x.buffer, stats.buffer, w.buffer, dw.buffer, db.buffer, dx.buffer],
        params: [dx.size / d.S, d.C, d.S, f32(eps), f32(1 / d.M)],
        workgroups: planeGrid(dx.size / d.S, d.S),
      });
    }
    return [dx, dw, db];
  },
  // a replayed forward (LBD's second pass) must not move the running statistics again
  replayAttrs: (attrs) => ({ ...attrs, running: undefined }),
  mixesBatch: (_node, input, axis) => input === 0 && axis !== 1, // batch statistics: over N and the spatial axes
  reference([x, w, b], attrs) {
    const d = bnDims('batch_norm', x.shape, w.shape, b.shape);
    const y = new Float64Array(x.data.length);
    for (let c = 0; c < d.C; c++) refChannel(x.data, y, d, c, w.data[c], b.data[c], attrs.eps as number);
    return { shape: x.shape.slice(), data: y };
  },
  cases: bnCases,
});

// ---- public function ----------------------------------------------------------------------

export interface BatchNormOptions {
  /** Batch statistics (and running-stat updates) when true; running statistics when false. */
  training?: boolean;
  /** Weight of the new batch statistic in the running average (PyTorch: 0.1). */
  momentum?: number;
  eps?: number;
}

function checkStat(what: string, t: Tensor | null | undefined, C: number, x: Tensor): void {
  if (!t) return;
  if (!(t instanceof Tensor)) throw new Error(`batchNorm: ${what} must be a tensor, got ${String(t)}`);
  if (t.ndim !== 1 || t.shape[0] !== C || t.dtype !== 'f32') {
    throw new Error(`batchNorm: ${what} ${fmtShape(t.shape)} (${t.dtype}) does not match the ${C} channels of x ${fmtShape(x.shape)}; expected f32 [${C}]`);
  }
}

/**
 * y = (x − μ)/√(σ² + eps)·weight + bias per channel (axis 1), as torch.nn.functional.batch_norm.
 * Training: μ, σ² are the batch's (biased σ²); when running statistics are given they are
 * updated in place (rm ← (1 − momentum)·rm + momentum·μ, rv likewise with the unbiased σ²).
 * Eval: μ, σ² are the running statistics (required).
 */
export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null,
  weight: Tensor | null = null, bias: Tensor | null = null, o: BatchNormOptions = {}): Tensor {
  const training = o.training ?? true;
  const momentum = o.momentum ?? 0.1;
  const eps = o.eps ?? 1e-5;
  if (!(x instanceof Tensor) || x.ndim < 2) throw new Error(`batchNorm: expects x [N, C, ...], got ${x instanceof Tensor ? fmtShape(x.shape) : String(x)}`);
  if (!(typeof eps === 'number' && eps > 0 && Number.isFinite(eps))) throw new Error(`batchNorm: eps must be > 0 and finite, got ${String(eps)}`);
  if (!(typeof momentum === 'number' && momentum >= 0 && momentum <= 1)) throw new Error(`batchNorm: momentum must be in [0, 1], got ${String(momentum)}`);
  const C = x.shape[1];
  checkStat('running mean', runningMean, C, x);
  checkStat('running var', runningVar, C, x);
  checkStat('weight', weight, C, x);
  checkStat('bias', bias, C, x);
  if (!runningMean !== !runningVar) throw new Error('batchNorm: pass both running mean and running var, or neither');
  const w = weight ?? full([C], 1);
  const b = bias ?? full([C], 0);
  if (training) {
    const running: Running | undefined = runningMean && runningVar && sideEffectsEnabled() ? { mean: runningMean, var: runningVar, momentum } : undefined;
    return apply(batchNormDef, [x, w, b], { eps, running });
  }
  if (!runningMean || !runningVar) throw new Error('batchNorm: eval mode (training: false) needs the running mean and var');
  const bshape = x.shape.map((d, i) => (i === 1 ? d : 1));
  const scale = div(w, sqrt(add(runningVar, eps)));
  const shift = sub(b, mul(runningMean, scale));
  return add(mul(x, reshape(scale, bshape)), reshape(shift, bshape));
}
