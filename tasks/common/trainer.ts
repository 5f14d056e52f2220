// The one training loop of every task: epochs of batches, each step LBD's two-pass update
// (lbdStep: ARM/DisARM term on the logits) or a plain backward, losses recorded on the GPU and
// read every 16 steps (the host prepares the next batch while the GPU works), each step inside GPU
// error scopes whose results are looked at with those losses (a validation or out-of-memory error
// names its step and the kernel or buffer; a request over the device's limits stops at once), a
// non-finite loss — or parameters found non-finite at the end of an epoch — diagnosed by a checked
// re-run that names the first layer output, gradient op or parameter that went non-finite, the
// keep probabilities per epoch, and one atomic checkpoint per epoch that a later call resumes
// from after checking that it belongs to this run (same options, same data).
// A task supplies only what is its own: batches, the per-example loss, what to do around an
// epoch (learning-rate decay, validation) and extra history.
import { scope, sync, flush, ScalarLog, type Tensor, type Optimizer } from '../../engine/index.js';
import { faultPoint, type TensorRecord } from '../../engine/checkpoint.js';
import { trainStep } from '../../layers/train-step.js';
import { sumRegularizers, type DropoutLayer } from '../../layers/dropout/base.js';
import type { Module } from '../../layers/module.js';
import { existsSync } from 'node:fs';
import { UserError } from './errors.js';
import { saveRunCheckpoint, loadRunCheckpoint, type RunParts } from './checkpoint.js';
import { firstNonFinite, parametersFinite } from './nonfinite.js';
import { catchGpuErrors, describeGpuFault, GpuLimitError, mib, type GpuFault } from '../../engine/device.js';
import { bufferSerial, buffersCreatedSince } from '../../engine/memory.js';
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
 * The step of every task but recommend (which micro-batches): layers/train-step.ts's trainStep
 * (lbdStep when there are logits to learn), regularized by the task's dropout layers.
 */
export function standardStep(p: StandardStepParts, perExample: () => Tensor): Tensor {
  return trainStep(perExample, { model: p.model, optimizers: { weights: p.weights, logits: p.logits }, regularizer: () => sumRegularizers(p.regularized) });
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
      const t0 = performance.now(), g0 = h.steps;
      const losses: number[] = [], extras: number[] = [];
      let window: number[] = [], step = 0;
      // each step's GPU errors, caught in error scopes and looked at when the losses are read
      let checks: { step: number; created: { label: string; bytes: number }[]; fault: Promise<GpuFault | null> }[] = [];
      const checkGpu = async (): Promise<void> => {
        const pending = checks;
        checks = [];
        for (const c of pending) {
          const f = await c.fault;
          if (f) throw gpuFaultError(spec, e, c.step, f, c.created);
        }
      };
      const drain = async (): Promise<void> => {
        const v = await log.read(), x = await extraLog.read();
        await checkGpu(); // before the values: a step whose work was refused leaves garbage
        const bad = v.findIndex((q) => !Number.isFinite(q));
        if (bad >= 0) await diagnose(spec, e, g0, step - v.length + bad, v[bad]);
        if (!v.length) return;
        losses.push(...v); extras.push(...x); window = v;
        spec.progress?.(v.length, { epoch: e, loss: avg(v), extra: x.length ? avg(x) : NaN });
      };
      for (const b of spec.batches(e)) {
        const ctx = { epoch: e, step, globalStep: h.steps };
        const serial = bufferSerial();
        try {
          const fault = catchGpuErrors(() => {
            scope(() => {
              const out = spec.step(b, ctx);
              log.record(out.loss);
              if (out.extra) extraLog.record(out.extra);
            });
            flush(); // the GPU starts on this step while the host gathers and uploads the next batch
          });
          checks.push({ step, fault, created: bufferSerial() > serial ? buffersCreatedSince(serial) : [] });
        } catch (err) {
          if (err instanceof GpuLimitError) throw new UserError(`${spec.run}: step ${step + 1} of epoch ${e + 1}: ${err.message}; lower --batch or the model's size`);
          throw err;
        }
        faultPoint('train:step');
        h.examples += spec.size(b); h.steps++; step++;
        await spec.afterStep?.(ctx);
        if (log.full) await drain();
      }
      await drain();
      if (step === 0) throw new UserError(`${spec.run}: epoch ${e + 1} has no batches (is --batch larger than the training split?)`);
      await sync();
      // a non-finite gradient can leave the loss finite (a ReLU maps NaN to 0 on the GPU): the
      // parameters are checked once per epoch, before they are saved
      if (!(await parametersFinite(spec.parts.model))) await diagnose(spec, e, g0, null, NaN);
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

/** A GPU error caught in a step's error scopes, as the error to throw (out of memory: the user's to fix). */
function gpuFaultError<B, H extends BaseHistory>(spec: LoopSpec<B, H>, epoch: number, step: number, f: GpuFault, created: { label: string; bytes: number }[]): Error {
  const at = `${spec.run}: step ${step + 1} of epoch ${epoch + 1}: ${describeGpuFault(f)}`;
  if (f.kind === 'out-of-memory') {
    const made = created.map((b) => `${b.label} ${mib(b.bytes)}`).join(', ');
    return new UserError(`${at}${made ? ` (buffers that step created: ${made})` : ''}; lower --batch or the model's size`);
  }
  // validation (or internal) errors are the engine's bugs: Dawn's whole message, and a stack
  return new Error(`${at}\n${f.message}`);
}

/**
 * A non-finite loss at `step` of `epoch` (null: the parameters were found non-finite at the end of
 * the epoch): replays the epoch from its checkpoint, reading the parameters after each step, to
 * find the step whose update made them non-finite (or, when none did, the failing step), then runs
 * that step checked (nonfinite.ts) and throws a UserError naming the first layer output, gradient
 * op or parameter that was non-finite. Without a checkpoint the failing batch is checked with the
 * current weights.
 */
async function diagnose<B, H extends BaseHistory>(spec: LoopSpec<B, H>, epoch: number, g0: number, step: number | null, value: number): Promise<never> {
  const where = step === null
    ? `${spec.run}: the parameters became non-finite in epoch ${epoch + 1} (the losses read were finite)`
    : `${spec.run}: the loss became ${value} at step ${step + 1} of epoch ${epoch + 1}`;
  await sync();
  const optimizers = Object.values(spec.parts.optimizers);
  const ck = spec.checkpoint;
  if (!ck || !existsSync(ck.path)) {
    let k = 0, found: string | null = null;
    for (const b of spec.batches(epoch)) {
      if (k === (step ?? 0)) { found = await firstNonFinite(spec.parts.model, () => spec.step(b, { epoch, step: k, globalStep: g0 + k }).loss, optimizers); break; }
      k++;
    }
    throw new UserError(`${where}; ${found ?? 'nothing was non-finite in the checked re-run'} (checked with the current weights: no checkpoint to re-run from); check that batch's data, or lower --lr`);
  }
  /** Reloads the epoch's checkpoint and runs its steps before `upTo` (all when null); with `watch`, stops after the first step that leaves a parameter non-finite. */
  const replay = async (upTo: number | null, watch: boolean): Promise<{ batch?: B; at: number; diverged: boolean; steps: number }> => {
    const { state } = await loadRunCheckpoint<H>(ck.path, spec.parts);
    spec.beforeEpoch?.(epoch, state.history);
    let k = 0;
    for (const b of spec.batches(epoch)) {
      if (k === upTo) return { batch: b, at: k, diverged: false, steps: state.history.steps };
      scope(() => { spec.step(b, { epoch, step: k, globalStep: state.history.steps + k }); });
      if (watch && !(await parametersFinite(spec.parts.model))) return { at: k, diverged: true, steps: state.history.steps };
      k++;
    }
    return { at: k, diverged: false, steps: state.history.steps };
  };
  let r = await replay(step, true);
  if (r.diverged) r = await replay(r.at, false);
  if (!r.batch) throw new UserError(`${where}; the re-run from the epoch ${epoch} checkpoint stayed finite (is the data or the model nondeterministic?); check the data, or lower --lr`);
  const b = r.batch, at = r.at;
  const found = await firstNonFinite(spec.parts.model, () => spec.step(b, { epoch, step: at, globalStep: r.steps + at }).loss, optimizers);
  const culprit = step === null || at !== step ? `; step ${at + 1} of epoch ${epoch + 1} made the parameters non-finite` : '';
  throw new UserError(`${where}${culprit}; ${found ?? 'nothing was non-finite in the checked re-run'} (re-run from the epoch ${epoch} checkpoint); check that batch's data, or lower --lr`);
}
