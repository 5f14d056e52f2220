// node dist/tasks/segment.js: semantic segmentation of CamVid with FC-DenseNet (Tiramisu) and the
// five dropout kinds in the 15 bottleneck layers (paper §3.2.2): pixel accuracy, per-class and
// mean IoU, patch-wise PAvPU (w = 2) over thresholds and Mean PAvPU, with S stochastic passes.
// The studied kind sits in the bottleneck's dense layers (channel masks shared over pixels, one
// logit per layer for LBD); every other slot keeps plain dropout 0.2, as the paper. Every method
// gets the same data order, flips and initial weights per seed. Writes DIR/report.json,
// report.html and figures; checkpoints every epoch (--resume continues).
import { mkdirSync, writeFileSync, existsSync, readFileSync, rmSync, renameSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  getGpu, tensor, scope, sync, flush, crossEntropy, softmax, add, mul, div, sum, maximum, reshape, indexSelect, mean,
  RMSProp, Adam, Generator, ScalarLog, full, type Tensor,
} from '../engine/index.js';
import { tiramisu, tiramisuDropout, FC_DENSENET_103, FC_DENSENET_67, FC_DENSENET_56, type TiramisuConfig, type Tiramisu } from '../models/tiramisu.js';
import { Dropout, MCDropout } from '../layers/dropout/dropout.js';
import { GaussianDropout } from '../layers/dropout/gaussian.js';
import { ConcreteDropout } from '../layers/dropout/concrete.js';
import { LearnableBernoulliDropout } from '../layers/dropout/lbd.js';
import { lbdStep, splitParameters } from '../layers/dropout/lbd-step.js';
import { sumRegularizers, type DropoutLayer } from '../layers/dropout/base.js';
import { saveModule, loadModule } from '../layers/checkpoint.js';
import { loadCamVidSplits, flipFlags, flipHorizontal, channelStats, normalizeChannels, medianFrequencyWeights, CAMVID_NUM_CLASSES, CAMVID_VOID, type CamVidSet } from './data/camvid.js';
import { permutation } from './data/mnist.js';
import { mixSeed } from './data/rng.js';
import { SegmentationConfusion, argmaxChannels, pixelEntropy, patches, concatPatches, entropyRange, patchPavpuCurve, type Patches } from './metrics/segmentation.js';
import { LogitHolder, generatorOf, meanStd, gitCommit } from './common/run-state.js';
import { positiveOption, renderAndExit } from './common/cli.js';
import { writeSegmentReport, table1SegMarkdown, type SegmentReport, type SegmentRun, type SegmentExamples } from './segment/report.js';

export const METHODS = ['regular', 'mc', 'gaussian', 'concrete', 'lbd'] as const;
export type Method = (typeof METHODS)[number];

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

export const PRESETS: Record<'cpu' | 'paper', Partial<SegmentOptions>> = {
  // The largest protocol whose 15 runs (5 methods × 3 seeds) fit 100 minutes on this 2-core host,
  // from quiet-host timings of the `tiny` net at 80×60, batch 4: training 2.4 images/s; an
  // evaluation pass 0.18 s per image (MC: the down path once, the bottleneck and up path S = 10
  // times, ~1 s per image). 300 training images × 2 epochs ≈ 250 s, 68 evaluation images ≈ 65 s.
  // Measured: one LBD run took 6.4 min with data loading (training 270 s), so ~90 min for all 15.
  // (At 120×90 one epoch of the 367 images alone takes 285 s.)
  cpu: { model: 'tiny', size: [60, 80], epochs: 2, batch: 4, lr: 1e-3, rho: 0.9, lrDecay: 0.95, logitLr: 1e-2, seeds: 3, samples: 10, trainLimit: 300, valLimit: 20, testLimit: 48, memoryEfficient: false },
  // The paper: FC-DenseNet-103 at 480×360, batch 1, RMSProp 1e-4 (decay 0.995), 700 epochs, S = 10.
  paper: { model: '103', size: [360, 480], epochs: 700, batch: 1, lr: 1e-4, rho: 0.995, lrDecay: 1, logitLr: 1e-4, seeds: 3, samples: 10, trainLimit: 367, valLimit: 101, testLimit: 233, memoryEfficient: true },
};

/** The studied kind for the bottleneck's dense layers. */
function bottleneckDropout(m: Method, o: SegmentOptions, seed: number, datasetSize: number): (channels: number, i: number) => DropoutLayer {
  const generator = (i: number): Generator => new Generator(seed * 1000 + 31 + i, 1);
  switch (m) {
    case 'regular': return (_c, i) => new Dropout(o.rate, { generator: generator(i) });
    case 'mc': return (_c, i) => new MCDropout(o.rate, { generator: generator(i) });
    case 'gaussian': return (c, i) => new GaussianDropout({ units: c, granularity: 'layer', noise: 'channel', initialKeep: 1 - o.rate, datasetSize, generator: generator(i) });
    case 'concrete': return (c, i) => new ConcreteDropout({ units: c, granularity: 'layer', noise: 'channel', initialKeep: 1 - o.rate, datasetSize, generator: generator(i) });
    case 'lbd': return (c, i) => new LearnableBernoulliDropout({ granularity: 'layer', units: c, estimator: o.estimator, initialKeep: 1 - o.rate, datasetSize, generator: generator(i) });
  }
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

export interface Predictions { pred: Int32Array; entropy: Float64Array; confusion: SegmentationConfusion; patches: Patches }

/** Mean softmax of S passes (one deterministic pass when S = 1), its argmax and entropy per pixel, the confusion matrix and the patches. */
export async function predict(model: Tiramisu, drops: DropoutLayer[], s: CamVidSet, S: number, batch: number): Promise<Predictions> {
  const H = s.height, W = s.width, px = H * W, C = CAMVID_NUM_CLASSES;
  const pred = new Int32Array(s.n * px), entropy = new Float64Array(s.n * px);
  const confusion = new SegmentationConfusion(C, CAMVID_VOID), parts: Patches[] = [];
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
      parts.push(patches(pr, y, en, n, H, W, { window: 2, voidLabel: CAMVID_VOID }));
    }
  } finally {
    for (const d of drops) d.sampleAtEval = false;
    model.train();
  }
  return { pred, entropy, confusion, patches: concatPatches(parts) };
}

export interface RunFiles { checkpoint: string; logitCheckpoint: string; result: string }
export const runFiles = (dir: string, m: Method, seed: number): RunFiles => ({
  checkpoint: join(dir, 'checkpoints', `${m}-s${seed}.safetensors`),
  logitCheckpoint: join(dir, 'checkpoints', `${m}-s${seed}.logits.safetensors`),
  result: join(dir, 'runs', `${m}-s${seed}.json`),
});

export async function runOne(m: Method, seed: number, o: SegmentOptions, data: SegData, files: RunFiles, bar?: cliProgress.SingleBar): Promise<SegmentRun & { examples?: SegmentExamples }> {
  const cfg = MODELS[o.model];
  if (!cfg) throw new Error(`--model must be one of ${Object.keys(MODELS).join(', ')}; got '${o.model}'`);
  const { train } = data, H = train.height, W = train.width, px = H * W;
  const studied = bottleneckDropout(m, o, seed, train.n);
  const bottleneck: DropoutLayer[] = [];
  const slot = (c: number): DropoutLayer => { const d = studied(c, bottleneck.length); bottleneck.push(d); return d; };
  const { model, dropouts } = tiramisu({ ...cfg, generator: new Generator(seed), dropout: tiramisuDropout(slot, { p: o.rate, seed: seed * 1000 + 7 }), memoryEfficient: o.memoryEfficient });
  const { weights, logits } = splitParameters(model);
  const wopt = new RMSProp(weights, { lr: o.lr, rho: o.rho });
  const lopt = logits.length ? new Adam(logits, { lr: o.logitLr }) : null;
  const classWeights = tensor(data.weights, [data.weights.length]).keep();
  const steps = Math.ceil(train.n / o.batch);
  let st = { epoch: 0, losses: [] as number[], keep: [] as number[][], seconds: 0, images: 0, rng: [] as number[] };
  if (existsSync(files.checkpoint)) {
    const meta = await loadModule(files.checkpoint, model, { optimizer: wopt });
    if (lopt && existsSync(files.logitCheckpoint)) await loadModule(files.logitCheckpoint, new LogitHolder(logits), { optimizer: lopt });
    st = { ...st, ...(JSON.parse(meta.history ?? '{}') as Partial<typeof st>) };
    st.rng.forEach((pos, i) => generatorOf(dropouts[i])?.seek(pos));
    bar?.increment(st.epoch * steps);
  }
  const log = new ScalarLog(16);
  const reg = (): Tensor | null => sumRegularizers(bottleneck);
  for (let e = st.epoch; e < o.epochs; e++) {
    wopt.setLr(o.lr * o.lrDecay ** e);
    const t0 = performance.now();
    const order = permutation(train.n, mixSeed(seed, e));
    const flips = o.flip ? flipFlags(train.n, mixSeed(seed * 7 + 1, e)) : null;
    let last = NaN, step = 0;
    const drain = async (): Promise<void> => {
      const v = await log.read();
      v.forEach((x, i) => { if (!Number.isFinite(x)) throw new Error(`segment: ${m} seed ${seed}: the loss became ${x} at step ${step - v.length + i + 1} of epoch ${e + 1}; lower --lr`); });
      if (!v.length) return;
      last = v.reduce((a, b) => a + b, 0) / v.length;
      bar?.increment(v.length, { run: `${m} s${seed} epoch ${e + 1}/${o.epochs}`, loss: last.toFixed(3) });
    };
    for (let s0 = 0; s0 < train.n; s0 += o.batch) {
      const idx = order.subarray(s0, Math.min(train.n, s0 + o.batch));
      let b = gather(train, idx);
      if (flips) b = flipHorizontal(b.x, b.y, idx.length, H, W, Array.from(idx, (i) => flips[i]));
      scope(() => {
        const x = tensor(b.x, [idx.length, 3, H, W]), y = tensor(b.y, [idx.length, H, W], 'i32');
        let loss: Tensor;
        if (lopt) loss = lbdStep(() => imageLosses(model.forward(x), y, classWeights), { weights: wopt, logits: lopt, model, regularizer: reg }).loss;
        else {
          wopt.zeroGrad();
          loss = mean(imageLosses(model.forward(x), y, classWeights));
          const r = reg();
          (r ? add(loss, r) : loss).backward();
          wopt.step();
        }
        log.record(loss);
      });
      flush(); // the GPU starts on this step while the host gathers and uploads the next batch
      step++; st.images += idx.length;
      if (log.full) await drain();
    }
    await drain();
    await sync();
    st.seconds += (performance.now() - t0) / 1000;
    st.losses.push(last);
    st.keep.push(await Promise.all(bottleneck.map(async (d) => (await d.keepProbabilities())[0])));
    st.epoch = e + 1;
    st.rng = dropouts.map((d) => generatorOf(d)?.position ?? 0);
    mkdirSync(dirname(files.checkpoint), { recursive: true });
    await saveModule(files.checkpoint, model, { optimizer: wopt, metadata: { history: JSON.stringify(st) } });
    if (lopt) await saveModule(files.logitCheckpoint, new LogitHolder(logits), { optimizer: lopt });
  }
  log.dispose();
  const S = m === 'regular' ? 1 : o.samples;
  const pv = await predict(model, bottleneck, data.val, S, o.batch);
  const pt = await predict(model, bottleneck, data.test, S, o.batch);
  const curve = patchPavpuCurve(pt.patches, entropyRange(pv.patches.entropy), 21);
  const result: SegmentRun & { examples?: SegmentExamples } = {
    method: m, seed, pixelAccuracy: pt.confusion.pixelAccuracy(), iou: pt.confusion.iou(), meanIoU: pt.confusion.meanIoU(),
    pavpu: { t: curve.t, value: curve.pavpu, mean: curve.mean }, losses: st.losses, keep: st.keep,
    imagesPerSecond: st.images / Math.max(st.seconds, 1e-9), seconds: st.seconds,
  };
  if (m === 'lbd' || m === 'mc') {
    const n = Math.min(4, data.test.n);
    result.examples = { pred: Array.from(pt.pred.subarray(0, n * px)), entropy: Array.from(pt.entropy.subarray(0, n * px), (v) => Math.round(v * 1000) / 1000) };
  }
  wopt.dispose(); lopt?.dispose(); model.dispose(); classWeights.dispose();
  mkdirSync(dirname(files.result), { recursive: true });
  writeFileSync(files.result + '.tmp', JSON.stringify(result));
  renameSync(files.result + '.tmp', files.result);
  return result;
}

async function main(): Promise<void> {
  const cli = new Command()
    .name('segment')
    .description('CamVid semantic segmentation with FC-DenseNet and five kinds of dropout in the bottleneck (paper §3.2.2).')
    .option('--data <path>', 'the CamVid folder (train.txt, val.txt, test.txt and the image / annotation folders)', '../shared/data/camvid')
    .option('--model <name>', `FC-DenseNet: ${Object.keys(MODELS).join(' | ')} (preset decides by default)`)
    .option('--dropout <kinds>', 'regular | mc | gaussian | concrete | lbd, or a comma-separated list of them, or all', 'all')
    .option('--preset <name>', 'cpu | paper (other options override it)', 'cpu')
    .option('--estimator <e>', 'arm | disarm (LBD)', 'arm')
    .option('--size <WxH>', 'resize to W×H (e.g. 480x360); preset decides by default')
    .option('--epochs <n>').option('--batch <n>')
    .option('--lr <x>', 'RMSProp learning rate (paper 1e-4)').option('--rho <x>', "RMSProp's squared-gradient decay (paper 0.995)")
    .option('--lr-decay <x>', 'learning-rate factor per epoch').option('--logit-lr <x>', 'Adam learning rate of the learnable dropout parameters')
    .option('--seeds <n>').option('--samples <n>', 'stochastic passes at evaluation')
    .option('--rate <p>', 'drop rate of every slot (initial rate of the learnable kinds)', '0.2')
    .option('--train-limit <n>').option('--val-limit <n>').option('--test-limit <n>')
    .option('--class-weights', 'median-frequency class weights in the loss')
    .option('--no-flip', 'no random horizontal flips')
    .option('--memory-efficient [on]', 'recompute BN → ReLU → conv in the backward: less GPU memory, more time (true | false; preset decides by default)')
    .option('--out <dir>', 'where report.json, report.html and the figures go', 'runs/segment')
    .option('--cache <file>', 'decoded, resized CamVid selection: read instead of the PNGs when it holds the same one, else written after decoding')
    .option('--resume', 'reuse finished runs and continue unfinished ones from their last epoch checkpoint in --out')
    .option('--render <report.json>', 'only (re)write the figures and report.html of an existing report')
    .parse();
  const a = cli.opts<Record<string, string | boolean | undefined>>();
  if (a.render) await renderAndExit<SegmentReport>(a.render as string, 'segment', (r) => Array.isArray(r.table) && Array.isArray(r.runs), writeSegmentReport, table1SegMarkdown);
  const preset = PRESETS[a.preset as 'cpu' | 'paper'];
  if (!preset) throw new Error(`--preset must be cpu or paper, got '${a.preset}'`);
  const num = (k: string, fallback: number | undefined, int = false): number => positiveOption(a, k, fallback, int);
  let size = preset.size!;
  if (a.size !== undefined) {
    const mt = /^(\d+)x(\d+)$/.exec(a.size as string);
    if (!mt || Number(mt[1]) < 1 || Number(mt[2]) < 1) throw new Error(`--size must be WxH in pixels (e.g. 480x360), got '${a.size}'`);
    size = [Number(mt[2]), Number(mt[1])];
  }
  const kinds = a.dropout === 'all' ? [...METHODS] : (a.dropout as string).split(',').map((k) => k.trim() as Method);
  for (const k of kinds) if (!METHODS.includes(k)) throw new Error(`--dropout must be one of ${METHODS.join(', ')} or all; got '${k}'`);
  const o: SegmentOptions = {
    data: a.data as string, methods: kinds, model: (a.model as string | undefined) ?? preset.model!, estimator: a.estimator as 'arm' | 'disarm', size,
    epochs: num('epochs', preset.epochs, true), batch: num('batch', preset.batch, true), lr: num('lr', preset.lr), rho: num('rho', preset.rho),
    lrDecay: num('lr-decay', preset.lrDecay), logitLr: num('logit-lr', preset.logitLr), seeds: num('seeds', preset.seeds, true), samples: num('samples', preset.samples, true),
    rate: Number(a.rate), trainLimit: num('train-limit', preset.trainLimit, true), valLimit: num('val-limit', preset.valLimit, true), testLimit: num('test-limit', preset.testLimit, true),
    classWeights: !!a.classWeights, flip: a.flip !== false,
    memoryEfficient: a.memoryEfficient === undefined ? preset.memoryEfficient! : a.memoryEfficient === true || a.memoryEfficient === 'true',
  };
  if (![undefined, true, 'true', 'false'].includes(a.memoryEfficient)) throw new Error(`--memory-efficient must be true or false, got '${String(a.memoryEfficient)}'`);
  if (!MODELS[o.model]) throw new Error(`--model must be one of ${Object.keys(MODELS).join(', ')}; got '${o.model}'`);
  if (!['arm', 'disarm'].includes(o.estimator)) throw new Error(`--estimator must be arm or disarm, got '${o.estimator}'`);
  if (!(o.rho < 1)) throw new Error(`--rho must be in (0, 1), got '${a.rho}'`);
  if (!(o.rate >= 0 && o.rate < 1)) throw new Error(`--rate must be in [0, 1), got '${a.rate}'`);
  if (!existsSync(o.data) && !(a.cache && existsSync(a.cache as string))) throw new Error(`--data: ${o.data} does not exist`);
  const gpu = await getGpu();
  const data = await loadData(o, a.cache as string | undefined);
  console.log(`CamVid ${o.size[1]}×${o.size[0]}: ${data.train.n} train, ${data.val.n} val, ${data.test.n} test images${data.fromCache ? ` (from ${String(a.cache)})` : ''}; FC-DenseNet ${o.model}`);
  const steps = Math.ceil(data.train.n / o.batch) * o.epochs;
  const bar = new cliProgress.SingleBar({ format: 'segment |{bar}| {percentage}% | ETA {eta_formatted} | {run} | loss {loss}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 30000 }, cliProgress.Presets.shades_classic);
  bar.start(steps * o.seeds * kinds.length, 0, { run: '-', loss: '-' });
  const runs: (SegmentRun & { examples?: SegmentExamples })[] = [];
  for (let seed = 1; seed <= o.seeds; seed++) {
    for (const m of kinds) {
      const files = runFiles(a.out as string, m, seed);
      if (a.resume && existsSync(files.result)) {
        runs.push(JSON.parse(readFileSync(files.result, 'utf8')) as SegmentRun);
        bar.increment(Math.ceil(data.train.n / o.batch) * o.epochs);
        continue;
      }
      if (!a.resume) for (const f of [files.checkpoint, files.logitCheckpoint]) if (existsSync(f)) rmSync(f);
      runs.push(await runOne(m, seed, o, data, files, bar));
    }
  }
  bar.stop();
  const table = kinds.map((m) => {
    const r = runs.filter((x) => x.method === m);
    return { method: m, pixelAccuracy: meanStd(r.map((x) => x.pixelAccuracy)), meanIoU: meanStd(r.map((x) => x.meanIoU)), meanPAvPU: meanStd(r.map((x) => x.pavpu.mean)), imagesPerSecond: meanStd(r.map((x) => x.imagesPerSecond)) };
  });
  // the figure's four test images: inputs and labels once, predictions and entropy of the first seed's LBD and MC runs
  const px = data.test.height * data.test.width, n = Math.min(4, data.test.n);
  const examples = {
    height: data.test.height, width: data.test.width, input: Array.from(data.raw, (v) => Math.round(255 * v)), label: Array.from(data.test.y.subarray(0, n * px)),
    methods: Object.fromEntries(runs.filter((r) => r.examples && r.seed === 1).map((r) => [r.method, r.examples!])),
  };
  for (const r of runs) delete r.examples;
  const report: SegmentReport = { task: 'segment', options: o, preset: a.preset as string, ...(data.fromCache ? { cache: String(a.cache) } : {}), adapter: gpu.info.name, commit: gitCommit(), date: new Date().toISOString(), sizes: { train: data.train.n, val: data.val.n, test: data.test.n }, table, runs, examples };
  mkdirSync(a.out as string, { recursive: true });
  const file = join(a.out as string, 'report.json');
  writeFileSync(file + '.tmp', JSON.stringify(report));
  renameSync(file + '.tmp', file);
  console.log(table1SegMarkdown(report));
  const written = await writeSegmentReport(a.out as string, report);
  console.log(`report: ${file} (+ ${written.join(', ')})`);
  process.exit(0);
}

if (process.argv[1]?.endsWith('segment.js')) await main();
