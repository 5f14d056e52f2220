// Sparse rows: densifying a CSR batch, and products that touch only a row pattern's entries.
import { WG, defineParams, kernelSource, type KernelSource } from './common.js';

const DENSIFY_PARAMS = defineParams({ B: 'u32', I: 'u32', nnz: 'u32' });

/**
 * y[r, idx[k]] += v[k] for k in row r's range [rowptr[r], rowptr[r+1]) clamped to [0, nnz).
 * One thread per row walks its nonzeros in order, so a repeated column sums deterministically
 * without float atomics (WGSL has none); columns outside [0, I) are skipped, because the host
 * wrapper validates real data and a bad index must not write past the row.
 */
export function densifyCsrKernel(withValues: boolean): KernelSource {
  return kernelSource(`densify_csr.${withValues ? 'v' : '1'}`, () => ({ params: DENSIFY_PARAMS, code: `
${DENSIFY_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read> rowptr: array<i32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
${withValues ? '@group(0) @binding(3) var<storage, read> vals: array<f32>;\n@group(0) @binding(4)' : '@group(0) @binding(3)'} var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let I = P.I; let nnz = i32(P.nnz);
  for (var r = gid.x; r < P.B; r = r + nwg.x * ${WG}u) {
    let lo = clamp(rowptr[r], 0, nnz);
    let hi = clamp(rowptr[r + 1u], 0, nnz);
    let base = r * I;
    for (var k = lo; k < hi; k = k + 1) {
      let c = idx[k];
      if (c < 0 || u32(c) >= I) { continue; }
      y[base + u32(c)] = y[base + u32(c)] + ${withValues ? 'vals[k]' : '1.0'};
    }
  }
}` }));
}

// ---- x·W with x known to be zero outside a row pattern (the recommender's first layer) -------
//
// x [B, I] is dense in memory but zero outside a CSR pattern (rowptr, idx); W is [I, N]. The
// products touch only the pattern's entries: nnz·N multiply-adds instead of B·I·N (ML-20M's
// 500-user batch: ~36 k of 10 M entries). Every thread owns four consecutive output columns
// (vec4 when N % 4 == 0, else four guarded scalars) and walks a row's (or, for the weight
// gradient, a column's) entries in order, so sums are deterministic and need no atomics.

const SPARSE_MM_PARAMS = defineParams({ B: 'u32', I: 'u32', N: 'u32', gridY: 'u32' });

/** Four columns of row `row` of a [?, N] matrix `m` times s, added to acc (vec4 or guarded scalars). */
function quad(vec: boolean, m: string, row: string): string {
  return vec
    ? `${m}4[${row} * (P.N / 4u) + j]`
    : `vec4<f32>(${[0, 1, 2, 3].map((q) => `select(0.0, ${m}[min(${row} * P.N + n0 + ${q}u, arrayLength(&${m}) - 1u)], n0 + ${q}u < P.N)`).join(', ')})`;
}

function storeQuad(vec: boolean, out: string, row: string, v: string): string {
  return vec
    ? `${out}4[${row} * (P.N / 4u) + j] = ${v};`
    : [0, 1, 2, 3].map((q) => `if (n0 + ${q}u < P.N) { ${out}[${row} * P.N + n0 + ${q}u] = ${v}[${q}]; }`).join('\n    ');
}

const binding = (i: number, name: string, type: string, vec: boolean, access = 'read'): string =>
  `@group(0) @binding(${i}) var<storage, ${access}> ${name}${vec && type === 'f32' ? '4' : ''}: array<${vec && type === 'f32' ? 'vec4<f32>' : type}>;`;

/**
 * y[r, n] = Σ_{k ∈ row r} x[r, idx[k]] · W[idx[k], n] (+ bias[n]). Grid: x over column quads
 * (64 a workgroup), y over rows with a stride of gridY.
 */
export function sparseRowsMatmulKernel(vec: boolean, bias: boolean): KernelSource {
  return kernelSource(`sparse_mm.rows${vec ? '.v4' : ''}${bias ? '.bias' : ''}`, () => ({ params: SPARSE_MM_PARAMS, code: `
${SPARSE_MM_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read> rowptr: array<i32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
${binding(4, 'w', 'f32', vec)}
${binding(5, 'y', 'f32', vec, 'read_write')}
${bias ? binding(6, 'bias', 'f32', vec) : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x; let n0 = 4u * j;
  if (n0 >= P.N) { return; }
  let I = P.I;
  for (var r = gid.y; r < P.B; r = r + P.gridY) {
    var acc = ${bias ? quad(vec, 'bias', '0u') : 'vec4<f32>(0.0)'};
    for (var k = rowptr[r]; k < rowptr[r + 1u]; k = k + 1) {
      let c = u32(idx[k]);
      acc = acc + x[r * I + c] * ${quad(vec, 'w', 'c')};
    }
    ${storeQuad(vec, 'y', 'r', 'acc')}
  }
}` }));
}

/**
 * dW[i, n] = Σ_{k ∈ column i} x[rowOf[k], i] · dY[rowOf[k], n] over the pattern by columns
 * (colptr, rowOf); a column without entries gets zeros. Grid: x over column quads, y over W's
 * rows with a stride of gridY (B in the params is I here: the rows walked).
 */
export function sparseRowsGradWKernel(vec: boolean): KernelSource {
  return kernelSource(`sparse_mm.dw${vec ? '.v4' : ''}`, () => ({ params: SPARSE_MM_PARAMS, code: `
${SPARSE_MM_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read> colptr: array<i32>;
@group(0) @binding(2) var<storage, read> rowOf: array<i32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
${binding(4, 'g', 'f32', vec)}
${binding(5, 'dw', 'f32', vec, 'read_write')}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x; let n0 = 4u * j;
  if (n0 >= P.N) { return; }
  let I = P.I;
  for (var i = gid.y; i < I; i = i + P.gridY) {
    var acc = vec4<f32>(0.0);
    for (var k = colptr[i]; k < colptr[i + 1u]; k = k + 1) {
      let r = u32(rowOf[k]);
      acc = acc + x[r * I + i] * ${quad(vec, 'g', 'r')};
    }
    ${storeQuad(vec, 'dw', 'i', 'acc')}
  }
}` }));
}

/**
 * dX[r, c] = Σ_n dY[r, n] · W[c, n] at the pattern's entries only (dX cleared beforehand).
 * One workgroup per row (y, stride gridY); its threads take the row's entries in turn.
 */
export function sparseRowsGradXKernel(vec: boolean): KernelSource {
  return kernelSource(`sparse_mm.dx${vec ? '.v4' : ''}`, () => ({ params: SPARSE_MM_PARAMS, code: `
${SPARSE_MM_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read> rowptr: array<i32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
${binding(3, 'g', 'f32', vec)}
${binding(4, 'w', 'f32', vec)}
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let I = P.I; let quads = (P.N + 3u) / 4u;
  for (var r = wid.y; r < P.B; r = r + P.gridY) {
    for (var k = rowptr[r] + i32(lid.x); k < rowptr[r + 1u]; k = k + ${WG}) {
      let c = u32(idx[k]);
      var acc = vec4<f32>(0.0);
      for (var j = 0u; j < quads; j = j + 1u) {
        let n0 = 4u * j;
        acc = acc + ${quad(vec, 'g', 'r')} * ${quad(vec, 'w', 'c')};
      }
      dx[r * I + c] = acc.x + acc.y + acc.z + acc.w;
    }
  }
}` }));
}
