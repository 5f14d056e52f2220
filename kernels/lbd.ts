// Learnable Bernoulli dropout kernels. One uniform u per example and per Bernoulli unit (a
// feature, or a channel shared over its H×W), regenerated from the Philox draw wherever it is
// needed instead of being stored. The ARM pair from one u: z1 = 1[u > σ(−α)], z2 = 1[u < σ(α)].
import { WG, defineParams, kernelSource, type KernelSource } from './common.js';
import { PHILOX_WGSL } from './random.js';

// n elements laid out [B, U, S]; L logits (1: one per layer, U: one per unit); the Philox draw;
// apply: which pass (1 or 2) and whether scaled by 1/σ(α); estimate: batch B, ARM (0) or
// DisARM (1), and the objective's scale.
export const LBD_APPLY_PARAMS = defineParams({
  n: 'u32', U: 'u32', S: 'u32', L: 'u32', seedLo: 'u32', seedHi: 'u32', offset: 'u32', stream: 'u32', which: 'u32', scaled: 'u32',
});
export const LBD_ESTIMATE_PARAMS = defineParams({
  U: 'u32', L: 'u32', seedLo: 'u32', seedHi: 'u32', offset: 'u32', stream: 'u32', B: 'u32', estimator: 'u32', scale: 'f32',
});

const UNIFORM = `
fn uOf(bu: u32, offset: u32, stream: u32, key: vec2<u32>) -> f32 {
  let bits = philox(vec4<u32>(bu / 4u + offset, stream, 0u, 0u), key);
  return unit(bits[bu % 4u]);
}
fn sig(a: f32) -> f32 { return 1.0 / (1.0 + exp(-a)); }`;

/**
 * y = x ⊙ z (⊙ 1/σ(α) when scaled) for x laid out [B, U, S]; z = z2 (pass 2) or z1 (pass 1).
 * The same kernel applied to an incoming gradient is the input gradient.
 */
export function lbdApplyKernel(): KernelSource {
  return kernelSource('lbd.apply', () => ({ params: LBD_APPLY_PARAMS, code: `${LBD_APPLY_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${PHILOX_WGSL}
${UNIFORM}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = P.n; let U = P.U; let S = P.S; let L = P.L;
  let key = vec2<u32>(P.seedLo, P.seedHi); let offset = P.offset; let stream = P.stream;
  let second = P.which == 2u; let scaled = P.scaled == 1u;
  for (var e = gid.x; e < n; e = e + nwg.x * ${WG}u) {
    let bu = e / S;
    let k = select(0u, bu % U, L > 1u);
    let a = alpha[k];
    let u = uOf(bu, offset, stream, key);
    let keep = select(u > sig(-a), u < sig(a), second);
    y[e] = select(0.0, x[e] * select(1.0, 1.0 + exp(-a), scaled), keep);
  }
}` }));
}

/**
 * Per-unit estimator terms summed over the batch: for unit j (logit k),
 *   ARM:    Σ_b d_b (u_bj − ½)
 *   DisARM: Σ_b ½ d_b (−1)^{z2_bj} 1[z1_bj ≠ z2_bj] σ(|α_k|)
 * with d_b = E_b(z1) − E_b(z2), times `scale` (1/B for a batch-mean objective).
 */
export function lbdEstimateKernel(): KernelSource {
  return kernelSource('lbd.estimate', () => ({ params: LBD_ESTIMATE_PARAMS, code: `${LBD_ESTIMATE_PARAMS.wgsl}
@group(0) @binding(1) var<storage, read> d: array<f32>;
@group(0) @binding(2) var<storage, read> alpha: array<f32>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;
${PHILOX_WGSL}
${UNIFORM}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let U = P.U; let L = P.L; let B = P.B;
  let key = vec2<u32>(P.seedLo, P.seedHi); let offset = P.offset; let stream = P.stream;
  let disarm = P.estimator == 1u;
  for (var j = gid.x; j < U; j = j + nwg.x * ${WG}u) {
    let a = alpha[select(0u, j, L > 1u)];
    let lo = sig(-a); let hi = sig(a); let w = 0.5 * sig(abs(a));
    var s = 0.0;
    for (var b = 0u; b < B; b = b + 1u) {
      let u = uOf(b * U + j, offset, stream, key);
      if (disarm) {
        let z1 = u > lo; let z2 = u < hi;
        if (z1 != z2) { s = s + select(1.0, -1.0, z2) * w * d[b]; }
      } else {
        s = s + d[b] * (u - 0.5);
      }
    }
    g[j] = s * P.scale;
  }
}` }));
}
