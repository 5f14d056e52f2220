// Data movement: one strided-copy kernel serves permute, slice, broadcast-to, pad and concat;
// index_select and its atomic scatter-add backward; fill.
import { MAX_DIMS, WG, stridedOffsetFn, type KernelSource } from './common.js';

/**
 * out[dstBase + dstOff(i)] = in[srcBase + srcOff(i)] for i over `shape`.
 * 'gather': the destination is contiguous (dstOff(i) = i); 'scatter': the source is.
 */
export function stridedCopyKernel(mode: 'gather' | 'scatter', ndim: number): KernelSource {
  const off = stridedOffsetFn('offs', 'shape', 'st', ndim);
  const code = `
struct Params {
  n: u32, ndim: u32, srcBase: u32, dstBase: u32,
  shape: array<vec4<u32>, ${MAX_DIMS / 4}>,
  st: array<vec4<u32>, ${MAX_DIMS / 4}>,
}
@group(0) @binding(0) var<uniform> P: Params;
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
  return { key: `copy.${mode}.d${ndim}`, code };
}

/** out[a, j, c] = x[a, idx[j], c]; an index outside [0, R) yields NaN so it cannot pass silently. */
export function indexSelectKernel(): KernelSource {
  const code = `
struct Params { A: u32, J: u32, C: u32, R: u32 }
@group(0) @binding(0) var<uniform> P: Params;
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
    if (r < 0 || u32(r) >= P.R) { y[o] = bitcast<f32>(0x7fc00000u + 0u * P.R); }
    else { y[o] = x[(a * P.R + u32(r)) * P.C + c]; }
  }
}`;
  return { key: 'index_select', code };
}

/** gx[a, idx[j], c] += g[a, j, c], with a compare-exchange loop (WGSL has no float atomics). */
export function indexAddKernel(): KernelSource {
  const code = `
struct Params { A: u32, J: u32, C: u32, R: u32 }
@group(0) @binding(0) var<uniform> P: Params;
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
    if (r < 0 || u32(r) >= P.R) { continue; }
    let at = (a * P.R + u32(r)) * P.C + c;
    var old = atomicLoad(&gx[at]);
    loop {
      let res = atomicCompareExchangeWeak(&gx[at], old, bitcast<u32>(bitcast<f32>(old) + g[o]));
      if (res.exchanged) { break; }
      old = res.old_value;
    }
  }
}`;
  return { key: 'index_add', code };
}

export function fillKernel(): KernelSource {
  const code = `
struct Params { n: u32, bits: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < P.n; i = i + nwg.x * ${WG}u) { y[i] = P.bits; }
}`;
  return { key: 'fill', code };
}
