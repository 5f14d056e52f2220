// 2-d pooling on NCHW tensors: k×k windows with a stride and zero padding (square kernels).
// Every kernel is a grid-stride loop over one plane-flattened index; no atomics anywhere.
//
//   max forward    one thread per output: the window's maximum and its argmax, stored as the
//                  index iy·W + ix inside the input plane (i32). Padding taps are skipped
//                  (PyTorch pads max pooling with −∞); a NaN in the window wins, as in PyTorch
//                  (tested on the bits: lavapipe folds `v != v` to false).
//   max backward   one thread per input element: sums the output gradients of the windows
//                  (at most ⌈k/s⌉² of them) whose argmax is this element; when the windows
//                  tile the input (stride = k, no padding, k divides H and W: VGG's and the
//                  Tiramisu's 2×2 pools) one thread per window writes its k² gradients instead
//                  (a quarter of the index arithmetic, whose integer divisions llvmpipe runs
//                  lane by lane).
//   avg forward    one thread per output: sum of the in-bounds taps / k² (count_include_pad).
//   avg backward   one thread per input element: Σ over the windows holding it of g / k².
import { WG, defineParams, kernel, readOnly, readWrite, type KernelSource } from './common.js';

export const POOL_PARAMS = defineParams({ total: 'u32', H: 'u32', W: 'u32', Ho: 'u32', Wo: 'u32', k: 'u32', stride: 'u32', pad: 'u32' });

const LOCALS = '  let H = P.H; let W = P.W; let Ho = P.Ho; let Wo = P.Wo; let k = P.k; let st = P.stride; let pd = P.pad; let total = P.total;';

/** Output-centred loop over one window: calls `body` with iy, ix (i32) of each in-bounds tap. */
function windowLoop(body: string): string {
  return `
    let ox = o % Wo; let oy = (o / Wo) % Ho; let plane = o / (Wo * Ho);
    let y0 = i32(oy * st) - i32(pd); let x0 = i32(ox * st) - i32(pd);
    let base = plane * H * W;
    for (var ky = 0u; ky < k; ky = ky + 1u) {
      let iy = y0 + i32(ky);
      if ((iy < 0) | (iy >= i32(H))) { continue; }
      for (var kx = 0u; kx < k; kx = kx + 1u) {
        let ix = x0 + i32(kx);
        if ((ix < 0) | (ix >= i32(W))) { continue; }
        ${body}
      }
    }`;
}

/** Input-centred loop over the windows that hold input element i (plane-flat index). */
function coveringLoop(body: string): string {
  return `
    let ix = i % W; let iy = (i / W) % H; let plane = i / (W * H);
    // windows oy with oy·s − p ≤ iy ≤ oy·s − p + k − 1
    let ty = i32(iy + pd); let tx = i32(ix + pd);
    let oyLo = u32(max(0, (ty - i32(k) + i32(st)) / i32(st)));
    let oxLo = u32(max(0, (tx - i32(k) + i32(st)) / i32(st)));
    let oyHi = min(Ho, u32(ty) / st + 1u);
    let oxHi = min(Wo, u32(tx) / st + 1u);
    let obase = plane * Ho * Wo;
    var s = 0.0;
    for (var oy = oyLo; oy < oyHi; oy = oy + 1u) {
      for (var ox = oxLo; ox < oxHi; ox = ox + 1u) {
        let o = obase + oy * Wo + ox;
        ${body}
      }
    }`;
}

const MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
${LOCALS}
  let step = nwg.x * ${WG}u;`;

export function maxPoolForwardKernel(): KernelSource {
  return kernel('pool.max.forward', {}, () => ({ params: POOL_PARAMS, bindings: { x: readOnly(), y: readWrite(), arg: readWrite('i32') }, body: `${MAIN}
  for (var o = gid.x; o < total; o = o + step) {
    var best = 0.0;
    var at = -1;${windowLoop(`let v = x[base + u32(iy) * W + u32(ix)];
        if ((at < 0) | (v > best) | ((bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u)) { best = v; at = iy * i32(W) + ix; }`)}
    y[o] = best;
    arg[o] = at;
  }
}` }));
}

export function maxPoolBackwardKernel(): KernelSource {
  return kernel('pool.max.backward', {}, () => ({ params: POOL_PARAMS, bindings: { g: readOnly(), arg: readOnly('i32'), dx: readWrite() }, body: `${MAIN}
  for (var i = gid.x; i < total; i = i + step) {${coveringLoop(`if (arg[o] == i32(iy * W + ix)) { s = s + g[o]; }`)}
    dx[i] = s;
  }
}` }));
}

export function avgPoolForwardKernel(): KernelSource {
  return kernel('pool.avg.forward', {}, () => ({ params: POOL_PARAMS, bindings: { x: readOnly(), y: readWrite() }, body: `${MAIN}
  let inv = 1.0 / f32(k * k);
  for (var o = gid.x; o < total; o = o + step) {
    var s = 0.0;${windowLoop('s = s + x[base + u32(iy) * W + u32(ix)];')}
    y[o] = s * inv;
  }
}` }));
}

export function avgPoolBackwardKernel(): KernelSource {
  return kernel('pool.avg.backward', {}, () => ({ params: POOL_PARAMS, bindings: { g: readOnly(), dx: readWrite() }, body: `${MAIN}
  let inv = 1.0 / f32(k * k);
  for (var i = gid.x; i < total; i = i + step) {${coveringLoop('s = s + g[o];')}
    dx[i] = s * inv;
  }
}` }));
}

/** Max-pool backward when the windows tile the input exactly (stride = k, pad 0, k | H, k | W). */
export function maxPoolBackwardTiledKernel(): KernelSource {
  return kernel('pool.max.backward.tiled', {}, () => ({ params: POOL_PARAMS, bindings: { g: readOnly(), arg: readOnly('i32'), dx: readWrite() }, body: `${MAIN}
  for (var o = gid.x; o < total; o = o + step) {
    let ox = o % Wo; let oy = (o / Wo) % Ho; let plane = o / (Wo * Ho);
    let a = arg[o];
    let gv = g[o];
    for (var ky = 0u; ky < k; ky = ky + 1u) {
      let iy = oy * k + ky;
      for (var kx = 0u; kx < k; kx = kx + 1u) {
        let ix = ox * k + kx;
        dx[plane * H * W + iy * W + ix] = select(0.0, gv, i32(iy * W + ix) == a);
      }
    }
  }
}` }));
}
