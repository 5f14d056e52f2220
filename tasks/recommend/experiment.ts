// The collaborative-filtering experiment (paper §2.3, §3.3): SIVAE + learnable Bernoulli dropout
// and the Table 2 baselines on MovieLens / Netflix / MSD interaction data — the rows and options,
// the model (also the benchmark's Mult-VAE rows), the step (micro-batched to fit the adapter's
// binding limit), the evaluation and one run. Users' item sets stay compressed sparse rows on the
// host; each batch is densified on the GPU. β is annealed linearly from 0 to a cap; the epoch with
// the best validation NDCG@100 is the one tested (Recall@20, Recall@50, NDCG@100 with standard
// errors over test users); its weights ride in the run's one checkpoint file. The command line is
// tasks/recommend.ts.
import {
  gpu, scope, add, mul, Adam, Generator, noGrad, type Tensor,
} from '../../engine/index.js';
import { recommender, type Recommender, type RecommenderKind } from '../../models/vae.js';
import { splitParameters } from '../../layers/dropout/lbd-step.js';
import { stepGradients } from '../../layers/train-step.js';
import type { DropoutLayer } from '../../layers/dropout/base.js';
import { createDropout, type DropoutName } from '../../layers/dropout/registry.js';
import type { TensorRecord } from '../../engine/checkpoint.js';
import { gatherRows, modelInput, type Csr, csrBatch, type RatingsData, type HeldOutUsers } from '../data/ratings.js';
import { permutation } from '../data/mnist.js';
import { mixSeed } from '../data/rng.js';
import { rankingMetrics, meanAndStdErr } from '../../models/metrics/ranking.js';
import { meanStd, generatorsOf } from '../common/run-state.js';
import { UserError } from '../common/errors.js';
import { fingerprint } from '../common/config.js';
import { trainLoop, freshHistory, type BaseHistory } from '../common/trainer.js';
import { snapshot, restore } from '../common/checkpoint.js';
import type { RunFiles } from '../common/task-main.js';
import { packF32 } from '../stats/per-example.js';
import { table2Markdown, recommendClaimsMarkdown, type RecommendReport, type RecommendRun, type TableRow } from './report.js';

export type DropKind = Exclude<DropoutName, 'mc'>;

/** Table 2's rows: the model and what sits in its input-dropout slot. */
export const ROWS: Record<string, { kind: RecommenderKind; dropout: DropKind | null }> = {
  'sivae+lbd': { kind: 'sivae', dropout: 'lbd' },
  'sivae+gdrop': { kind: 'sivae', dropout: 'gaussian' },
  'sivae+cdrop': { kind: 'sivae', dropout: 'concrete' },
  'vampprior+drop': { kind: 'vampprior', dropout: 'regular' },
  vampprior: { kind: 'vampprior', dropout: null },
  'iaf+drop': { kind: 'iaf', dropout: 'regular' },
  iaf: { kind: 'iaf', dropout: null },
  'vae+drop': { kind: 'vae', dropout: 'regular' },
  vae: { kind: 'vae', dropout: null },
  dae: { kind: 'dae', dropout: 'regular' },
};
export const ROW_NAMES = Object.keys(ROWS);

export interface RecommendOptions {
  models: string[];
  estimator: 'arm' | 'disarm';
  epochs: number;
  batch: number;
  lr: number;
  logitLr: number;
  /** β = min(annealCap, step / annealSteps), as Liang et al.; 0: annealSteps = the run's steps / annealCap (the cap is reached at the last step). */
  annealSteps: number;
  annealCap: number;
  V: number;
  K: number;
  T: number;
  hidden: number;
  latent: number;
  /** Drop rate of the input dropout (initial rate of the learnable kinds). */
  rate: number;
  /** Coupled L2 on the DAE's weights (Liang et al.: λ = 0.01 on Σw², i.e. 0.02·w in the gradient). */
  daeWeightDecay: number;
  /** Eq. 3 on SIVAE+LBD's input logits (off by default: the authors' collaborative-filtering code uses no regularizer there). */
  lbdRegularizer?: boolean;
  seeds: number;
  /** Validation / test users per data set (fraction or count; default: the paper's counts for the full sets, 10 % otherwise). */
  heldOutUsers?: number;
}

export const DEFAULTS: RecommendOptions = {
  models: ROW_NAMES, estimator: 'arm', epochs: 100, batch: 500, lr: 1e-3, logitLr: 1e-3, annealSteps: 0, annealCap: 0.2,
  V: 3, K: 500, T: 2, hidden: 600, latent: 200, rate: 0.5, daeWeightDecay: 0.02, seeds: 3,
};

/**
 * `cpu`: the largest protocol whose whole comparison (10 rows × 2 MovieLens sets × 3 seeds) fits
 * 100 minutes on this 2-core host — measured per epoch and seed with all rows, batch 100: ~47 s
 * on ml-latest-small and ~25 s on ml-100k (VampPrior's 500 pseudo-inputs per step are the
 * dearest), so 20 epochs ≈ 80 min. Batch 100 instead of 500: these sets have 483 and 750
 * training users, and 500-user batches would give 1-2 updates per epoch (validation NDCG@100
 * after 2 epochs on ml-100k: 0.154 with 500, 0.247 with 100). `paper`: Liang et al. / the paper
 * on ML-20M — batch 500, 200 epochs.
 */
export const PRESET_NAMES = ['cpu', 'study', 'paper'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/**
 * `study`: the comparison study sized to today's engine — 100 epochs (half the paper's 200) of
 * 100-user batches, 3 seeds, both MovieLens sets. It was first sized at 5 seeds from ~21 s per
 * epoch of all ten rows and both sets (≈ 2.9 h), but the grid measured 3,184 s for the ten rows of
 * one ml-latest-small seed (32 s an epoch, with the segment study sharing the 2 cores; SIVAE
 * 312-339 s a run, VAE-VampPrior+Drop 980 s), so 5 seeds would take ~7 h: 3 seeds, the issue's
 * floor. Runs do not depend on the seed count (`--seeds 5 --resume` adds seeds 4-5 to a grid).
 */
export const PRESETS: Record<PresetName, { epochs: number; batch: number; seeds: number }> = {
  cpu: { epochs: 20, batch: 100, seeds: 3 },
  study: { epochs: 100, batch: 100, seeds: 3 },
  paper: { epochs: 200, batch: 500, seeds: 3 },
};

/** The input-dropout slot of a row (generator seed·1000 + 17, stream 1). */
export function makeDropout(kind: DropKind | null, o: RecommendOptions, items: number, users: number, seed: number): DropoutLayer | null {
  if (kind === null) return null;
  // LBD per item; its Eq. 3 regularizer only with --lbd-regularizer (the authors' CF protocol has none)
  return createDropout(kind, { rate: o.rate, units: items, datasetSize: users, generator: new Generator(seed * 1000 + 17, 1), estimator: o.estimator, granularity: kind === 'lbd' ? 'unit' : undefined, lbdRegularizer: !!o.lbdRegularizer });
}

/**
 * A row's model and optimizers: the recommender of `kind` with `dropout` in its input slot, Adam
 * for the weights (with the DAE's coupled L2) and Adam at logitLr for learnable dropout's logits.
 * The same initial weights per seed for every row that shares the encoder/decoder shapes. The
 * benchmark's Mult-VAE rows are built here too, so a row is the task's model.
 */
export function buildModel(kind: RecommenderKind, dropoutKind: DropKind | null, o: RecommendOptions, items: number, users: number, seed: number): { model: Recommender; dropout: DropoutLayer | null; optimizers: { weights: Adam; logits: Adam | null } } {
  const dropout = makeDropout(dropoutKind, o, items, users, seed);
  const model = recommender(kind, { items, hidden: o.hidden, latent: o.latent, dropout, generator: new Generator(seed), noiseGenerator: new Generator(seed, 2), V: o.V, K: o.K, T: o.T });
  const { weights, logits } = splitParameters(model);
  return { model, dropout, optimizers: { weights: new Adam(weights, { lr: o.lr, weightDecay: kind === 'dae' ? o.daeWeightDecay : 0 }), logits: logits.length ? new Adam(logits, { lr: o.logitLr }) : null } };
}

/**
 * Micro-batches a batch must be split into so that the largest activation — SIVAE's (V+1)·B × I
 * masked copies, or the B × I input / logits — fits one storage binding of the adapter
 * (lavapipe: 128 MiB, i.e. SIVAE at ML-20M's 20,108 items takes at most ~400 users at V = 3).
 */
export function microBatches(batch: number, items: number, copies: number, bindingLimit: number): number {
  const perUser = copies * items * 4;
  const fit = Math.floor((0.9 * bindingLimit) / perUser);
  if (fit < 1) throw new Error(`recommend: one user's ${copies} × ${items} activations (${perUser} bytes) exceed the adapter's storage binding limit (${bindingLimit} bytes)`);
  return Math.ceil(batch / fit);
}

export interface StepParts {
  model: Recommender; wopt: Adam; lopt: Adam | null; dropout: DropoutLayer | null;
  /** Multiply the whole input in the first layer instead of its nonzero pattern (the bench's multvae-dense row). */
  denseInput?: boolean;
}

/**
 * One optimisation step on `rows` of `csr`, split into k near-equal micro-batches whose gradients
 * are accumulated and averaged (the regularizer counted once): the same update as one batch up
 * to the ±1-row size differences. LBD's logits get the ARM/DisARM term per micro-batch (same
 * estimator, averaged). Returns the batch's mean loss (a scalar tensor in the caller's scope).
 */
export function recommendStep(p: StepParts, csr: Csr, rows: Int32Array, beta: number, k = 1): Tensor {
  const { model, wopt, lopt, dropout } = p;
  wopt.zeroGrad(); lopt?.zeroGrad();
  let total: Tensor | null = null;
  for (let i = 0; i < k; i++) {
    const { x, rows: pattern } = modelInput(gatherRows(csr, rows.subarray(Math.floor((i * rows.length) / k), Math.floor(((i + 1) * rows.length) / k))));
    const reg = (): Tensor | null => { const r = i === 0 ? dropout?.regularizer() ?? null : null; return r && k > 1 ? mul(r, k) : r; };
    // the one step's gradients (layers/train-step.ts): LBD's two passes when its logits train
    const loss = stepGradients(() => model.perExampleLoss(x, beta, p.denseInput ? null : pattern), { model, regularizer: reg });
    total = total ? add(total, loss) : loss;
  }
  if (k > 1) {
    for (const t of [...wopt.params, ...(lopt?.params ?? [])]) {
      if (!t.grad) continue;
      const g = mul(t.grad, 1 / k).keep();
      t.grad.dispose();
      t.grad = g;
    }
  }
  wopt.step(); lopt?.step();
  return k > 1 ? mul(total!, 1 / k) : total!;
}

/** Ranking metrics of held-out users (validation or test) in batches; scores with dropout at its expectation. */
export async function evaluate(model: Recommender, users: HeldOutUsers, batch: number, Rs: readonly number[] = [20, 50, 100]): Promise<{ recall: Record<number, number[]>; ndcg: Record<number, number[]> }> {
  const recall: Record<number, number[]> = {}, ndcg: Record<number, number[]> = {};
  for (const R of Rs) { recall[R] = []; ndcg[R] = []; }
  const n = users.foldIn.rows;
  for (let s = 0; s < n; s += batch) {
    const e = Math.min(n, s + batch);
    const scores = await scope(async () => noGrad(() => { const b = modelInput(csrBatch(users.foldIn, s, e)); return model.scores(b.x, b.rows); }).data());
    const m = rankingMetrics(scores, model.items, csrBatch(users.foldIn, s, e), csrBatch(users.heldOut, s, e), Rs);
    for (const R of Rs) { recall[R].push(...m.recall[R]); ndcg[R].push(...m.ndcg[R]); }
  }
  return { recall, ndcg };
}

const meanOf = (v: number[]): number => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);

/** β after `step` optimisation steps: step / annealSteps, capped (Liang et al.'s schedule). */
export const betaAt = (step: number, annealSteps: number, cap: number): number => Math.min(cap, annealSteps > 0 ? step / annealSteps : cap);

/** The options that shape one run (epochs aside). */
export function runConfig(rowName: string, seed: number, dataset: string, o: RecommendOptions): Record<string, unknown> {
  const { models: _m, seeds: _s, epochs: _e, ...rest } = o;
  return { model: rowName, seed, dataset, ...rest, heldOutUsers: o.heldOutUsers ?? null, lbdRegularizer: !!o.lbdRegularizer };
}

/** Fingerprint of a loaded data set (its splits as the runs see them). */
export const dataFingerprint = (d: RatingsData): string => fingerprint([
  d.train.indptr, d.train.indices, d.validation.foldIn.indptr, d.validation.foldIn.indices, d.validation.heldOut.indptr, d.validation.heldOut.indices,
  d.test.foldIn.indptr, d.test.foldIn.indices, d.test.heldOut.indptr, d.test.heldOut.indices, d.train.cols,
]);

interface RecHistory extends BaseHistory { valNdcg: number[]; beta: number[]; bestEpoch: number; bestNdcg: number }

export async function runOne(rowName: string, seed: number, o: RecommendOptions, data: RatingsData, dataName: string, ro: RunFiles = {}): Promise<RecommendRun> {
  const row = ROWS[rowName];
  if (!row) throw new UserError(`--model: unknown '${rowName}' (known: ${ROW_NAMES.join(', ')})`);
  const users = data.train.rows, items = data.train.cols;
  if (o.batch > users) throw new UserError(`--batch ${o.batch} is larger than ${dataName}'s ${users} training users`);
  const { model, dropout, optimizers: { weights: wopt, logits: lopt } } = buildModel(row.kind, row.dropout, o, items, users, seed);
  const stepsPerEpoch = Math.ceil(users / o.batch);
  const annealSteps = o.annealSteps > 0 ? o.annealSteps : (stepsPerEpoch * o.epochs) / Math.max(o.annealCap, 1e-9);
  const noise = (model as unknown as { noise: Generator }).noise;
  const generators = [noise, ...generatorsOf(dropout ? [dropout] : [])];
  const k = microBatches(o.batch, items, row.kind === 'sivae' ? o.V + 1 : 1, gpu().device.limits.maxStorageBufferBindingSize);
  let best: Map<string, TensorRecord> | null = null;
  const runId = ro.runId ?? `${dataName}-${rowName.replace('+', '_')}-s${seed}`;
  function* batchesOf(e: number): IterableIterator<Int32Array> {
    const order = permutation(users, mixSeed(seed, e));
    for (let s = 0; s < users; s += o.batch) yield order.subarray(s, Math.min(users, s + o.batch));
  }
  try {
    const h = await trainLoop<Int32Array, RecHistory>({
      task: 'recommend', run: `${dataName} ${rowName} seed ${seed}`, parts: { model, optimizers: { weights: wopt, logits: lopt }, generators }, epochs: o.epochs,
      history: freshHistory({ valNdcg: [] as number[], beta: [] as number[], bestEpoch: 0, bestNdcg: -1 }),
      // β's schedule depends on the planned epochs when --anneal-steps is 0: part of what a checkpoint must match
      ...(ro.checkpoint ? { checkpoint: { path: ro.checkpoint, runId, config: { ...runConfig(rowName, seed, dataName, o), effectiveAnnealSteps: annealSteps }, fingerprint: ro.fingerprint ?? dataFingerprint(data) } } : {}),
      batches: batchesOf, size: (b) => b.length, epochLoss: 'window',
      step: (rows, ctx) => ({ loss: recommendStep({ model, wopt, lopt, dropout }, data.train, rows, betaAt(ctx.globalStep, annealSteps, o.annealCap), k) }),
      afterEpoch: async (_e, st) => {
        const val = await evaluate(model, data.validation, o.batch, [100]);
        const ndcg = meanOf(val.ndcg[100]);
        st.valNdcg.push(ndcg); st.beta.push(betaAt(st.steps - 1, annealSteps, o.annealCap));
        if (ndcg > st.bestNdcg) { st.bestNdcg = ndcg; st.bestEpoch = st.epoch; best = await snapshot(model); }
      },
      extraState: {
        save: () => new Map([...(best ?? new Map<string, TensorRecord>())].map(([n, r]) => [`best.${n}`, r])),
        load: (m) => { best = m.size ? new Map([...m].filter(([n]) => n.startsWith('best.')).map(([n, r]) => [n.slice(5), r])) : null; },
      },
      progress: (n, i) => ro.bar?.increment(n, { run: `${dataName} ${rowName} s${seed} epoch ${i.epoch + 1}/${o.epochs}`, loss: i.loss.toFixed(2) }),
    });
    // test the epoch with the best validation NDCG@100
    if (best) restore(model, best, `${runId}: best epoch's weights`);
    const t = await evaluate(model, data.test, o.batch);
    const stat = (v: number[]): { mean: number; se: number } => { const m = meanAndStdErr(v); return { mean: m.mean, se: m.stdErr }; };
    const result: RecommendRun = {
      model: rowName, seed, bestEpoch: h.bestEpoch, bestBeta: h.beta[h.bestEpoch - 1] ?? 0, valNdcg: h.valNdcg, beta: h.beta, losses: h.losses,
      test: { recall20: stat(t.recall[20]), recall50: stat(t.recall[50]), ndcg100: stat(t.ndcg[100]), users: t.ndcg[100].length },
      usersPerSecond: (h.epoch * users) / Math.max(h.seconds, 1e-9), seconds: h.seconds,
      perUser: { recall20: packF32(t.recall[20]), recall50: packF32(t.recall[50]), ndcg100: packF32(t.ndcg[100]) },
    };
    if (row.dropout === 'lbd' && dropout) result.keepVsPopularity = { keep: await dropout.keepProbabilities(), popularity: Array.from(data.itemPopularity) };
    return result;
  } finally {
    wopt.dispose(); lopt?.dispose(); model.dispose();
  }
}

export function tableRows(runs: RecommendRun[], models: string[]): TableRow[] {
  return models.map((m) => {
    const r = runs.filter((x) => x.model === m);
    const s = (f: (x: RecommendRun) => { mean: number; se: number }) => ({ ...meanStd(r.map((x) => f(x).mean)), se: meanOf(r.map((x) => f(x).se)) });
    return { model: m, recall20: s((x) => x.test.recall20), recall50: s((x) => x.test.recall50), ndcg100: s((x) => x.test.ndcg100) };
  });
}

export const tablesOf = (r: RecommendReport): string => `${r.datasets.map((d) => `${d.name}\n${table2Markdown(d)}\n`).join('\n')}\n${recommendClaimsMarkdown(r)}`;
