// Batch normalisation (PyTorch's F.batch_norm) over axis 1 of [N, C], [N, C, L] or
// [N, C, H, W], and batch normalisation followed by a ReLU fused into the same passes. Both
// modes are ops with analytic backwards (kernels/norm.ts): training (batch statistics, biased
// variance for normalising; the running statistics, when given, updated in place by the
// statistics pass — momentum, unbiased variance —, outside the tape and without a read-back) and
// eval (the running statistics, passed as two more inputs that take no gradient).
// Dispatches per layer: training forward 2, backward 2; eval forward 1, backward 2 (the ReLU
// costs none: its mask is recomputed from x in the backward passes).
import { defineOp, apply, type InputSpec, type OpDef, type Ref, type TestCase } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, fmtShape, Tensor } from '../tensor.js';
import { bnStatsKernel, bnApplyKernel, bnGradSumKernel, bnGradInputKernel, bnForwardOnePassKernel, bnBackwardOnePassKernel, bnForwardLanesKernel, bnBackwardLanesKernel, planeGrid } from '../../kernels/norm.js';
import { gpu, cpuKernelPaths } from '../device.js';
import { tuning } from '../plans/tuning.js';
import { full } from './elementwise.js';
import { sideEffectsEnabled } from '../tape.js';

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

type BnAttrs = {
  eps: number;
  /** Batch statistics (default) or, false, the running ones passed as inputs 3 and 4. */
  training?: boolean;
  /** A per-channel bias [C] added to x first, passed as the last input. */
  preBias?: boolean;
  /** Running statistics updated in place by a training forward. */
  running?: Running;
};
const isTraining = (a: BnAttrs): boolean => a.training !== false;

/** The batch statistics, kept by a training forward for its backward. */
type BnSaved = { mean?: Tensor; var?: Tensor };

/**
 * One pass each way (the channel's workgroup reduces, then writes the outputs) or the split
 * kernels (reduction passes, then per-element passes over a grid of planes). Default
 * (tuning().batchNorm.onePass null): one pass on CPU adapters, where every pass costs a fixed
 * overhead and C workgroups fill the cores; split on GPUs, which want more workgroups than
 * channels, and under LBD_KERNELS=gpu. `lanes`: whether the one-pass kernels may run one subgroup
 * per channel. Tests compare every form (setTuning).
 */
const onePass = (): boolean => tuning().batchNorm.onePass ?? cpuKernelPaths();
/** The subgroup width of the one-subgroup-per-channel form, when it applies (vec4 planes, fixed subgroups). */
const lanesFor = (S: number): number | null => (tuning().batchNorm.lanes && S % 4 === 0 ? gpu().info.subgroupSize : null);

// ---- float64 reference ------------------------------------------------------------------

/** One channel of the reference with given statistics (a small function, compiled despite --no-use-osr). */
function refApply(x: Float64Array, y: Float64Array, d: BnDims, c: number, mu: number, v: number, w: number, b: number, eps: number, relu: boolean): void {
  const r = 1 / Math.sqrt(v + eps);
  for (let j = 0; j < d.M; j++) {
    const k = (Math.floor(j / d.S) * d.C + c) * d.S + (j % d.S);
    const z = (x[k] - mu) * r * w + b;
    y[k] = relu ? Math.max(z, 0) : z;
  }
}

/** Batch mean and biased variance of one channel. */
function refChannelStats(x: Float64Array, d: BnDims, c: number): [number, number] {
  const at = (j: number): number => (Math.floor(j / d.S) * d.C + c) * d.S + (j % d.S);
  let s = 0;
  for (let j = 0; j < d.M; j++) s += x[at(j)];
  const mu = s / d.M;
  let q = 0;
  for (let j = 0; j < d.M; j++) q += (x[at(j)] - mu) ** 2;
  return [mu, q / d.M];
}

/** Per-channel batch mean and biased variance of a float64 array (for tests). */
export function refBatchStats(x: Ref): { mean: Float64Array; var: Float64Array; count: number } {
  const C = x.shape[1], S = x.shape.slice(2).reduce((p, d) => p * d, 1), M = x.shape[0] * S;
  const mean = new Float64Array(C), v = new Float64Array(C);
  for (let i = 0; i < x.data.length; i++) mean[Math.floor(i / S) % C] += x.data[i] / M;
  for (let i = 0; i < x.data.length; i++) { const c = Math.floor(i / S) % C; v[c] += (x.data[i] - mean[c]) ** 2 / M; }
  return { mean, var: v, count: M };
}

function reference(name: string, relu: boolean) {
  return (inputs: Ref[], attrs: BnAttrs): Ref => {
    const training = isTraining(attrs);
    const [x0, w, b, rm, rv] = inputs;
    const d = bnDims(name, x0.shape, w.shape, b.shape);
    // u = x + pre-bias per channel, normalised
    const pb = attrs.preBias ? inputs[inputs.length - 1] : null;
    const x = pb ? { shape: x0.shape, data: x0.data.map((v, i) => v + pb.data[Math.floor(i / d.S) % d.C]) } : x0;
    const y = new Float64Array(x.data.length);
    for (let c = 0; c < d.C; c++) {
      const [mu, v] = training ? refChannelStats(x.data, d, c) : [rm.data[c], rv.data[c]];
      refApply(x.data, y, d, c, mu, v, w.data[c], b.data[c], attrs.eps, relu);
    }
    return { shape: x.shape.slice(), data: y };
  };
}

// ---- the ops --------------------------------------------------------------------------------

/** Training: x, w, b; eval: also the running mean and var (positive: `range`), which take no gradient. */
function cases(relu: boolean): TestCase<BnAttrs>[] {
  const stat = (C: number): InputSpec[] => [{ shape: [C], grad: false }, { shape: [C], grad: false, range: [0.3, 2] }];
  const train: [number[], number][] = [[[7, 5], 1e-5], [[2, 3, 7, 5], 1e-5], [[3, 4, 1, 1], 0.1], [[2, 3, 9], 1e-5], [[5, 2, 13, 11], 1e-5], [[3, 2, 4, 6], 1e-5]];
  const out: TestCase<BnAttrs>[] = train.map(([x, eps]) => ({ inputs: [{ shape: x }, { shape: [x[1]] }, { shape: [x[1]] }], attrs: { eps } }));
  // eval, incl. a plane of >= 64 pixels (the plane walk of the gradient sums)
  for (const x of [[6, 4], [2, 3, 5, 4], [2, 2, 9, 8]]) {
    out.push({ inputs: [{ shape: x }, { shape: [x[1]] }, { shape: [x[1]] }, ...stat(x[1])], attrs: { eps: 1e-5, training: false } });
  }
  // a bigger case for the ReLU: a few hundred elements on each side of the kink (central
  // differences straddle it only when |z| < 1e-6, improbable for random inputs)
  if (relu) out.push({ inputs: [{ shape: [4, 3, 8, 9] }, { shape: [3] }, { shape: [3] }], attrs: { eps: 1e-5 } });
  // with a pre-bias (last input): training (its gradient is 0) and eval, small and plane-walked
  out.push({ inputs: [{ shape: [5, 3] }, { shape: [3] }, { shape: [3] }, { shape: [3] }], attrs: { eps: 1e-5, preBias: true } });
  out.push({ inputs: [{ shape: [2, 3, 8, 9] }, { shape: [3] }, { shape: [3] }, { shape: [3] }], attrs: { eps: 1e-5, preBias: true } });
  for (const x of [[6, 4], [2, 2, 9, 8]]) {
    out.push({ inputs: [{ shape: x }, { shape: [x[1]] }, { shape: [x[1]] }, ...stat(x[1]), { shape: [x[1]] }], attrs: { eps: 1e-5, training: false, preBias: true } });
  }
  return out;
}

function declare(name: string, relu: boolean): OpDef<BnAttrs, BnSaved> {
  return defineOp<BnAttrs, BnSaved>({
    name,
    forward(inputs, attrs, saved) {
      const [x, w, b] = inputs;
      for (const t of inputs) if (t.dtype !== 'f32') throw new Error(`${name}: expects f32 tensors, got ${t.dtype} ${t}`);
      const d = bnDims(name, x.shape, w.shape, b.shape);
      const eps = attrs.eps;
      const training = isTraining(attrs);
      const pre = !!attrs.preBias;
      const pb = pre ? inputs[inputs.length - 1] : null;
      if (pb && (pb.ndim !== 1 || pb.shape[0] !== d.C)) throw new Error(`${name}: pre-bias ${fmtShape(pb.shape)} does not match the ${d.C} channels of x ${fmtShape(x.shape)}`);
      const pbBinding = { pb: pb?.buffer };
      let mean: Tensor, vr: Tensor;
      if (training) {
        if (inputs.length !== 3 + +pre) throw new Error(`${name}: training takes x, weight, bias${pre ? ', pre-bias' : ''}; got ${inputs.length} inputs`);
        if (d.M < 2) throw new Error(`${name}: training needs more than one value per channel, got x ${fmtShape(x.shape)}`);
        mean = empty([d.C], 'f32', `${name}.mean`);
        vr = empty([d.C], 'f32', `${name}.var`);
        const run = attrs.running;
        if (onePass()) {
          const y = empty(x.shape, 'f32', name);
          const lanes = lanesFor(d.S);
          const variant = { relu, pre, running: !!run };
          dispatch({
            kernel: lanes ? bnForwardLanesKernel({ lanes, ...variant }) : bnForwardOnePassKernel(variant),
            bindings: { x: x.buffer, mean: mean.buffer, vr: vr.buffer, w: w.buffer, b: b.buffer, ...pbBinding, rm: run?.mean.buffer, rv: run?.var.buffer, y: y.buffer },
            params: { C: d.C, S: d.S, M: d.M, eps, momentum: run?.momentum ?? 0, unbias: d.M / (d.M - 1) },
            workgroups: channelGrid(d.C),
          });
          if (inputs.some((t) => t.requiresGrad)) { saved.mean = mean; saved.var = vr; } else { mean.dispose(); vr.dispose(); }
          return y;
        }
        dispatch({
          kernel: bnStatsKernel({ running: !!run, pre }),
          bindings: { x: x.buffer, mean: mean.buffer, vr: vr.buffer, rm: run?.mean.buffer, rv: run?.var.buffer, ...pbBinding },
          params: { C: d.C, S: d.S, M: d.M, momentum: run?.momentum ?? 0, unbias: d.M / (d.M - 1) },
          workgroups: channelGrid(d.C),
        });
      } else {
        if (inputs.length !== 5 + +pre) throw new Error(`${name}: eval takes x, weight, bias, running mean, running var${pre ? ', pre-bias' : ''}; got ${inputs.length} inputs`);
        [mean, vr] = [inputs[3], inputs[4]];
      }
      const y = empty(x.shape, 'f32', name);
      const planes = y.size / Math.max(d.S, 1);
      if (y.size > 0) {
        dispatch({ kernel: bnApplyKernel({ relu, pre }), bindings: { x: x.buffer, mean: mean.buffer, vr: vr.buffer, w: w.buffer, b: b.buffer, ...pbBinding, y: y.buffer }, params: { planes, C: d.C, S: d.S, eps }, workgroups: planeGrid(planes, d.S) });
      }
      // the batch statistics are only needed by a backward pass
      if (training) {
        if (inputs.some((t) => t.requiresGrad)) { saved.mean = mean; saved.var = vr; } else { mean.dispose(); vr.dispose(); }
      }
      return y;
    },
    // x's gradient: one-pass kernels add into a gradient the tape already holds for x
    accumulates: [0],
    backward(g, node, into) {
      const [x, w, b] = node.inputs;
      const d = bnDims(name, x.shape, w.shape, b.shape);
      const eps = node.attrs.eps;
      const training = isTraining(node.attrs);
      const pre = !!node.attrs.preBias;
      const pb = pre ? node.inputs[node.inputs.length - 1] : null;
      const { mean, var: vr } = training ? node.saved : { mean: node.inputs[3], var: node.inputs[4] };
      // a training forward saves them whenever an input needs a gradient, that is, whenever there is a backward
      if (!mean || !vr) throw new Error(`${name}: internal: the batch statistics were not saved for the backward`);
      const stats = { mean: mean.buffer, vr: vr.buffer, w: w.buffer, b: b.buffer, pb: pb?.buffer };
      const dw = empty([d.C], 'f32', `${name}.dw`);
      const db = empty([d.C], 'f32', `${name}.db`);
      const dpb = pb ? empty([d.C], 'f32', `${name}.dpb`) : null;
      // an offered gradient of x (the tape's sum over x's other consumers) is added into
      const acc = x.requiresGrad && into?.[0] ? into[0] : null;
      if (onePass()) {
        // dx is always written here (the pass needs an output): freed at once when x takes no gradient
        const dx = acc ?? empty(x.shape, 'f32', `${name}.dx`);
        const lanes = lanesFor(d.S);
        const variant = { relu, pre, training, acc: !!acc };
        dispatch({
          kernel: lanes ? bnBackwardLanesKernel({ lanes, ...variant }) : bnBackwardOnePassKernel(variant),
          bindings: { g: g.buffer, x: x.buffer, ...stats, dw: dw.buffer, db: db.buffer, dpb: dpb?.buffer, dx: dx.buffer },
          params: { C: d.C, S: d.S, M: d.M, eps, momentum: 0, unbias: 1 }, workgroups: channelGrid(d.C),
        });
        const grads: (Tensor | null)[] = [x.requiresGrad ? dx : null, dw, db, ...(training ? [] : [null, null])];
        if (!x.requiresGrad) dx.dispose();
        if (dpb) grads.push(dpb);
        return grads;
      }
      // training: the mean's float32 rounding δ per channel, from the sums to the dx pass (kernels/norm.ts)
      const dmean = training ? empty([d.C], 'f32', `${name}.dmean`) : null;
      dispatch({
        kernel: bnGradSumKernel({ relu, pre, training }),
        bindings: { g: g.buffer, x: x.buffer, ...stats, dw: dw.buffer, db: db.buffer, dpb: dpb?.buffer, dmean: dmean?.buffer },
        params: { C: d.C, S: d.S, M: d.M, eps }, workgroups: channelGrid(d.C),
      });
      let dx: Tensor | null = null;
      if (x.requiresGrad) {
        dx = acc ?? empty(x.shape, 'f32', `${name}.dx`);
        const planes = dx.size / Math.max(d.S, 1);
        dispatch({
          kernel: bnGradInputKernel({ relu, training, pre, acc: !!acc }),
          bindings: { g: g.buffer, x: x.buffer, ...stats, dw: dw.buffer, db: db.buffer, dmean: dmean?.buffer, dx: dx.buffer },
          params: { planes, C: d.C, S: d.S, eps, invM: 1 / d.M },
          workgroups: planeGrid(planes, d.S),
        });
      }
      dmean?.dispose();
      const grads: (Tensor | null)[] = training ? [dx, dw, db] : [dx, dw, db, null, null];
      if (dpb) grads.push(dpb);
      return grads;
    },
    // a replayed forward (LBD's second pass) must not move the running statistics again
    replayAttrs: (attrs) => ({ ...attrs, running: undefined }),
    // batch statistics (training only): over N and the spatial axes
    mixesBatch: (node, input, axis) => isTraining(node.attrs) && input === 0 && axis !== 1,
    reference: reference(name, relu),
    cases: cases(relu),
  });
}

const channelGrid = (C: number): [number] => [Math.max(1, Math.min(C, 4096))];

const batchNormDef = declare('batch_norm', false);
const batchNormReluDef = declare('batch_norm_relu', true);

// ---- public function ----------------------------------------------------------------------

export interface BatchNormOptions {
  /** Batch statistics (and running-stat updates) when true; running statistics when false. */
  training?: boolean;
  /** Weight of the new batch statistic in the running average (PyTorch: 0.1). */
  momentum?: number;
  eps?: number;
  /** max(·, 0) applied in the same passes (batch norm followed by a ReLU). */
  relu?: boolean;
  /**
   * A per-channel bias [C] added to x before normalising (the bias of the conv before a BN, so
   * the conv runs without its own bias pass and bias-gradient reduction). Trainable like any input.
   */
  preBias?: Tensor | null;
}

function checkStat(what: string, t: Tensor | null | undefined, C: number, x: Tensor): void {
  if (!t) return;
  if (!(t instanceof Tensor)) throw new Error(`batchNorm: ${what} must be a tensor, got ${String(t)}`);
  if (t.ndim !== 1 || t.shape[0] !== C || t.dtype !== 'f32') {
    throw new Error(`batchNorm: ${what} ${fmtShape(t.shape)} (${t.dtype}) does not match the ${C} channels of x ${fmtShape(x.shape)}; expected f32 [${C}]`);
  }
}

/**
 * y = (x − μ)/√(σ² + eps)·weight + bias per channel (axis 1), as torch.nn.functional.batch_norm;
 * with `relu`, max(y, 0) in the same passes.
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
  checkStat('pre-bias', o.preBias, C, x);
  const def = o.relu ? batchNormReluDef : batchNormDef;
  const pre = o.preBias ? [o.preBias] : [];
  const preBias = pre.length > 0;
  if (training) {
    const running: Running | undefined = runningMean && runningVar && sideEffectsEnabled() ? { mean: runningMean, var: runningVar, momentum } : undefined;
    return apply(def, [x, w, b, ...pre], { eps, running, preBias });
  }
  if (!runningMean || !runningVar) throw new Error('batchNorm: eval mode (training: false) needs the running mean and var');
  return apply(def, [x, w, b, runningMean, runningVar, ...pre], { eps, training: false, preBias });
}
