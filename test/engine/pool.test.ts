// Pooling beyond the registry's cases: a larger max pool against float64 (forward and the
// argmax-routed gradient), ties (the first maximum wins, as PyTorch), global average pooling,
// channel concat, centre-crop, and clear errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  tensor, full, scope, sum, mul, concat, maxPool2d, avgPool2d, globalAvgPool2d, centerCrop, registry, type Ref,
} from '../../engine/index.js';
import { ready, rng, sample, assertClose } from '../helpers.js';
import { referenceOf } from '../../engine/testing.js';

const test = suite('pool');
test.before(async () => { await ready; });

/** Gradient of Σ R⊙maxpool(x) in float64: R routed to each window's (first) argmax. */
function refMaxPoolGradPlane(x: Float64Array, R: Float64Array, gx: Float64Array, plane: number, H: number, W: number, Ho: number, Wo: number, k: number, s: number, p: number): void {
  for (let oy = 0; oy < Ho; oy++) for (let ox = 0; ox < Wo; ox++) {
    let best = -Infinity, at = -1;
    for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
      const iy = oy * s - p + ky, ix = ox * s - p + kx;
      if (iy < 0 || ix < 0 || iy >= H || ix >= W) continue;
      const i = (plane * H + iy) * W + ix;
      if (x[i] > best) { best = x[i]; at = i; }
    }
    gx[at] += R[(plane * Ho + oy) * Wo + ox];
  }
}

test('a larger max pool and its gradient match float64', async () => {
  const r = rng(77);
  const [N, C, H, W, k, s, p] = [3, 8, 17, 15, 3, 2, 1];
  await scope(async () => {
    const { ref, t } = sample({ shape: [N, C, H, W], distinct: true }, r);
    t.requireGrad();
    const y = maxPool2d(t, k, { stride: s, padding: p });
    const want = referenceOf(registry.get('max_pool2d')!, [ref], { kernel: k, stride: s, padding: p });
    assert.equal(y.shape, want.shape);
    assertClose(await y.data(), want.data, 1e-6, 'forward');
    const [Ho, Wo] = [want.shape[2], want.shape[3]];
    const R = Float64Array.from({ length: y.size }, () => Math.fround(r() * 2 - 1));
    sum(mul(y, tensor(R, y.shape))).backward();
    const gx = new Float64Array(ref.data.length);
    for (let pl = 0; pl < N * C; pl++) refMaxPoolGradPlane(ref.data, R, gx, pl, H, W, Ho, Wo, k, s, p);
    assertClose(await t.grad!.data(), gx, 1e-6, 'gradient');
  });
});

test('ties: the first maximum of each window takes the gradient', async () => {
  await scope(async () => {
    const x = full([1, 1, 4, 4], 3).requireGrad();
    sum(maxPool2d(x, 2)).backward();
    assert.equal(await x.grad!.array(), [1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
    const z = full([1, 1, 4, 4], 3).requireGrad();
    sum(maxPool2d(z, 3, { stride: 1, padding: 1 })).backward();
    const g = await z.grad!.array();
    assert.is(g.reduce((a, b) => a + b, 0), 16, 'one unit of gradient per window');
    assert.equal(g.slice(0, 4), [4, 2, 2, 0], 'windows pick their first in-bounds element');
  });
});

test('a NaN anywhere in a window wins (as PyTorch)', async () => {
  await scope(async () => {
    const y = await maxPool2d(tensor([1, NaN, 3, 2, 5, 6, 7, 8], [1, 1, 2, 4]), 2).array();
    assert.ok(Number.isNaN(y[0]), `got ${y[0]}`);
    assert.is(y[1], 8);
  });
});

test('average pooling divides by k² at the padded border (count_include_pad)', async () => {
  await scope(async () => {
    const y = await avgPool2d(full([1, 1, 3, 3], 1), 3, { stride: 1, padding: 1 }).array();
    assertClose(y, [4, 6, 4, 6, 9, 6, 4, 6, 4].map((v) => v / 9), 1e-6, 'avg pool of ones');
  });
});

test('global average pooling: [N, C, H, W] → [N, C], gradient 1/(H·W)', async () => {
  await scope(async () => {
    const r = rng(3);
    const { ref, t } = sample({ shape: [2, 3, 5, 7] }, r);
    t.requireGrad();
    const y = globalAvgPool2d(t);
    assert.equal(y.shape, [2, 3]);
    assert.equal(globalAvgPool2d(t, { keepdims: true }).shape, [2, 3, 1, 1]);
    const want = new Float64Array(6);
    ref.data.forEach((v, i) => { want[Math.floor(i / 35)] += v / 35; });
    assertClose(await y.data(), want, 1e-5, 'means');
    sum(y).backward();
    assertClose(await t.grad!.data(), new Float64Array(ref.data.length).fill(1 / 35), 1e-6, 'gradient');
  });
});

test('channel concat and centre-crop (values and gradients)', async () => {
  await scope(async () => {
    const r = rng(4);
    const a = sample({ shape: [2, 3, 7, 6] }, r), b = sample({ shape: [2, 5, 7, 6] }, r);
    const c = concat([a.t, b.t], 1);
    assert.equal(c.shape, [2, 8, 7, 6]);
    const cv = await c.data();
    assert.is(cv[(1 * 8 + 4) * 42 + 5], Math.fround(b.ref.data[(1 * 5 + 1) * 42 + 5]), 'channel 4 of batch 1 is channel 1 of b');

    const x = a.t.requireGrad();
    const y = centerCrop(x, 3, 4);
    assert.equal(y.shape, [2, 3, 3, 4]);
    // rows from ⌊(7 − 3)/2⌋ = 2, columns from ⌊(6 − 4)/2⌋ = 1
    const want: Ref = { shape: [2, 3, 3, 4], data: new Float64Array(72) };
    const mask = new Float64Array(a.ref.data.length);
    for (let pl = 0; pl < 6; pl++) for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) {
      const src = (pl * 7 + i + 2) * 6 + j + 1;
      want.data[(pl * 3 + i) * 4 + j] = a.ref.data[src];
      mask[src] = 1;
    }
    assertClose(await y.data(), want.data, 0, 'crop values');
    sum(y).backward();
    assertClose(await x.grad!.data(), mask, 0, 'crop gradient');
    assert.equal(centerCrop(x, 7, 6).shape, [2, 3, 7, 6]);
  });
});

test('clear errors for bad shapes and options', () => {
  scope(() => {
    const x = full([2, 3, 5, 4], 1);
    assert.throws(() => maxPool2d(full([3, 5, 4], 1), 2), /max_pool2d: expects x \[N, C, H, W\], got \[3, 5, 4\]/);
    assert.throws(() => maxPool2d(x, 6), /kernel 6x6 is larger than the padded input 5x4 of \[2, 3, 5, 4\]/);
    assert.throws(() => avgPool2d(x, 2, { padding: 2 }), /avg_pool2d: padding 2 must be at most half the kernel size 2/);
    assert.throws(() => maxPool2d(x, 2, { stride: 0 }), /stride must be an integer ≥ 1, got 0/);
    assert.throws(() => avgPool2d(x, 1.5), /kernel size must be an integer ≥ 1, got 1.5/);
    assert.throws(() => maxPool2d(full([1, 1, 2, 2], 1, 'i32'), 2), /expects an f32 tensor, got i32/);
    assert.throws(() => globalAvgPool2d(full([2, 3], 1)), /globalAvgPool2d: expects x \[N, C, H, W\], got \[2, 3\]/);
    assert.throws(() => centerCrop(x, 6, 2), /cannot crop \[2, 3, 5, 4\] to 6x2/);
  });
});

test.run();
