// The model-agnostic LBD training step (docs/architecture.md; the maths in docs/estimators.md).
//   1. forward with z2 = 1[u < σ(α)] in every LBD layer, recording the tape → E(z2) per example;
//   2. replay the tape with z1 = 1[u > σ(−α)] (same u): only the nodes downstream of the LBD
//      layers run again → E(z1) per example;
//   3. backward mean E(z2) (+ regularizers): the weights' gradients, and the path-wise part of the
//      logits' gradient (through 1/σ(α), inverted scaling);
//   4. add the ARM / DisARM term Σ_b d_b·(...)/B to each logit's gradient, where d_b is
//      - E_b(z1) − E_b(z2), example b's own loss difference, while every example's loss depends
//        on its own masks only (the per-example form: the other examples' noise stays out);
//      - Σ_b' (E_b'(z1) − E_b'(z2)), the whole batch's loss difference, when an op between an LBD
//        layer and the losses couples examples in training mode (batch norm's batch statistics,
//        a reduction over the batch): the joint-vector form, ARM/DisARM over all B·U masks as one
//        binary vector, unbiased where the per-example form is not (couplingOf walks the tape);
//      a layer that saw k·B rows (k copies of the batch, copy-major: row r is example r mod B,
//      as SIVAE's V + 1 masks per example) gets d_b on each of its copies — the joint-vector
//      estimator over an example's copies, whose per-copy terms add up in the shared logit;
//   5. step the weights' and the logits' optimizers.
// Both losses come from the same weights; u is drawn once and used for both masks and the
// estimate (the authors' released scripts do neither — docs/estimators.md).
import {
  backward, replay, mean, add, lbdEstimateInto, noGrad, topoOrderOf, fmtShape, withLbdEstimator,
  type Optimizer, type Tensor, type Draw, type Estimator, type Node,
} from '../../engine/index.js';
import { LearnableBernoulliDropout } from './lbd.js';
import { DropoutLayer, sumRegularizers } from './base.js';
import type { Module } from '../module.js';

export interface LBDStepOptions {
  /** Optimizer of the weights (everything but the logits). */
  weights?: Optimizer<{ lr?: number }>;
  /** Optimizer of the logits (their own learning rate, as in the paper). */
  logits?: Optimizer<{ lr?: number }>;
  /**
   * Terms added to the objective (a scalar tensor or null). Default: the sum of the regularizers
   * of every dropout layer in `model` (LBD's Eq. 3 where the layer has a datasetSize); `null`:
   * none.
   */
  regularizer?: (() => Tensor | null) | null;
  /** The model being trained: its LBD layers' estimators, its dropout layers' regularizers. */
  model: Module;
  /** Recompute E(z1) with a full second forward instead of replaying the tape (for checks). */
  fullSecondForward?: () => Tensor;
  /**
   * Which loss difference each example's terms use: 'auto' (default) walks the tape (couplingOf)
   * and takes the joint form only where examples are coupled; 'joint' always (unbiased in every
   * case, noisier); 'per-example' always (biased under coupling — for tests that show it).
   */
  coupling?: 'auto' | 'joint' | 'per-example';
}

export interface LBDStepResult {
  /** mean_b E_b(z2), the objective's data term (a scalar tensor in the caller's scope). */
  loss: Tensor;
  /** Per-example losses on the z2 and z1 passes. */
  e2: Tensor;
  e1: Tensor;
  /** Whether the joint-vector form was used, and why (the op that couples examples). */
  coupled: boolean;
  couplingReason: string | null;
}

interface LbdUse { alpha: Tensor; draw: Draw; units: number; rows: number; estimator: Estimator }

/** The LBD nodes of a recorded graph: which logits, which draw, how many units per example. */
function lbdUses(order: Node[], estimators: Map<Tensor, Estimator>): LbdUse[] {
  const uses: LbdUse[] = [];
  for (const n of order) {
    if (n.op.name !== 'lbd_dropout') continue;
    const [x, alpha] = n.inputs;
    uses.push({ alpha, draw: n.attrs.draw as Draw, units: x.shape[1], rows: x.shape[0], estimator: estimators.get(alpha) ?? 'arm' });
  }
  return uses;
}

const prod = (s: readonly number[], from: number, to: number): number => { let p = 1; for (let i = from; i < to; i++) p *= s[i]; return p; };
const normAxis = (a: number, nd: number): number => (a < 0 ? a + nd : a);

/**
 * Whether some example's loss in the recorded graph of `root` ([B] per-example losses) can depend
 * on another example's LBD masks. Walks the nodes downstream of the lbd_dropout nodes, following
 * the axis that carries the examples: a tensor's entry at index r of that axis belongs to example
 * r mod B (an LBD layer's rows; SIVAE's copy-major copies). An op couples examples when it
 * combines entries along that axis (OpDef.mixesBatch: batch norm in training mode, a reduction
 * or contraction over the batch). Layout ops move the axis (reshape, permute, slice, concat);
 * other ops keep it where broadcasting puts it. Wherever the axis cannot be followed the walk
 * answers "coupled": the joint form is unbiased in every case, only noisier.
 */
export function couplingOf(root: Tensor, order: Node[] = topoOrderOf(root)): { coupled: boolean; reason: string | null } {
  const B = root.size;
  if (root.ndim !== 1) return { coupled: true, reason: `losses ${fmtShape(root.shape)} are not one per example` };
  const axisOf = new Map<Tensor, number>(); // downstream tensor → its example axis (−1: lost)
  const lost = (n: Node, why: string) => ({ coupled: true, reason: `${n.op.name}: ${why}` });
  for (const n of order) {
    const out = n.output;
    // an LBD layer starts the walk; one downstream of another is followed like any other op
    // (a mask per row and unit combines nothing)
    if (n.op.name === 'lbd_dropout' && !axisOf.has(n.inputs[0])) {
      const x = n.inputs[0];
      if (x.shape[0] % B !== 0) return lost(n, `${x.shape[0]} rows are not a multiple of the ${B} examples`);
      axisOf.set(out, 0);
      continue;
    }
    const ins = n.inputs.map((t, i) => ({ t, i, e: axisOf.get(t) })).filter((d) => d.e !== undefined) as { t: Tensor; i: number; e: number }[];
    if (!ins.length) continue;
    for (const d of ins) {
      if (d.e < 0) return lost(n, 'the example axis was lost upstream');
      if (d.t.shape[d.e] > 1 && n.op.mixesBatch?.(n, d.i, d.e)) return { coupled: true, reason: `${n.op.name} combines examples (input ${d.i}, axis ${d.e} of ${fmtShape(d.t.shape)})` };
    }
    const S = ins[0].t.shape, T = out.shape, e = ins[0].e;
    let o = -1;
    switch (n.op.name) {
      case 'reshape': {
        // the output axis that ends where the input's example axis ends keeps r mod B when both
        // sizes are multiples of B (a copy-major split [k·B] → [k, B], or the merge back)
        const end = prod(S, 0, e + 1);
        for (let a = 0, p = 1; a < T.length; a++) { p *= T[a]; if (p === end && T[a] % B === 0 && S[e] % B === 0) { o = a; break; } if (p > end) break; }
        break;
      }
      case 'permute': o = (n.attrs.perm as number[]).map((a) => normAxis(a, S.length)).indexOf(e); break;
      case 'slice': {
        const st = normAxis((n.attrs.starts as number[])[e], S[e]);
        o = st % B === 0 && T[e] % B === 0 ? e : -1;
        break;
      }
      case 'concat': {
        const ax = normAxis(n.attrs.axis as number, S.length);
        if (ax === e) o = n.inputs.every((t) => t.shape[e] % B === 0) && ins.every((d) => d.e === e) ? e : -1;
        else o = ins.every((d) => d.e === e) ? e : -1;
        break;
      }
      case 'pad': o = (n.attrs.before as number[])[e] === 0 && (n.attrs.after as number[])[e] === 0 ? e : -1; break;
      case 'index_select': o = normAxis(n.attrs.axis as number, S.length) === e || ins.some((d) => d.i !== 0) ? -1 : e; break;
      default: {
        const land = ins.map((d) => {
          const axes = n.attrs.axes as number[] | undefined;
          // a reduction over other axes (one over the example axis was caught above)
          if (Array.isArray(axes)) {
            const b = n.attrs.keepdims ? d.e : d.e - axes.map((x) => normAxis(x, d.t.ndim)).filter((x) => x < d.e).length;
            return T[b] === d.t.shape[d.e] ? b : -1;
          }
          // broadcasting aligns trailing axes
          const a = d.e + T.length - d.t.ndim;
          if (a >= 0 && T[a] === d.t.shape[d.e]) return a;
          // the batch axis through an op that changes the rank ([B, C] logits → [B] losses)
          if (d.e === 0 && T[0] === d.t.shape[0]) return 0;
          return -1;
        });
        // every input that carries examples must land on the same axis
        o = land.every((a) => a === land[0]) ? land[0] : -1;
      }
    }
    axisOf.set(out, o);
  }
  const e = axisOf.get(root);
  if (e === undefined) return { coupled: false, reason: null };
  if (e !== 0) return { coupled: true, reason: 'the losses do not keep the examples on their axis' };
  return { coupled: false, reason: null };
}

/**
 * Computes every gradient of one LBD step (weights and logits) without stepping.
 * `perExampleLoss` must return the losses [B] of one forward pass of the model in training mode.
 */
export function lbdGradients(perExampleLoss: () => Tensor, o: LBDStepOptions): LBDStepResult {
  if (!o?.model) throw new Error('lbdStep: options.model is required (the model being trained: its LBD layers and regularizers are found there)');
  const lbdLayers = o.model.modules().filter((m): m is LearnableBernoulliDropout => m instanceof LearnableBernoulliDropout);
  const idle = lbdLayers.find((m) => !m.training && !m.sampleAtEval);
  if (idle) throw new Error('lbdStep: the model is in eval mode, where learnable Bernoulli dropout draws no masks and its keep probabilities cannot learn: call model.train() before training steps');
  const e2 = perExampleLoss();
  if (e2.ndim !== 1) throw new Error(`lbdStep: perExampleLoss must return one loss per example [batch], got ${fmtShape(e2.shape)}`);
  if (!e2.requiresGrad) throw new Error('lbdStep: the losses do not depend on any trainable tensor (called under noGrad, or in eval mode?)');
  const estimators = new Map<Tensor, Estimator>();
  for (const m of lbdLayers) estimators.set(m.alpha, m.estimator);
  const order = topoOrderOf(e2);
  const uses = lbdUses(order, estimators);
  if (!uses.length && lbdLayers.some((m) => m.alpha.requiresGrad)) {
    throw new Error('lbdStep: none of the model\'s learnable Bernoulli dropout layers is on the path from the inputs to these losses, so their keep probabilities would not learn (is the loss computed with this model\'s forward?)');
  }
  const mode = o.coupling ?? 'auto';
  if (!['auto', 'joint', 'per-example'].includes(mode)) throw new Error(`lbdStep: coupling must be 'auto', 'joint' or 'per-example', got '${String(mode)}'`);
  const c = mode === 'auto' ? (uses.length ? couplingOf(e2, order) : { coupled: false, reason: null })
    : { coupled: mode === 'joint', reason: mode === 'joint' ? "coupling: 'joint' requested" : null };
  const e1 = o.fullSecondForward
    ? noGrad(() => o.fullSecondForward!())
    : replay(e2, (n) => (n.op.name === 'lbd_dropout' ? { ...n.attrs, pass: 1 } : null), order);
  if (e1.shape.join() !== e2.shape.join()) throw new Error(`lbdStep: second pass gave losses ${fmtShape(e1.shape)}, first ${fmtShape(e2.shape)}`);
  const loss = mean(e2);
  const reg = o.regularizer === undefined ? sumRegularizers(o.model.modules().filter((m): m is DropoutLayer => m instanceof DropoutLayer)) : o.regularizer?.() ?? null;
  withLbdEstimator(() => backward(reg ? add(loss, reg) : loss));
  if (uses.length) {
    const B = e2.size;
    noGrad(() => {
      // one dispatch per use (lbd_estimate): d = e1 − e2 (joint form: every example's terms get
      // the whole batch's Σ d), a layer's k·B rows take d of example r mod B, the units' terms
      // summed for a single logit and added to the gradient backward left in α.grad
      for (const u of uses) {
        if (u.rows % B !== 0) throw new Error(`lbdStep: an LBD layer saw ${u.rows} rows, not a multiple of the ${B} per-example losses`);
        const prev = u.alpha.grad;
        u.alpha.grad = lbdEstimateInto(e1, e2, u.alpha, { draw: u.draw, units: u.units, rows: u.rows, estimator: u.estimator, scale: 1 / B, joint: c.coupled, prev }).keep();
        prev?.dispose();
      }
    });
  }
  return { loss, e2, e1, coupled: c.coupled, couplingReason: c.reason };
}

/** One LBD training step: gradients (lbdGradients), then both optimizers step. */
export function lbdStep(perExampleLoss: () => Tensor, o: LBDStepOptions): LBDStepResult {
  o.weights?.zeroGrad();
  o.logits?.zeroGrad();
  const r = lbdGradients(perExampleLoss, o);
  o.weights?.step();
  o.logits?.step();
  return r;
}

/** A model's trainable tensors split into weights and LBD logits (each once), for two optimizers. */
export function splitParameters(model: Module): { weights: Tensor[]; logits: Tensor[] } {
  const logits = new Set<Tensor>();
  for (const m of model.modules()) if (m instanceof LearnableBernoulliDropout) logits.add(m.alpha);
  return { weights: model.parameters().filter((t) => !logits.has(t)), logits: [...logits] };
}
