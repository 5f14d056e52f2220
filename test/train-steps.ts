// Three training steps of a model with whatever dropout kind it holds — lbdStep when it has LBD
// logits, else the mean loss plus the dropout regularizers — checking finite losses, zero live
// GPU bytes leaked from step 2 on, and valid keep probabilities. Shared by the model tests.
import * as assert from 'uvu/assert';
import { Adam, scope, sync, memoryStats, add, type Tensor } from '../engine/index.js';
import { lbdStep, splitParameters } from '../layers/dropout/lbd-step.js';
import { sumRegularizers, type DropoutLayer } from '../layers/dropout/base.js';
import type { Module } from '../layers/module.js';

export interface StepLosses {
  /** Per-example losses [B] (the LBD step's objective). */
  perExample: () => Tensor;
  /** The batch's scalar loss (every other kind). */
  batch: () => Tensor;
}

/** Runs the steps; `afterStep` may add checks once each step has synced. Returns the LBD logits (empty otherwise). */
export async function threeStepsWithoutLeak(model: Module, dropouts: DropoutLayer[], loss: StepLosses, afterStep?: (step: number) => void): Promise<Tensor[]> {
  const { weights, logits } = splitParameters(model);
  const wopt = new Adam(logits.length ? weights : model.parameters(), { lr: 1e-3 });
  const lopt = logits.length ? new Adam(logits, { lr: 1e-2 }) : null;
  let live = -1;
  for (let step = 1; step <= 3; step++) {
    const value = await scope(async () => {
      if (lopt) return lbdStep(loss.perExample, { weights: wopt, logits: lopt, model, regularizer: () => sumRegularizers(dropouts) }).loss.item();
      wopt.zeroGrad();
      const l = loss.batch();
      const reg = sumRegularizers(dropouts);
      (reg ? add(l, reg) : l).backward();
      wopt.step();
      return l.item();
    });
    assert.ok(Number.isFinite(value), `step ${step}: loss ${value}`);
    await sync();
    afterStep?.(step);
    if (step === 1) live = memoryStats().liveBytes;
    else assert.is(memoryStats().liveBytes, live, `step ${step}: ${memoryStats().liveBytes - live} live bytes leaked`);
  }
  for (const d of dropouts) assert.ok((await d.keepProbabilities()).every((p) => p > 0 && p <= 1));
  const withGrad = logits.map((t) => t.grad !== null);
  wopt.zeroGrad(); lopt?.zeroGrad();
  wopt.dispose(); lopt?.dispose();
  if (logits.length) assert.ok(withGrad.every(Boolean), 'every LBD logit got a gradient');
  return logits;
}
