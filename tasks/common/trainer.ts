// The one training loop of every task: epochs of batches, each step LBD's two-pass update
// (lbdStep: ARM/DisARM term on the logits) or a plain backward, losses recorded on the GPU and
// read every 16 steps (the host prepares the next batch while the GPU works), a non-finite loss
// diagnosed by a checked re-run that names the first layer producing a non-finite value, the
// keep probabilities per epoch, and one atomic checkpoint per epoch that a later call resumes
// from after checking that it belongs to this run (same options, same data).
// A task supplies only what is its own: batches, the per-example loss, what to do around an
// epoch (learning-rate decay, validation) and extra history.
import { scope, sync, flush, mean, add, ScalarLog, type Tensor, type Optimizer } from '../../engine/index.js';
import { faultPoint, type TensorRecord } from '../../engine/checkpoint.js';
import { lbdStep } from '../../layers/dropout/lbd-step.js';
import { sumRegularizers, type DropoutLayer } from '../../layers/dropout/base.js';
import type { Module } from '../../layers/module.js';
import { existsSync } from 'node:fs';
import { UserError } from './files.js';
import { saveRunCheckpoint, loadRunCheckpoint, type RunParts } from './checkpoint.js';
import { firstNonFinite } from './nonfinite.js';
import { configDifferences } from './config.js';

/** Per-epoch history every run keeps; tasks add their own fields. */
export interface BaseHistory {
  /** Epochs finished. */
  epoch: number;
  losses: number[];
  /** Mean keep probability per keep layer, per epoch. */
  keep: number[][];
  /** Mean of the step's second recorded scalar over the epoch (classify: training accuracy). */
  extra: number[];
  seconds: number;
  examples: number;
  /** Optimisation steps taken (all epochs). */
  steps: number;
}

export const freshHistory = <X extends object>(x: X): BaseHistory & X => ({ epoch: 0, losses: [], keep: [], extra: [], seconds: 0, examples: 0, steps: 0, ...x });

export interface StepContext { epoch: number; step: number; globalStep: number }
/** A step's mean loss (scalar) and optionally a second scalar to average over the epoch. */
export interface StepOut { loss: Tensor; extra?: Tensor }

export interface LoopSpec<B, H extends BaseHistory> {
  task: string;
  /** Names the run in messages: `lbd seed 1`. */
  run: string;
  parts: RunParts;
  epochs: number;
  history: H;
  /** Without it nothing is saved or resumed. */
  checkpoint?: { path: string; runId: string; config: Record<string, unknown>; fingerprint: string };
  batches(epoch: number): Iterable<B>;
  size(b: B): number;
  /** One optimisation step (inside a scope). */
  step(b: B, ctx: StepContext): StepOut;
  /** The model's forward of a batch as the step computes it (checked re-run of a non-finite step). */
  forward(b: B): Tensor;
  /** How an epoch's loss is summarised: the last step's, or the mean of the last read-back window. */
  epochLoss: 'last' | 'window';
  /** Layers whose mean keep probability is recorded per epoch. */
  keepLayers?: readonly DropoutLayer[];
  beforeEpoch?(epoch: number, h: H): void;
  afterEpoch?(epoch: number, h: H): Promise<void>;
  afterStep?(ctx: StepContext): Promise<void> | void;
  /** Host arrays saved with the checkpoint (`extra.*`) and given back on resume. */
  extraState?: { save(): Map<string, TensorRecord>; load(m: Map<string, TensorRecord>): void };
  progress?(steps: number, info: { epoch: number; loss: number; extra: number }): void;
}

export interface StandardStepParts { model: Module; weights: Optimizer<{ lr?: number }>; logits: Optimizer<{ lr?: number }> | null; regularized: readonly DropoutLayer[] }

/**
 * The step of every task but recommend (which micro-batches): LBD's lbdStep when there are
 * logits to learn, else mean loss + the dropout layers' regularizers, backward, update.
 */
export function standardStep(p: StandardStepParts, perExample: () => Tensor): Tensor {
  if (p.logits) return lbdStep(perExample, { weights: p.weights, logits: p.logits, model: p.model, regularizer: () => sumRegularizers(p.regularized) }).loss;
  p.weights.zeroGrad();
  const loss = mean(perExample());
  const r = sumRegularizers(p.regularized);
  (r ? add(loss, r) : loss).backward();
  p.weights.step();
  return loss;
}

const avg = (v: number[]): number => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);

/**
 * Trains (or resumes) a run to `spec.epochs` epochs; returns its history. A checkpoint that
 * belongs to another configuration or data, or that is past the requested epochs, is refused.
 */
export async function trainLoop<B, H extends BaseHistory>(spec: LoopSpec<B, H>): Promise<H> {
  const ck = spec.checkpoint;
  let h = spec.history;
  const save = async (): Promise<void> => {
    if (ck) await saveRunCheckpoint(ck.path, spec.parts, { task: spec.task, runId: ck.runId, config: ck.config, fingerprint: ck.fingerprint, history: h }, spec.extraState?.save());
  };
  if (ck && existsSync(ck.path)) {
    const { state, extra } = await loadRunCheckpoint<H>(ck.path, spec.parts);
    const diff = configDifferences(state.config, ck.config);
    if (state.runId !== ck.runId) diff.unshift(`run id: checkpoint ${state.runId}, now ${ck.runId}`);
    if (state.fingerprint !== ck.fingerprint) diff.push(`data: checkpoint fingerprint ${state.fingerprint}, now ${ck.fingerprint} (other data files or selection)`);
    if (diff.length) throw new UserError(`checkpoint ${ck.path} was made with other settings: ${diff.join('; ')}; rerun with those or without --resume`);
    h = state.history;
    const lists = ['losses', 'keep', 'extra'] as const;
    if (!Number.isInteger(h.epoch) || h.epoch < 0 || lists.some((k) => !Array.isArray(h[k]) || (k !== 'keep' || spec.keepLayers?.length ? h[k].length !== h.epoch : false))) {
      throw new UserError(`checkpoint ${ck.path}: its history is inconsistent (epoch ${h.epoch}, ${h.losses?.length} losses): the file was edited or is damaged`);
    }
    if (h.epoch > spec.epochs) throw new UserError(`checkpoint ${ck.path} is at epoch ${h.epoch}, past --epochs ${spec.epochs}; ask for at least ${h.epoch} epochs or delete it`);
    spec.extraState?.load(extra);
    spec.progress?.(0, { epoch: h.epoch, loss: h.losses[h.epoch - 1] ?? NaN, extra: NaN });
  } else {
    // the state before the first step, so that a non-finite loss in epoch 1 can be re-run
    await save();
  }
  const log = new ScalarLog(16), extraLog = new ScalarLog(16);
  try {
    for (let e = h.epoch; e < spec.epochs; e++) {
      spec.beforeEpoch?.(e, h);
      const t0 = performance.now();
      const losses: number[] = [], extras: number[] = [];
      let window: number[] = [], step = 0;
      const drain = async (): Promise<void> => {
        const v = await log.read(), x = await extraLog.read();
        const bad = v.findIndex((q) => !Number.isFinite(q));
        if (bad >= 0) await diagnose(spec, e, step - v.length + bad, v[bad]);
        if (!v.length) return;
        losses.push(...v); extras.push(...x); window = v;
        spec.progress?.(v.length, { epoch: e, loss: avg(v), extra: x.length ? avg(x) : NaN });
      };
      for (const b of spec.batches(e)) {
        const ctx = { epoch: e, step, globalStep: h.steps };
        scope(() => {
          const out = spec.step(b, ctx);
          log.record(out.loss);
          if (out.extra) extraLog.record(out.extra);
        });
        flush(); // the GPU starts on this step while the host gathers and uploads the next batch
        faultPoint('train:step');
        h.examples += spec.size(b); h.steps++; step++;
        await spec.afterStep?.(ctx);
        if (log.full) await drain();
      }
      await drain();
      if (step === 0) throw new UserError(`${spec.task}: ${spec.run}: epoch ${e + 1} has no batches (is --batch larger than the training split?)`);
      await sync();
      h.seconds += (performance.now() - t0) / 1000;
      h.losses.push(spec.epochLoss === 'last' ? losses[losses.length - 1] : avg(window));
      h.extra.push(extras.length ? avg(extras) : NaN);
      if (spec.keepLayers?.length) h.keep.push(await Promise.all(spec.keepLayers.map(async (d) => avg(await d.keepProbabilities()))));
      h.epoch = e + 1;
      await spec.afterEpoch?.(e, h);
      await save();
    }
  } finally {
    log.dispose(); extraLog.dispose();
  }
  return h;
}

/**
 * A non-finite loss at `step` of `epoch`: re-runs that step from the epoch's checkpoint (the
 * steps before it replayed as they ran) with every layer's output checked, and throws a
 * UserError naming the first layer that produced a non-finite value. Without a checkpoint the
 * failing batch is checked with the current weights.
 */
async function diagnose<B, H extends BaseHistory>(spec: LoopSpec<B, H>, epoch: number, step: number, value: number): Promise<never> {
  const where = `${spec.task}: ${spec.run}: the loss became ${value} at step ${step + 1} of epoch ${epoch + 1}`;
  await sync();
  let batch: B | undefined, k = 0;
  let how = 'checked with the weights after the failing step (no checkpoint to re-run from)';
  if (spec.checkpoint && existsSync(spec.checkpoint.path)) {
    const { state } = await loadRunCheckpoint<H>(spec.checkpoint.path, spec.parts);
    how = `re-run from the epoch ${epoch} checkpoint`;
    spec.beforeEpoch?.(epoch, state.history);
    for (const b of spec.batches(epoch)) {
      if (k === step) { batch = b; break; }
      scope(() => { spec.step(b, { epoch, step: k, globalStep: state.history.steps + k }); });
      k++;
    }
  } else {
    for (const b of spec.batches(epoch)) { if (k++ === step) { batch = b; break; } }
  }
  const found = batch === undefined ? null : await firstNonFinite(spec.parts.model, () => spec.forward(batch!));
  throw new UserError(`${where}; ${found ?? 'no layer output was non-finite in the checked re-run (the value came from the loss or regularizer)'} (${how}); check that batch's data, or lower --lr`);
}
