// The bench's comparable rows (issue 14 item 5, issue 15 item 4): training steps of the models the
// project trains (`models` section) and the matmul / conv products they are made of (`ops`), each
// with a twin in tasks/bench/torch_models.py under the same name and variant, so a PyTorch run of
// the same model, batch and optimizer can be interleaved with ours.
//
// A model row times one full training step (forward, backward, optimizers; the LBD variant with
// lbdStep: tape replay after the first LBD layer and the ARM term) and reports: wall ms, host ms
// (JS time recording and submitting, i.e. the step minus its wait for the GPU, scope cleanup
// included), dispatches, GPU ms (the sum of per-dispatch timestamps from profileKernels over one
// extra step: busy GPU time without the idle gaps a host-bound step leaves; copies and clears are
// not in it), live bytes left over after the step (0 unless it leaks) and the step's peak.
import {
  scope, sync, tensor, backward, Generator, memoryStats, resetPeak, dispatchTotal, profileKernels,
  gpu, gpuTimeMs, matmul, conv2d, type Tensor, type Optimizer,
} from '../../engine/index.js';
import { crossEntropy } from '../../engine/ops/loss.js';
import { trainStep } from '../../layers/train-step.js';
import { sumRegularizers, type DropoutLayer } from '../../layers/dropout/base.js';
import type { Module } from '../../layers/module.js';
import { PRESETS as CLASSIFY_PRESETS, buildModel as buildVgg } from '../classify/experiment.js';
import { PRESETS as SEG_PRESETS, imageLosses, buildModel as buildTiramisu } from '../segment/experiment.js';
import { recommendStep, microBatches, buildModel as buildRecommender, DEFAULTS as REC_DEFAULTS } from '../recommend/experiment.js';
import { syntheticInteractions, ML20M_SHAPE } from './recommend.js';
import { mulberry32 } from '../data/rng.js';
import type { Csr } from '../data/ratings.js';
import { median } from './compare.js';

export type StepKind = 'regular' | 'lbd';

/** A built training step: `step()` records one step (the caller scopes and syncs it). */
export interface BuiltStep { step(): void; dispose(): void; params: number; logits: number }

export interface ModelRowDef {
  name: string;
  desc: string;
  /** What a step processes: images or users. */
  unit: 'images' | 'users';
  batch: number;
  /** FC-DenseNet-103 (30-50 s a step on lavapipe): its own step count (bench --heavy-steps), no separate warm-up. */
  heavy?: boolean;
  build(kind: StepKind): BuiltStep;
}

const count = (ts: readonly Tensor[]): number => ts.reduce((n, t) => n + t.size, 0);

/** Weights' and logits' optimizers around a per-example loss, stepping regular or LBD (trainStep). */
function stepper(model: Module, dropouts: DropoutLayer[], perExample: () => Tensor, wopt: Optimizer<{ lr?: number }>, lopt: Optimizer<{ lr?: number }> | null): () => void {
  return () => { trainStep(perExample, { model, optimizers: { weights: wopt, logits: lopt }, regularizer: () => sumRegularizers(dropouts) }); };
}

function vggRow(name: string, desc: string, width: number, hidden: number, batchNorm: boolean, batch: number): ModelRowDef {
  return {
    name, desc, unit: 'images', batch,
    build(kind) {
      // the classify task's model (its factories, seeds and optimizers), at this width
      const { model, dropouts, optimizers } = buildVgg(kind, { ...CLASSIFY_DEFAULTS, width, hidden, batchNorm, imageSize: 32 }, 1, 45000);
      const g = new Generator(5);
      const x = g.uniform([batch, 3, 32, 32], -1, 1).keep();
      const y = tensor(Int32Array.from({ length: batch }, (_, i) => i % 10), [batch], 'i32').keep();
      const step = stepper(model, dropouts, () => crossEntropy(model.forward(x), y, { reduction: 'none' }), optimizers.weights, optimizers.logits);
      return { step, params: count(optimizers.weights.params), logits: count(optimizers.logits?.params ?? []), dispose: () => { optimizers.weights.dispose(); optimizers.logits?.dispose(); model.dispose(); x.dispose(); y.dispose(); } };
    },
  };
}

let multVaeData: Csr | undefined; // built once (host arrays only), shared by every build of both rows

/**
 * Mult-VAE at ML-20M's shape: batches of 500 users drawn from a 20,000-user synthetic set with
 * ML-20M's mean of ~73 items per user. `dense`: the first layer multiplies the whole densified
 * input (as the reference implementations do) instead of its nonzero pattern.
 */
function multVaeRow(dense: boolean): ModelRowDef {
  const batch = 500;
  return {
    name: dense ? 'multvae-dense' : 'multvae',
    desc: `Mult-VAE ${ML20M_SHAPE.items}-600-200-600-${ML20M_SHAPE.items}, batch ${batch} (ML-20M shape, synthetic sparse input; first layer ${dense ? 'dense' : 'over the nonzeros'})`,
    unit: 'users', batch,
    build(kind) {
      const pool = 20000;
      const d = (multVaeData ??= syntheticInteractions(pool, ML20M_SHAPE.items, Math.round((ML20M_SHAPE.interactions * pool) / ML20M_SHAPE.users)));
      // the recommend task's model: Mult-VAE with regular or LBD input dropout (per item)
      const { model, dropout, optimizers: { weights: wopt, logits: lopt } } = buildRecommender('vae', kind === 'lbd' ? 'lbd' : 'regular', REC_DEFAULTS, d.cols, ML20M_SHAPE.users, 1);
      const k = microBatches(batch, d.cols, 1, gpu().device.limits.maxStorageBufferBindingSize);
      const rnd = mulberry32(7);
      const step = (): void => {
        const rows = Int32Array.from({ length: batch }, () => Math.floor(rnd() * d.rows));
        recommendStep({ model, wopt, lopt, dropout, denseInput: dense }, d, rows, 0.2, k);
      };
      return { step, params: count(wopt.params), logits: count(lopt?.params ?? []), dispose: () => { wopt.dispose(); lopt?.dispose(); model.dispose(); } };
    },
  };
}

function tiramisuRow(name: string, desc: string, model: string, H: number, W: number, batch: number, opt: { lr: number; rho: number; logitLr: number }, heavy?: boolean): ModelRowDef {
  return {
    name, desc, unit: 'images', batch, heavy,
    build(kind) {
      // the segment task's model: Dropout(0.2) everywhere, the studied kind in the bottleneck
      const built = buildTiramisu(kind, { model, rate: 0.2, estimator: 'arm', ...opt, memoryEfficient: false }, 1, 367);
      const { optimizers: { weights: wopt, logits: lopt } } = built;
      const r = mulberry32(3);
      const x = tensor(Float32Array.from({ length: batch * 3 * H * W }, () => r() - 0.5), [batch, 3, H, W]).keep();
      const y = tensor(Int32Array.from({ length: batch * H * W }, () => Math.floor(r() * 12)), [batch, H, W], 'i32').keep();
      const w = tensor(Float32Array.from([...Array(11).fill(1), 0]), [12]).keep();
      const step = stepper(built.model, built.bottleneck, () => imageLosses(built.model.forward(x), y, w), wopt, lopt);
      return { step, params: count(wopt.params), logits: count(lopt?.params ?? []), dispose: () => { wopt.dispose(); lopt?.dispose(); built.model.dispose(); x.dispose(); y.dispose(); w.dispose(); } };
    },
  };
}

const cp = CLASSIFY_PRESETS.cpu, sp = SEG_PRESETS.cpu;
/** classify's options besides the preset's sizes (its command line's defaults). */
const CLASSIFY_DEFAULTS = { rate: 0.5, estimator: 'arm', granularity: 'layer', lr: cp.lr!, logitLr: cp.logitLr! } as const;
const [sh, sw] = sp.size!;

/** Issue 14's table, in its order. */
export const MODEL_ROWS: readonly ModelRowDef[] = [
  vggRow('vgg19-small', `VGG19 x1/16 + BN, 32 px, classifier ${cp.hidden}, batch ${cp.batch} (classify cpu preset)`, cp.width!, cp.hidden!, !!cp.batchNorm, cp.batch!),
  vggRow('vgg19-full', 'VGG19 full width, 32 px, classifier 512, batch 64', 1, 512, false, 64),
  multVaeRow(false),
  multVaeRow(true),
  tiramisuRow('fcdensenet103', 'FC-DenseNet-103, 480x360, batch 1', '103', 360, 480, 1, { lr: 1e-4, rho: 0.995, logitLr: 1e-3 }, true),
  tiramisuRow('fcdensenet-tiny', `FC-DenseNet ${sp.model}, ${sw}x${sh}, batch ${sp.batch} (segment cpu preset)`, sp.model!, sh, sw, sp.batch!, { lr: sp.lr!, rho: sp.rho!, logitLr: sp.logitLr! }),
];

export interface StepMeasure {
  stepsMs: number[];
  stepMs: number;
  perSecond: number;
  dispatches: number;
  hostMs: number;
  gpuMs: number | null;
  liveDelta: number;
  peakBytes: number;
  /** The five kernels with the most GPU time in the profiled step. */
  topKernels?: { key: string; ms: number; count: number }[];
}

/**
 * Times a built step: `warmup` plain steps, one profiled step for GPU time (it also serves as a
 * warm-up: profiling only changes how passes are split), then `steps` timed steps.
 */
export async function measureStep(b: BuiltStep, batch: number, o: { steps: number; warmup: number; gpuTime: boolean }): Promise<StepMeasure> {
  for (let i = 0; i < o.warmup; i++) await scope(async () => { b.step(); await sync(); });
  let gpuMs: number | null = null, topKernels: StepMeasure['topKernels'];
  if (o.gpuTime && gpu().hasTimestamps) {
    const prof = await scope(async () => profileKernels(() => b.step()));
    gpuMs = prof.reduce((s, k) => s + k.ms, 0);
    topKernels = prof.slice(0, 5).map((k) => ({ key: k.key, ms: k.ms, count: k.count }));
  }
  const wall: number[] = [], host: number[] = [], disp: number[] = [], live: number[] = [];
  let peak = 0;
  for (let s = 0; s < o.steps; s++) {
    const live0 = memoryStats().liveBytes, d0 = dispatchTotal();
    resetPeak();
    let t1 = 0, t2 = 0;
    const t0 = performance.now();
    await scope(async () => { b.step(); t1 = performance.now(); await sync(); t2 = performance.now(); });
    const t3 = performance.now();
    wall.push(t3 - t0); host.push(t1 - t0 + (t3 - t2)); disp.push(dispatchTotal() - d0);
    const m = memoryStats();
    live.push(m.liveBytes - live0);
    peak = Math.max(peak, m.peakBytes - live0);
  }
  const stepMs = median(wall);
  return { stepsMs: wall, stepMs, perSecond: (1000 * batch) / stepMs, dispatches: median(disp), hostMs: median(host), gpuMs, liveDelta: Math.max(...live), peakBytes: peak, topKernels };
}

// ---- ops --------------------------------------------------------------------------------------

export interface OpRowDef {
  name: string;
  desc: string;
  variants: readonly string[];
  /** The FLOPs of one run of a variant and a builder of its (unscoped) run function. */
  build(variant: string): { flops: number; run(): void; dispose(): void };
}

function matmulRow(name: string, M: number, N: number, K: number): OpRowDef {
  return {
    name, desc: `matmul ${M}x${N}x${K}`, variants: ['AB', 'ABt', 'AtB'],
    build(v) {
      const g = new Generator(2);
      // the forward A[M,K]·B[K,N]; the backward's dA = dY[M,N]·B^T and dB = A^T·dY, operands stored as the engine stores them
      const [p, q, o] = v === 'AB' ? [g.uniform([M, K], -1, 1), g.uniform([K, N], -1, 1), {}]
        : v === 'ABt' ? [g.uniform([M, N], -1, 1), g.uniform([K, N], -1, 1), { transB: true }]
          : v === 'AtB' ? [g.uniform([M, K], -1, 1), g.uniform([M, N], -1, 1), { transA: true }]
            : (() => { throw new Error(`${name}: variant must be AB, ABt or AtB, got '${v}'`); })();
      p.keep(); q.keep();
      return { flops: 2 * M * N * K, run: () => { matmul(p, q, o).dispose(); }, dispose: () => { p.dispose(); q.dispose(); } };
    },
  };
}

function convRow(): OpRowDef {
  const [N, C, HW] = [64, 64, 32];
  const flops = 2 * N * HW * HW * C * C * 9;
  return {
    name: 'conv-vgg64', desc: `VGG conv ${C}->${C}, 3x3, batch ${N}, ${HW}x${HW}`, variants: ['forward', 'forward+backward'],
    build(v) {
      const g = new Generator(4);
      const x = g.uniform([N, C, HW, HW], -1, 1).requireGrad().keep();
      const w = g.uniform([C, C, 3, 3], -0.1, 0.1).requireGrad().keep();
      const dy = g.uniform([N, C, HW, HW], -1, 1).keep();
      const dispose = (): void => { x.dispose(); w.dispose(); dy.dispose(); };
      if (v === 'forward') return { flops, run: () => scope(() => { conv2d(x, w, null, { padding: 1 }); }), dispose };
      if (v !== 'forward+backward') throw new Error(`conv-vgg64: variant must be forward or forward+backward, got '${v}'`);
      return {
        flops: 3 * flops, dispose,
        run: () => scope(() => {
          backward(conv2d(x, w, null, { padding: 1 }), dy);
          x.grad?.dispose(); x.grad = null;
          w.grad?.dispose(); w.grad = null;
        }),
      };
    },
  };
}

export const OP_ROWS: readonly OpRowDef[] = [
  matmulRow('matmul-1024', 1024, 1024, 1024),
  matmulRow('matmul-sivae', 500, 9724, 600),
  matmulRow('matmul-4096', 4096, 4096, 4096),
  convRow(),
];

export interface OpMeasure { wallMs: number; gpuMs: number | null; wallGflops: number; gpuGflops: number | null; flops: number }

/** Wall ms (run + sync) and GPU ms (timestamps), medians over `runs` after one warm-up. */
export async function measureOp(def: OpRowDef, variant: string, runs: number): Promise<OpMeasure> {
  return scope(async () => {
    const op = def.build(variant);
    try {
      op.run(); await sync();
      const wall: number[] = [], gpuT: number[] = [];
      for (let r = 0; r < runs; r++) {
        const t0 = performance.now();
        op.run(); await sync();
        wall.push(performance.now() - t0);
      }
      if (gpu().hasTimestamps) for (let r = 0; r < runs; r++) gpuT.push(await gpuTimeMs(() => op.run()));
      const w = median(wall), gm = gpuT.length ? median(gpuT) : null;
      return { wallMs: w, gpuMs: gm, flops: op.flops, wallGflops: op.flops / (w * 1e6), gpuGflops: gm ? op.flops / (gm * 1e6) : null };
    } finally { op.dispose(); }
  });
}
