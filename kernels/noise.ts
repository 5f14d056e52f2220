// Multiplicative-noise dropouts with a learnable rate (the LBD paper's baselines), noise
// regenerated from a Philox draw in both passes, never stored. Element i of x uses noise value
// j = ⌊i / share⌋ (share = 1: per element; share = H·W: per example and channel) and the rate
// parameter th[k] with k = ⌊i / inner⌋ % units (axis 1 of x; units = 1 for a per-layer rate).
// Noise value j is word j % 4 of philox((⌊j/4⌋ + offset, stream, 0, 0), (seed lo, seed hi)),
// mapped exactly as kernels/random.ts maps it:
//   gaussian: ε_j = Box-Muller normal (the same f32 formula as Generator.normal), th = log a,
//             y = x·(1 + √a·ε);  backward: dx = g·ξ, e = g·x·ε·½√a (summed per unit → d log a)
//   concrete: L_j = log u_j − log(1 − u_j), th = logit of the drop probability p, temperature t,
//             z̃ = σ((th + L)/t), m = (1 − z̃)/(1 − p) = exp(logσ(−(th + L)/t) + softplus(th)),
//             y = x·m;  backward: dx = g·m, e = g·x·m·(p − z̃/t) (summed per unit → d th)
import { WG, defineParams, kernel, readOnly, readWrite, type BindingDecls, type KernelSource } from './common.js';
import { PHILOX_WGSL, NORMAL4_WGSL } from './random.js';

const NOISE_PARAMS = defineParams({ n: 'u32', seedLo: 'u32', seedHi: 'u32', offset: 'u32', stream: 'u32', share: 'u32', inner: 'u32', units: 'u32', t: 'f32' });

export type NoiseKind = 'gaussian' | 'concrete';

const NOISE: Record<NoiseKind, string> = {
  gaussian: `
  return normal4(bits);`,
  concrete: `
  let u = vec4<f32>(unit(bits.x), unit(bits.y), unit(bits.z), unit(bits.w));
  return log(u) - log(vec4<f32>(1.0) - u);`,
};

const BODY: Record<NoiseKind, Record<'forward' | 'backward', string>> = {
  gaussian: {
    forward: `
      let s = exp(0.5 * th);
      y[i] = x[i] * (1.0 + s * v);`,
    backward: `
      let s = exp(0.5 * th);
      let gi = g[i];
      dx[i] = gi * (1.0 + s * v);
      e[i] = gi * x[i] * v * 0.5 * s;`,
  },
  concrete: {
    forward: `
      let z = (th + v) / t;
      y[i] = x[i] * exp(log_sigmoid(-z) + softplus(th));`,
    backward: `
      let z = (th + v) / t;
      let m = exp(log_sigmoid(-z) + softplus(th));
      let zt = exp(log_sigmoid(z));
      let p = exp(log_sigmoid(th));
      let gi = g[i];
      dx[i] = gi * m;
      e[i] = gi * x[i] * m * (p - zt / t);`,
  },
};

const FORWARD_BINDINGS: BindingDecls = { x: readOnly(), theta: readOnly(), y: readWrite() };
const BACKWARD_BINDINGS: BindingDecls = { g: readOnly(), x: readOnly(), theta: readOnly(), dx: readWrite(), e: readWrite() };

export function noiseDropoutKernel(kind: NoiseKind, pass: 'forward' | 'backward'): KernelSource {
  return kernel('noise', { kind, pass }, ({ kind, pass }) => ({
    params: NOISE_PARAMS,
    bindings: pass === 'forward' ? FORWARD_BINDINGS : BACKWARD_BINDINGS,
    body: `
${PHILOX_WGSL}${kind === 'gaussian' ? NORMAL4_WGSL : ''}
fn softplus(a: f32) -> f32 { return max(a, 0.0) + log(1.0 + exp(-abs(a))); }
fn log_sigmoid(a: f32) -> f32 { return min(a, 0.0) - log(1.0 + exp(-abs(a))); }
fn noise4(bits: vec4<u32>) -> vec4<f32> {${NOISE[kind]}
}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = P.n; let offset = P.offset; let stream = P.stream; let key = vec2<u32>(P.seedLo, P.seedHi);
  let share = P.share; let inner = P.inner; let units = P.units; let t = P.t;
  let quads = (n + 3u) / 4u;
  for (var qi = gid.x; qi < quads; qi = qi + nwg.x * ${WG}u) {
    var lastQ = 0xffffffffu;
    var noise = vec4<f32>(0.0);
    for (var jj = 0u; jj < 4u; jj = jj + 1u) {
      let i = qi * 4u + jj;
      if (i >= n) { break; }
      let j = i / share;
      let q = j / 4u;
      if (q != lastQ) {
        lastQ = q;
        noise = noise4(philox(vec4<u32>(q + offset, stream, 0u, 0u), key));
      }
      let v = noise[j % 4u];
      let th = theta[(i / inner) % units];${BODY[kind][pass]}
    }
  }
}`,
  }));
}
