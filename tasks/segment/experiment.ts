// The segmentation experiment (paper §3.2.2): CamVid with FC-DenseNet and the five dropout kinds
// in the 15 bottleneck layers — options and presets, the data, the model (also the benchmark's
// FC-DenseNet rows), one run (training on the common runner, then pixel accuracy, per-class and
// mean IoU, patch-wise PAvPU (w = 2) over thresholds and Mean PAvPU, with S stochastic passes),
// the report's content and the grid's plan. The studied kind sits in the bottleneck's dense layers
// (channel masks shared over pixels, one logit per layer for LBD); every other slot keeps plain
// dropout 0.2, as the paper. Every method gets the same data order, flips and initial weights per
// seed. The command line is tasks/segment.ts.
import {
  tensor, scope, crossEntropy, softmax, add, mul, div, sum, maximum, reshape, indexSelect,
  RMSProp, Adam, Generator, full, type Tensor,
} from '../../engine/index.js';
import { tiramisu, tiramisuDropout, FC_DENSENET_103, FC_DENSENET_67, FC_DENSENET_56, type TiramisuConfig, type Tiramisu } from '../../models/tiramisu.js';
import { splitParameters } from '../../layers/dropout/lbd-step.js';
import type { DropoutLayer } from '../../layers/dropout/base.js';
import { createDropout, DROPOUT_NAMES, DROPOUT_REGISTRY, type DropoutName } from '../../layers/dropout/registry.js';
import { loadCamVidSplits, flipFlags, flipHorizontal, channelStats, normalizeChannels, medianFrequencyWeights, CAMVID_NUM_CLASSES, CAMVID_VOID, type CamVidSet } from '../data/camvid.js';
import { permutation } from '../data/mnist.js';
import { mixSeed } from '../data/rng.js';
import { SegmentationConfusion, argmaxChannels, pixelEntropy, patches, concatPatches, entropyRange, patchPavpuCurve, type Patches } from '../../models/metrics/segmentation.js';
import { meanStd, generatorsOf } from '../common/run-state.js';
import { UserError } from '../common/errors.js';
import { fingerprint } from '../common/config.js';
import { trainLoop, standardStep, freshHistory } from '../common/trainer.js';
import type { GridRun } from '../common/grid.js';
import type { RunFiles } from '../common/task-main.js';
import type { SegmentReport, SegmentRun, SegmentExamples } from './report.js';
import { withoutPerExample, type SegmentPerImage } from '../stats/per-example.js';

export const METHODS = DROPOUT_NAMES;
export type Method = DropoutName;

/** FC-DenseNet-103/67/56 (Jégou et al.), and `tiny` — a 3-pool, 3-layer-per-block, growth-8 net for the cpu preset. */
export const MODELS: Record<string, TiramisuConfig> = {
  103: FC_DENSENET_103, 67: FC_DENSENET_67, 56: FC_DENSENET_56,
  tiny: { layersPerBlock: [3, 3, 3, 4, 3, 3, 3], growthRate: 8, firstChannels: 24 },
};

export interface SegmentOptions {
  data: string;
  methods: Method[];
  model: string;
  estimator: 'arm' | 'disarm';
  /** [height, width] the images are resized to (area for images, nearest for labels). */
  size: [number, number];
  epochs: number;
  batch: number;
  lr: number;
  rho: number;
  /** The learning rate is multiplied by this after every epoch. */
  lrDecay: number;
  logitLr: number;
  seeds: number;
  samples: number;
  /** Drop rate of every slot (initial rate of the learnable kinds in the bottleneck). */
  rate: number;
  trainLimit: number;
  valLimit: number;
  testLimit: number;
  classWeights: boolean;
  flip: boolean;
  /** Recompute BN → ReLU → conv in the backward (Tiramisu.setMemoryEfficient): less memory, more time. */
  memoryEfficient: boolean;
}

export const PRESET_NAMES = ['cpu', 'study', 'paper'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export const PRESETS: Record<PresetName, Partial<SegmentOptions>> = {
  // The largest protocol whose 15 runs (5 methods × 3 seeds) fit 100 minutes on this 2-core host,
  // from quiet-host timings of the `tiny` net at 80×60, batch 4: training 2.4 images/s; an
  // evaluation pass 0.18 s per image (MC: the down path once, the bottleneck and up path S = 10
  // times, ~1 s per image). 300 training images × 2 epochs ≈ 250 s, 68 evaluation images ≈ 65 s.
  // Measured: one LBD run took 6.4 min with data loading (training 270 s), so ~90 min for all 15.
  // (At 120×90 one epoch of the 367 images alone takes 285 s.)
  cpu: { model: 'tiny', size: [60, 80], epochs: 2, batch: 4, lr: 1e-3, rho: 0.9, lrDecay: 0.95, logitLr: 1e-2, seeds: 3, samples: 10, trainLimit: 300, valLimit: 20, testLimit: 48, memoryEfficient: false },
  // The comparison study sized to today's engine: all 367 training, 101 validation and 233 test
  // images, at 120×90 (2.25× the cpu preset's pixels), 6 epochs, 3 seeds — the `tiny` net trains
  // at ~4.5 images/s at this size here (LBD included), so 15 runs × 6 × 367 images ≈ 2.1 h of
  // training plus the MC evaluation of 334 images per run. FC-DenseNet-56 (1.4 M parameters)
  // would take ~10× as long per image. Measured at d572203: 2.80 h of training for the 15 runs
  // (456-571 s a run alone, up to 1,310 s beside the recommend grid), ~10 minutes a run with the
  // MC evaluation when alone. The committed study added seeds 4-5 (`--seeds 5 --resume`; the seed
  // count is not a run option): 25 runs, 4.31 h of training, seeds 4-5 in 2.15 h of wall time.
  study: { model: 'tiny', size: [90, 120], epochs: 6, batch: 4, lr: 1e-3, rho: 0.9, lrDecay: 0.95, logitLr: 1e-2, seeds: 3, samples: 10, trainLimit: 367, valLimit: 101, testLimit: 233, memoryEfficient: false },
  // The paper: FC-DenseNet-103 at 480×360, batch 1, RMSProp 1e-4 (decay 0.995), 700 epochs, S = 10.
  paper: { model: '103', size: [360, 480], epochs: 700, batch: 1, lr: 1e-4, rho: 0.995, lrDecay: 1, logitLr: 1e-4, seeds: 3, samples: 10, trainLimit: 367, valLimit: 101, testLimit: 233, memoryEfficient: true },
};


/** The studied kind for the bottleneck's dense layers: one rate per layer, channel-shared noise. */
function bottleneckDropout(m: Method, o: Pick<SegmentOptions, 'rate' | 'estimator'>, seed: number, datasetSize: number): (channels: number, i: number) => DropoutLayer {
  return (c, i) => createDropout(m, { rate: o.rate, units: c, datasetSize, generator: new Generator(seed * 1000 + 31 + i, 1), granularity: 'layer', noise: 'channel', estimator: o.estimator });
}

/**
 * The run's model and optimizers: the FC-DenseNet with the method in the bottleneck's dense layers
 * and Dropout(rate) in every other slot, RMSProp for the weights (Adam at logitLr for learnable
 * dropout's logits); the same initial weights for every method of a seed. The benchmark's
 * FC-DenseNet rows are built here too, so a row is the task's model.
 */
export function buildModel(m: Method, o: Pick<SegmentOptions, 'model' | 'rate' | 'estimator' | 'lr' | 'rho' | 'logitLr' | 'memoryEfficient'>, seed: number, trainN: number): { model: Tiramisu; dropouts: DropoutLayer[]; bottleneck: DropoutLayer[]; optimizers: { weights: RMSProp; logits: Adam | null } } {
  const cfg = MODELS[o.model];
  if (!cfg) throw new UserError(`--model must be one of ${Object.keys(MODELS).join(', ')}; got '${o.model}'`);
  const studied = bottleneckDropout(m, o, seed, trainN);
  const bottleneck: DropoutLayer[] = [];
  const slot = (c: number): DropoutLayer => { const d = studied(c, bottleneck.length); bottleneck.push(d); return d; };
  const { model, dropouts } = tiramisu({ ...cfg, generator: new Generator(seed), dropout: tiramisuDropout(slot, { p: o.rate, seed: seed * 1000 + 7 }), memoryEfficient: o.memoryEfficient });
  const { weights, logits } = splitParameters(model);
  return { model, dropouts, bottleneck, optimizers: { weights: new RMSProp(weights, { lr: o.lr, rho: o.rho }), logits: logits.length ? new Adam(logits, { lr: o.logitLr }) : null } };
}

export interface SegData { train: CamVidSet; val: CamVidSet; test: CamVidSet; raw: Float32Array; weights: Float32Array; fromCache: boolean }

/** Loads and normalises the three splits (statistics from the training images); keeps four raw test images for the figure. */
export async function loadData(o: SegmentOptions, cache?: string): Promise<SegData> {
  const { train, val, test, fromCache } = await loadCamVidSplits(o.data, { train: o.trainLimit, val: o.valLimit, test: o.testLimit }, o.size, cache);
  const raw = test.x.slice(0, Math.min(4, test.n) * 3 * test.height * test.width);
  const stats = channelStats(train.x, train.n);
  for (const s of [train, val, test]) normalizeChannels(s.x, s.n, stats);
  const w = o.classWeights ? medianFrequencyWeights(train.y, train.n) : new Float32Array(CAMVID_NUM_CLASSES).fill(1);
  return { train, val, test, raw, weights: Float32Array.from([...w, 0]), fromCache }; // the void label weighs 0
}

/** Per-image loss [N]: the class-weighted mean cross-entropy over the image's non-void pixels. */
export function imageLosses(logits: Tensor, y: Tensor, weights: Tensor): Tensor {
  const ce = crossEntropy(logits, y, { reduction: 'none', ignoreIndex: CAMVID_VOID }); // [N, H, W], 0 on void
  const w = reshape(indexSelect(weights, reshape(y, [-1]), 0), y.shape);
  return div(sum(mul(ce, w), [1, 2]), maximum(sum(w, [1, 2]), full([], 1e-6)));
}

function gather(s: CamVidSet, idx: ArrayLike<number>): { x: Float32Array; y: Int32Array } {
  const px = s.height * s.width, x = new Float32Array(idx.length * 3 * px), y = new Int32Array(idx.length * px);
  for (let i = 0; i < idx.length; i++) {
    x.set(s.x.subarray(idx[i] * 3 * px, (idx[i] + 1) * 3 * px), i * 3 * px);
    y.set(s.y.subarray(idx[i] * px, (idx[i] + 1) * px), i * px);
  }
  return { x, y };
}

export interface Predictions {
  pred: Int32Array; entropy: Float64Array; confusion: SegmentationConfusion; patches: Patches;
  /** Per image: its patches, and per class its [TP, FP, FN] pixel counts (void excluded). */
  images: { patches: Patches; counts: number[][] }[];
}

/** Per class [TP, FP, FN] over one image's pixels (void labels skipped), from its own confusion matrix. */
function classCounts(c: SegmentationConfusion): number[][] {
  const C = c.classes, m = c.matrix;
  return Array.from({ length: C }, (_, k) => {
    let fp = 0, fn = 0;
    for (let j = 0; j < C; j++) if (j !== k) { fn += m[k * C + j]; fp += m[j * C + k]; }
    return [m[k * C + k], fp, fn];
  });
}

/** The per-image table of a test set's predictions at the run's PAvPU thresholds (tasks/stats/per-example.ts). */
export function perImageTable(p: Predictions, thresholds: readonly number[]): SegmentPerImage {
  return {
    counts: p.images.map((im) => im.counts),
    goodPatches: p.images.map((im) => thresholds.map((th) => {
      let good = 0;
      for (let i = 0; i < im.patches.entropy.length; i++) good += +(!!im.patches.accurate[i] === im.patches.entropy[i] <= th);
      return good;
    })),
    patches: p.images.map((im) => im.patches.accurate.length),
  };
}

/** Mean softmax of S passes (one deterministic pass when S = 1), its argmax and entropy per pixel, the confusion matrix and the patches. */
export async function predict(model: Tiramisu, drops: DropoutLayer[], s: CamVidSet, S: number, batch: number): Promise<Predictions> {
  const H = s.height, W = s.width, px = H * W, C = CAMVID_NUM_CLASSES;
  const pred = new Int32Array(s.n * px), entropy = new Float64Array(s.n * px);
  const confusion = new SegmentationConfusion(C, CAMVID_VOID), parts: Patches[] = [], images: Predictions['images'] = [];
  model.eval();
  for (const d of drops) d.sampleAtEval = S > 1;
  try {
    for (let at = 0; at < s.n; at += batch) {
      const n = Math.min(batch, s.n - at);
      const p = await scope(async () => {
        const x = tensor(s.x.subarray(at * 3 * px, (at + n) * 3 * px), [n, 3, H, W]);
        const down = model.downPath(x); // deterministic: only the bottleneck samples at evaluation
        let acc: Tensor | null = null;
        for (let k = 0; k < S; k++) { const q = softmax(model.upPath(down), 1); acc = acc ? add(acc, q) : q; }
        return mul(acc!, 1 / S).data();
      });
      const pr = argmaxChannels(p, n, C), en = pixelEntropy(p, n, C), y = s.y.subarray(at * px, (at + n) * px);
      pred.set(pr, at * px); entropy.set(en, at * px);
      confusion.add(pr, y);
      for (let i = 0; i < n; i++) {
        const one = (a: Int32Array | Float64Array) => a.subarray(i * px, (i + 1) * px);
        const part = patches(one(pr), y.subarray(i * px, (i + 1) * px), one(en), 1, H, W, { window: 2, voidLabel: CAMVID_VOID });
        parts.push(part);
        images.push({ patches: part, counts: classCounts(new SegmentationConfusion(C, CAMVID_VOID).add(one(pr), y.subarray(i * px, (i + 1) * px))) });
      }
    }
  } finally {
    for (const d of drops) d.sampleAtEval = false;
    model.train();
  }
  return { pred, entropy, confusion, patches: concatPatches(parts), images };
}


/** The same selection and preprocessing → the same fingerprint (checked on resume and merge). */
export const dataFingerprint = (d: SegData): string => fingerprint([d.train.x, d.train.y, d.val.x, d.val.y, d.test.x, d.test.y, d.weights]);

/** The options that shape one run (epochs aside: the learning-rate decay is per epoch, so more epochs extend a run). */
export function runConfig(m: Method, seed: number, o: SegmentOptions): Record<string, unknown> {
  const c: Record<string, unknown> = {
    method: m, seed, model: o.model, size: o.size, batch: o.batch, lr: o.lr, rho: o.rho, lrDecay: o.lrDecay, samples: o.samples, rate: o.rate,
    trainLimit: o.trainLimit, valLimit: o.valLimit, testLimit: o.testLimit, classWeights: o.classWeights, flip: o.flip, memoryEfficient: o.memoryEfficient,
  };
  if (DROPOUT_REGISTRY[m].learnable) c.logitLr = o.logitLr;
  if (m === 'lbd') c.estimator = o.estimator;
  return c;
}

export async function runOne(m: Method, seed: number, o: SegmentOptions, data: SegData, ro: RunFiles = {}): Promise<SegmentRun & { examples?: SegmentExamples }> {
  const cfg = MODELS[o.model];
  if (!cfg) throw new UserError(`--model must be one of ${Object.keys(MODELS).join(', ')}; got '${o.model}'`);
  const { train } = data, H = train.height, W = train.width, px = H * W;
  if (o.batch > train.n) throw new UserError(`--batch ${o.batch} is larger than the training split (${train.n} images)`);
  const { model, dropouts, bottleneck, optimizers: { weights: wopt, logits: lopt } } = buildModel(m, o, seed, train.n);
  const classWeights = tensor(data.weights, [data.weights.length]).keep();
  const stepParts = { model, weights: wopt, logits: lopt, regularized: bottleneck };
  const generators = generatorsOf(dropouts);
  interface B { x: Float32Array; y: Int32Array; n: number }
  function* batchesOf(e: number): IterableIterator<B> {
    const order = permutation(train.n, mixSeed(seed, e));
    const flips = o.flip ? flipFlags(train.n, mixSeed(seed * 7 + 1, e)) : null;
    for (let s0 = 0; s0 < train.n; s0 += o.batch) {
      const idx = order.subarray(s0, Math.min(train.n, s0 + o.batch));
      let b = gather(train, idx);
      if (flips) b = flipHorizontal(b.x, b.y, idx.length, H, W, Array.from(idx, (i) => flips[i]));
      yield { ...b, n: idx.length };
    }
  }
  const forward = (b: B): Tensor => imageLosses(model.forward(tensor(b.x, [b.n, 3, H, W])), tensor(b.y, [b.n, H, W], 'i32'), classWeights);
  try {
    const h = await trainLoop({
      task: 'segment', run: `${m} seed ${seed}`, parts: { model, optimizers: { weights: wopt, logits: lopt }, generators }, epochs: o.epochs,
      history: freshHistory({}),
      ...(ro.checkpoint ? { checkpoint: { path: ro.checkpoint, runId: ro.runId ?? `${m}-s${seed}`, config: runConfig(m, seed, o), fingerprint: ro.fingerprint ?? dataFingerprint(data) } } : {}),
      batches: batchesOf, size: (b) => b.n, epochLoss: 'window', keepLayers: bottleneck,
      beforeEpoch: (e) => wopt.setLr(o.lr * o.lrDecay ** e),
      step: (b) => ({ loss: standardStep(stepParts, () => forward(b)) }),
      progress: (n, i) => ro.bar?.increment(n, { run: `${m} s${seed} epoch ${i.epoch + 1}/${o.epochs}`, loss: i.loss.toFixed(3) }),
    });
    const S = DROPOUT_REGISTRY[m].stochasticEval ? o.samples : 1;
    const pv = await predict(model, bottleneck, data.val, S, o.batch);
    const pt = await predict(model, bottleneck, data.test, S, o.batch);
    const curve = patchPavpuCurve(pt.patches, entropyRange(pv.patches.entropy), 21);
    const result: SegmentRun & { examples?: SegmentExamples } = {
      method: m, seed, pixelAccuracy: pt.confusion.pixelAccuracy(), iou: pt.confusion.iou(), meanIoU: pt.confusion.meanIoU(),
      pavpu: { t: curve.t, value: curve.pavpu, mean: curve.mean }, losses: h.losses, keep: h.keep,
      imagesPerSecond: h.examples / Math.max(h.seconds, 1e-9), seconds: h.seconds, perImage: perImageTable(pt, curve.threshold),
    };
    if (m === 'lbd' || m === 'mc') {
      const n = Math.min(4, data.test.n);
      result.examples = { pred: Array.from(pt.pred.subarray(0, n * px)), entropy: Array.from(pt.entropy.subarray(0, n * px), (v) => Math.round(v * 1000) / 1000) };
    }
    return result;
  } finally {
    wopt.dispose(); lopt?.dispose(); model.dispose(); classWeights.dispose();
  }
}

export interface SegmentGridRun extends GridRun { method: Method }

/** The grid: seeds × methods, in that order (run k goes to shard k mod n). */
export const segmentPlan = (o: SegmentOptions): SegmentGridRun[] =>
  Array.from({ length: o.seeds }, (_, s) => o.methods.map((m) => ({ id: `${m}-s${s + 1}`, seed: s + 1, method: m, label: `${m} seed ${s + 1}` }))).flat();

/** The report of finished runs (figure examples: the first seed's LBD and MC runs). */
export function segmentReport(o: SegmentOptions, data: SegData, runs: (SegmentRun & { examples?: SegmentExamples })[], extra: Record<string, unknown>): SegmentReport {
  const table = o.methods.map((m) => {
    const r = runs.filter((x) => x.method === m);
    return { method: m, pixelAccuracy: meanStd(r.map((x) => x.pixelAccuracy)), meanIoU: meanStd(r.map((x) => x.meanIoU)), meanPAvPU: meanStd(r.map((x) => x.pavpu.mean)), imagesPerSecond: meanStd(r.map((x) => x.imagesPerSecond)) };
  });
  const px = data.test.height * data.test.width, n = Math.min(4, data.test.n);
  const examples = {
    height: data.test.height, width: data.test.width, input: Array.from(data.raw, (v) => Math.round(255 * v)), label: Array.from(data.test.y.subarray(0, n * px)),
    methods: Object.fromEntries(runs.filter((r) => r.examples && r.seed === 1).map((r) => [r.method, r.examples!])),
  };
  // the figure's examples live in `examples`; the per-image tables stay in the run files
  const plain = runs.map((r) => { const { examples: _e, ...rest } = r; return withoutPerExample(rest); });
  return { task: 'segment', ...extra, sizes: { train: data.train.n, val: data.val.n, test: data.test.n }, table, runs: plain, examples } as unknown as SegmentReport;
}
