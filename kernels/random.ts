// Philox4x32-10 (Salmon et al. 2011), counter-based. Element i of a draw with (seed, stream,
// offset) is word i % 4 of philox(counter = (floor(i/4) + offset, stream, 0, 0),
// key = (seed lo, seed hi)). engine/random.ts holds the TypeScript twin (same bits).
import { WG, defineParams, kernel, readWrite, type KernelSource } from './common.js';
import { mathWgsl } from './math.js';

const RANDOM_PARAMS = defineParams({ n: 'u32', seedLo: 'u32', seedHi: 'u32', offset: 'u32', stream: 'u32', a: 'f32', b: 'f32' });

export const PHILOX_WGSL = `
fn mulhi32(a: u32, b: u32) -> u32 {
  let al = a & 0xffffu; let ah = a >> 16u;
  let bl = b & 0xffffu; let bh = b >> 16u;
  let ll = al * bl; let lh = al * bh; let hl = ah * bl; let hh = ah * bh;
  let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}
fn philox(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = ctr;
  var k = key;
  for (var r = 0u; r < 10u; r = r + 1u) {
    let hi0 = mulhi32(0xD2511F53u, c.x); let lo0 = 0xD2511F53u * c.x;
    let hi1 = mulhi32(0xCD9E8D57u, c.z); let lo1 = 0xCD9E8D57u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
  }
  return c;
}
// 24 random bits -> (0, 1), exactly representable in f32 and f64: (2m + 1) / 2^24
fn unit(x: u32) -> f32 { return f32((x >> 9u) * 2u + 1u) * 5.9604644775390625e-8; }
`;

/**
 * Box-Muller on one Philox block: (r0 cos θ0, r0 sin θ0, r1 cos θ1, r1 sin θ1) with r = √(−2 log u)
 * and θ = 2πu', the float64 twin's formula (engine/random.ts). Through log_acc and sincos2pi_acc
 * (kernels/math.ts), not the builtins: WGSL lets sin and cos be off by 2^-11, and on SwiftShader
 * they were (draws 2.3e-4 from the twin); these stay within a few ulps on every adapter.
 */
export const NORMAL4_WGSL = `${mathWgsl('log_acc( sincos2pi_acc(')}
fn normal4(bits: vec4<u32>) -> vec4<f32> {
  let r0 = sqrt(-2.0 * log_acc(unit(bits.x)));
  let r1 = sqrt(-2.0 * log_acc(unit(bits.z)));
  let a0 = sincos2pi_acc(unit(bits.y));
  let a1 = sincos2pi_acc(unit(bits.w));
  return vec4<f32>(r0 * a0.x, r0 * a0.y, r1 * a1.x, r1 * a1.y);
}`;

/** A Philox block of four draws (v) from quad q. */
const DRAW = {
  uniform: `
    let bits = philox(vec4<u32>(q + P.offset, P.stream, 0u, 0u), vec2<u32>(P.seedLo, P.seedHi));
    let u = vec4<f32>(unit(bits.x), unit(bits.y), unit(bits.z), unit(bits.w));
    let v = P.a + (P.b - P.a) * u;`,
  normal: `
    let bits = philox(vec4<u32>(q + P.offset, P.stream, 0u, 0u), vec2<u32>(P.seedLo, P.seedHi));
    let v = P.a + P.b * normal4(bits);`,
};

/** kind 'uniform': lo + (hi - lo) * u;  kind 'normal': mean + std * Box-Muller(u0, u1). */
export function randomKernel(kind: 'uniform' | 'normal'): KernelSource {
  return kernel('random', { kind }, ({ kind }) => ({ params: RANDOM_PARAMS, bindings: { y: readWrite() }, body: `
${PHILOX_WGSL}${kind === 'normal' ? NORMAL4_WGSL : ''}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let quads = (P.n + 3u) / 4u;
  for (var q = gid.x; q < quads; q = q + nwg.x * ${WG}u) {
${DRAW[kind]}
    let i = q * 4u;
    for (var j = 0u; j < 4u; j = j + 1u) { if (i + j < P.n) { y[i + j] = v[j]; } }
  }
}` }));
}
