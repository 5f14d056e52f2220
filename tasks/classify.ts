// node dist/tasks/classify.js: VGG19 on CIFAR-10 with the five dropout kinds (paper §3.2.1):
// accuracy, NLL, ECE, predictive entropy, PAvPU over thresholds and Mean PAvPU, LBD's keep
// probabilities over training. Every method gets the same data order, budget and initial
// weights per seed. Writes DIR/report.json, report.html and figures; checkpoints every epoch.
// The training loop never waits for the GPU: losses go to a ScalarLog read every 16 steps, so
// the next batch is gathered and uploaded while the GPU still works on the current one.
import { mkdirSync, writeFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  getGpu, tensor, scope, sync, flush, crossEntropy, softmax, logSoftmax, add, sub, neg, ge, max, mean, noGrad, Adam, Generator, ScalarLog, type Tensor,
} from '../engine/index.js';
import { vgg19, loadPretrained, type VGG } from '../models/vgg.js';
import { Dropout, MCDropout } from '../layers/dropout/dropout.js';
import { GaussianDropout } from '../layers/dropout/gaussian.js';
import { ConcreteDropout } from '../layers/dropout/concrete.js';
import { LearnableBernoulliDropout } from '../layers/dropout/lbd.js';
import { lbdStep, splitParameters } from '../layers/dropout/lbd-step.js';
import { sumRegularizers, type DropoutLayer } from '../layers/dropout/base.js';
import { LogitHolder, generatorOf, meanStd, gitCommit } from './common/run-state.js';
import { positiveOption, renderAndExit } from './common/cli.js';
import { saveModule, loadModule } from '../layers/checkpoint.js';
import { loadImageFolder } from './data/imagefolder.js';
import { loadCifar10Dir } from './data/cifar-binary.js';
import { channelStats, normalize, randomCropFlip, resizeBilinear } from './data/transforms.js';
import { batches, splitValidation } from './data/batches.js';
import { gatherRows } from './data/mnist.js';
import { accuracy, argmaxRows, predictiveEntropy, pavpu, nll, expectedCalibrationError } from './metrics/classification.js';
import { writeClassifyReport, table1Markdown, type ClassifyReport } from './classify/report.js';

export const METHODS = ['regular', 'mc', 'gaussian', 'concrete', 'lbd'] as const;
export type Method = (typeof METHODS)[number];

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

export const PRESETS: Record<'cpu' | 'paper', Partial<ClassifyOptions>> = {
  // The largest protocol whose 15 runs (5 methods × 3 seeds) fit 100 minutes on this 2-core
  // host: width 1/16 with batch norm trains at ~145 images/s here (measured), 4,500 training
  // images × 10 epochs ≈ 5.2 min per run plus ~15 s of MC evaluation ≈ 82 min in all (the
  // committed run took 96 min with other work on the machine for its first 40). Batch norm is a
  // deviation (the paper fine-tunes an ImageNet VGG19, which has none): a 16-conv VGG trained
  // from scratch at this width barely moves without it.
  cpu: { width: 0.0625, hidden: 128, trainPerClass: 500, testPerClass: 200, epochs: 10, batch: 64, lr: 1e-3, logitLr: 1e-2, seeds: 3, samples: 10, batchNorm: true, imageSize: 32 },
  // The paper: full width, 224-px inputs (CIFAR upsampled bilinearly per batch), 4096-wide
  // classifier, Adam 1e-5, 300 epochs, 10 MC samples.
  paper: { width: 1, hidden: 4096, trainPerClass: 5000, testPerClass: 1000, epochs: 300, batch: 64, lr: 1e-5, logitLr: 1e-5, seeds: 3, samples: 10, batchNorm: false, imageSize: 224 },
};

interface DataSet { x: Float32Array; y: Int32Array; n: number }

function loadData(o: ClassifyOptions): { train: DataSet; test: DataSet } {
  const binary = existsSync(join(o.data, 'data_batch_1.bin'));
  const trainRaw = binary ? loadCifar10Dir(o.data, 'train', { limit: o.trainPerClass * 10 }) : loadImageFolder(join(o.data, 'train'), { limit: o.trainPerClass, size: [32, 32] });
  const testRaw = binary ? loadCifar10Dir(o.data, 'test', { limit: o.testPerClass * 10 }) : loadImageFolder(join(o.data, 'test'), { limit: o.testPerClass, size: [32, 32] });
  const stats = channelStats(trainRaw.x, 3, 1024);
  return {
    train: { x: normalize(trainRaw.x, 3, 1024, stats), y: trainRaw.y, n: trainRaw.n },
    test: { x: normalize(testRaw.x, 3, 1024, stats), y: testRaw.y, n: testRaw.n },
  };
}

function dropoutFactory(m: Method, o: ClassifyOptions, seed: number, datasetSize: number): (units: number, i: number) => DropoutLayer {
  const gen = (i: number): Generator => new Generator(seed * 1000 + 17 + i, 1);
  switch (m) {
    case 'regular': return (_u, i) => new Dropout(o.rate, { generator: gen(i) });
    case 'mc': return (_u, i) => new MCDropout(o.rate, { generator: gen(i) });
    case 'gaussian': return (units, i) => new GaussianDropout({ units, initialKeep: Math.max(0.5, 1 - o.rate), datasetSize, generator: gen(i) });
    case 'concrete': return (units, i) => new ConcreteDropout({ units, initialKeep: 1 - o.rate, datasetSize, generator: gen(i) });
    case 'lbd': return (units, i) => new LearnableBernoulliDropout({
      granularity: o.granularity, units, estimator: o.estimator, initialKeep: 1 - o.rate, datasetSize, generator: gen(i),
    });
  }
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
  const out = new Float32Array(d.n * 10);
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
    for (let i = 0; i < p.length; i++) out[at * 10 + i] = p[i] / S;
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
}

/** Where a run keeps its per-epoch checkpoint (resume) and its finished result. */
export interface RunFiles { checkpoint: string; logitCheckpoint: string; result: string }

export const runFiles = (dir: string, m: Method, seed: number): RunFiles => ({
  checkpoint: join(dir, 'checkpoints', `${m}-s${seed}.safetensors`),
  logitCheckpoint: join(dir, 'checkpoints', `${m}-s${seed}.logits.safetensors`),
  result: join(dir, 'runs', `${m}-s${seed}.json`),
});

export async function runOne(m: Method, seed: number, o: ClassifyOptions, data: { train: DataSet; test: DataSet }, bar?: cliProgress.SingleBar, files?: RunFiles): Promise<MethodResult> {
  const split = splitValidation(data.train.n, o.valFraction, seed);
  const train: DataSet = { x: gatherRows(data.train.x, 3072, split.train), y: Int32Array.from(split.train, (i) => data.train.y[i]), n: split.train.length };
  const val: DataSet = { x: gatherRows(data.train.x, 3072, split.val), y: Int32Array.from(split.val, (i) => data.train.y[i]), n: split.val.length };
  // same initial weights for every method of a seed: the weights draw from their own generator
  const { model, dropouts } = vgg19({ width: o.width, hidden: o.hidden, classes: 10, imageSize: o.imageSize, batchNorm: o.batchNorm, generator: new Generator(seed), dropout: dropoutFactory(m, o, seed, train.n) });
  if (o.init && !(files && existsSync(files.checkpoint))) await loadPretrained(model, o.init);
  const { weights, logits } = splitParameters(model);
  const wopt = new Adam(weights, { lr: o.lr });
  const lopt = logits.length ? new Adam(logits, { lr: o.logitLr }) : null;
  let losses: number[] = [], keep: number[][] = [], trainAccuracy: number[] = [];
  let images = 0, seconds = 0, start = 0;
  const log = new ScalarLog(16), accLog = new ScalarLog(16);
  if (files && existsSync(files.checkpoint)) {
    // resume: weights, optimizer state and the per-epoch history from the last finished epoch
    const meta = await loadModule(files.checkpoint, model, { optimizer: wopt });
    if (lopt && existsSync(files.logitCheckpoint)) await loadModule(files.logitCheckpoint, new LogitHolder(logits), { optimizer: lopt });
    const h = JSON.parse(meta.history ?? '{}') as { epoch?: number; losses?: number[]; keep?: number[][]; trainAccuracy?: number[]; images?: number; seconds?: number; rng?: number[] };
    start = h.epoch ?? 0;
    h.rng?.forEach((pos, i) => generatorOf(dropouts[i])?.seek(pos));
    losses = h.losses ?? []; keep = h.keep ?? []; trainAccuracy = h.trainAccuracy ?? []; images = h.images ?? 0; seconds = h.seconds ?? 0;
    bar?.increment(start * Math.floor(train.n / o.batch));
  }
  for (let e = start; e < o.epochs; e++) {
    const x = o.augment ? randomCropFlip(train.x, 3, 32, 32, { seed: seed * 7919 + e }) : train.x;
    let last = NaN, step = 0, hits = 0;
    const t0 = performance.now();
    // read the recorded losses (one GPU round trip per log.capacity steps) and check them
    const drain = async (): Promise<void> => {
      const values = await log.read(), accs = await accLog.read();
      values.forEach((v, i) => {
        if (!Number.isFinite(v)) throw new Error(`classify: ${m} seed ${seed}: the loss became ${v} at step ${step - values.length + i + 1} of epoch ${e + 1}; lower --lr`);
      });
      if (!values.length) return;
      last = values[values.length - 1];
      hits += accs.reduce((p, q) => p + q, 0);
      const runningLoss = values.reduce((p, q) => p + q, 0) / values.length, runningAcc = accs.reduce((p, q) => p + q, 0) / accs.length;
      bar?.increment(values.length, { run: `${m} s${seed} epoch ${e + 1}/${o.epochs}`, loss: runningLoss.toFixed(3), acc: (100 * runningAcc).toFixed(1) });
    };
    for (const b of batches(x, train.y, { batchSize: o.batch, seed, epoch: e, dropLast: true })) {
      scope(() => {
        const xb = inputTensor(b.x, b.y.length, o.imageSize);
        const yb = tensor(b.y, [b.y.length], 'i32');
        let loss: Tensor, logits: Tensor | null = null, ce: Tensor | null = null;
        // the closure runs once: lbdStep replays its recorded tape for the second pass
        const perExample = (): Tensor => (ce = crossEntropy(logits = model.forward(xb), yb, { reduction: 'none' }));
        if (lopt) {
          loss = lbdStep(perExample, { weights: wopt, logits: lopt, model, regularizer: () => sumRegularizers(dropouts) }).loss;
        } else {
          wopt.zeroGrad();
          loss = mean(perExample());
          const r = sumRegularizers(dropouts);
          (r ? add(loss, r) : loss).backward();
          wopt.step();
        }
        log.record(loss);
        accLog.record(batchAccuracy(logits!, ce!));
      });
      flush(); // the GPU starts on this step while the host gathers and uploads the next batch
      images += b.y.length;
      step++;
      if (log.full) await drain();
    }
    await drain();
    await sync();
    seconds += (performance.now() - t0) / 1000;
    losses.push(last);
    trainAccuracy.push(hits / Math.max(step, 1));
    keep.push(await Promise.all(dropouts.map(async (d) => { const k = await d.keepProbabilities(); return k.reduce((a, b) => a + b, 0) / k.length; })));
    if (files) {
      mkdirSync(dirname(files.checkpoint), { recursive: true });
      const rng = dropouts.map((d) => generatorOf(d)?.position ?? 0);
      const history = JSON.stringify({ epoch: e + 1, losses, keep, trainAccuracy, images, seconds, rng });
      await saveModule(files.checkpoint, model, { optimizer: wopt, metadata: { history } });
      if (lopt) await saveModule(files.logitCheckpoint, new LogitHolder(logits), { optimizer: lopt });
    }
  }
  const S = m === 'regular' ? 1 : o.samples;
  const keepFinal = await Promise.all(dropouts.map(async (d) => Array.from(await d.keepProbabilities())));
  const pv = await predict(model, dropouts, val, S, 100, o.imageSize);
  const pt = await predict(model, dropouts, data.test, S, 100, o.imageSize);
  const entV = predictiveEntropy(pv, 10), entT = predictiveEntropy(pt, 10);
  let lo = Infinity, hi = -Infinity;
  for (const v of entV) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  const pred = argmaxRows(pt, 10);
  const correct = Array.from(pred, (p, i) => p === data.test.y[i]);
  const t = Array.from({ length: 21 }, (_, i) => i / 20);
  const value = t.map((s) => pavpu(correct, entT, lo + s * (hi - lo)));
  wopt.dispose(); lopt?.dispose(); model.dispose(); log.dispose(); accLog.dispose();
  const result: MethodResult = {
    method: m, seed, accuracy: accuracy(pred, data.test.y), nll: nll(pt, data.test.y, 10), ece: expectedCalibrationError(pt, data.test.y, 10),
    meanEntropy: entT.reduce((a, b) => a + b, 0) / entT.length, pavpu: { t, value, mean: value.reduce((a, b) => a + b, 0) / value.length },
    keep, losses, trainAccuracy, imagesPerSecond: images / Math.max(seconds, 1e-9), keepFinal,
  };
  if (files) {
    mkdirSync(dirname(files.result), { recursive: true });
    writeFileSync(files.result, JSON.stringify(result));
  }
  return result;
}

const stat = meanStd;

async function main(): Promise<void> {
  const cli = new Command()
    .name('classify')
    .description('VGG19 on CIFAR-10 with regular, MC, Gaussian, Concrete and learnable Bernoulli dropout (paper §3.2.1).')
    .option('--data <path>', 'CIFAR-10: an ImageFolder tree (train/, test/) or the binary batches', '../shared/data/cifar10-jpeg')
    .option('--dropout <kind>', 'regular | mc | gaussian | concrete | lbd | all', 'all')
    .option('--preset <name>', 'cpu | paper (other options override it)', 'cpu')
    .option('--lbd-granularity <g>', 'layer | unit', 'layer')
    .option('--estimator <e>', 'arm | disarm', 'arm')
    .option('--epochs <n>').option('--batch <n>').option('--lr <x>').option('--logit-lr <x>').option('--seeds <n>')
    .option('--width <x>', 'channel width multiplier').option('--hidden <n>', 'classifier width')
    .option('--train-per-class <n>').option('--test-per-class <n>')
    .option('--val-fraction <x>', 'held-out share of the training images', '0.1')
    .option('--samples <n>', 'MC samples at evaluation')
    .option('--rate <p>', 'drop rate (initial for learnable kinds)', '0.5')
    .option('--no-augment', 'no random crop + flip')
    .option('--batch-norm <on>', 'batch norm after each conv: true | false (preset decides by default)')
    .option('--init <file>', 'initial weights (safetensors, names as the model\'s namedParameters(), same configuration); no ImageNet weights ship with this project')
    .option('--image-size <px>', 'network input: 32 | 224 (CIFAR upsampled bilinearly per batch; preset decides by default)')
    .option('--out <dir>', 'where report.json, report.html and the figures go', 'runs/classify')
    .option('--render <report.json>', 'only (re)write the figures and report.html of an existing report')
    .option('--resume', 'reuse finished runs and continue unfinished ones from their last epoch checkpoint in --out')
    .parse();
  const a = cli.opts<Record<string, string | boolean | undefined>>();
  if (a.render) await renderAndExit<ClassifyReport>(a.render as string, 'classify', (r) => Array.isArray(r.table) && Array.isArray(r.results), writeClassifyReport, table1Markdown);
  const preset = PRESETS[a.preset as 'cpu' | 'paper'];
  if (!preset) throw new Error(`--preset must be cpu or paper, got '${a.preset}'`);
  const num = (k: string, fallback: number | undefined, int = false): number => positiveOption(a, k, fallback, int);
  const kinds = a.dropout === 'all' ? [...METHODS] : [a.dropout as Method];
  for (const k of kinds) if (!METHODS.includes(k)) throw new Error(`--dropout must be one of ${METHODS.join(', ')} or all; got '${k}'`);
  const o: ClassifyOptions = {
    data: a.data as string, methods: kinds, granularity: a.lbdGranularity as 'layer' | 'unit', estimator: a.estimator as 'arm' | 'disarm',
    epochs: num('epochs', preset.epochs, true), batch: num('batch', preset.batch, true), lr: num('lr', preset.lr), logitLr: num('logit-lr', preset.logitLr),
    seeds: num('seeds', preset.seeds, true), width: num('width', preset.width), hidden: num('hidden', preset.hidden, true),
    trainPerClass: num('train-per-class', preset.trainPerClass, true), testPerClass: num('test-per-class', preset.testPerClass, true),
    valFraction: Number(a.valFraction), samples: num('samples', preset.samples, true), rate: Number(a.rate), augment: a.augment !== false,
    batchNorm: a.batchNorm === undefined ? !!preset.batchNorm : a.batchNorm === 'true',
    imageSize: num('image-size', preset.imageSize, true) as 32 | 224,
    init: a.init as string | undefined,
  };
  if (o.init && !existsSync(o.init)) throw new Error(`--init: ${o.init} does not exist`);
  if (o.imageSize !== 32 && o.imageSize !== 224) throw new Error(`--image-size must be 32 or 224, got '${a.imageSize}'`);
  if (a.batchNorm !== undefined && !['true', 'false'].includes(a.batchNorm as string)) throw new Error(`--batch-norm must be true or false, got '${a.batchNorm}'`);
  if (!['layer', 'unit'].includes(o.granularity)) throw new Error(`--lbd-granularity must be layer or unit, got '${o.granularity}'`);
  if (!['arm', 'disarm'].includes(o.estimator)) throw new Error(`--estimator must be arm or disarm, got '${o.estimator}'`);
  if (!(o.valFraction > 0 && o.valFraction < 1)) throw new Error(`--val-fraction must be in (0, 1), got '${a.valFraction}'`);
  if (!(o.rate >= 0 && o.rate < 1)) throw new Error(`--rate must be in [0, 1), got '${a.rate}'`);
  if (!existsSync(o.data)) throw new Error(`--data: ${o.data} does not exist`);
  const gpu = await getGpu();
  const data = loadData(o);
  const stepsPerRun = Math.floor(Math.round(data.train.n * (1 - o.valFraction)) / o.batch) * o.epochs;
  // noTTYOutput: logs (CI, nohup) get a progress line every 30 s
  const bar = new cliProgress.SingleBar({ format: 'classify |{bar}| {percentage}% | ETA {eta_formatted} | {run} | loss {loss} | train acc {acc}%', hideCursor: true, noTTYOutput: true, notTTYSchedule: 30000 }, cliProgress.Presets.shades_classic);
  bar.start(stepsPerRun * o.seeds * kinds.length, 0, { run: '-', loss: '-', acc: '-' });
  const results: MethodResult[] = [];
  for (let seed = 1; seed <= o.seeds; seed++) {
    for (const m of kinds) {
      const files = runFiles(a.out as string, m, seed);
      if (a.resume && existsSync(files.result)) {
        results.push(JSON.parse(readFileSync(files.result, 'utf8')) as MethodResult);
        bar.increment(stepsPerRun);
        continue;
      }
      if (!a.resume && existsSync(files.checkpoint)) rmSync(files.checkpoint);
      if (!a.resume && existsSync(files.logitCheckpoint)) rmSync(files.logitCheckpoint);
      results.push(await runOne(m, seed, o, data, bar, files));
    }
  }
  bar.stop();
  const table = kinds.map((m) => {
    const r = results.filter((x) => x.method === m);
    return { method: m, accuracy: stat(r.map((x) => x.accuracy)), meanPAvPU: stat(r.map((x) => x.pavpu.mean)), nll: stat(r.map((x) => x.nll)), ece: stat(r.map((x) => x.ece)), imagesPerSecond: stat(r.map((x) => x.imagesPerSecond)) };
  });
  for (const t of table) {
    console.log(`${t.method.padEnd(9)} accuracy ${(100 * t.accuracy.mean).toFixed(2)} ± ${(100 * t.accuracy.std).toFixed(2)} %, Mean PAvPU ${t.meanPAvPU.mean.toFixed(3)} ± ${t.meanPAvPU.std.toFixed(3)}, ` +
      `NLL ${t.nll.mean.toFixed(3)}, ECE ${t.ece.mean.toFixed(3)}, ${t.imagesPerSecond.mean.toFixed(1)} images/s`);
  }
  const commit = gitCommit();
  mkdirSync(a.out as string, { recursive: true });
  const file = join(a.out as string, 'report.json');
  const report = { task: 'classify', options: o, preset: a.preset as string, adapter: gpu.info.name, commit, date: new Date().toISOString(), trainSize: data.train.n, testSize: data.test.n, table, results };
  writeFileSync(file, JSON.stringify(report, null, 2));
  const written = await writeClassifyReport(a.out as string, report as unknown as ClassifyReport);
  console.log(`report: ${file} (+ ${written.join(', ')})`);
  process.exit(0);
}

if (process.argv[1]?.endsWith('classify.js')) await main();
