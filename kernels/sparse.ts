// Sparse rows: densifying a CSR batch, and products that touch only a row pattern's entries.
import { WG, defineParams, kernel, readOnly, readWrite, activationWgsl, activationDecls, type Activation, type KernelSource } from './common.js';

const DENSIFY_PARAMS = defineParams({ B: 'u32', I: 'u32', nnz: 'u32' });

/**
 * y[r, idx[k]] += v[k] for k in row r's range [rowptr[r], rowptr[r+1]) clamped to [0, nnz).
 * One thread per row walks its nonzeros in order, so a repeated column sums deterministically
 * without float atomics (WGSL has none); columns outside [0, I) are skipped, because the host
 * wrapper validates real data and a bad index must not write past the row.
 */
export function densifyCsrKernel(withValues: boolean): KernelSource {
  return kernel('densify_csr', { withValues }, ({ withValues }) => ({
    params: DENSIFY_PARAMS,
    bindings: { rowptr: readOnly('i32'), idx: readOnly('i32'), ...(withValues ? { vals: readOnly() } : {}), y: readWrite() },
    body: `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let I = P.I; let nnz = i32(P.nnz);
  for (var r = gid.x; r < P.B; r = r + nwg.x * ${WG}u) {
    let lo = clamp(rowptr[r], 0, nnz);
    let hi = clamp(rowptr[r + 1u], 0, nnz);
    let base = r * I;
    for (var k = lo; k < hi; k = k + 1) {
      let c = idx[k];
      if ((c < 0) | (u32(c) >= I)) { continue; }
      y[base + u32(c)] = y[base + u32(c)] + ${withValues ? 'vals[k]' : '1.0'};
    }
  }
}`,
  }));
}

// ---- x·W with x known to be zero outside a row pattern (the recommender's first layer) -------
//
// x [B, I] is dense in memory but zero outside a CSR pattern (rowptr, idx); W is [I, N]. The
// products touch only the pattern's entries: nnz·N multiply-adds instead of B·I·N (ML-20M's
// 500-user batch: ~36 k of 10 M entries). Every thread owns four consecutive output columns
// (vec4 when N % 4 == 0, else four guarded scalars) and walks a row's (or, for the weight
// gradient, a column's) entries in order, so sums are deterministic and need no atomics.

const SPARSE_MM_PARAMS = defineParams({ B: 'u32', I: 'u32', N: 'u32', gridY: 'u32' });

/** Four columns of row `row` of a [?, N] matrix `m` (a vec4 of an array<vec4<f32>>, or guarded scalars). */
function quad(vec: boolean, m: string, row: string): string {
  return vec
    ? `${m}[${row} * (P.N / 4u) + j]`
    : `vec4<f32>(${[0, 1, 2, 3].map((q) => `select(0.0, ${m}[min(${row} * P.N + n0 + ${q}u, arrayLength(&${m}) - 1u)], n0 + ${q}u < P.N)`).join(', ')})`;
}

function storeQuad(vec: boolean, out: string, row: string, v: string): string {
  return vec
    ? `${out}[${row} * (P.N / 4u) + j] = ${v};`
    : [0, 1, 2, 3].map((q) => `if (n0 + ${q}u < P.N) { ${out}[${row} * P.N + n0 + ${q}u] = ${v}[${q}]; }`).join('\n    ');
}

/** A [?, N] matrix's binding: vec4 quads of columns when N % 4 == 0. */
const matrix = (vec: boolean, access: 'read' | 'read_write' = 'read') => (access === 'read' ? readOnly : readWrite)(vec ? 'vec4<f32>' : 'f32');

/**
 * One output row o per y (stride gridY), four columns a thread: out[o, n] = (bias[n] +)
 * Σ_{k ∈ ptr[o] .. ptr[o+1]} x[at(o, ent[k])] · m[ent[k], n]. The forward walks the pattern by
 * rows (o = r, ent = its columns c, m = W: x[r, c]·W[c, n]); dW walks it by columns (o = item i,
 * ent = its rows r, m = dY: x[r, i]·dY[r, n]; an item without entries gets zeros).
 */
function walkKernel(c: WalkConfig): KernelSource {
  return kernel('sparse_mm.walk', c, ({ form, vec, bias, act }) => {
    const { walked, xAt, m, out } = WALKS[form];
    return {
      params: SPARSE_MM_PARAMS,
      bindings: { ptr: readOnly('i32'), ent: readOnly('i32'), x: readOnly(), [m]: matrix(vec), [out]: matrix(vec, 'read_write'), ...(bias ? { bias: matrix(vec) } : {}) },
      body: `
${activationDecls(act)}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x; let n0 = 4u * j;
  if (n0 >= P.N) { return; }
  let I = P.I;
  for (var o = gid.y; o < P.${walked}; o = o + P.gridY) {
    var acc = ${bias ? quad(vec, 'bias', '0u') : 'vec4<f32>(0.0)'};
    for (var k = ptr[o]; k < ptr[o + 1u]; k = k + 1) {
      let e = u32(ent[k]);
      acc = acc + x[${xAt}] * ${quad(vec, m, 'e')};
    }
    let res = ${activationWgsl(act, 'acc')};
    ${storeQuad(vec, out, 'o', 'res')}
  }
}`,
    };
  });
}

/**
 * A walk kernel's variant: the product (`rows`: y = x·W walking rows; `dw`: dW = xᵀ·dY walking
 * columns), vec4 columns, the epilogue.
 */
interface WalkConfig { form: 'rows' | 'dw'; vec: boolean; bias: boolean; act?: Activation }

/** Per form: the dimension walked, x's element for (o, e), the matrix read (binding) and the one written. */
const WALKS = {
  rows: { walked: 'B', xAt: 'o * I + e', m: 'w', out: 'y' },
  dw: { walked: 'I', xAt: 'e * I + o', m: 'g', out: 'dw' },
} as const;

/** y = act(x·W (+ bias)) over the pattern by rows. Bindings: rowptr, idx, x, W, y (, bias). Grid: x over column quads (64 a workgroup), y over rows. */
export const sparseRowsMatmulKernel = (o: { vec: boolean; bias: boolean; act?: Activation }): KernelSource =>
  walkKernel({ form: 'rows', vec: o.vec, bias: o.bias, act: o.act });

/** dW = xᵀ·dY over the pattern by columns. Bindings: colptr, rowOf, x, dY, dW. Grid: x over column quads, y over W's rows. */
export const sparseRowsGradWKernel = (vec: boolean): KernelSource =>
  walkKernel({ form: 'dw', vec, bias: false });

/**
 * dX[r, c] = Σ_n dY[r, n] · W[c, n] at the pattern's entries only (dX cleared beforehand).
 * One workgroup per row (y, stride gridY); its threads take the row's entries in turn.
 */
export function sparseRowsGradXKernel(vec: boolean): KernelSource {
  return kernel('sparse_mm.dx', { vec }, ({ vec }) => ({
    params: SPARSE_MM_PARAMS,
    bindings: { rowptr: readOnly('i32'), idx: readOnly('i32'), g: matrix(vec), w: matrix(vec), dx: readWrite() },
    body: `
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
}`,
  }));
}
