// Data movement: one strided-copy kernel serves permute, slice, broadcast-to, pad and concat;
// index_select and its atomic scatter-add backward; fill.
import { WG, stridedOffsetFn, defineParams, kernelSource, type KernelSource } from './common.js';

export const COPY_PARAMS = defineParams({ n: 'u32', ndim: 'u32', srcBase: 'u32', dstBase: 'u32', shape: 'dims', st: 'dims' });
export const INDEX_PARAMS = defineParams({ A: 'u32', J: 'u32', C: 'u32', R: 'u32' });
export const FILL_PARAMS = defineParams({ n: 'u32', bits: 'u32' });

/**
 * out[dstBase + dstOff(i)] = in[srcBase + srcOff(i)] for i over `shape`.
 * 'gather': the destination is contiguous (dstOff(i) = i); 'scatter': the source is.
 */
export function stridedCopyKernel(mode: 'gather' | 'scatter', ndim: number): KernelSource {
  return kernelSource(`copy.${mode}.d${ndim}`, () => ({ params: COPY_PARAMS, code: copyCode(mode, ndim) }));
}

function copyCode(mode: 'gather' | 'scatter', ndim: number): string {
  const off = stridedOffsetFn('offs', 'shape', 'st', ndim);
  return `
${COPY_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
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

/** out[a, j, c] = x[a, idx[j], c]; an index outside [0, R) yields NaN so it cannot pass silently. */
export function indexSelectKernel(): KernelSource {
  return kernelSource('index_select', () => ({ params: INDEX_PARAMS, code: `
${INDEX_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = P.A * P.J * P.C;
  for (var o = gid.x; o < n; o = o + nwg.x * ${WG}u) {
    let c = o % P.C;
    let j = (o / P.C) % P.J;
    let a = o / (P.C * P.J);
    let r = idx[j];
    if ((r < 0) | (u32(r) >= P.R)) { y[o] = bitcast<f32>(0x7fc00000u + 0u * P.R); }
    else { y[o] = x[(a * P.R + u32(r)) * P.C + c]; }
  }
}` }));
}

/** gx[a, idx[j], c] += g[a, j, c], with a compare-exchange loop (WGSL has no float atomics). */
export function indexAddKernel(): KernelSource {
  return kernelSource('index_add', () => ({ params: INDEX_PARAMS, code: `
${INDEX_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> gx: array<atomic<u32>>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = P.A * P.J * P.C;
  for (var o = gid.x; o < n; o = o + nwg.x * ${WG}u) {
    let c = o % P.C;
    let j = (o / P.C) % P.J;
    let a = o / (P.C * P.J);
    let r = idx[j];
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
  return kernelSource('fill', () => ({ params: FILL_PARAMS, code: `
${FILL_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < P.n; i = i + nwg.x * ${WG}u) { y[i] = P.bits; }
}` }));
}
