// npm run bench [-- --json FILE]: kernel throughput on this machine's adapter.
// GPU time comes from timestamp queries around the timed work (wall time where the adapter has
// none); each figure is the median of --runs runs after a warm-up run.
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { getGpu, setSpinWorkaround } from '../engine/device.js';
import { gpuTimeMs, dispatch, sync } from '../engine/dispatch.js';
import { scope } from '../engine/memory.js';
import { empty } from '../engine/tensor.js';
import { Generator } from '../engine/random.js';
import { matmul, setMatmulOptions, matmulConfig, type MatmulStructure } from '../engine/ops/matmul.js';
import { conv2d } from '../engine/ops/conv.js';
import { backward } from '../engine/op.js';
import { tensor } from '../engine/tensor.js';
import { crossEntropy } from '../engine/ops/loss.js';
import { Adam } from '../engine/optim.js';
import { Sequential } from '../layers/sequential.js';
import { Linear } from '../layers/linear.js';
import { Conv2d } from '../layers/conv.js';
import { MaxPool2d } from '../layers/pool.js';
import { ReLU, Flatten } from '../layers/basic.js';
import { Dropout } from '../layers/dropout/dropout.js';
import { LearnableBernoulliDropout } from '../layers/dropout/lbd.js';
import { lbdStep, splitParameters } from '../layers/dropout/lbd-step.js';
import { vgg19 } from '../models/vgg.js';
import type { Module } from '../layers/module.js';
import { PRESETS } from './classify.js';
import { syntheticInteractions, benchRecommendRow, ML20M_SHAPE } from './bench/recommend.js';
import { benchSegmentStep } from './bench/segment.js';
import { PRESETS as SEG_PRESETS, MODELS as SEG_MODELS } from './segment.js';
import { FC_DENSENET_103 } from '../models/tiramisu.js';
import { fillKernel } from '../kernels/layout.js';
import { naiveMatmulKernel } from '../kernels/matmul.js';
import { empty as emptyTensor } from '../engine/tensor.js';

interface Row { op: string; shape: string; size?: number; variant?: string; ms: number; gflops?: number; note?: string }

const program = new Command()
  .name('bench')
  .description('Benchmarks the engine\'s kernels on the current WebGPU adapter.')
  .option('--json <file>', 'also write the records as JSON')
  .option('--sizes <list>', 'square matmul sizes', '256,512,1024,2048')
  .option('--runs <n>', 'timed runs per figure (median reported)', '5')
  .option('--quick', 'smaller sizes and fewer runs (a smoke test)')
  .option('--only <list>', 'sections to run: matmul,conv,step,classify,recommend,segment,dispatch,spin (default: all)')
  .option('--rec-batches <n>', 'recommend section: timed batches of 500 users (the epoch time is extrapolated; 274 covers ML-20M)', '4')
  .parse();
const opts = program.opts<{ json?: string; sizes: string; runs: string; quick?: boolean; only?: string; recBatches: string }>();
const ALL = ['matmul', 'conv', 'step', 'classify', 'recommend', 'segment', 'dispatch', 'spin'];
const sections = new Set((opts.only ?? ALL.join(',')).split(','));
for (const s of sections) if (!ALL.includes(s)) throw new Error(`--only: unknown section '${s}' (known: ${ALL.join(', ')})`);
const want = (s: string): boolean => sections.has(s);
const runs = opts.quick ? 3 : Math.max(1, Number(opts.runs));
const sizes = (opts.quick ? '128,256' : opts.sizes).split(',').map(Number);
if (sizes.some((s) => !Number.isInteger(s) || s <= 0)) throw new Error(`--sizes must be positive integers, got '${opts.sizes}'`);

const gpu = await getGpu();
const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

async function timeMatmul(M: number, N: number, K: number, reps: number): Promise<number> {
  return scope(async () => {
    const g = new Generator(1);
    const a = g.uniform([M, K], -1, 1);
    const b = g.uniform([K, N], -1, 1);
    await gpuTimeMs(() => { matmul(a, b); }); // warm-up (compiles the pipeline)
    const times: number[] = [];
    for (let r = 0; r < runs; r++) {
      times.push(await gpuTimeMs(() => { for (let i = 0; i < reps; i++) matmul(a, b).dispose(); }) / reps);
    }
    return median(times);
  });
}

const rows: Row[] = [];
const add = (r: Row): void => { rows.push(r); };

for (const n of want('matmul') ? sizes : []) {
  const reps = n <= 512 ? 8 : 1;
  const ms = await timeMatmul(n, n, n, reps);
  const cfg = matmulConfig(n, n, n);
  add({ op: 'matmul', shape: `${n}x${n}x${n}`, size: n, variant: cfg.kind === 'subgroup' ? `subgroup ${cfg.rows}x${cfg.strips * 4 * cfg.lanes}` : `tiled ${cfg.tileM}x${cfg.tileN}`, ms, gflops: (2 * n ** 3) / (ms * 1e6) });
}

// The other structure at 1024, for comparison in the same run.
const cmpN = opts.quick ? 256 : 1024;
for (const structure of want('matmul') ? ['subgroup', 'tiled'] as MatmulStructure[] : []) {
  if (structure === 'subgroup' && gpu.info.subgroupSize !== 8) continue;
  setMatmulOptions({ structure });
  const ms = await timeMatmul(cmpN, cmpN, cmpN, 1);
  add({ op: 'matmul', shape: `${cmpN}x${cmpN}x${cmpN}`, size: cmpN, variant: `${structure} (forced)`, ms, gflops: (2 * cmpN ** 3) / (ms * 1e6) });
}
setMatmulOptions({ structure: null });

// A naive kernel (one output per thread) as this machine's yardstick: ratios to it travel
// between machines better than absolute numbers on a shared, noisy host.
if (want('matmul')) {
  const n = cmpN;
  const ms = await scope(async () => {
    const g = new Generator(3);
    const a = g.uniform([n, n]), b = g.uniform([n, n]), c = emptyTensor([n, n]);
    const run = (): void => dispatch({ kernel: naiveMatmulKernel(), buffers: [a.buffer, b.buffer, c.buffer], params: [n, n, n, 1, 0, 0, 0, 0, ...new Array(12).fill(0)], workgroups: [n / 8, n / 8, 1] });
    await gpuTimeMs(run);
    const ts: number[] = [];
    for (let r = 0; r < runs; r++) ts.push(await gpuTimeMs(run));
    return median(ts);
  });
  add({ op: 'matmul', shape: `${n}x${n}x${n}`, size: n, variant: 'naive (yardstick)', ms, gflops: (2 * n ** 3) / (ms * 1e6) });
}

// Recommender-shaped product (tall-skinny, KERNELS.md §3).
if (want('matmul')) {
  const [M, N, K] = opts.quick ? [128, 256, 64] : [500, 9724, 600];
  const ms = await timeMatmul(M, N, K, 1);
  add({ op: 'matmul', shape: `${M}x${N}x${K}`, size: M, variant: 'auto', ms, gflops: (2 * M * N * K) / (ms * 1e6) });
}

/**
 * Median wall time of one training step (forward, backward, optimizers, one sync) of `model`
 * on a fixed batch: with lbdStep when the model has LBD logits, else a plain backward.
 */
async function trainStepMs(model: Module, g: Generator, batch: number): Promise<number> {
  const { weights, logits } = splitParameters(model);
  const wopt = new Adam(weights, { lr: 1e-3 });
  const lopt = logits.length ? new Adam(logits, { lr: 1e-2 }) : null;
  const x = g.uniform([batch, 3, 32, 32], -1, 1);
  const y = tensor(Array.from({ length: batch }, (_, i) => i % 10), [batch], 'i32');
  const step = async (): Promise<void> => scope(async () => {
    if (lopt) lbdStep(() => crossEntropy(model.forward(x), y, { reduction: 'none' }), { weights: wopt, logits: lopt, model });
    else { wopt.zeroGrad(); crossEntropy(model.forward(x), y).backward(); wopt.step(); }
    await sync();
  });
  await step(); await step();
  const ts: number[] = [];
  for (let r = 0; r < Math.max(runs, 5); r++) { const t0 = performance.now(); await step(); ts.push(performance.now() - t0); }
  wopt.dispose(); lopt?.dispose(); model.dispose(); x.dispose(); y.dispose();
  return median(ts);
}

// A VGG layer: batch 64, 64→64 channels, 3×3, padding 1, at 32×32 and 16×16; forward and
// forward+backward (input and weight gradients: 3× the FLOPs), beside a matmul of the same
// FLOP count (M = N·H·W, N = 64, K = 576) measured in the same run.
if (want('conv')) {
  const batch = opts.quick ? 8 : 64;
  for (const hw of opts.quick ? [16] : [32, 16]) {
    const flops = 2 * batch * hw * hw * 64 * 576;
    const r = await scope(async () => {
      const g = new Generator(4);
      const x = g.uniform([batch, 64, hw, hw], -1, 1).requireGrad();
      const w = g.uniform([64, 64, 3, 3], -0.1, 0.1).requireGrad();
      const dy = g.uniform([batch, 64, hw, hw], -1, 1);
      const fwd = (): void => { conv2d(x, w, null, { padding: 1 }).dispose(); };
      const both = (): void => {
        const y = conv2d(x, w, null, { padding: 1 });
        backward(y, dy);
        x.grad?.dispose(); x.grad = null;
        w.grad?.dispose(); w.grad = null;
      };
      const time = async (f: () => void): Promise<number> => {
        await gpuTimeMs(f);
        const ts: number[] = [];
        for (let i = 0; i < runs; i++) ts.push(await gpuTimeMs(f));
        return median(ts);
      };
      return { f: await time(fwd), fb: await time(both) };
    });
    // (an explicit im2col operand over 32768 rows would pass the 128 MiB binding limit)
    const mmRows = Math.min(batch * hw * hw, 32768);
    const mm = await timeMatmul(mmRows, 64, 576, 1);
    const shape = `${batch}x64x${hw}x${hw}, 3x3, 64 out`;
    add({ op: 'conv2d', shape, variant: 'forward', ms: r.f, gflops: flops / (r.f * 1e6) });
    add({ op: 'conv2d', shape, variant: 'forward+backward', ms: r.fb, gflops: (3 * flops) / (r.fb * 1e6) });
    add({ op: 'matmul', shape: `${mmRows}x64x576`, variant: 'the conv forward as an explicit GEMM', ms: mm, gflops: (2 * mmRows * 64 * 576) / (mm * 1e6) });
  }
}

// One training step of a small VGG-like CNN (batch 64, 32×32×3, two conv blocks, three FC
// layers) with dropout before the last two FC layers, as VGG19's classifier: regular dropout
// with a plain backward vs LBD with lbdStep (tape replay of the layers after the first LBD
// layer, ARM terms). Wall time per step including the one sync; median of the runs.
if (want('step')) {
  const batch = opts.quick ? 8 : 64;
  const stepMs = async (kind: 'dropout' | 'lbd'): Promise<number> => scope(async () => {
    const g = new Generator(9);
    const drop = (units: number, i: number) => kind === 'lbd'
      ? new LearnableBernoulliDropout({ units, seed: 50 + i })
      : new Dropout(0.5, { seed: 50 + i });
    const model = new Sequential(
      new Conv2d(3, 32, 3, { padding: 1, generator: g }), new ReLU(), new MaxPool2d(2),
      new Conv2d(32, 64, 3, { padding: 1, generator: g }), new ReLU(), new MaxPool2d(2),
      new Flatten(), new Linear(64 * 8 * 8, 256, { generator: g }), new ReLU(), drop(256, 0),
      new Linear(256, 256, { generator: g }), new ReLU(), drop(256, 1), new Linear(256, 10, { generator: g }));
    return trainStepMs(model, g, batch);
  });
  // interleave to share the host's noise
  const d: number[] = [], l: number[] = [];
  for (let r = 0; r < 2; r++) { d.push(await stepMs('dropout')); l.push(await stepMs('lbd')); }
  const md = Math.min(...d), ml = Math.min(...l);
  const shape = `CNN batch ${batch}, 32x32, dropout before the last 2 FC`;
  add({ op: 'train-step', shape, variant: 'regular dropout', ms: md });
  add({ op: 'train-step', shape, variant: `LBD (lbdStep), ${(ml / md).toFixed(2)}x regular`, ms: ml });
}

// Training throughput of the classify task's `cpu` preset model (VGG19 width 1/16 with batch
// norm, classifier 128 wide, batch 64, 32×32): regular dropout vs LBD (lbdStep), images/s.
if (want('classify')) {
  const p = PRESETS.cpu;
  const batch = opts.quick ? 8 : p.batch!;
  const ips = async (kind: 'regular' | 'lbd'): Promise<number> => scope(async () => {
    const g = new Generator(5);
    const { model } = vgg19({ width: p.width, hidden: p.hidden, classes: 10, imageSize: 32, batchNorm: p.batchNorm, generator: g,
      dropout: (units, i) => (kind === 'lbd' ? new LearnableBernoulliDropout({ units, seed: 70 + i }) : new Dropout(0.5, { seed: 70 + i })) });
    return batch / ((await trainStepMs(model, g, batch)) / 1000);
  });
  const d: number[] = [], l: number[] = [];
  for (let r = 0; r < 2; r++) { d.push(await ips('regular')); l.push(await ips('lbd')); }
  const bd = Math.max(...d), bl = Math.max(...l);
  const shape = `classify cpu preset: VGG19 x1/16 + BN, batch ${batch}`;
  add({ op: 'train-images/s', shape, variant: `regular dropout: ${bd.toFixed(1)} images/s`, ms: 1000 * batch / bd });
  add({ op: 'train-images/s', shape, variant: `LBD: ${bl.toFixed(1)} vs ${bd.toFixed(1)} images/s, step ${(bd / bl).toFixed(2)}x regular`, ms: 1000 * batch / bl });
}

// The recommend task at MovieLens-20M's shape (synthetic interactions): users/s of a training
// epoch and the peak live GPU bytes of its steps (tensor storage; the quick run is 1/10 scale).
if (want('recommend')) {
  const scale = opts.quick ? 0.1 : 1;
  const shape = { users: Math.round(ML20M_SHAPE.users * scale), items: Math.round(ML20M_SHAPE.items * scale), interactions: Math.round(ML20M_SHAPE.interactions * scale) };
  const t0 = performance.now();
  const data = syntheticInteractions(shape.users, shape.items, shape.interactions);
  const batches = opts.quick ? 1 : Math.max(1, Number(opts.recBatches));
  const desc = `${shape.users} users x ${shape.items} items, ${data.indptr[data.rows]} interactions (synthetic, built in ${((performance.now() - t0) / 1000).toFixed(1)} s), batch 500`;
  for (const m of ['vae+drop', 'sivae+lbd'] as const) {
    const r = await benchRecommendRow(m, data, 500, batches);
    add({ op: 'recommend-epoch', shape: desc, variant: `${m}${m === 'sivae+lbd' ? ' (V = 3)' : ''}: ${r.usersPerSecond.toFixed(0)} users/s, epoch ${r.epochSeconds.toFixed(0)} s${batches * 500 < shape.users ? ` (from ${batches} batches)` : ''}, peak GPU ${(r.peakBytes / 2 ** 20).toFixed(0)} MiB${r.microBatches > 1 ? `, ${r.microBatches} micro-batches (binding limit)` : ''}`, ms: 1000 * 500 / r.usersPerSecond });
  }
}

// The segment task: FC-DenseNet-103 at 480×360, batch 1 — one training step's peak live GPU bytes
// (tensor storage) and time (the quick run: 90×120), stored and recomputed (memory-efficient)
// dense layers — and the cpu preset's images/s, regular
// dropout vs LBD in the bottleneck.
if (want('segment')) {
  const [h, w] = opts.quick ? [90, 120] : [360, 480];
  const big = await benchSegmentStep(FC_DENSENET_103, h, w, 1, 'regular', 1);
  add({ op: 'segment-step', shape: `FC-DenseNet-103, ${w}x${h}, batch 1`, variant: `regular dropout: peak GPU ${(big.peakBytes / 2 ** 30).toFixed(2)} GiB`, ms: big.ms });
  const eff = await benchSegmentStep(FC_DENSENET_103, h, w, 1, 'regular', 1, true);
  add({ op: 'segment-step', shape: `FC-DenseNet-103, ${w}x${h}, batch 1`, variant: `memory-efficient (recompute BN-ReLU-conv): peak GPU ${(eff.peakBytes / 2 ** 30).toFixed(2)} GiB, ${(eff.ms / big.ms).toFixed(2)}x the time`, ms: eff.ms });
  const p = SEG_PRESETS.cpu, [ph, pw] = p.size!;
  const reg = await benchSegmentStep(SEG_MODELS[p.model!], ph, pw, p.batch!, 'regular', opts.quick ? 1 : 3);
  const lbd = await benchSegmentStep(SEG_MODELS[p.model!], ph, pw, p.batch!, 'lbd', opts.quick ? 1 : 3);
  const shape = `segment cpu preset: FC-DenseNet ${p.model}, ${pw}x${ph}, batch ${p.batch}`;
  add({ op: 'train-images/s', shape, variant: `regular dropout: ${reg.imagesPerSecond.toFixed(2)} images/s`, ms: reg.ms });
  add({ op: 'train-images/s', shape, variant: `LBD: ${lbd.imagesPerSecond.toFixed(2)} images/s, step ${(lbd.ms / reg.ms).toFixed(2)}x regular`, ms: lbd.ms });
}

// Per-dispatch overhead: many one-element dispatches in one submit (GPU time) and the host
// cost of recording them (wall time).
if (want('dispatch')) {
  const n = opts.quick ? 200 : 2000;
  const t = empty([1]);
  const record = (): void => { for (let i = 0; i < n; i++) dispatch({ kernel: fillKernel(), buffers: [t.buffer], params: [1, i], workgroups: [1] }); };
  await gpuTimeMs(record);
  const gpuMs: number[] = [], hostMs: number[] = [];
  for (let r = 0; r < runs; r++) {
    gpuMs.push(await gpuTimeMs(() => { const t0 = performance.now(); record(); hostMs.push(performance.now() - t0); }));
  }
  t.dispose();
  add({ op: 'dispatch', shape: `${n} tiny dispatches`, ms: median(gpuMs) / n, note: 'GPU ms per dispatch' });
  add({ op: 'dispatch-record', shape: `${n} tiny dispatches`, ms: median(hostMs) / n, note: 'host ms to record one dispatch' });
}

// The dawn.node busy-spin workaround (KERNELS.md §1): the same matmul with it off, then on.
if (!opts.quick && want('spin')) {
  const n = 1024;
  const wall = async (): Promise<number> => scope(async () => {
    const g = new Generator(2);
    const a = g.uniform([n, n]), b = g.uniform([n, n]);
    matmul(a, b); await sync();
    const ts: number[] = [];
    for (let r = 0; r < runs; r++) { const t0 = performance.now(); matmul(a, b); await sync(); ts.push(performance.now() - t0); }
    return median(ts);
  });
  setSpinWorkaround(false);
  const off = await wall();
  setSpinWorkaround(true);
  const on = await wall();
  add({ op: 'matmul-wall', shape: '1024x1024x1024', size: n, variant: 'spin workaround off', ms: off, gflops: 2 * n ** 3 / (off * 1e6) });
  add({ op: 'matmul-wall', shape: '1024x1024x1024', size: n, variant: 'spin workaround on', ms: on, gflops: 2 * n ** 3 / (on * 1e6) });
}

const adapter = `${gpu.info.name} (${gpu.info.backend})`;
console.log(`\nadapter: ${adapter}; ${runs} runs, median; GPU time by ${gpu.hasTimestamps ? 'timestamp queries' : 'wall clock'}\n`);
console.log('| op | shape | variant | ms | GFLOP/s |\n| --- | --- | --- | --- | --- |');
for (const r of rows) console.log(`| ${r.op} | ${r.shape} | ${r.variant ?? r.note ?? ''} | ${r.ms.toFixed(r.ms < 0.1 ? 4 : 2)} | ${r.gflops ? r.gflops.toFixed(1) : ''} |`);
if (opts.json) {
  writeFileSync(opts.json, JSON.stringify({ adapter, backend: gpu.info.backend, date: new Date().toISOString(), records: rows }, null, 2));
  console.log(`\nwrote ${opts.json}`);
}
process.exit(0);
