// Concat and slice on shapes whose copies are long contiguous runs (NCHW along channels: one run
// per image) take the buffer-copy path, which the registry's small cases never reach: values and
// gradients against plain loops.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { concat, slice, sum, mul, tensor, scope } from '../../engine/index.js';
import { ready, rng, noLeak } from '../helpers.js';

const test = suite('layout copies');
test.before(async () => { await ready; });

const fill = (n: number, seed: number): Float32Array => { const r = rng(seed); return Float32Array.from({ length: n }, () => Math.fround(r() * 2 - 1)); };

test('concat along channels and its gradient (runs of 3,840 and 6,400 floats)', async () => {
  await noLeak('concat', () => scope(async () => {
    const N = 2, HW = 32 * 40, a = fill(N * 3 * HW, 1), b = fill(N * 5 * HW, 2), w = fill(N * 8 * HW, 3);
    const ta = tensor(a, [N, 3, 32, 40]).requireGrad(), tb = tensor(b, [N, 5, 32, 40]).requireGrad();
    const y = concat([ta, tb], 1);
    const got = await y.data();
    for (let n = 0; n < N; n++) for (let c = 0; c < 8; c++) for (let p = 0; p < HW; p += 97) {
      const want = c < 3 ? a[(n * 3 + c) * HW + p] : b[(n * 5 + c - 3) * HW + p];
      assert.is(got[(n * 8 + c) * HW + p], want, `y[${n}, ${c}, ${p}]`);
    }
    sum(mul(y, tensor(w, [N, 8, 32, 40]))).backward();
    const ga = await ta.grad!.data(), gb = await tb.grad!.data();
    for (let n = 0; n < N; n++) for (let p = 0; p < HW; p += 89) {
      assert.is(ga[(n * 3 + 2) * HW + p], w[(n * 8 + 2) * HW + p]);
      assert.is(gb[(n * 5 + 4) * HW + p], w[(n * 8 + 7) * HW + p]);
    }
  }));
});

test('slices: a channel range (one run per image) and a leading range (one run)', async () => {
  await noLeak('slice', () => scope(async () => {
    const HW = 32 * 40, x = fill(3 * 8 * HW, 4), t = tensor(x, [3, 8, 32, 40]);
    const s1 = await slice(t, [0, 2, 0, 0], [3, 6, 32, 40]).data();
    for (let n = 0; n < 3; n++) for (let c = 0; c < 4; c++) for (let p = 0; p < HW; p += 101) assert.is(s1[(n * 4 + c) * HW + p], x[(n * 8 + c + 2) * HW + p]);
    const s2 = await slice(t, [1, 0, 0, 0], [3, 8, 32, 40]).data();
    assert.equal(Array.from(s2.subarray(0, 50)), Array.from(x.subarray(8 * HW, 8 * HW + 50)));
    assert.is(s2[s2.length - 1], x[x.length - 1]);
  }));
});

test.run();
