// npm run bench [-- --json FILE]: kernel throughput and training steps on this machine's adapter.
// GPU time comes from timestamp queries around the timed work (wall time where the adapter has
// none); each figure is the median of --runs runs after a warm-up run.
// The `models` and `ops` sections (tasks/bench/rows.ts) have PyTorch twins
// (tasks/bench/torch_models.py): with --torch each row runs ours, PyTorch, ours, PyTorch, …
// (--rounds) so the host's noise hits both. --compare A.json B.json needs no GPU.
import { readFileSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { getGpu, cpuVectorWidth } from '../engine/device.js';
import { setTuning } from '../engine/plans/tuning.js';
import { cpus } from 'node:os';
import { gpuTimeMs, dispatch, sync } from '../engine/dispatch.js';
import { scope } from '../engine/memory.js';
import { empty } from '../engine/tensor.js';
import { Generator } from '../engine/random.js';
import { matmul, matmulConfig, type MatmulStructure } from '../engine/ops/matmul.js';
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
import { splitParameters } from '../layers/dropout/lbd-step.js';
import { trainStep } from '../layers/train-step.js';
import type { Module } from '../layers/module.js';
import { PRESETS, buildModel as buildVgg } from './classify/experiment.js';
import { syntheticInteractions, benchRecommendRow, ML20M_SHAPE } from './bench/recommend.js';
import { benchSegmentStep } from './bench/segment.js';
import { PRESETS as SEG_PRESETS } from './segment/experiment.js';
import { fillKernel } from '../kernels/layout.js';
import { naiveMatmulKernel, NO_CONV } from '../kernels/matmul.js';
import { empty as emptyTensor } from '../engine/tensor.js';
import { MODEL_ROWS, OP_ROWS, measureStep, measureOp, type StepMeasure, type OpMeasure } from './bench/rows.js';
import { compareBench, compareMarkdown, mergeTorch, rowsMarkdown, median, type BenchFile, type CompareRecord, type ModelRecord, type OpRecord, type TorchRaw } from './bench/compare.js';
import { runTorch, type TorchRun } from './bench/torch.js';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { commitFromEnvironment } from './common/environment.js';

interface Row { op: string; shape: string; size?: number; variant?: string; key?: string; ms: number; gflops?: number; note?: string }

const ALL_ROWS = [...MODEL_ROWS.map((r) => r.name), ...OP_ROWS.map((r) => r.name)];
const program = new Command()
  .name('bench')
  .description('Benchmarks the engine\'s kernels and training steps on the current WebGPU adapter.')
  .option('--json <file>', 'also write the records as JSON')
  .option('--sizes <list>', 'square matmul sizes', '256,512,1024,2048')
  .option('--runs <n>', 'timed runs per figure (median reported)', '5')
  .option('--quick', 'smaller sizes and fewer runs (a smoke test)')
  .option('--only <list>', 'sections to run: models,ops,matmul,conv,step,classify,recommend,segment,dispatch,spin (default: all)')
  .option('--rec-batches <n>', 'recommend section: timed batches of 500 users (the epoch time is extrapolated; 274 covers ML-20M)', '4')
  .option('--rows <list>', `models/ops sections: rows to run (${ALL_ROWS.join(', ')}; default all)`)
  .option('--skip <list>', 'models/ops sections: rows to leave out (e.g. fcdensenet103,matmul-4096)')
  .option('--steps <n>', 'models section: timed steps per round (default 3), except fcdensenet103', '3')
  .option('--heavy-steps <n>', 'models section: timed steps per round of fcdensenet103 (30-50 s a step on lavapipe)', '1')
  .option('--warmup <n>', 'models section: untimed steps before the profiled and timed ones (fcdensenet103: the profiled step is its warm-up)', '1')
  .option('--rounds <n>', 'models/ops sections: rounds per row (with --torch: ours, PyTorch, ours, PyTorch, …)', '1')
  .option('--no-gpu-time', 'models section: skip the profiled step (GPU ms)')
  .option('--torch', 'models/ops sections: also run tasks/bench/torch_models.py, interleaved, and report the ratio')
  .option('--python <path>', 'Python with PyTorch for --torch', existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3')
  .option('--torch-device <d>', 'PyTorch device: cpu | cuda', 'cpu')
  .option('--torch-threads <n>', 'PyTorch CPU threads', '2')
  .option('--compare <files...>', 'print per-row ratios of two bench JSON files (A B) and exit; no GPU needed')
  .parse();
const opts = program.opts<{
  json?: string; sizes: string; runs: string; quick?: boolean; only?: string; recBatches: string; rows?: string; skip?: string; steps: string; heavySteps: string;
  warmup: string; rounds: string; gpuTime: boolean; torch?: boolean; python: string; torchDevice: string; torchThreads: string; compare?: string[];
}>();

if (opts.compare) {
  if (opts.compare.length !== 2) throw new Error(`--compare takes two JSON files (A B), got ${opts.compare.length}`);
  const [fa, fb] = opts.compare;
  const load = (f: string): BenchFile => JSON.parse(readFileSync(f, 'utf8')) as BenchFile;
  console.log(compareMarkdown(compareBench(load(fa), load(fb)), fa, fb));
  process.exit(0);
}

const ALL = ['models', 'ops', 'matmul', 'conv', 'step', 'classify', 'recommend', 'segment', 'dispatch', 'spin'];
const sections = new Set((opts.only ?? ALL.join(',')).split(','));
for (const s of sections) if (!ALL.includes(s)) throw new Error(`--only: unknown section '${s}' (known: ${ALL.join(', ')})`);
const want = (s: string): boolean => sections.has(s);
const runs = opts.quick ? 3 : Math.max(1, Number(opts.runs));
const sizes = (opts.quick ? '128,256' : opts.sizes).split(',').map(Number);
if (sizes.some((s) => !Number.isInteger(s) || s <= 0)) throw new Error(`--sizes must be positive integers, got '${opts.sizes}'`);
const posInt = (name: string, v: string | undefined, min = 1): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, got '${v}'`);
  return n;
};
const listOf = (name: string, v: string | undefined): string[] | undefined => {
  if (v === undefined) return undefined;
  const l = v.split(',').filter(Boolean);
  for (const r of l) if (!ALL_ROWS.includes(r)) throw new Error(`${name}: unknown row '${r}' (known: ${ALL_ROWS.join(', ')})`);
  return l;
};
const pickRows = listOf('--rows', opts.rows), skipRows = new Set(listOf('--skip', opts.skip) ?? []);
const rowWanted = (name: string): boolean => (pickRows ? pickRows.includes(name) : true) && !skipRows.has(name);
const stepsOpt = posInt('--steps', opts.steps)!, heavyStepsOpt = posInt('--heavy-steps', opts.heavySteps)!, warmupOpt = posInt('--warmup', opts.warmup, 0)!, rounds = posInt('--rounds', opts.rounds)!;

const gpu = await getGpu();

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

// ---- models and ops: rows with PyTorch twins (tasks/bench/rows.ts, tasks/bench/torch_models.py) ----
const cmpRows: CompareRecord[] = [];
let torchInfo: Omit<TorchRun, 'rows'> | null = null;
const torchOpts = { python: opts.python, device: opts.torchDevice, threads: posInt('--torch-threads', opts.torchThreads)!, warmup: 1 };
const torchRound = (name: string, variants: readonly string[], steps: number, warmup = torchOpts.warmup): TorchRaw[] => {
  const t = runTorch(name, variants, { ...torchOpts, steps, warmup });
  torchInfo = { torch: t.torch, device: t.device, deviceName: t.deviceName, threads: t.threads, blas: t.blas };
  return t.rows;
};

for (const def of want('models') ? MODEL_ROWS.filter((d) => rowWanted(d.name)) : []) {
  const heavy = def.heavy === true;
  const steps = heavy ? heavyStepsOpt : stepsOpt;
  // a heavy row's profiled step doubles as its warm-up
  const warmup = heavy && opts.gpuTime ? 0 : Math.max(warmupOpt, opts.gpuTime ? 0 : 1);
  const variants = ['regular', 'lbd'] as const;
  const ours = new Map<string, StepMeasure[]>(variants.map((v) => [v, []]));
  const counts = new Map<string, { params: number; logits: number }>();
  const raws: TorchRaw[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const kind of variants) {
      const m = await scope(async () => {
        const b = def.build(kind);
        counts.set(kind, { params: b.params, logits: b.logits });
        try { return await measureStep(b, def.batch, { steps, warmup: r === 0 ? warmup : Math.min(warmup, 1), gpuTime: opts.gpuTime }); } finally { b.dispose(); }
      });
      ours.get(kind)!.push(m);
      console.error(`${def.name} ${kind} (round ${r + 1}, ${counts.get(kind)!.params} weights + ${counts.get(kind)!.logits} logits): ${m.stepMs.toFixed(1)} ms, ${m.dispatches} dispatches, host ${m.hostMs.toFixed(1)} ms, GPU ${m.gpuMs?.toFixed(1) ?? '-'} ms`);
    }
    // PyTorch gets as many untimed steps as ours had (warm-up + the profiled one)
    if (opts.torch) raws.push(...torchRound(def.name, variants, steps, Math.max(1, warmup + (opts.gpuTime ? 1 : 0))));
  }
  let regularMs = 0;
  for (const kind of variants) {
    const ms = ours.get(kind)!;
    const stepsMs = ms.flatMap((m) => m.stepsMs);
    const gpus = ms.map((m) => m.gpuMs).filter((g): g is number => g !== null);
    const stepMs = median(stepsMs);
    const rec: ModelRecord = {
      section: 'models', name: def.name, variant: kind, desc: def.desc, unit: def.unit, batch: def.batch, ...counts.get(kind)!,
      ours: {
        stepsMs, stepMs, perSecond: (1000 * def.batch) / stepMs, dispatches: median(ms.map((m) => m.dispatches)), hostMs: median(ms.map((m) => m.hostMs)),
        gpuMs: gpus.length ? median(gpus) : null, liveDelta: Math.max(...ms.map((m) => m.liveDelta)), peakBytes: Math.max(...ms.map((m) => m.peakBytes)), topKernels: ms[0].topKernels,
      },
    };
    if (kind === 'regular') regularMs = stepMs;
    else rec.overRegular = stepMs / regularMs;
    cmpRows.push(opts.torch ? mergeTorch(rec, raws) : rec);
  }
}

for (const def of want('ops') ? OP_ROWS.filter((d) => rowWanted(d.name)) : []) {
  const ours = new Map<string, OpMeasure[]>(def.variants.map((v) => [v, []]));
  const raws: TorchRaw[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const v of def.variants) ours.get(v)!.push(await measureOp(def, v, runs));
    if (opts.torch) raws.push(...torchRound(def.name, def.variants, runs));
  }
  for (const v of def.variants) {
    const ms = ours.get(v)!;
    const wall = ms.map((m) => m.wallMs), gpuT = ms.map((m) => m.gpuMs).filter((g): g is number => g !== null);
    const w = median(wall), gm = gpuT.length ? median(gpuT) : null, flops = ms[0].flops;
    const rec: OpRecord = {
      section: 'ops', name: def.name, variant: v, desc: def.desc, flops,
      ours: { wallMs: wall, gpuMs: gpuT, wallMsMedian: w, gpuMsMedian: gm, wallGflops: flops / (w * 1e6), gpuGflops: gm ? flops / (gm * 1e6) : null },
    };
    console.error(`${def.name} ${v}: wall ${w.toFixed(2)} ms (${rec.ours.wallGflops.toFixed(1)} GFLOP/s), GPU ${gm?.toFixed(2) ?? '-'} ms`);
    cmpRows.push(opts.torch ? mergeTorch(rec, raws) : rec);
  }
}

for (const n of want('matmul') ? sizes : []) {
  const reps = n <= 512 ? 8 : 1;
  const ms = await timeMatmul(n, n, n, reps);
  const cfg = matmulConfig(n, n, n);
  add({ op: 'matmul', shape: `${n}x${n}x${n}`, size: n, key: `matmul · ${n}x${n}x${n} · auto`, variant: cfg.kind === 'subgroup' ? `subgroup ${cfg.rows}x${cfg.strips * 4 * cfg.lanes}` : `tiled ${cfg.tileM}x${cfg.tileN}`, ms, gflops: (2 * n ** 3) / (ms * 1e6) });
}

// The other structure at 1024, for comparison in the same run.
const cmpN = opts.quick ? 256 : 1024;
for (const structure of want('matmul') ? ['subgroup', 'tiled'] as MatmulStructure[] : []) {
  setTuning({ matmul: { structure } });
  const ms = await timeMatmul(cmpN, cmpN, cmpN, 1);
  add({ op: 'matmul', shape: `${cmpN}x${cmpN}x${cmpN}`, size: cmpN, variant: `${structure} (forced)`, ms, gflops: (2 * cmpN ** 3) / (ms * 1e6) });
}
setTuning({ matmul: { structure: null } });

// A naive kernel (one output per thread) as this machine's yardstick: ratios to it travel
// between machines better than absolute numbers on a shared, noisy host.
if (want('matmul')) {
  const n = cmpN;
  const ms = await scope(async () => {
    const g = new Generator(3);
    const a = g.uniform([n, n]), b = g.uniform([n, n]), c = emptyTensor([n, n]);
    const run = (): void => dispatch({ kernel: naiveMatmulKernel(), bindings: { A: a.buffer, B: b.buffer, C: c.buffer }, params: { M: n, N: n, K: n, batch: 1, strideA: 0, strideB: 0, strideC: 0, ...NO_CONV }, workgroups: [n / 8, n / 8, 1] });
    await gpuTimeMs(run);
    const ts: number[] = [];
    for (let r = 0; r < runs; r++) ts.push(await gpuTimeMs(run));
    return median(ts);
  });
  add({ op: 'matmul', shape: `${n}x${n}x${n}`, size: n, variant: 'naive (yardstick)', ms, gflops: (2 * n ** 3) / (ms * 1e6) });
}

// Recommender-shaped product (tall-skinny, docs/kernels.md §3).
if (want('matmul')) {
  const [M, N, K] = opts.quick ? [128, 256, 64] : [500, 9724, 600];
  const ms = await timeMatmul(M, N, K, 1);
  add({ op: 'matmul', shape: `${M}x${N}x${K}`, size: M, variant: 'auto', ms, gflops: (2 * M * N * K) / (ms * 1e6) });
}

/**
 * Median wall time of one training step (forward, backward, optimizers, one sync) of `model`
 * on a fixed batch: trainStep (lbdStep when the model has LBD logits, else a plain backward).
 */
async function trainStepMs(model: Module, g: Generator, batch: number): Promise<number> {
  const { weights, logits } = splitParameters(model);
  const wopt = new Adam(weights, { lr: 1e-3 });
  const lopt = logits.length ? new Adam(logits, { lr: 1e-2 }) : null;
  const x = g.uniform([batch, 3, 32, 32], -1, 1);
  const y = tensor(Array.from({ length: batch }, (_, i) => i % 10), [batch], 'i32');
  const step = async (): Promise<void> => scope(async () => {
    trainStep(() => crossEntropy(model.forward(x), y, { reduction: 'none' }), { model, optimizers: { weights: wopt, logits: lopt } });
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
  add({ op: 'train-step', shape, key: 'train-step lbd', variant: `LBD (lbdStep), ${(ml / md).toFixed(2)}x regular`, ms: ml });
}

// Training throughput of the classify task's `cpu` preset model (VGG19 width 1/16 with batch
// norm, classifier 128 wide, batch 64, 32×32): regular dropout vs LBD (lbdStep), images/s.
if (want('classify')) {
  const p = PRESETS.cpu;
  const batch = opts.quick ? 8 : p.batch!;
  const ips = async (kind: 'regular' | 'lbd'): Promise<number> => scope(async () => {
    // the task's own model (tasks/classify/experiment.ts), its optimizers aside
    const { model, optimizers } = buildVgg(kind, { width: p.width!, hidden: p.hidden!, imageSize: 32, batchNorm: !!p.batchNorm, rate: 0.5, estimator: 'arm', granularity: 'layer', lr: p.lr!, logitLr: p.logitLr! }, 1, 4500);
    optimizers.weights.dispose(); optimizers.logits?.dispose();
    return batch / ((await trainStepMs(model, new Generator(5), batch)) / 1000);
  });
  const d: number[] = [], l: number[] = [];
  for (let r = 0; r < 2; r++) { d.push(await ips('regular')); l.push(await ips('lbd')); }
  const bd = Math.max(...d), bl = Math.max(...l);
  const shape = `classify cpu preset: VGG19 x1/16 + BN, batch ${batch}`;
  add({ op: 'train-images/s', shape, key: 'classify regular', variant: `regular dropout: ${bd.toFixed(1)} images/s`, ms: 1000 * batch / bd });
  add({ op: 'train-images/s', shape, key: 'classify lbd', variant: `LBD: ${bl.toFixed(1)} vs ${bd.toFixed(1)} images/s, step ${(bd / bl).toFixed(2)}x regular`, ms: 1000 * batch / bl });
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
    add({ op: 'recommend-epoch', shape: desc, key: `recommend-epoch ${m}`, variant: `${m}${m === 'sivae+lbd' ? ' (V = 3)' : ''}: ${r.usersPerSecond.toFixed(0)} users/s, epoch ${r.epochSeconds.toFixed(0)} s${batches * 500 < shape.users ? ` (from ${batches} batches)` : ''}, peak GPU ${(r.peakBytes / 2 ** 20).toFixed(0)} MiB${r.microBatches > 1 ? `, ${r.microBatches} micro-batches (binding limit)` : ''}`, ms: 1000 * 500 / r.usersPerSecond });
  }
}

// The segment task: FC-DenseNet-103 at 480×360, batch 1 — one training step's peak live GPU bytes
// (tensor storage) and time (the quick run: 90×120), stored and recomputed (memory-efficient)
// dense layers — and the cpu preset's images/s, regular
// dropout vs LBD in the bottleneck.
if (want('segment')) {
  const [h, w] = opts.quick ? [90, 120] : [360, 480];
  const big = await benchSegmentStep('103', h, w, 1, 'regular', 1);
  add({ op: 'segment-step', shape: `FC-DenseNet-103, ${w}x${h}, batch 1`, key: 'segment-step 103 regular', variant: `regular dropout: peak GPU ${(big.peakBytes / 2 ** 30).toFixed(2)} GiB`, ms: big.ms });
  const eff = await benchSegmentStep('103', h, w, 1, 'regular', 1, true);
  add({ op: 'segment-step', shape: `FC-DenseNet-103, ${w}x${h}, batch 1`, key: 'segment-step 103 memory-efficient', variant: `memory-efficient (recompute BN-ReLU-conv): peak GPU ${(eff.peakBytes / 2 ** 30).toFixed(2)} GiB, ${(eff.ms / big.ms).toFixed(2)}x the time`, ms: eff.ms });
  const p = SEG_PRESETS.cpu, [ph, pw] = p.size!;
  const reg = await benchSegmentStep(p.model!, ph, pw, p.batch!, 'regular', opts.quick ? 1 : 3);
  const lbd = await benchSegmentStep(p.model!, ph, pw, p.batch!, 'lbd', opts.quick ? 1 : 3);
  const shape = `segment cpu preset: FC-DenseNet ${p.model}, ${pw}x${ph}, batch ${p.batch}`;
  add({ op: 'train-images/s', shape, key: 'segment regular', variant: `regular dropout: ${reg.imagesPerSecond.toFixed(2)} images/s`, ms: reg.ms });
  add({ op: 'train-images/s', shape, key: 'segment lbd', variant: `LBD: ${lbd.imagesPerSecond.toFixed(2)} images/s, step ${(lbd.ms / reg.ms).toFixed(2)}x regular`, ms: lbd.ms });
}

// Per-dispatch overhead: many one-element dispatches in one submit (GPU time) and the host
// cost of recording them (wall time).
if (want('dispatch')) {
  const n = opts.quick ? 200 : 2000;
  const t = empty([1]);
  const record = (): void => { for (let i = 0; i < n; i++) dispatch({ kernel: fillKernel(), bindings: { y: t.buffer }, params: { n: 1, bits: i }, workgroups: [1] }); };
  await gpuTimeMs(record);
  const gpuMs: number[] = [], hostMs: number[] = [];
  for (let r = 0; r < runs; r++) {
    gpuMs.push(await gpuTimeMs(() => { const t0 = performance.now(); record(); hostMs.push(performance.now() - t0); }));
  }
  t.dispose();
  add({ op: 'dispatch', shape: `${n} tiny dispatches`, ms: median(gpuMs) / n, note: 'GPU ms per dispatch' });
  add({ op: 'dispatch-record', shape: `${n} tiny dispatches`, ms: median(hostMs) / n, note: 'host ms to record one dispatch' });
}

// The dawn.node busy-spin workaround (docs/kernels.md §1): the same matmul with it off, then on.
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
  setTuning({ spinFix: false });
  const off = await wall();
  setTuning({ spinFix: true });
  const on = await wall();
  add({ op: 'matmul-wall', shape: '1024x1024x1024', size: n, variant: 'spin workaround off', ms: off, gflops: 2 * n ** 3 / (off * 1e6) });
  add({ op: 'matmul-wall', shape: '1024x1024x1024', size: n, variant: 'spin workaround on', ms: on, gflops: 2 * n ** 3 / (on * 1e6) });
}

const adapter = `${gpu.info.name} (${gpu.info.backend})`;
console.log(`\nadapter: ${adapter}${gpu.info.subgroupSize ? `, subgroup ${gpu.info.subgroupSize}` : ''} on ${cpus()[0]?.model ?? 'an unknown CPU'} (${cpus().length} cores, ${cpuVectorWidth()}-bit vectors); ${runs} runs, median; GPU time by ${gpu.hasTimestamps ? 'timestamp queries' : 'wall clock'}\n`);
if (cmpRows.length) {
  if (torchInfo) { const t = torchInfo as Omit<TorchRun, 'rows'>; console.log(`PyTorch ${t.torch} on ${t.deviceName} (${t.threads} threads, BLAS ${t.blas ?? '?'}), ${rounds} interleaved round(s); ratio = PyTorch ms / ours (above 1: we are faster)\n`); }
  console.log(rowsMarkdown(cmpRows));
  console.log('');
}
if (rows.length) {
  console.log('| op | shape | variant | ms | GFLOP/s |\n| --- | --- | --- | --- | --- |');
  for (const r of rows) console.log(`| ${r.op} | ${r.shape} | ${r.variant ?? r.note ?? ''} | ${r.ms.toFixed(r.ms < 0.1 ? 4 : 2)} | ${r.gflops ? r.gflops.toFixed(1) : ''} |`);
}
if (opts.json) {
  let commit = commitFromEnvironment() ?? '';
  if (!commit) try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { /* no git (the GPU bundle): LBD_COMMIT says */ }
  writeFileSync(opts.json, JSON.stringify({
    adapter, backend: gpu.info.backend, subgroupSize: gpu.info.subgroupSize ?? null, date: new Date().toISOString(), commit,
    // a software adapter's speed (and PyTorch's) is the CPU's: record which one ran it
    host: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, vectorBits: cpuVectorWidth() },
    argv: process.argv.slice(2), torch: torchInfo, rows: cmpRows, records: rows,
  }, null, 2));
  console.log(`\nwrote ${opts.json}`);
}
process.exit(0);
