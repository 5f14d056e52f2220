// Cross-entropy with integer labels on logits laid out [N, C, S] (S = spatial positions,
// 1 for plain classification). One thread per (n, s) position. A label equal to the ignore
// index gives loss 0 and gradient 0; any other label outside [0, C) gives NaN (never silent).
// Everything is relative to the position's largest logit m, with z = Σ_c exp(l_c − m) in [1, C]:
// loss = (m − l_y) + log z, softmax p_c = exp(l_c − m)/z. Never through lse = m + log z, which
// at logits of ±1,000 carries a rounding of up to 3e-5 (half an ulp of 1,000), and
// exp(l_c − lse) is then off by as much of itself.
// exp and log are kernels/math.ts's (WGSL's builtins may be off by several ulp).
import { WG, defineParams, kernel, readOnly, readWrite, type KernelSource } from './common.js';
import { mathWgsl } from './math.js';

const CE_PARAMS = defineParams({ N: 'u32', C: 'u32', S: 'u32', ignore: 'i32' });

/** The position's largest logit m and z = Σ exp(l − m), in one online pass. */
const MAX_AND_SUM = `
    let base = n * P.C * P.S + s;
    var m = -3.402823e38;
    var z = 0.0;
    for (var c = 0u; c < P.C; c = c + 1u) {
      let v = logits[base + c * P.S];
      if (v > m) { z = z * exp_acc(m - v) + 1.0; m = v; } else { z = z + exp_acc(v - m); }
    }`;
const MATH = mathWgsl('exp_acc( log_acc(');

/** Both cross-entropy kernels: one invocation per (example n, position s), y its label. */
const PER_POSITION = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var o = gid.x; o < P.N * P.S; o = o + nwg.x * ${WG}u) {
    let n = o / P.S;
    let s = o % P.S;
    let y = labels[o];`;

export function crossEntropyKernel(): KernelSource {
  return kernel('cross_entropy.fwd', {}, () => ({ params: CE_PARAMS, bindings: { logits: readOnly(), labels: readOnly('i32'), loss: readWrite() }, body: `${MATH}
${PER_POSITION}
    if (y == P.ignore) { loss[o] = 0.0; continue; }
    if ((y < 0) | (u32(y) >= P.C)) { loss[o] = bitcast<f32>(0x7fc00000u + 0u * P.C); continue; } // runtime NaN: WGSL rejects a constant one
${MAX_AND_SUM}
    loss[o] = (m - logits[base + u32(y) * P.S]) + log_acc(z);
  }
}` }));
}

/** d logits[n, c, s] = g[n, s] · (softmax - onehot(label)). */
export function crossEntropyGradKernel(): KernelSource {
  return kernel('cross_entropy.bwd', {}, () => ({ params: CE_PARAMS, bindings: { logits: readOnly(), labels: readOnly('i32'), g: readOnly(), dx: readWrite() }, body: `${MATH}
${PER_POSITION}
    let base0 = n * P.C * P.S + s;
    if ((y == P.ignore) | (y < 0) | (u32(y) >= P.C)) {
      for (var c = 0u; c < P.C; c = c + 1u) { dx[base0 + c * P.S] = 0.0; }
      continue;
    }
${MAX_AND_SUM}
    let go = g[o];
    for (var c = 0u; c < P.C; c = c + 1u) {
      let p = exp_acc(logits[base + c * P.S] - m) / z;
      dx[base + c * P.S] = go * (p - select(0.0, 1.0, c == u32(y)));
    }
  }
}` }));
}

const MASK_PARAMS = defineParams({ n: 'u32', ignore: 'i32' });

/** mask[i] = 1 where labels[i] != ignore, else 0 (the divisor of a mean over valid labels). */
export function labelMaskKernel(): KernelSource {
  return kernel('label_mask', {}, () => ({ params: MASK_PARAMS, bindings: { labels: readOnly('i32'), mask: readWrite() }, body: `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < P.n; i = i + nwg.x * ${WG}u) { mask[i] = select(1.0, 0.0, labels[i] == P.ignore); }
}` }));
}
