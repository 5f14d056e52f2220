// Row-wise softmax / log-softmax over the last axis of [rows, R]: one workgroup per row,
// an online (max, sum) pass merged in workgroup memory, then one write pass.
import { WG, type KernelSource } from './common.js';

export function softmaxKernel(log: boolean): KernelSource {
  const code = `
struct Params { rows: u32, R: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
var<workgroup> sm: array<f32, ${WG}>;
var<workgroup> ss: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  for (var row = wid.x + wid.y * nwg.x; row < P.rows; row = row + nwg.x * nwg.y) {
    let base = row * P.R;
    var m = -3.402823e38;
    var s = 0.0;
    for (var r = li; r < P.R; r = r + ${WG}u) {
      let v = x[base + r];
      if (v > m) { s = s * exp(m - v) + 1.0; m = v; } else { s = s + exp(v - m); }
    }
    sm[li] = m;
    ss[li] = s;
    workgroupBarrier();
    for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
      if (li < w) {
        let m2 = sm[li + w];
        let s2 = ss[li + w];
        let mm = max(m, m2);
        s = s * exp(m - mm) + s2 * exp(m2 - mm);
        m = mm;
        sm[li] = m;
        ss[li] = s;
      }
      workgroupBarrier();
    }
    let M = sm[0];
    let S = ss[0];
    workgroupBarrier();
    for (var r = li; r < P.R; r = r + ${WG}u) {
      ${log ? 'y[base + r] = x[base + r] - M - log(S);' : 'y[base + r] = exp(x[base + r] - M) / S;'}
    }
  }
}`;
  return { key: `softmax.${log ? 'log' : 'plain'}`, code };
}
