// The classification experiment (paper §3.2.1): VGG19 on CIFAR-10 with the five dropout kinds —
// options and presets, the data, the model (also the benchmark's VGG rows), one run (training on
// the common runner, then accuracy, NLL, ECE, predictive entropy, PAvPU over thresholds and Mean
// PAvPU, LBD's keep probabilities), the table over seeds and the grid's plan. Every method gets
// the same data order, budget and initial weights per seed. The command line is tasks/classify.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  tensor, scope, crossEntropy, softmax, logSoftmax, add, sub, neg, ge, max, mean, noGrad, Adam, Generator, type Tensor,
} from '../../engine/index.js';
import { vgg19, loadPretrained, type VGG } from '../../models/vgg.js';
import { splitParameters } from '../../layers/dropout/lbd-step.js';
import type { DropoutLayer } from '../../layers/dropout/base.js';
import { createDropout, DROPOUT_NAMES, DROPOUT_REGISTRY, type DropoutName } from '../../layers/dropout/registry.js';
import { meanStd, generatorsOf } from '../common/run-state.js';
import { UserError } from '../common/errors.js';
import { fingerprint } from '../common/config.js';
import { trainLoop, standardStep, freshHistory } from '../common/trainer.js';
import type { GridRun } from '../common/grid.js';
import type { RunFiles } from '../common/task-main.js';
import { loadImageFolder } from '../data/imagefolder.js';
import { loadCifar10Dir } from '../data/cifar-binary.js';
import { channelStats, normalize, randomCropFlip, resizeBilinear } from '../data/transforms.js';
import { batches, splitValidation } from '../data/batches.js';
import { gatherRows } from '../data/mnist.js';
import { accuracy, argmaxRows, predictiveEntropy, pavpu, nll, expectedCalibrationError } from '../../models/metrics/classification.js';
import type { ClassifyReport } from './report.js';
import { packF32, packU8, type ClassifyPerImage } from '../stats/per-example.js';

export const METHODS = DROPOUT_NAMES;
export type Method = DropoutName;

export interface ClassifyOptions {
  data: string;
  methods: Method[];
  granularity: 'layer' | 'unit';
  estimator: 'arm' | 'disarm';
  epochs: number;
  batch: number;
  lr: number;
  logitLr: number;
  seeds: number;
  width: number;
  hidden: number;
  trainPerClass: number;
  testPerClass: number;
  valFraction: number;
  samples: number;
  rate: number;
  augment: boolean;
  batchNorm: boolean;
  /** Network input size: 32 (CIFAR as is) or 224 (bilinear upsampling per batch, as the paper's ImageNet VGG19). */
  imageSize: 32 | 224;
  /** Initial weights for every run: a safetensors checkpoint of a model of this configuration. */
  init?: string;
}

export const PRESET_NAMES = ['cpu', 'study', 'paper'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export const PRESETS: Record<PresetName, Partial<ClassifyOptions>> = {
  // The largest protocol whose 15 runs (5 methods × 3 seeds) fit 100 minutes on this 2-core
  // host: width 1/16 with batch norm trains at ~145 images/s here (measured), 4,500 training
  // images × 10 epochs ≈ 5.2 min per run plus ~15 s of MC evaluation ≈ 82 min in all (the
  // committed run took 96 min with other work on the machine for its first 40). Batch norm is a
  // deviation (the paper fine-tunes an ImageNet VGG19, which has none): a 16-conv VGG trained
  // from scratch at this width barely moves without it.
  cpu: { width: 0.0625, hidden: 128, trainPerClass: 500, testPerClass: 200, epochs: 10, batch: 64, lr: 1e-3, logitLr: 1e-2, seeds: 3, samples: 10, batchNorm: true, imageSize: 32 },
  // The comparison study sized to today's engine: all 20,000 CIFAR-10 training images we have
  // (2,000 of them validation) and all 10,000 test images, 5 seeds. Width 1/8 (the widest whose
  // 25 runs fit ~3 hours here: ~290 images/s at 1/8 against ~530 at 1/16, measured with LBD on a
  // 2-core AVX-512 host), 5 epochs: 25 runs × 5 × 18,000 images ≈ 2.2 h of training plus the MC
  // evaluation of 12,000 images per run.
  study: { width: 0.125, hidden: 256, trainPerClass: 2000, testPerClass: 1000, epochs: 5, batch: 64, lr: 1e-3, logitLr: 1e-2, seeds: 5, samples: 10, batchNorm: true, imageSize: 32 },
  // The paper: full width, 224-px inputs (CIFAR upsampled bilinearly per batch), 4096-wide
  // classifier, Adam 1e-5, 300 epochs, 10 MC samples.
  paper: { width: 1, hidden: 4096, trainPerClass: 5000, testPerClass: 1000, epochs: 300, batch: 64, lr: 1e-5, logitLr: 1e-5, seeds: 3, samples: 10, batchNorm: false, imageSize: 224 },
};


/** The model's outputs: CIFAR-10's classes. */
export const CLASSES = 10;

export interface DataSet { x: Float32Array; y: Int32Array; n: number }
export interface ClassifyData { train: DataSet; test: DataSet; classes?: string[] }

/**
 * Loads and normalises the splits (statistics from the training images). An ImageFolder tree's
 * train/ and test/ must hold the same class folders, at most CLASSES of them: otherwise every
 * test label would silently mean another class, or a label would fall outside the outputs.
 */
export function loadData(o: ClassifyOptions): ClassifyData {
  const binary = existsSync(join(o.data, 'data_batch_1.bin'));
  let classes: string[] | undefined;
  let trainRaw: DataSet, testRaw: DataSet;
  if (binary) {
    trainRaw = loadCifar10Dir(o.data, 'train', { limit: o.trainPerClass * 10 });
    testRaw = loadCifar10Dir(o.data, 'test', { limit: o.testPerClass * 10 });
  } else {
    for (const split of ['train', 'test']) if (!existsSync(join(o.data, split))) throw new UserError(`--data: ${o.data} holds neither CIFAR-10 binary batches nor an ImageFolder ${split}/ folder`);
    let tr, te;
    try {
      tr = loadImageFolder(join(o.data, 'train'), { limit: o.trainPerClass, size: [32, 32] });
      te = loadImageFolder(join(o.data, 'test'), { limit: o.testPerClass, size: [32, 32] });
    } catch (e) { throw new UserError(`--data: ${(e as Error).message}`); }
    checkClasses(tr.classes, te.classes, CLASSES, o.data);
    classes = tr.classes; trainRaw = tr; testRaw = te;
  }
  const stats = channelStats(trainRaw.x, 3, 1024);
  return {
    train: { x: normalize(trainRaw.x, 3, 1024, stats), y: trainRaw.y, n: trainRaw.n },
    test: { x: normalize(testRaw.x, 3, 1024, stats), y: testRaw.y, n: testRaw.n },
    ...(classes ? { classes } : {}),
  };
}

/** Train and test class lists must be the same and fit the model's outputs. */
export function checkClasses(train: string[], test: string[], outputs: number, root: string): void {
  const missing = train.filter((c) => !test.includes(c)), extra = test.filter((c) => !train.includes(c));
  if (missing.length || extra.length) {
    throw new UserError(`--data: ${root}: train/ and test/ hold different class folders (${train.length} vs ${test.length}; ${[missing.length ? `not in test/: ${missing.join(', ')}` : '', extra.length ? `not in train/: ${extra.join(', ')}` : ''].filter(Boolean).join('; ')})`);
  }
  if (train.length > outputs) throw new UserError(`--data: ${root} has ${train.length} class folders but the model has ${outputs} outputs`);
}

/** The same data → the same fingerprint (checked on resume and merge). */
export const dataFingerprint = (d: ClassifyData): string => fingerprint([d.train.x, d.train.y, d.test.x, d.test.y]);

/** The dropout layer after each of VGG's two classifier layers (generators: seed·1000 + 17 + i). */
function dropoutFactory(m: Method, o: Pick<ClassifyOptions, 'rate' | 'estimator' | 'granularity'>, seed: number, datasetSize: number): (units: number, i: number) => DropoutLayer {
  return (units, i) => createDropout(m, {
    rate: o.rate, units, datasetSize, generator: new Generator(seed * 1000 + 17 + i, 1), estimator: o.estimator,
    ...(m === 'lbd' ? { granularity: o.granularity } : {}),
  });
}

/**
 * The run's model and optimizers: VGG19 with the method's dropout after both classifier layers,
 * Adam for the weights (and Adam at logitLr for learnable dropout's logits). The same initial
 * weights for every method of a seed (the weights draw from their own generator). The
 * benchmark's VGG rows are built here too, so a row is the task's model.
 */
export function buildModel(m: Method, o: Pick<ClassifyOptions, 'width' | 'hidden' | 'imageSize' | 'batchNorm' | 'rate' | 'estimator' | 'granularity' | 'lr' | 'logitLr'>, seed: number, trainN: number): { model: VGG; dropouts: DropoutLayer[]; optimizers: { weights: Adam; logits: Adam | null } } {
  const { model, dropouts } = vgg19({ width: o.width, hidden: o.hidden, classes: CLASSES, imageSize: o.imageSize, batchNorm: o.batchNorm, generator: new Generator(seed), dropout: dropoutFactory(m, o, seed, trainN) });
  const { weights, logits } = splitParameters(model);
  return { model, dropouts, optimizers: { weights: new Adam(weights, { lr: o.lr }), logits: logits.length ? new Adam(logits, { lr: o.logitLr }) : null } };
}

/** A batch's logits and per-example cross-entropies. */
export function classifyForward(model: VGG, b: { x: Float32Array; y: Int32Array }, imageSize: number): { logits: Tensor; ce: Tensor } {
  const logits = model.forward(inputTensor(b.x, b.y.length, imageSize));
  return { logits, ce: crossEntropy(logits, tensor(b.y, [b.y.length], 'i32'), { reduction: 'none' }) };
}

/** The share of examples whose label has the top logit: −CE_b equals the largest log-probability. */
export const batchAccuracy = (logits: Tensor, ce: Tensor): Tensor =>
  noGrad(() => mean(ge(neg(ce), sub(max(logSoftmax(logits, -1), -1), 1e-6))));

/** A batch of 32-px CHW images as the network's input tensor (upsampled when it takes 224 px). */
function inputTensor(x: Float32Array, n: number, size: number): Tensor {
  return size === 32 ? tensor(x, [n, 3, 32, 32]) : tensor(resizeBilinear(x, 3, 32, 32, size, size), [n, 3, size, size]);
}

/** Predictive probabilities: the conv features once, the classifier S times when stochastic. */
async function predict(model: VGG, drops: DropoutLayer[], d: DataSet, S: number, batch: number, size: number): Promise<Float32Array> {
  const out = new Float32Array(d.n * CLASSES);
  model.eval();
  for (const dr of drops) dr.sampleAtEval = S > 1;
  for (let at = 0; at < d.n; at += batch) {
    const n = Math.min(batch, d.n - at);
    const p = await scope(async () => {
      const x = inputTensor(d.x.subarray(at * 3072, (at + n) * 3072), n, size);
      const f = model.flatten.forward(model.features.forward(x));
      let acc: Tensor | null = null;
      for (let s = 0; s < S; s++) { const q = softmax(model.classifier.forward(f), -1); acc = acc ? add(acc, q) : q; }
      return acc!.data();
    });
    for (let i = 0; i < p.length; i++) out[at * CLASSES + i] = p[i] / S;
  }
  for (const dr of drops) dr.sampleAtEval = false;
  model.train();
  return out;
}

export interface MethodResult {
  method: Method; seed: number; accuracy: number; nll: number; ece: number; meanEntropy: number;
  pavpu: { t: number[]; value: number[]; mean: number }; keep: number[][]; losses: number[]; imagesPerSecond: number;
  /** Training accuracy over each epoch's batches (in training mode, as the progress bar shows it). */
  trainAccuracy?: number[];
  /** The final keep probability of every unit of every dropout layer (one value per layer when learnt per layer). */
  keepFinal?: number[][];
  /** Per test image, for paired comparisons between methods (tasks/stats/paired.ts). */
  perImage?: ClassifyPerImage;
}

/** The options that shape one run (epochs aside); a resumed or merged run must have been made with these. */
export function runConfig(m: Method, seed: number, o: ClassifyOptions): Record<string, unknown> {
  const c: Record<string, unknown> = {
    method: m, seed, batch: o.batch, lr: o.lr, width: o.width, hidden: o.hidden, trainPerClass: o.trainPerClass, testPerClass: o.testPerClass,
    valFraction: o.valFraction, samples: o.samples, rate: o.rate, augment: o.augment, batchNorm: o.batchNorm, imageSize: o.imageSize, init: o.init ?? null,
  };
  if (DROPOUT_REGISTRY[m].learnable) c.logitLr = o.logitLr;
  if (m === 'lbd') { c.granularity = o.granularity; c.estimator = o.estimator; }
  return c;
}

/** Where a run keeps its checkpoint, and what it must match to be resumed from it. */
export async function runOne(m: Method, seed: number, o: ClassifyOptions, data: ClassifyData, ro: RunFiles = {}): Promise<MethodResult> {
  const split = splitValidation(data.train.n, o.valFraction, seed);
  const train: DataSet = { x: gatherRows(data.train.x, 3072, split.train), y: Int32Array.from(split.train, (i) => data.train.y[i]), n: split.train.length };
  const val: DataSet = { x: gatherRows(data.train.x, 3072, split.val), y: Int32Array.from(split.val, (i) => data.train.y[i]), n: split.val.length };
  if (o.batch > train.n) throw new UserError(`--batch ${o.batch} is larger than the training split (${train.n} images after holding out --val-fraction ${o.valFraction}); batches are full-sized (the last partial one is dropped)`);
  const { model, dropouts, optimizers: { weights: wopt, logits: lopt } } = buildModel(m, o, seed, train.n);
  if (o.init && !(ro.checkpoint && existsSync(ro.checkpoint))) await loadPretrained(model, o.init);
  const stepParts = { model, weights: wopt, logits: lopt, regularized: dropouts };
  const generators = generatorsOf(dropouts);
  const batchesOf = (e: number) => batches(o.augment ? randomCropFlip(train.x, 3, 32, 32, { seed: seed * 7919 + e }) : train.x, train.y, { batchSize: o.batch, seed, epoch: e, dropLast: true });
  const forward = (b: { x: Float32Array; y: Int32Array }): { logits: Tensor; ce: Tensor } => classifyForward(model, b, o.imageSize);
  try {
    const h = await trainLoop({
      task: 'classify', run: `${m} seed ${seed}`, parts: { model, optimizers: { weights: wopt, logits: lopt }, generators }, epochs: o.epochs,
      history: freshHistory({}),
      ...(ro.checkpoint ? { checkpoint: { path: ro.checkpoint, runId: ro.runId ?? `${m}-s${seed}`, config: runConfig(m, seed, o), fingerprint: ro.fingerprint ?? dataFingerprint(data) } } : {}),
      batches: batchesOf, size: (b) => b.y.length, epochLoss: 'last', keepLayers: dropouts,
      step: (b) => {
        let f: { logits: Tensor; ce: Tensor } | null = null;
        // the closure runs once: lbdStep replays its recorded tape for the second pass
        const loss = standardStep(stepParts, () => (f = forward(b)).ce);
        return { loss, extra: batchAccuracy(f!.logits, f!.ce) };
      },
      progress: (n, i) => ro.bar?.increment(n, { run: `${m} s${seed} epoch ${i.epoch + 1}/${o.epochs}`, loss: i.loss.toFixed(3), acc: Number.isNaN(i.extra) ? '-' : (100 * i.extra).toFixed(1) }),
    });
    const S = DROPOUT_REGISTRY[m].stochasticEval ? o.samples : 1;
    const keepFinal = await Promise.all(dropouts.map(async (d) => Array.from(await d.keepProbabilities())));
    const pv = await predict(model, dropouts, val, S, 100, o.imageSize);
    const pt = await predict(model, dropouts, data.test, S, 100, o.imageSize);
    const entV = predictiveEntropy(pv, CLASSES), entT = predictiveEntropy(pt, CLASSES);
    let lo = Infinity, hi = -Infinity;
    for (const v of entV) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const pred = argmaxRows(pt, CLASSES);
    const correct = Array.from(pred, (p, i) => p === data.test.y[i]);
    const t = Array.from({ length: 21 }, (_, i) => i / 20);
    const value = t.map((s) => pavpu(correct, entT, lo + s * (hi - lo)));
    const perImage: ClassifyPerImage = {
      pred: packU8(pred), pTrue: packF32(Array.from(data.test.y, (y, i) => pt[i * CLASSES + y])),
      confidence: packF32(Array.from(pred, (p, i) => pt[i * CLASSES + p])), entropy: packF32(entT), entropyRange: [lo, hi],
    };
    return {
      method: m, seed, accuracy: accuracy(pred, data.test.y), nll: nll(pt, data.test.y, CLASSES), ece: expectedCalibrationError(pt, data.test.y, CLASSES),
      meanEntropy: entT.reduce((a, b) => a + b, 0) / entT.length, pavpu: { t, value, mean: value.reduce((a, b) => a + b, 0) / value.length },
      keep: h.keep, losses: h.losses, trainAccuracy: h.extra, imagesPerSecond: h.examples / Math.max(h.seconds, 1e-9), keepFinal, perImage,
    };
  } finally {
    wopt.dispose(); lopt?.dispose(); model.dispose();
  }
}

/** Table 1's rows: mean ± std over seeds per method. */
export function classifyTable(methods: readonly string[], results: MethodResult[]): ClassifyReport['table'] {
  return methods.map((m) => {
    const r = results.filter((x) => x.method === m);
    return { method: m, accuracy: meanStd(r.map((x) => x.accuracy)), meanPAvPU: meanStd(r.map((x) => x.pavpu.mean)), nll: meanStd(r.map((x) => x.nll)), ece: meanStd(r.map((x) => x.ece)), imagesPerSecond: meanStd(r.map((x) => x.imagesPerSecond)) };
  });
}

export interface ClassifyRun extends GridRun { method: Method }

/** The grid: seeds × methods, in that order (run k goes to shard k mod n). */
export const classifyPlan = (o: ClassifyOptions): ClassifyRun[] =>
  Array.from({ length: o.seeds }, (_, s) => o.methods.map((m) => ({ id: `${m}-s${s + 1}`, seed: s + 1, method: m, label: `${m} seed ${s + 1}` }))).flat();
