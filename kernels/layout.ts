// Data movement: one strided-copy kernel serves permute, slice, broadcast-to, pad and concat;
// index_select and its atomic scatter-add backward; fill.
import { WG, stridedOffsetFn, defineParams, kernel, readOnly, readWrite, type KernelSource } from './common.js';

export const COPY_PARAMS = defineParams({ n: 'u32', ndim: 'u32', srcBase: 'u32', dstBase: 'u32', shape: 'dims', st: 'dims' });
export const INDEX_PARAMS = defineParams({ A: 'u32', J: 'u32', C: 'u32', R: 'u32' });
export const FILL_PARAMS = defineParams({ n: 'u32', bits: 'u32' });

/**
 * out[dstBase + dstOff(i)] = in[srcBase + srcOff(i)] for i over `shape`.
 * 'gather': the destination is contiguous (dstOff(i) = i); 'scatter': the source is.
 */
export function stridedCopyKernel(mode: 'gather' | 'scatter', ndim: number): KernelSource {
  return kernel('copy', { mode, ndim }, (c) => ({ params: COPY_PARAMS, bindings: { src: readOnly('u32'), dst: readWrite('u32') }, body: copyCode(c.mode, c.ndim) }));
}

function copyCode(mode: 'gather' | 'scatter', ndim: number): string {
  const off = stridedOffsetFn('offs', 'shape', 'st', ndim);
  return `
${off.decl}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
${off.load}
  let n = P.n; let srcBase = P.srcBase; let dstBase = P.dstBase;
  for (var i = gid.x; i < n; i = i + nwg.x * ${WG}u) {
    ${mode === 'gather' ? 'dst[dstBase + i] = src[srcBase + offs(i)];' : 'dst[dstBase + offs(i)] = src[srcBase + i];'}
  }
}`;
}

/** Both index kernels: one invocation per (a, j, c) of the [A, J, C] side, r = idx[j]. */
const PER_INDEXED = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = P.A * P.J * P.C;
  for (var o = gid.x; o < n; o = o + nwg.x * ${WG}u) {
    let c = o % P.C;
    let j = (o / P.C) % P.J;
    let a = o / (P.C * P.J);
    let r = idx[j];`;

/** out[a, j, c] = x[a, idx[j], c]; an index outside [0, R) yields NaN so it cannot pass silently. */
export function indexSelectKernel(): KernelSource {
  return kernel('index_select', {}, () => ({ params: INDEX_PARAMS, bindings: { x: readOnly(), idx: readOnly('i32'), y: readWrite() }, body: `
${PER_INDEXED}
    if ((r < 0) | (u32(r) >= P.R)) { y[o] = bitcast<f32>(0x7fc00000u + 0u * P.R); }
    else { y[o] = x[(a * P.R + u32(r)) * P.C + c]; }
  }
}` }));
}

/** gx[a, idx[j], c] += g[a, j, c], with a compare-exchange loop (WGSL has no float atomics). */
export function indexAddKernel(): KernelSource {
  return kernel('index_add', {}, () => ({ params: INDEX_PARAMS, bindings: { g: readOnly(), idx: readOnly('i32'), gx: readWrite('atomic<u32>') }, body: `
${PER_INDEXED}
    if ((r < 0) | (u32(r) >= P.R)) { continue; }
    let at = (a * P.R + u32(r)) * P.C + c;
    var old = atomicLoad(&gx[at]);
    loop {
      let res = atomicCompareExchangeWeak(&gx[at], old, bitcast<u32>(bitcast<f32>(old) + g[o]));
      if (res.exchanged) { break; }
      old = res.old_value;
    }
  }
}` }));
}

export function fillKernel(): KernelSource {
  return kernel('fill', {}, () => ({ params: FILL_PARAMS, bindings: { y: readWrite('u32') }, body: `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < P.n; i = i + nwg.x * ${WG}u) { y[i] = P.bits; }
}` }));
}
