// Optimizer updates: one fused pass over a parameter, its gradient and its state buffers.
// Every hyperparameter (and Adam's per-step bias correction) arrives as a uniform, so the WGSL
// depends only on which terms exist: a handful of pipelines per run, none per step.
import { WG, type KernelSource } from './common.js';

/** How weight decay enters an update: not at all, added to the gradient, or decoupled (AdamW). */
export type DecayMode = 'none' | 'l2' | 'decoupled';

const loop = (body: string): string => `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var i = gid.x; i < P.n; i = i + nwg.x * ${WG}u) {${body}
  }
}`;

/**
 * SGD (PyTorch semantics): d = g + wd·p; with momentum v = μ·v + d, d = v; p -= lr · d.
 * Uniforms: n, lr, wd, μ. Bindings: g, p, [v].
 */
export function sgdKernel(momentum: boolean): KernelSource {
  const code = `
struct Params { n: u32, lr: f32, wd: f32, mu: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;
${momentum ? '@group(0) @binding(3) var<storage, read_write> v: array<f32>;' : ''}
${loop(`
    var d = g[i] + P.wd * p[i];
    ${momentum ? 'd = P.mu * v[i] + d;\n    v[i] = d;' : ''}
    p[i] = p[i] - P.lr * d;`)}`;
  return { key: `sgd.${momentum ? 'mom' : 'plain'}`, code };
}

/**
 * Adam / AdamW (PyTorch semantics, bias correction folded into two host-computed uniforms):
 *   l2:        g' = g + wd·p
 *   decoupled: p  = p · (1 − lr·wd)            (before the update, as torch.optim.AdamW)
 *   m = β1·m + (1−β1)·g';  v = β2·v + (1−β2)·g'²
 *   p -= stepSize · m / (sqrt(v) · invSqrtBc2 + ε),  stepSize = lr / (1 − β1ᵗ), invSqrtBc2 = 1 / sqrt(1 − β2ᵗ)
 * Uniforms: n, β1, 1−β1, β2, 1−β2, ε, wd, decay (= 1 − lr·wd), stepSize, invSqrtBc2.
 * Bindings: g, p, m, v.
 */
export function adamKernel(decay: DecayMode): KernelSource {
  const code = `
struct Params { n: u32, b1: f32, omb1: f32, b2: f32, omb2: f32, eps: f32, wd: f32, decay: f32, stepSize: f32, invSqrtBc2: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;
${loop(`
    var pi = p[i];
    var gi = g[i];
    ${decay === 'l2' ? 'gi = gi + P.wd * pi;' : ''}
    ${decay === 'decoupled' ? 'pi = pi * P.decay;' : ''}
    let mi = P.b1 * m[i] + P.omb1 * gi;
    let vi = P.b2 * v[i] + P.omb2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - P.stepSize * mi / (sqrt(vi) * P.invSqrtBc2 + P.eps);`)}`;
  return { key: `adam.${decay}`, code };
}

/**
 * RMSProp (PyTorch semantics, uncentred): g' = g + wd·p; v = ρ·v + (1−ρ)·g'²;
 *   without momentum p -= lr · g' / (sqrt(v) + ε);
 *   with momentum    b = μ·b + g' / (sqrt(v) + ε); p -= lr · b.
 * Uniforms: n, lr, ρ, 1−ρ, ε, wd, μ. Bindings: g, p, v, [b].
 */
export function rmspropKernel(momentum: boolean, decay: boolean): KernelSource {
  const code = `
struct Params { n: u32, lr: f32, rho: f32, omrho: f32, eps: f32, wd: f32, mu: f32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
${momentum ? '@group(0) @binding(4) var<storage, read_write> b: array<f32>;' : ''}
${loop(`
    let pi = p[i];
    var gi = g[i];
    ${decay ? 'gi = gi + P.wd * pi;' : ''}
    let vi = P.rho * v[i] + P.omrho * gi * gi;
    v[i] = vi;
    let d = gi / (sqrt(vi) + P.eps);
    ${momentum ? 'let bi = P.mu * b[i] + d;\n    b[i] = bi;\n    p[i] = pi - P.lr * bi;' : 'p[i] = pi - P.lr * d;'}`)}`;
  return { key: `rmsprop.${momentum ? 'mom' : 'plain'}.${decay ? 'wd' : 'nowd'}`, code };
}
