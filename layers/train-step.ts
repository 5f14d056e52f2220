// The one training step of every model: learnable Bernoulli dropout's two-pass step (lbdStep:
// the ARM / DisARM term on its logits) when the model trains LBD logits, else the mean loss plus
// the dropout layers' regularizers, backward, update. The task runner, the benchmark, the page
// and users' loops all take their step from here, so the choice is made in one place.
import { backward, mean, add, type Optimizer, type Tensor } from '../engine/index.js';
import { lbdGradients } from './dropout/lbd-step.js';
import { LearnableBernoulliDropout } from './dropout/lbd.js';
import { DropoutLayer, sumRegularizers } from './dropout/base.js';
import type { Module } from './module.js';

export interface TrainStepOptions {
  model: Module;
  /** Optimizers zeroed before and stepped after the gradients, e.g. `{ weights, logits }` (null entries skipped). */
  optimizers: Readonly<Record<string, Optimizer<{ lr?: number }> | null>> | readonly Optimizer<{ lr?: number }>[];
  /** Added to the mean loss; default the model's dropout layers' regularizers, `null` none. */
  regularizer?: (() => Tensor | null) | null;
}

/** Whether `model` trains learnable Bernoulli dropout logits (so its step is lbdStep's). */
export const trainsLbdLogits = (model: Module): boolean =>
  model.modules().some((m) => m instanceof LearnableBernoulliDropout && m.alpha.requiresGrad);

/**
 * The gradients of one step on per-example losses [B], without stepping: lbdGradients for a model
 * that trains LBD logits, else backward(mean loss + regularizer). Returns the mean loss.
 */
export function stepGradients(perExample: () => Tensor, o: Omit<TrainStepOptions, 'optimizers'>): Tensor {
  if (trainsLbdLogits(o.model)) return lbdGradients(perExample, { model: o.model, ...(o.regularizer !== undefined ? { regularizer: o.regularizer } : {}) }).loss;
  const loss = mean(perExample());
  const r = o.regularizer === undefined ? sumRegularizers(o.model.modules().filter((m): m is DropoutLayer => m instanceof DropoutLayer)) : o.regularizer?.() ?? null;
  backward(r ? add(loss, r) : loss);
  return loss;
}

/** One optimisation step (see the file header); returns the mean loss, a scalar tensor in the caller's scope. */
export function trainStep(perExample: () => Tensor, o: TrainStepOptions): Tensor {
  const opts = (Array.isArray(o.optimizers) ? o.optimizers : Object.values(o.optimizers)).filter((x): x is Optimizer<{ lr?: number }> => !!x);
  for (const opt of opts) opt.zeroGrad();
  const loss = stepGradients(perExample, o);
  for (const opt of opts) opt.step();
  return loss;
}
