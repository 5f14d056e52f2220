// Plain (inverted) Bernoulli dropout whose mask is regenerated from a Philox draw instead of
// being stored: element i of a draw (seed, stream, offset) has u_i = word i % 4 of
// philox((⌊i/4⌋ + offset, stream, 0, 0), (seed lo, seed hi)) mapped to (0, 1) exactly as
// kernels/random.ts does, so u_i equals randomTwin('uniform', ...)[i] bit for bit.
// y_i = u_i ≥ p ? x_i·scale : 0 with scale = 1/(1 − p). The backward is the same kernel on
// the output gradient (same draw, same mask).
import { WG, defineParams, kernel, readOnly, readWrite, type KernelSource } from './common.js';
import { PHILOX_WGSL } from './random.js';

const DROPOUT_PARAMS = defineParams({ n: 'u32', seedLo: 'u32', seedHi: 'u32', offset: 'u32', stream: 'u32', p: 'f32', scale: 'f32' });

export function dropoutKernel(): KernelSource {
  return kernel('dropout', {}, () => ({ params: DROPOUT_PARAMS, bindings: { x: readOnly(), y: readWrite() }, body: `
${PHILOX_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = P.n; let offset = P.offset; let stream = P.stream; let key = vec2<u32>(P.seedLo, P.seedHi);
  let p = P.p; let scale = P.scale;
  let quads = (n + 3u) / 4u;
  for (var q = gid.x; q < quads; q = q + nwg.x * ${WG}u) {
    let bits = philox(vec4<u32>(q + offset, stream, 0u, 0u), key);
    let i = q * 4u;
    for (var j = 0u; j < 4u; j = j + 1u) {
      if (i + j < n) { y[i + j] = select(0.0, x[i + j] * scale, unit(bits[j]) >= p); }
    }
  }
}` }));
}
