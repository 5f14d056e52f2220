// Fused batch normalisation (training mode) over x viewed as [N, C, S] (S = H·W for images,
// 1 for [N, C] features). Per-channel reductions use one workgroup per channel (grid-stride
// over channels): strided partial sums, then a tree in workgroup memory. No atomics.
//
//   stats      stats[c] = mean, stats[C + c] = biased variance (two passes: mean, then Σ(x−μ)²)
//   apply      y = (x − μ)·rsqrt(σ² + eps)·w + b
//   gradsum    dw[c] = Σ g·x̂,  db[c] = Σ g               (x̂ = (x − μ)·rsqrt(σ² + eps))
//   gradinput  dx = w·rsqrt(σ² + eps)·(g − db/M − x̂·dw/M)  (M = N·S)
//   running    rm ← (1 − m)·rm + m·μ,  rv ← (1 − m)·rv + m·σ²·M/(M − 1)   (in place)
import { WG, type KernelSource } from './common.js';

/** Tree-reduces `arrays` (workgroup arrays of WG floats) into element 0; ends with a barrier. */
function tree(arrays: string[]): string {
  return `
    workgroupBarrier();
    for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
      if (li < w) { ${arrays.map((a) => `${a}[li] = ${a}[li] + ${a}[li + w];`).join(' ')} }
      workgroupBarrier();
    }`;
}

const CHANNEL_MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let C = P.C; let S = P.S; let M = P.M; let eps = P.eps;`;

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

export function bnStatsKernel(): KernelSource {
  const code = `
struct Params { C: u32, S: u32, M: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<f32>;
var<workgroup> sh: array<f32, ${WG}>;
${AT}
${CHANNEL_MAIN}
  let invM = 1.0 / f32(M);
  for (var c = wid.x; c < C; c = c + nwg.x) {
    var s = 0.0;
    ${channelLoop('s = s + x[k];')}
    sh[li] = s;${tree(['sh'])}
    let mu = sh[0] * invM;
    workgroupBarrier();
    var q = 0.0;
    ${channelLoop('let d = x[k] - mu; q = q + d * d;')}
    sh[li] = q;${tree(['sh'])}
    if (li == 0u) { stats[c] = mu; stats[C + c] = sh[0] * invM; }
    workgroupBarrier();
  }
}`;
  return { key: 'bn.stats', code };
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

export function bnApplyKernel(): KernelSource {
  const code = `
struct Params { planes: u32, C: u32, S: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read> b: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
${PLANE_MAIN}
  let scale = inverseSqrt(stats[C + c] + P.eps) * w[c];
  let shift = b[c] - stats[c] * scale;
  for (var p = wid.x * ${WG}u + li; p < S; p = p + nwg.x * ${WG}u) { y[base + p] = x[base + p] * scale + shift; }
}`;
  return { key: 'bn.apply', code };
}

export function bnGradSumKernel(): KernelSource {
  const code = `
struct Params { C: u32, S: u32, M: u32, eps: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;
@group(0) @binding(5) var<storage, read_write> db: array<f32>;
var<workgroup> sg: array<f32, ${WG}>;
var<workgroup> sgx: array<f32, ${WG}>;
${AT}
${CHANNEL_MAIN}
  for (var c = wid.x; c < C; c = c + nwg.x) {
    let mu = stats[c];
    var a = 0.0; var bsum = 0.0;
    ${channelLoop('let gv = g[k]; a = a + gv * (x[k] - mu); bsum = bsum + gv;')}
    sgx[li] = a; sg[li] = bsum;${tree(['sgx', 'sg'])}
    if (li == 0u) { dw[c] = sgx[0] * inverseSqrt(stats[C + c] + eps); db[c] = sg[0]; }
    workgroupBarrier();
  }
}`;
  return { key: 'bn.gradsum', code };
}

export function bnGradInputKernel(): KernelSource {
  const code = `
struct Params { planes: u32, C: u32, S: u32, eps: f32, invM: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read> dw: array<f32>;
@group(0) @binding(6) var<storage, read> db: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;
${PLANE_MAIN}
  // dx = w·r·(g − db/M − x̂·dw/M), x̂ = (x − μ)·r, folded into dx = a·g + b·x + d per channel
  let r = inverseSqrt(stats[C + c] + P.eps);
  let a = w[c] * r;
  let bx = -a * dw[c] * P.invM * r;
  let d = -a * db[c] * P.invM - bx * stats[c];
  for (var p = wid.x * ${WG}u + li; p < S; p = p + nwg.x * ${WG}u) { dx[base + p] = a * g[base + p] + bx * x[base + p] + d; }
}`;
  return { key: 'bn.gradinput', code };
}

export function bnRunningKernel(): KernelSource {
  const code = `
struct Params { C: u32, momentum: f32, unbias: f32, pad: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> stats: array<f32>;
@group(0) @binding(2) var<storage, read_write> rm: array<f32>;
@group(0) @binding(3) var<storage, read_write> rv: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let C = P.C; let m = P.momentum; let unbias = P.unbias;
  for (var c = gid.x; c < C; c = c + nwg.x * ${WG}u) {
    rm[c] = (1.0 - m) * rm[c] + m * stats[c];
    rv[c] = (1.0 - m) * rv[c] + m * stats[C + c] * unbias;
  }
}`;
  return { key: 'bn.running', code };
}
