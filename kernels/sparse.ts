// Sparse → dense: scatters the nonzeros of a CSR row batch into a cleared [B, I] matrix.
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
