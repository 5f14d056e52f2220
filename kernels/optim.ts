// Optimizer updates: one fused pass over a parameter and its gradient.
import { WG, type KernelSource } from './common.js';

/** p -= lr · (g + wd·p), with optional momentum buffer v = μ·v + (g + wd·p). */
export function sgdKernel(momentum: boolean): KernelSource {
  const code = `
struct Params { n: u32, lr: f32, wd: f32, mu: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;
${momentum ? '@group(0) @binding(3) var<storage, read_write> v: array<f32>;' : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < P.n; i = i + nwg.x * ${WG}u) {
    var d = g[i] + P.wd * p[i];
    ${momentum ? 'd = P.mu * v[i] + d;\n    v[i] = d;' : ''}
    p[i] = p[i] - P.lr * d;
  }
}`;
  return { key: `sgd.${momentum ? 'mom' : 'plain'}`, code };
}
