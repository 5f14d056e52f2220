// The model-agnostic LBD training step (ARCHITECTURE.md, layers/dropout/lbd-step.ts).
//   1. forward with z2 = 1[u < σ(α)] in every LBD layer, recording the tape → E(z2) per example;
//   2. replay the tape with z1 = 1[u > σ(−α)] (same u): only the nodes downstream of the LBD
//      layers run again → E(z1) per example;
//   3. backward mean E(z2) (+ regularizers): the weights' gradients, and the path-wise part of the
//      logits' gradient (through 1/σ(α), inverted scaling);
//   4. add the ARM / DisARM term Σ_b (E_b(z1) − E_b(z2))·(...)/B to each logit's gradient;
//      a layer that saw k·B rows (k copies of the batch, copy-major: row r is example r mod B,
//      as SIVAE's V + 1 masks per example) gets E_b's difference on each of its copies — the
//      joint-vector estimator, whose per-copy terms add up in the shared logit;
//   5. step the weights' and the logits' optimizers.
// Both losses come from the same weights; u is drawn once and used for both masks and the
// estimate (the authors' released scripts do neither — REFERENCE.md §2).
import {
  backward, replay, mean, add, sub, lbdEstimate, sum, reshape, expand, noGrad, topoOrderOf, fmtShape,
  type Optimizer, type Tensor, type Draw, type Estimator,
} from '../../engine/index.js';
import { LearnableBernoulliDropout } from './lbd.js';
import type { Module } from '../module.js';

export interface LBDStepOptions {
  /** Optimizer of the weights (everything but the logits). */
  weights?: Optimizer<{ lr?: number }>;
  /** Optimizer of the logits (their own learning rate, as in the paper). */
  logits?: Optimizer<{ lr?: number }>;
  /** Terms added to the objective, e.g. the dropout layers' regularizers (a scalar tensor or null). */
  regularizer?: () => Tensor | null;
  /** Estimator per logit tensor; defaults to each LBD layer's own (found via `model`). */
  model?: Module;
  /** Recompute E(z1) with a full second forward instead of replaying the tape (for checks). */
  fullSecondForward?: () => Tensor;
}

export interface LBDStepResult {
  /** mean_b E_b(z2), the objective's data term (a scalar tensor in the caller's scope). */
  loss: Tensor;
  /** Per-example losses on the z2 and z1 passes. */
  e2: Tensor;
  e1: Tensor;
}

interface LbdUse { alpha: Tensor; draw: Draw; units: number; rows: number; estimator: Estimator }

/** The LBD nodes of a recorded graph: which logits, which draw, how many units per example. */
function lbdUses(root: Tensor, estimators: Map<Tensor, Estimator>): LbdUse[] {
  const uses: LbdUse[] = [];
  for (const n of topoOrderOf(root)) {
    if (n.op.name !== 'lbd_dropout') continue;
    const [x, alpha] = n.inputs;
    uses.push({ alpha, draw: n.attrs.draw as Draw, units: x.shape[1], rows: x.shape[0], estimator: estimators.get(alpha) ?? 'arm' });
  }
  return uses;
}

/**
 * Computes every gradient of one LBD step (weights and logits) without stepping.
 * `perExampleLoss` must return the losses [B] of one forward pass of the model in training mode.
 */
export function lbdGradients(perExampleLoss: () => Tensor, o: LBDStepOptions = {}): LBDStepResult {
  const e2 = perExampleLoss();
  if (e2.ndim !== 1) throw new Error(`lbdStep: perExampleLoss must return one loss per example [batch], got ${fmtShape(e2.shape)}`);
  if (!e2.requiresGrad) throw new Error('lbdStep: the losses do not depend on any trainable tensor (called under noGrad, or in eval mode?)');
  const estimators = new Map<Tensor, Estimator>();
  for (const m of o.model?.modules() ?? []) if (m instanceof LearnableBernoulliDropout) estimators.set(m.alpha, m.estimator);
  const uses = lbdUses(e2, estimators);
  const e1 = o.fullSecondForward
    ? noGrad(() => o.fullSecondForward!())
    : replay(e2, (n) => (n.op.name === 'lbd_dropout' ? { ...n.attrs, pass: 1 } : null));
  if (e1.shape.join() !== e2.shape.join()) throw new Error(`lbdStep: second pass gave losses ${fmtShape(e1.shape)}, first ${fmtShape(e2.shape)}`);
  const loss = mean(e2);
  const reg = o.regularizer?.() ?? null;
  backward(reg ? add(loss, reg) : loss);
  if (uses.length) {
    const d = noGrad(() => sub(e1, e2));
    const B = e2.size;
    noGrad(() => {
      for (const u of uses) {
        if (u.rows % B !== 0) throw new Error(`lbdStep: an LBD layer saw ${u.rows} rows, not a multiple of the ${B} per-example losses`);
        const k = u.rows / B;
        const dr = k === 1 ? d : reshape(expand(reshape(d, [1, B]), [k, B]), [u.rows]);
        let g = lbdEstimate(dr, u.alpha, { draw: u.draw, units: u.units, estimator: u.estimator, scale: 1 / B });
        if (u.alpha.size === 1) g = reshape(sum(g), [1]);
        const prev = u.alpha.grad;
        u.alpha.grad = (prev ? add(prev, g) : g).keep();
        if (prev) { prev.dispose(); g.dispose(); }
      }
    });
  }
  return { loss, e2, e1 };
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
