// Matmul C[b] = A[b] · B[b], row-major, f32. Two kernel structures, picked per adapter:
//
// 'subgroup' — for llvmpipe-like adapters (KERNELS.md §2-3): one 8-lane subgroup per
//   workgroup, no workgroup memory. Each lane loads its own vec4s of A (rows r0+l, r0+8+l, ...)
//   and of B (columns 4l..4l+3 of each 32-column strip); A values are shared with
//   subgroupBroadcast and accumulated into named vec4 registers.
// 'tiled' — the classic shared-memory tiling that real GPUs prefer.
//
// Tile sizes are configuration; bounds are handled for any M, N, K (clamped loads, masked stores).
import type { KernelSource } from './common.js';

export interface SubgroupMatmulConfig {
  kind: 'subgroup';
  /** Subgroup width the kernel is written for (lanes per workgroup). */
  lanes: number;
  /** Output rows per workgroup: a multiple of `lanes`. */
  rows: number;
  /** 4·lanes-column strips per workgroup (tile width = strips · 4 · lanes). */
  strips: number;
  /** A rows are read as vec4 along K (needs K % 4 == 0). */
  vecA: boolean;
  /** B rows are read as vec4 along N (needs N % 4 == 0). */
  vecB: boolean;
}

export interface TiledMatmulConfig {
  kind: 'tiled';
  /** Output tile (rows × cols) per workgroup and per thread. */
  tileM: number;
  tileN: number;
  threadM: number;
  threadN: number;
  /** K-depth of each shared-memory stage. */
  tileK: number;
}

export type MatmulConfig = SubgroupMatmulConfig | TiledMatmulConfig;

// Uniforms shared by both structures.
const PARAMS = `
struct Params {
  M: u32, N: u32, K: u32, batch: u32,
  strideA: u32, strideB: u32, strideC: u32, pad: u32,
}
@group(0) @binding(0) var<uniform> P: Params;`;

export function matmulTile(cfg: MatmulConfig): [number, number] {
  return cfg.kind === 'subgroup' ? [cfg.rows, cfg.strips * 4 * cfg.lanes] : [cfg.tileM, cfg.tileN];
}

export function matmulKernel(cfg: MatmulConfig): KernelSource {
  return cfg.kind === 'subgroup' ? subgroupKernel(cfg) : tiledKernel(cfg);
}

function subgroupKernel(c: SubgroupMatmulConfig): KernelSource {
  const L = c.lanes;
  if (c.rows % L !== 0) throw new Error(`matmul config: rows ${c.rows} must be a multiple of lanes ${L}`);
  const RG = c.rows / L; // row groups: A vec4s each lane loads per k-step
  const S = c.strips;
  const key = `matmul.sg.l${L}.r${c.rows}.s${S}.${c.vecA ? 'va' : 'sa'}${c.vecB ? 'vb' : 'sb'}`;
  const lines: string[] = [];
  const aDecl = c.vecA
    ? `@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;`
    : `@group(0) @binding(1) var<storage, read> A: array<f32>;`;
  const bDecl = c.vecB
    ? `@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;`
    : `@group(0) @binding(2) var<storage, read> B: array<f32>;`;
  // A loads: row r (clamped), k-quad starting at k
  const loadA = (r: string): string => c.vecA
    ? `A[aBase + ${r} * K4 + kq]`
    : `vec4<f32>(ldA(${r}, k), ldA(${r}, k + 1u), ldA(${r}, k + 2u), ldA(${r}, k + 3u))`;
  const loadB = (kk: number, s: number): string => c.vecB
    ? `ldB4(k + ${kk}u, cq${s})`
    : `vec4<f32>(ldB(k + ${kk}u, col${s}), ldB(k + ${kk}u, col${s} + 1u), ldB(k + ${kk}u, col${s} + 2u), ldB(k + ${kk}u, col${s} + 3u))`;

  lines.push(`enable subgroups;`, PARAMS, aDecl, bDecl,
    `@group(0) @binding(3) var<storage, read_write> C: array<f32>;`);
  if (!c.vecA) lines.push(`
fn ldA(r: u32, k: u32) -> f32 {
  return select(0.0, A[aBase + r * P.K + min(k, P.K - 1u)], k < P.K);
}`);
  if (c.vecB) lines.push(`
fn ldB4(k: u32, cq: u32) -> vec4<f32> {
  return select(vec4<f32>(0.0), B[bBase + min(k, P.K - 1u) * (P.N / 4u) + cq], k < P.K);
}`);
  else lines.push(`
fn ldB(k: u32, col: u32) -> f32 {
  return select(0.0, B[bBase + min(k, P.K - 1u) * P.N + min(col, P.N - 1u)], k < P.K && col < P.N);
}`);
  lines.push(`var<private> aBase: u32;
var<private> bBase: u32;

@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let b = wid.z;
  aBase = b * P.strideA${c.vecA ? ' / 4u' : ''};
  bBase = b * P.strideB${c.vecB ? ' / 4u' : ''};
  let K4 = P.K / 4u;
  let r0 = wid.y * ${c.rows}u;
  let c0 = wid.x * ${S * 4 * L}u;`);
  for (let g = 0; g < RG; g++) lines.push(`  let ra${g} = min(r0 + ${g * L}u + l, P.M - 1u);`);
  for (let s = 0; s < S; s++) {
    lines.push(`  let col${s} = c0 + ${s * 4 * L}u + 4u * l;`);
    if (c.vecB) lines.push(`  let cq${s} = min(col${s}, P.N - 4u) / 4u;`);
  }
  for (let i = 0; i < c.rows; i++) for (let s = 0; s < S; s++) lines.push(`  var acc${i}_${s} = vec4<f32>(0.0);`);
  lines.push(`  for (var k = 0u; k < P.K; k = k + 4u) {`);
  if (c.vecA) lines.push(`    let kq = k / 4u;`);
  for (let g = 0; g < RG; g++) lines.push(`    let a${g} = ${loadA(`ra${g}`)};`);
  for (let s = 0; s < S; s++) for (let kk = 0; kk < 4; kk++) lines.push(`    let b${kk}_${s} = ${loadB(kk, s)};`);
  for (let i = 0; i < c.rows; i++) {
    const g = Math.floor(i / L);
    lines.push(`    let av${i} = subgroupBroadcast(a${g}, ${i % L}u);`);
    for (let s = 0; s < S; s++) {
      lines.push(`    acc${i}_${s} = acc${i}_${s} + av${i}.x * b0_${s} + av${i}.y * b1_${s} + av${i}.z * b2_${s} + av${i}.w * b3_${s};`);
    }
  }
  lines.push(`  }`);
  lines.push(`  let cBase = b * P.strideC;`);
  for (let i = 0; i < c.rows; i++) {
    lines.push(`  if (r0 + ${i}u < P.M) {`);
    lines.push(`    let o = cBase + (r0 + ${i}u) * P.N;`);
    for (let s = 0; s < S; s++) {
      lines.push(`    store4(o, col${s}, acc${i}_${s});`);
    }
    lines.push(`  }`);
  }
  lines.push(`}

fn store4(o: u32, col: u32, v: vec4<f32>) {
  if (col + 3u < P.N) {
    C[o + col] = v.x; C[o + col + 1u] = v.y; C[o + col + 2u] = v.z; C[o + col + 3u] = v.w;
  } else {
    if (col < P.N) { C[o + col] = v.x; }
    if (col + 1u < P.N) { C[o + col + 1u] = v.y; }
    if (col + 2u < P.N) { C[o + col + 2u] = v.z; }
  }
}`);
  return { key, code: lines.join('\n') };
}

function tiledKernel(c: TiledMatmulConfig): KernelSource {
  const TX = c.tileN / c.threadN;
  const TY = c.tileM / c.threadM;
  const threads = TX * TY;
  if (!Number.isInteger(TX) || !Number.isInteger(TY)) throw new Error('matmul config: tile must be a multiple of the per-thread block');
  const key = `matmul.tiled.${c.tileM}x${c.tileN}x${c.tileK}.t${c.threadM}x${c.threadN}`;
  const code = `${PARAMS}
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
var<workgroup> As: array<f32, ${c.tileM * c.tileK}>;
var<workgroup> Bs: array<f32, ${c.tileK * c.tileN}>;

@compute @workgroup_size(${TX}, ${TY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let b = wid.z;
  let aBase = b * P.strideA;
  let bBase = b * P.strideB;
  let r0 = wid.y * ${c.tileM}u;
  let c0 = wid.x * ${c.tileN}u;
  var acc: array<f32, ${c.threadM * c.threadN}>;
  for (var i = 0u; i < ${c.threadM * c.threadN}u; i = i + 1u) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < P.K; k0 = k0 + ${c.tileK}u) {
    for (var e = li; e < ${c.tileM * c.tileK}u; e = e + ${threads}u) {
      let r = r0 + e / ${c.tileK}u;
      let k = k0 + e % ${c.tileK}u;
      As[e] = select(0.0, A[aBase + min(r, P.M - 1u) * P.K + min(k, P.K - 1u)], r < P.M && k < P.K);
    }
    for (var e = li; e < ${c.tileK * c.tileN}u; e = e + ${threads}u) {
      let k = k0 + e / ${c.tileN}u;
      let col = c0 + e % ${c.tileN}u;
      Bs[e] = select(0.0, B[bBase + min(k, P.K - 1u) * P.N + min(col, P.N - 1u)], k < P.K && col < P.N);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${c.tileK}u; kk = kk + 1u) {
      var bv: array<f32, ${c.threadN}>;
      for (var j = 0u; j < ${c.threadN}u; j = j + 1u) { bv[j] = Bs[kk * ${c.tileN}u + lid.x + j * ${TX}u]; }
      for (var i = 0u; i < ${c.threadM}u; i = i + 1u) {
        let av = As[(lid.y + i * ${TY}u) * ${c.tileK}u + kk];
        for (var j = 0u; j < ${c.threadN}u; j = j + 1u) { acc[i * ${c.threadN}u + j] = acc[i * ${c.threadN}u + j] + av * bv[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < ${c.threadM}u; i = i + 1u) {
    let r = r0 + lid.y + i * ${TY}u;
    for (var j = 0u; j < ${c.threadN}u; j = j + 1u) {
      let col = c0 + lid.x + j * ${TX}u;
      if (r < P.M && col < P.N) { C[b * P.strideC + r * P.N + col] = acc[i * ${c.threadN}u + j]; }
    }
  }
}`;
  return { key, code };
}
