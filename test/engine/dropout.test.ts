// Dropout: the kept fraction, determinism per draw, the mask against the Philox twin bit for
// bit, the backward regenerating the same mask, and bad arguments.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Generator, full, scope, sum, mul, dropout, refDropoutMask, tensor } from '../../engine/index.js';
import { ready } from '../helpers.js';

const test = suite('dropout');
test.before(async () => { await ready; });

test('kept fraction ≈ 1 − p on a large tensor, kept values scaled by 1/(1 − p)', async () => {
  await scope(async () => {
    const n = 1 << 18;
    for (const p of [0.1, 0.5, 0.8]) {
      const y = await dropout(full([n], 2), p, new Generator(3).reserve(n)).data();
      const scaled = Math.fround(2 * Math.fround(1 / (1 - p)));
      let kept = 0;
      for (let i = 0; i < n; i++) {
        if (y[i] !== 0) { kept++; if (y[i] !== scaled) assert.unreachable(`p=${p}: kept value ${y[i]}, want ${scaled}`); }
      }
      // the binomial standard deviation is ≤ 0.001 here
      assert.ok(Math.abs(kept / n - (1 - p)) < 0.005, `p=${p}: kept fraction ${kept / n}`);
    }
  });
});

test('same draw → same mask; the next draw → another mask; the mask equals the twin exactly', async () => {
  await scope(async () => {
    const n = 1003, p = 0.37;
    const g = new Generator(2 ** 36 + 12345, 3);
    const x = full([17, 59], 1);
    const d1 = g.reserve(n), d2 = g.reserve(n);
    const a = await dropout(x, p, d1).data();
    const b = await dropout(x, p, d1).data();
    const c = await dropout(x, p, d2).data();
    assert.equal(Array.from(a), Array.from(b), 'same draw, same output');
    let differ = 0;
    for (let i = 0; i < n; i++) if ((a[i] === 0) !== (c[i] === 0)) differ++;
    assert.ok(differ > n * 0.3, `a new draw changes the mask (${differ} of ${n} differ)`);
    for (const [y, d] of [[a, d1], [c, d2]] as const) {
      const want = refDropoutMask(n, p, d);
      for (let i = 0; i < n; i++) {
        if ((y[i] === 0) !== (want[i] === 0)) assert.unreachable(`element ${i}: kept ${y[i] !== 0}, twin says ${want[i] !== 0}`);
        if (y[i] !== 0) assert.is(y[i], Math.fround(want[i]));
      }
    }
  });
});

test('the backward regenerates the forward mask', async () => {
  await scope(async () => {
    const n = 301, p = 0.25;
    const d = new Generator(9).reserve(n);
    const x = tensor(Float32Array.from({ length: n }, (_, i) => 1 + i / n)).requireGrad();
    const y = dropout(x, p, d);
    sum(mul(y, 3)).backward();
    const yv = await y.data(), gv = await x.grad!.data();
    const want = refDropoutMask(n, p, d);
    for (let i = 0; i < n; i++) {
      if ((yv[i] === 0) !== (gv[i] === 0)) assert.unreachable(`element ${i}: forward and backward masks differ`);
      assert.ok(Math.abs(gv[i] - 3 * want[i]) <= 1e-6 * 3 * want[i], `element ${i}: gradient ${gv[i]}, want ${3 * want[i]}`);
    }
  });
});

test('clear errors for a bad rate or draw', () => {
  scope(() => {
    const x = full([4], 1);
    assert.throws(() => dropout(x, 1.5, { seed: 1, stream: 0, offset: 0 }), /p must be a number in \[0, 1\], got 1.5/);
    assert.throws(() => dropout(x, -0.1, { seed: 1, stream: 0, offset: 0 }), /p must be a number in \[0, 1\]/);
    assert.throws(() => dropout(x, 0.5, { seed: -1, stream: 0, offset: 0 }), /draw must be \{ seed, stream, offset \}/);
    assert.throws(() => dropout(x, 0.5, undefined as never), /draw must be/);
    assert.throws(() => dropout(full([2], 1, 'i32'), 0.5, { seed: 1, stream: 0, offset: 0 }), /expects an f32 tensor, got i32/);
  });
});

test.run();
