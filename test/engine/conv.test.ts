// Convolutions beyond the registry's small cases, under every matmul structure the implicit
// GEMMs can run on (subgroup, with and without textures; tiled, single and double-buffered)
// and the direct yardstick kernels, all against float64 loops (forward, input gradient,
// weight gradient, transposed convolution), with zero live bytes left behind.
import { suite } from 'uvu';
import { conv2d, convTranspose2d, refConv, refConvTranspose } from '../../engine/ops/conv.js';
import { setTuning, resetTuning, type TuningPatch } from '../../engine/plans/tuning.js';
import { gpu } from '../../engine/device.js';
import { scope } from '../../engine/memory.js';
import { tensor } from '../../engine/tensor.js';
import { backward } from '../../engine/op.js';
import type { Ref } from '../../engine/op.js';
import { ready, rng, assertClose, noLeak } from '../helpers.js';

const test = suite('conv');
test.before(async () => { await ready; });
test.after(() => resetTuning());

const rand = (r: () => number, shape: number[]): Ref => ({ shape, data: Float64Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => Math.fround(r() * 2 - 1)) });

/** Gradients of Σ R⊙f(x, w) by the linearity of convolution: d/dx and d/dw via references. */
function refGrads(f: (x: Ref, w: Ref) => Ref, x: Ref, w: Ref, R: Float64Array): [Float64Array, Float64Array] {
  // f is linear in each argument: ∂L/∂x_i = L(e_i, w), computed by probing each basis vector.
  const probe = (which: 0 | 1): Float64Array => {
    const base = which === 0 ? x : w;
    const g = new Float64Array(base.data.length);
    for (let i = 0; i < g.length; i++) {
      const e: Ref = { shape: base.shape, data: new Float64Array(base.data.length) };
      e.data[i] = 1;
      const y = which === 0 ? f(e, w) : f(x, e);
      g[i] = dot(y.data, R);
    }
    return g;
  };
  return [probe(0), probe(1)];
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

async function check(name: string, xs: number[], ws: number[], stride: number, pad: number, transposed: boolean, outPad = 0): Promise<void> {
  const r = rng(xs.reduce((a, b) => a * 31 + b, ws[0]));
  const x = rand(r, xs), w = rand(r, ws);
  const f = (a: Ref, b: Ref): Ref => (transposed ? refConvTranspose(a, b, stride, pad, outPad) : refConv(a, b, stride, pad));
  await scope(async () => {
    const tx = tensor(x.data, xs).requireGrad();
    const tw = tensor(w.data, ws).requireGrad();
    const y = transposed ? convTranspose2d(tx, tw, null, { stride, padding: pad, outputPadding: outPad }) : conv2d(tx, tw, null, { stride, padding: pad });
    const want = f(x, w);
    assertClose(await y.data(), want.data, 1e-4, `${name} forward`);
    if (!transposed) {
      // the bias epilogue of the same GEMM
      const bias = Float64Array.from({ length: ws[0] }, () => Math.fround(r() * 2 - 1));
      const yb = conv2d(tx, tw, tensor(bias, [ws[0]]), { stride, padding: pad });
      const HW = want.shape[2] * want.shape[3];
      assertClose(await yb.data(), want.data.map((v, i) => v + bias[Math.floor(i / HW) % ws[0]]), 1e-4, `${name} forward + bias`);
    }
    const R = Float64Array.from({ length: want.data.length }, () => Math.fround(r() * 2 - 1));
    backward(y, tensor(R, want.shape));
    const [gx, gw] = refGrads(f, x, w, R);
    assertClose(await tx.grad!.data(), gx, 1e-4, `${name} d/dx`);
    assertClose(await tw.grad!.data(), gw, 1e-4, `${name} d/dw`);
    tx.dispose();
    tw.dispose();
  });
}

const cases: [string, number[], number[], number, number, boolean, number?][] = [
  ['3x3 s1 p1 (VGG-like)', [2, 8, 9, 9], [12, 8, 3, 3], 1, 1, false],
  ['3x3 s1 p1, Wo % 4 == 0', [2, 4, 8, 8], [6, 4, 3, 3], 1, 1, false],
  ['3x3 s1 p1, Wo % 4 == 0, 32 output channels (padded weight-gradient path)', [1, 4, 4, 8], [32, 4, 3, 3], 1, 1, false],
  // the row kernel's tiles: a row strip is 4·lanes pixels wide (32 at 8 lanes), rows and
  // output-channel blocks end part-way (H 6, 17 channels for dx)
  ['3x3 s1 p1, wider than a row strip', [1, 17, 6, 37], [6, 17, 3, 3], 1, 1, false],
  ['3x3 s2 p1, Wo % 4 == 0', [1, 4, 15, 16], [4, 4, 3, 3], 2, 1, false],
  ['3x3 s2 p1, 3 input channels', [2, 3, 7, 5], [4, 3, 3, 3], 2, 1, false],
  ['1x1', [3, 4, 5, 6], [6, 4, 1, 1], 1, 0, false],
  ['transposed 3x3 s2 (Tiramisu up)', [2, 8, 4, 5], [8, 4, 3, 3], 2, 0, true],
  ['transposed 3x3 s2 p1 op1', [1, 4, 3, 3], [4, 5, 3, 3], 2, 1, true, 1],
];

const paths: [string, TuningPatch][] = [
  ['subgroup (automatic tiles)', { matmul: { structure: 'subgroup' } }],
  // the narrow 3x3 weight gradients share their tap loads by default; both loaders, both bounds modes
  ['subgroup, weight gradient without shared taps', { matmul: { structure: 'subgroup' }, conv: { wgradTaps: false } }],
  ['subgroup, weight gradient over padded x (no bounds tests)', { matmul: { structure: 'subgroup' }, conv: { wgradPadMinCo: 0 } }],
  ['subgroup, B in buffers', { matmul: { structure: 'subgroup', texture: false } }],
  ['subgroup, narrow 3x3 as implicit GEMMs (row kernel off)', { matmul: { structure: 'subgroup' }, conv: { rowMax: 0 } }],
  ['subgroup 32 rows, 2 strips', { matmul: { structure: 'subgroup', rows: 32, strips: 2, persistent: 0 } }],
  ['tiled 64x64', { matmul: { structure: 'tiled', tiled: { tileM: 64, tileN: 64, threadM: 4, threadN: 4, tileK: 16, double: false } } }],
  ['tiled 32x32 double-buffered', { matmul: { structure: 'tiled', tiled: { tileM: 32, tileN: 32, threadM: 2, threadN: 4, tileK: 8, double: true } } }],
  ['direct (yardstick)', { conv: { direct: true } }],
];

for (const [name, opts] of paths) {
  test(`${name}: forward, both gradients and transposed conv match float64`, async () => {
    if (opts.matmul?.structure === 'subgroup' && !gpu().info.subgroupSize) return; // no fixed subgroups here
    const saved = setTuning(opts);
    try {
      for (const [c, xs, ws, s, p, t, op] of cases) await noLeak(`${name} ${c}`, () => check(`${name} ${c}`, xs, ws, s, p, t, op ?? 0));
    } finally {
      resetTuning(saved);
    }
  });
}

// Every row-kernel plan (2 or 4 pixels a lane; blocks of 4, 8, 16 output channels), forced, on a
// row 2·lanes + 5 pixels wide (the strips end part-way) with 5 rows (the 4-row tiles end part-way):
// the forward with 6 output channels and the input gradient with 17 end part-way through a block.
test('row kernel, every plan: forward (with bias) and input gradient match float64', async () => {
  const sg = gpu().info.subgroupSize;
  if (!sg) return; // no fixed subgroups here: the row kernel never runs
  const saved = setTuning({});
  try {
    for (const pixels of [2, 4]) for (const block of [4, 8, 16]) {
      setTuning({ conv: { rowForce: { pixels, block } } });
      const name = `row kernel p${pixels} b${block}`;
      await noLeak(name, () => check(name, [1, 17, 5, 2 * sg + 5], [6, 17, 3, 3], 1, 1, false));
    }
  } finally {
    resetTuning(saved);
  }
});

/** dW[co, ci, ky, kx] = Σ_{n, oy, ox} R[n, co, oy, ox] · x[n, ci, oy·s − p + ky, ox·s − p + kx]. */
function refWeightGrad(x: Ref, R: Float64Array, co: number, ci: number, ky: number, kx: number, Co: number, Ho: number, Wo: number, s: number, p: number): number {
  const [N, Ci, H, W] = x.shape;
  let acc = 0;
  for (let n = 0; n < N; n++) for (let oy = 0; oy < Ho; oy++) {
    const iy = oy * s - p + ky;
    if (iy < 0 || iy >= H) continue;
    for (let ox = 0; ox < Wo; ox++) {
      const ix = ox * s - p + kx;
      if (ix < 0 || ix >= W) continue;
      acc += R[((n * Co + co) * Ho + oy) * Wo + ox] * x.data[((n * Ci + ci) * H + iy) * W + ix];
    }
  }
  return acc;
}

test('weight gradient with more output pixels than a texture has rows (folded B, read in NCHW)', async () => {
  // K = N·Ho·Wo = 36864 > 4 · 8192: B is folded 8 rows per texel row, four k rows per texel fetch
  const r = rng(99);
  const xs = [16, 4, 48, 48], ws = [4, 4, 3, 3];
  const x = rand(r, xs), w = rand(r, ws);
  await scope(async () => {
    const tx = tensor(x.data, xs);
    const tw = tensor(w.data, ws).requireGrad();
    const y = conv2d(tx, tw, null, { stride: 1, padding: 1 });
    const R = Float64Array.from({ length: y.size }, () => Math.fround(r() * 2 - 1));
    backward(y, tensor(R, y.shape));
    const want = new Float64Array(4 * 4 * 9);
    for (let co = 0; co < 4; co++) for (let ci = 0; ci < 4; ci++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
      want[((co * 4 + ci) * 3 + ky) * 3 + kx] = refWeightGrad(x, R, co, ci, ky, kx, 4, 48, 48, 1, 1);
    }
    assertClose(await tw.grad!.data(), want, 2e-4, 'd/dw');
    tw.dispose();
  });
});

test.run();
