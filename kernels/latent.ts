// The diagonal-Gaussian latent of the VAEs, read straight from the encoder's output
// o = [μ | log σ²] ([N, 2L], row r: μ at r·2L + j, log σ² at r·2L + L + j), so that neither half
// is sliced out:
//   sample: z = μ + exp(½ log σ²) ⊙ ε (the reparameterisation); backward
//           do = [g, ½ g ⊙ ε ⊙ exp(½ log σ²)]
//   kl:     k_r = s · ½ Σ_j (exp(log σ²) − log σ² + μ² − 1) = s · KL(N(μ, σ²) ‖ N(0, I)); backward
//           do = g_r · s · [μ, ½ (exp(log σ²) − 1)]
// Composed from elementwise ops these were two slices, four passes for z and six for the KL each
// way, on [N, L] tensors small enough that the dispatches, not the arithmetic, were the cost.
// The backward kernels can add into a gradient the tape already holds (`acc`): o gets one from
// each of the two ops.
import { WG, defineParams, kernel, readOnly, readWrite, treeSum, type KernelSource } from './common.js';

const SAMPLE_PARAMS = defineParams({ N: 'u32', L: 'u32', epsStride: 'u32' });
const KL_PARAMS = defineParams({ N: 'u32', L: 'u32', scale: 'f32' });

const GRID_MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let L = P.L;
  for (var i = gid.x; i < P.N * L; i = i + nwg.x * ${WG}u) {
    let r = i / L; let j = i % L;
    let m = r * 2u * L + j;`;

/** WGSL storing v at dO[at] (acc: adding it to what is there). */
const put = (acc: boolean) => (at: string, v: string): string => `dO[${at}] = ${acc ? `dO[${at}] + ` : ''}${v};`;

/** z from o and ε (ε's row stride epsStride: L, or 0 to share one row). Bindings: o, eps, z. */
export function gaussianSampleKernel(): KernelSource {
  return kernel('latent.sample', {}, () => ({
    params: SAMPLE_PARAMS,
    bindings: { o: readOnly(), eps: readOnly(), z: readWrite() },
    body: `${GRID_MAIN}
    z[i] = o[m] + exp(0.5 * o[m + L]) * eps[r * P.epsStride + j];
  }
}`,
  }));
}

/** do from z's gradient g (acc: added into do). Bindings: o, eps, g, do. */
export function gaussianSampleGradKernel(acc: boolean): KernelSource {
  return kernel('latent.sample.bwd', { acc }, (c) => ({
    params: SAMPLE_PARAMS,
    bindings: { o: readOnly(), eps: readOnly(), g: readOnly(), dO: readWrite() },
    body: `${GRID_MAIN}
    let gi = g[i];
    ${put(c.acc)('m', 'gi')}
    ${put(c.acc)('m + L', '0.5 * gi * eps[r * P.epsStride + j] * exp(0.5 * o[m + L])')}
  }
}`,
  }));
}

/** k [N] = s·KL per row: one workgroup per row. Bindings: o, k. */
export function gaussianKlKernel(): KernelSource {
  return kernel('latent.kl', {}, () => ({
    params: KL_PARAMS,
    bindings: { o: readOnly(), k: readWrite() },
    body: `var<workgroup> t: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let L = P.L;
  for (var r = wid.x + wid.y * nwg.x; r < P.N; r = r + nwg.x * nwg.y) {
    let base = r * 2u * L;
    var s = 0.0;
    for (var j = li; j < L; j = j + ${WG}u) {
      let mu = o[base + j]; let lv = o[base + L + j];
      s = s + exp(lv) - lv + mu * mu - 1.0;
    }
    t[li] = s;
    ${treeSum(['t'])}
    if (li == 0u) { k[r] = 0.5 * P.scale * t[0]; }
    workgroupBarrier();
  }
}`,
  }));
}

/** do from k's gradient g [N] (acc: added into do). Bindings: o, g, do. */
export function gaussianKlGradKernel(acc: boolean): KernelSource {
  return kernel('latent.kl.bwd', { acc }, (c) => ({
    params: KL_PARAMS,
    bindings: { o: readOnly(), g: readOnly(), dO: readWrite() },
    body: `${GRID_MAIN}
    let gs = g[r] * P.scale;
    ${put(c.acc)('m', 'gs * o[m]')}
    ${put(c.acc)('m + L', '0.5 * gs * (exp(o[m + L]) - 1.0)')}
  }
}`,
  }));
}
