// Batch normalisation over x viewed as [N, C, S] (S = H·W for images, 1 for [N, C] features),
// optionally followed by a ReLU in the same pass (training and eval, forward and backward).
// Per-channel reductions use one workgroup per channel (grid-stride over channels): strided
// partial sums, then a tree in workgroup memory. No atomics. μ and σ² come in two [C] buffers:
// the batch's (training) or the running statistics (eval), so one set of kernels serves both.
//
//   stats      mean[c] = μ, var[c] = biased σ², from one pass of sums shifted by the channel's
//              first value K: d = x − K, μ = K + Σd/M, σ² = Σd²/M − (Σd/M)². Plain sums of x lose
//              the digits that matter when the channel sits far from 0 (at x ≈ 1,000 an ulp of
//              the sum is a sizeable part of σ); shifted ones keep them, and σ² comes out within
//              about 1 + 2z² float32 roundings of itself, z = (K − μ)/σ (K is one of the
//              channel's values: a few σ from μ at most in practice). With `running` also
//              rm ← (1 − m)·rm + m·μ, rv ← (1 − m)·rv + m·σ²·M/(M − 1) in place
//   apply      z = (x − μ)·rsqrt(σ² + eps)·w + b;  y = z, or max(z, 0) with relu
//   gradsum    dw[c] = Σ g'·x̂,  db[c] = Σ g'   (x̂ = (x − μ)·rsqrt(σ² + eps); g' = g, or g·[z > 0]
//              with relu — z recomputed from x, the same expression as apply's, so no mask is stored)
//   gradinput  training: dx = w·rsqrt(σ² + eps)·(g' − db/M − x̂·dw/M)  (M = N·S)
//              eval:     dx = w·rsqrt(σ² + eps)·g'
// In training the stored μ is the batch mean rounded to float32, off by up to half an ulp of it
// (3e-5 at 1,000). The backward also sums x − μ, whose mean δ is that rounding, and uses
// x̂ = (x − μ − δ)·rsqrt(σ² + eps): dw = r·(Σ g'·(x − μ) − δ·Σ g'), and dx from x − μ (exact
// near μ) and δ, never as w·r·x + (a per-channel shift), which at x ≈ 1,000 cancels away
// float32's digits. The split form passes δ from gradsum to gradinput in a [C] buffer.
// `pre` variants normalise u = x + pb (pb: a per-channel bias of the layer before, e.g. a conv's,
// so that layer needs no bias pass of its own): the stored mean is u's, every kernel uses
// μ_x = mean − pb, and gradsum also writes dpb = Σ du (exactly 0 in training: a per-channel
// shift does not change batch-normalised values; w·rsqrt(σ² + eps)·db in eval).
import { WG, defineParams, kernel, readOnly, readWrite, treeSum as tree, type BindingDecls, type KernelSource } from './common.js';

/**
 * A batch-norm kernel's variant. Each factory takes the members its WGSL depends on (an absent
 * flag is false) and keys its pipeline by exactly those.
 */
export interface BnVariant {
  /** A ReLU after the normalisation (and its mask, recomputed, in the backward). */
  relu?: boolean;
  /** The input is u = x + pb, pb a per-channel bias of the layer before (see the header). */
  pre?: boolean;
  /** The running statistics are moved in place (rm, rv). */
  running?: boolean;
  /** Backward kernels: batch statistics (training) or the running ones (eval). */
  training: boolean;
  /** dx is added into what dx already holds (a gradient the tape offers). */
  acc?: boolean;
  /** One subgroup of this width per channel (the lanes kernels). */
  lanes: number;
}

/** The flags a kernel depends on, each a boolean (absent: false), for its config. */
/**
 * The flags a kernel's WGSL depends on, as booleans (its config). Built by a loop, not by object
 * spread: V8 spreads a config in microseconds, and these configs are looked up every dispatch.
 */
function flags<K extends 'relu' | 'pre' | 'running' | 'acc' | 'training'>(o: Partial<BnVariant>, ...keys: K[]): Record<K, boolean> {
  const f = {} as Record<K, boolean>;
  for (const k of keys) f[k] = !!o[k];
  return f;
}

const CHANNEL_MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let C = P.C; let S = P.S; let M = P.M;`;

/** Offset of the j-th element (j over N·S) of channel c. */
const AT = 'fn at(j: u32, c: u32, C: u32, S: u32) -> u32 { return ((j / S) * C + c) * S + j % S; }';

/**
 * This thread's share of channel c's elements (index k). Planes of at least WG pixels are walked
 * plane by plane without the integer division of at(), which lavapipe pays per element (a BN
 * over [4, 48, 90, 120] took 70 ms that way); small planes ([N, C] features) use the flat walk.
 */
const channelLoop = (body: string): string => `
    if (S >= ${WG}u) {
      let planes = M / S;
      for (var n = 0u; n < planes; n = n + 1u) {
        let base = (n * C + c) * S;
        for (var p = li; p < S; p = p + ${WG}u) { let k = base + p; ${body} }
      }
    } else {
      for (var j = li; j < M; j = j + ${WG}u) { let k = at(j, c, C, S); ${body} }
    }`;

const STATS_PARAMS = defineParams({ C: 'u32', S: 'u32', M: 'u32', momentum: 'f32', unbias: 'f32' });

/**
 * WGSL: channel c's mean into `mu` and its biased variance into `v` (every lane), from one pass
 * of sums shifted by the channel's first value (see the header), reduced by one tree over the
 * workgroup (the statistics pass and the one-pass forward). Leaves sh and sq free for reuse.
 */
function meanAndVariance(mu: string): string {
  return `let K = x[c * S];
    var s = 0.0;
    var q = 0.0;
    ${channelLoop('let d = x[k] - K; s = s + d; q = q + d * d;')}
    sh[li] = s; sq[li] = q;${tree(['sh', 'sq'])}
    let ds = sh[0] * invM;
    let ${mu} = K + ds;
    let v = max(sq[0] * invM - ds * ds, 0.0);
    workgroupBarrier(); // every lane has read sh[0], sq[0] before the next channel writes them`;
}

/**
 * Batch mean and biased variance per channel; with `running`, the running statistics updated too.
 * Bindings: x, mean, vr, [rm, rv: running], [pb: pre].
 */
export function bnStatsKernel(o: Pick<BnVariant, 'running' | 'pre'>): KernelSource {
  return kernel('bn.stats', flags(o, 'running', 'pre'), ({ running, pre }) => ({
    params: STATS_PARAMS,
    bindings: {
      x: readOnly(), mean: readWrite(), vr: readWrite(),
      ...(running ? { rm: readWrite(), rv: readWrite() } : {}),
      ...(pre ? { pb: readOnly() } : {}),
    },
    body: `var<workgroup> sh: array<f32, ${WG}>;
var<workgroup> sq: array<f32, ${WG}>;
${AT}
${CHANNEL_MAIN}
  let invM = 1.0 / f32(M);
  ${running ? 'let m = P.momentum; let unbias = P.unbias;' : ''}
  for (var c = wid.x; c < C; c = c + nwg.x) {
    ${meanAndVariance('mu')}
    if (li == 0u) {
      let mu_u = mu${pre ? ' + pb[c]' : ''};
      mean[c] = mu_u;
      vr[c] = v;
      ${running ? `rm[c] = (1.0 - m) * rm[c] + m * mu_u;
      rv[c] = (1.0 - m) * rv[c] + m * v * unbias;` : ''}
    }
  }
}`,
  }));
}

/**
 * Grid for the per-element kernels: y (and z beyond 65,535) walks the N·C planes, x the plane's
 * pixels — each thread knows its channel without dividing per element.
 */
export function planeGrid(planes: number, S: number): [number, number, number] {
  const y = Math.min(planes, 65535);
  return [Math.max(1, Math.min(Math.ceil(S / (16 * WG)), 64)), y, Math.ceil(planes / y)]; // ~16 pixels a thread
}

const PLANE_MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let plane = wid.y + wid.z * nwg.y;
  if (plane >= P.planes) { return; }
  let C = P.C; let S = P.S;
  let c = plane % C;
  let base = plane * S;`;

/** Per-channel scale and shift of the normalisation (the same text in every kernel: the ReLU mask recomputed in the backward equals the forward's). */
const scaleShift = (pre: boolean): string => `
  let mu = mean[c]${pre ? ' - pb[c]' : ''};
  let r = inverseSqrt(vr[c] + P.eps);
  let scale = r * w[c];
  let shift = b[c] - mu * scale;`;

/** WGSL of g' for element k: g, or g·[z > 0] with the ReLU (z recomputed as the forward's). */
const gradOf = (relu: boolean): string => (relu ? 'select(0.0, g[k], xv * scale + shift > 0.0)' : 'g[k]');

/**
 * WGSL accumulating one element's share of the backward's sums (xv, gv: the element and its g'):
 * a += g'·(x − μ), bs += g', and in training e += x − μ (the stored mean's rounding, see the
 * header). Scalar or vec4 alike.
 */
const gradTerms = (training: boolean): string =>
  `let xc = xv - mu; a = a + gv * xc; bs = bs + gv;${training ? ' e = e + xc;' : ''}`;

/**
 * WGSL for dx from the coefficients (see `dxCoefficients`): training dx = scale·g' + bx·(x − μ) + d
 * — x − μ first, exact for x near μ, where scale·g' + bx·x + (a shift) would cancel at large
 * offsets —, eval dx = scale·g'.
 */
const dxValue = (training: boolean): string => (training ? 'scale * gv + bx * (xv - mu) + d' : 'scale * gv');

/**
 * WGSL: dx's per-channel coefficients in training, from dw and db (`dwv`, `dbv`) and the mean's
 * rounding δ (`dm`): dx = w·r·(g' − db/M − (x − μ − δ)·r·dw/M) = scale·g' + bx·(x − μ) + d.
 */
const dxCoefficients = (dwv: string, dbv: string, dm: string, invM: string): string => `let bx = -scale * ${dwv} * ${invM} * r;
    let d = -scale * ${dbv} * ${invM} - bx * ${dm};`;

/**
 * WGSL after a one-pass backward's reduction (dwc = Σ g'·x̂, dbc = Σ g', dm = δ in every lane):
 * lane 0 stores dw, db (and dpb); in training every lane gets dx's coefficients bx and d.
 */
const storeGradSums = (pre: boolean, training: boolean): string => `if (li == 0u) {
      dw[c] = dwc;
      db[c] = dbc;
      ${pre ? `dpb[c] = ${training ? '0.0' : 'dbc * scale'};` : ''}
    }
    ${training ? dxCoefficients('dwc', 'dbc', 'dm', 'invM') : ''}`;

/**
 * WGSL after a workgroup's backward tree (sgx[0] = Σ g'·(x − μ), sg[0] = Σ g', in training
 * se[0] = Σ(x − μ)): dwc, dbc and, in training, δ = dm in every lane; then a barrier, so the
 * arrays are free for the next channel. dw = r·(Σ g'·(x − μ) − δ·Σ g') = Σ g'·x̂ with μ + δ.
 */
const gradSumsFromTree = (training: boolean): string => `let dbc = sg[0];
    ${training ? `let dm = se[0] * invM;
    let dwc = (sgx[0] - dm * dbc) * r;` : 'let dwc = sgx[0] * r;'}
    workgroupBarrier(); // every lane has read the tree's results before the next channel writes it`;

/** The statistics and the affine parameters, read: mean, vr, w, b (and pb). */
const statBindings = (pre: boolean): BindingDecls => ({
  mean: readOnly(), vr: readOnly(), w: readOnly(), b: readOnly(), ...(pre ? { pb: readOnly() } : {}),
});

const APPLY_PARAMS = defineParams({ planes: 'u32', C: 'u32', S: 'u32', eps: 'f32' });

/** y = x·scale + shift per channel, with `relu` max(·, 0). Bindings: x, mean, vr, w, b, [pb], y. */
export function bnApplyKernel(o: Pick<BnVariant, 'relu' | 'pre'>): KernelSource {
  return kernel('bn.apply', flags(o, 'relu', 'pre'), ({ relu, pre }) => ({
    params: APPLY_PARAMS,
    bindings: { x: readOnly(), ...statBindings(pre), y: readWrite() },
    body: `${PLANE_MAIN}
${scaleShift(pre)}
  for (var p = wid.x * ${WG}u + li; p < S; p = p + nwg.x * ${WG}u) {
    let z = x[base + p] * scale + shift;
    y[base + p] = ${relu ? 'max(z, 0.0)' : 'z'};
  }
}`,
  }));
}

const GRADSUM_PARAMS = defineParams({ C: 'u32', S: 'u32', M: 'u32', eps: 'f32' });

/**
 * The start of a per-channel gradient kernel (one workgroup per channel, as the one-pass and
 * split backward share it): the channel loop, Σ g·x̂ and Σ g (and the mean's rounding term in
 * training) over the channel, reduced by the workgroup tree into dwc, dbc (and dm). `gv` is
 * the gradient's WGSL expression (g masked by the ReLU or not). The caller closes the loop.
 */
function channelGradSums(gv: string, pre: boolean, training: boolean): string {
  return `var<workgroup> sg: array<f32, ${WG}>;
var<workgroup> sgx: array<f32, ${WG}>;
${training ? `var<workgroup> se: array<f32, ${WG}>;` : ''}
${AT}
${CHANNEL_MAIN}
  let invM = 1.0 / f32(M);
  for (var c = wid.x; c < C; c = c + nwg.x) {
    ${scaleShift(pre)}
    var a = 0.0; var bs = 0.0;${training ? ' var e = 0.0;' : ''}
    ${channelLoop(`let xv = x[k]; let gv = ${gv}; ${gradTerms(training)}`)}
    sgx[li] = a; sg[li] = bs;${training ? ' se[li] = e;' : ''}${tree(training ? ['sgx', 'sg', 'se'] : ['sgx', 'sg'])}
    ${gradSumsFromTree(training)}`;
}

/**
 * dw = Σ g'·x̂, db = Σ g' per channel (with `pre` also dpb, see the header; its value depends on
 * the mode; in training also dmean = δ, the stored mean's rounding, for bnGradInputKernel).
 * Bindings: g, x, mean, vr, w, b, [pb], dw, db, [dpb], [dmean: training].
 */
export function bnGradSumKernel(o: Pick<BnVariant, 'relu' | 'pre' | 'training'>): KernelSource {
  return kernel('bn.gradsum', flags(o, 'relu', 'pre', 'training'), ({ relu, pre, training }) => ({
    params: GRADSUM_PARAMS,
    bindings: {
      g: readOnly(), x: readOnly(), ...statBindings(pre), dw: readWrite(), db: readWrite(),
      ...(pre ? { dpb: readWrite() } : {}), ...(training ? { dmean: readWrite() } : {}),
    },
    body: `${channelGradSums(gradOf(relu), pre, training)}
    if (li == 0u) {
      dw[c] = dwc;
      db[c] = dbc;
      ${pre ? `dpb[c] = ${training ? '0.0' : 'dbc * scale'};` : ''}
      ${training ? 'dmean[c] = dm;' : ''}
    }
  }
}`,
  }));
}

const GRADINPUT_PARAMS = defineParams({ planes: 'u32', C: 'u32', S: 'u32', eps: 'f32', invM: 'f32' });

/**
 * dx per element. Bindings: g, x, mean, vr, w, b, [pb], dw, db, [dmean: training], dx (dw, db
 * unused in eval mode, bound all the same).
 */
export function bnGradInputKernel(o: Pick<BnVariant, 'relu' | 'pre' | 'acc' | 'training'>): KernelSource {
  return kernel('bn.gradinput', flags(o, 'relu', 'pre', 'acc', 'training'), ({ relu, pre, acc, training }) => ({
    params: GRADINPUT_PARAMS,
    bindings: {
      g: readOnly(), x: readOnly(), ...statBindings(pre), dw: readOnly(), db: readOnly(),
      ...(training ? { dmean: readOnly() } : {}), dx: readWrite(),
    },
    body: `${PLANE_MAIN}
${scaleShift(pre)}
  ${training ? dxCoefficients('dw[c]', 'db[c]', 'dmean[c]', 'P.invM') : ''}
  for (var p = wid.x * ${WG}u + li; p < S; p = p + nwg.x * ${WG}u) {
    let k = base + p;
    let xv = x[k];
    let gv = ${gradOf(relu)};
    dx[k] = ${acc ? 'dx[k] + ' : ''}${dxValue(training)};
  }
}`,
  }));
}

// ---- one pass each way (CPU adapters) -----------------------------------------------------
//
// On lavapipe a pass costs about as much as a small matmul whatever its size, and a few
// workgroups already fill the cores: there the workgroup that reduces a channel also writes its
// outputs (forward: statistics then y; backward: gradient sums then dx), one dispatch each way.
// A real GPU wants more than C workgroups for the elementwise part: it keeps the split kernels.

const FUSED_PARAMS = defineParams({ C: 'u32', S: 'u32', M: 'u32', eps: 'f32', momentum: 'f32', unbias: 'f32' });

/** The one-pass forward's bindings: x (f32 or vec4 elements), statistics (written), affine, [pb], [running], y. */
const forwardBindings = (pre: boolean, running: boolean, vec: boolean): BindingDecls => ({
  x: readOnly(vec ? 'vec4<f32>' : 'f32'),
  mean: readWrite(), vr: readWrite(), w: readOnly(), b: readOnly(),
  ...(pre ? { pb: readOnly() } : {}),
  ...(running ? { rm: readWrite(), rv: readWrite() } : {}),
  y: readWrite(vec ? 'vec4<f32>' : 'f32'),
});

/** The one-pass backward's bindings: g and x (f32 or vec4 elements), statistics, affine, [pb], dw, db, [dpb], dx. */
const backwardBindings = (pre: boolean, vec: boolean): BindingDecls => ({
  g: readOnly(vec ? 'vec4<f32>' : 'f32'), x: readOnly(vec ? 'vec4<f32>' : 'f32'),
  ...statBindings(pre), dw: readWrite(), db: readWrite(), ...(pre ? { dpb: readWrite() } : {}),
  dx: readWrite(vec ? 'vec4<f32>' : 'f32'),
});

/**
 * WGSL after a one-pass forward's reduction (channel c's mean `mx` and biased variance `v` in
 * every lane): lane 0 stores the statistics (and moves the running ones); every lane gets the
 * affine `scale`, `shift` — the split kernels' own expressions, so the backward's recomputed
 * ReLU mask matches the forward's exactly.
 */
const storeStats = (pre: boolean, running: boolean): string => `let mean_c = mx${pre ? ' + pb[c]' : ''};
    if (li == 0u) {
      mean[c] = mean_c;
      vr[c] = v;
      ${running ? `rm[c] = (1.0 - m) * rm[c] + m * mean_c;
      rv[c] = (1.0 - m) * rv[c] + m * v * unbias;` : ''}
    }
    let mu = mean_c${pre ? ' - pb[c]' : ''};
    let r = inverseSqrt(v + eps);
    let scale = r * w[c];
    let shift = b[c] - mu * scale;`;

/**
 * Training forward in one pass: batch statistics (stored, and folded into the running statistics
 * with `running`), then y. Bindings: x, mean, vr, w, b, [pb], [rm, rv], y.
 */
export function bnForwardOnePassKernel(o: Pick<BnVariant, 'relu' | 'pre' | 'running'>): KernelSource {
  return kernel('bn.fwd1', flags(o, 'relu', 'pre', 'running'), ({ relu, pre, running }) => {
    return {
      params: FUSED_PARAMS,
      bindings: forwardBindings(pre, running, false),
      body: `var<workgroup> sh: array<f32, ${WG}>;
var<workgroup> sq: array<f32, ${WG}>;
${AT}
${CHANNEL_MAIN}
  let invM = 1.0 / f32(M);
  let eps = P.eps;
  ${running ? 'let m = P.momentum; let unbias = P.unbias;' : ''}
  for (var c = wid.x; c < C; c = c + nwg.x) {
    ${meanAndVariance('mx')}
    ${storeStats(pre, running)}
    ${channelLoop(`let z = x[k] * scale + shift; y[k] = ${relu ? 'max(z, 0.0)' : 'z'};`)}
  }
}`,
    };
  });
}

/**
 * Backward in one pass: dw, db (and dpb) per channel, then dx (training: the batch-statistics
 * form; eval: scale·g'). Bindings: g, x, mean, vr, w, b, [pb], dw, db, [dpb], dx.
 * `acc`: dx already holds a gradient of x (from its other consumers) and this one is added to
 * it, which saves the tape a separate add pass per extra consumer.
 */
export function bnBackwardOnePassKernel(o: Pick<BnVariant, 'relu' | 'pre' | 'acc' | 'training'>): KernelSource {
  return kernel('bn.bwd1', flags(o, 'relu', 'pre', 'acc', 'training'), ({ relu, pre, acc, training }) => {
    const gv = gradOf(relu);
    return {
      params: FUSED_PARAMS,
      bindings: backwardBindings(pre, false),
      body: `${channelGradSums(gv, pre, training)}
    ${storeGradSums(pre, training)}
    ${channelLoop(`let xv = x[k]; let gv = ${gv}; dx[k] = ${acc ? 'dx[k] + ' : ''}${dxValue(training)};`)}
  }
}`,
    };
  });
}

// ---- one subgroup per channel (CPU adapters) -------------------------------------------------
//
// The one-pass kernels above run a 64-invocation workgroup per channel: on llvmpipe that is 8
// subgroups taking turns at every barrier of the reduction trees, and one scalar load per
// element. These variants run one subgroup per channel (the adapter's fixed width), read vec4s
// (planes of S % 4 == 0 pixels), and reduce with subgroupAdd: no workgroup memory, no barriers.
// Same bindings and arithmetic as the one-pass kernels (the ReLU mask the backward recomputes
// is the forward's: the same z = x·scale + shift from the same stored statistics).

/** This lane's vec4s of channel c (index k into vec4 arrays), plane by plane. */
const laneLoop = (L: number, body: string): string => `
    for (var n = 0u; n < planes; n = n + 1u) {
      let base = (n * C + c) * S4;
      for (var p = li; p < S4; p = p + ${L}u) { let k = base + p; ${body} }
    }`;
const hsum = (v: string): string => `subgroupAdd(${v}.x + ${v}.y + ${v}.z + ${v}.w)`;

const LANE_MAIN = (L: number): string => `@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let C = P.C; let S4 = P.S / 4u; let M = P.M; let planes = M / P.S;
  let invM = 1.0 / f32(M);`;

/** bnForwardOnePassKernel with one `lanes`-wide subgroup per channel; needs S % 4 == 0. */
export function bnForwardLanesKernel(o: Pick<BnVariant, 'lanes' | 'relu' | 'pre' | 'running'>): KernelSource {
  return kernel('bn.fwd.lanes', Object.assign(flags(o, 'relu', 'pre', 'running'), { lanes: o.lanes }), ({ lanes, relu, pre, running }) => {
    return {
      params: FUSED_PARAMS,
      enable: ['subgroups'],
      bindings: forwardBindings(pre, running, true),
      body: `${LANE_MAIN(lanes)}
  let eps = P.eps;
  ${running ? 'let m = P.momentum; let unbias = P.unbias;' : ''}
  for (var c = wid.x; c < C; c = c + nwg.x) {
    let K = x[c * S4].x; // the channel's first value: sums shifted by it (see the header)
    var s = vec4<f32>(0.0);
    var q = vec4<f32>(0.0);
    ${laneLoop(lanes, 'let d = x[k] - K; s = s + d; q = q + d * d;')}
    let ds = ${hsum('s')} * invM;
    let mx = K + ds;
    let v = max(${hsum('q')} * invM - ds * ds, 0.0);
    ${storeStats(pre, running)}
    ${laneLoop(lanes, `let z = x[k] * scale + shift; y[k] = ${relu ? 'max(z, vec4<f32>(0.0))' : 'z'};`)}
  }
}`,
    };
  });
}

/** bnBackwardOnePassKernel with one `lanes`-wide subgroup per channel; needs S % 4 == 0. */
export function bnBackwardLanesKernel(o: Pick<BnVariant, 'lanes' | 'relu' | 'pre' | 'acc' | 'training'>): KernelSource {
  const config = Object.assign(flags(o, 'relu', 'pre', 'acc', 'training'), { lanes: o.lanes });
  return kernel('bn.bwd.lanes', config, ({ lanes, relu, pre, acc, training }) => {
    const gv = relu ? 'select(vec4<f32>(0.0), g[k], xv * scale + shift > vec4<f32>(0.0))' : 'g[k]';
    return {
      params: FUSED_PARAMS,
      enable: ['subgroups'],
      bindings: backwardBindings(pre, true),
      body: `${LANE_MAIN(lanes)}
  for (var c = wid.x; c < C; c = c + nwg.x) {
    ${scaleShift(pre)}
    var a = vec4<f32>(0.0); var bs = vec4<f32>(0.0);${training ? ' var e = vec4<f32>(0.0);' : ''}
    ${laneLoop(lanes, `let xv = x[k]; let gv = ${gv}; ${gradTerms(training)}`)}
    let dbc = ${hsum('bs')};
    ${training ? `let dm = ${hsum('e')} * invM;
    let dwc = (${hsum('a')} - dm * dbc) * r;` : `let dwc = ${hsum('a')} * r;`}
    ${storeGradSums(pre, training)}
    ${laneLoop(lanes, `let xv = x[k]; let gv = ${gv}; dx[k] = ${acc ? 'dx[k] + ' : ''}${dxValue(training)};`)}
  }
}`,
    };
  });
}
