// Classification metrics and the MNIST-digits loader.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { accuracy, argmaxRows, predictiveEntropy, pavpu, pavpuCurve } from '../../models/metrics/classification.js';
import { loadMnist, permutation, gatherRows } from '../../tasks/data/mnist.js';

const test = suite('metrics');

test('accuracy, argmax and entropy on hand-made rows', () => {
  const p = [0.7, 0.2, 0.1, 0.1, 0.1, 0.8, 1 / 3, 1 / 3, 1 / 3];
  assert.equal(Array.from(argmaxRows(p, 3)), [0, 2, 0]);
  assert.is(accuracy([0, 2, 1], [0, 2, 2]), 2 / 3);
  const h = predictiveEntropy(p, 3);
  assert.ok(Math.abs(h[2] - Math.log(3)) < 1e-12, 'uniform row has entropy log 3');
  assert.ok(Math.abs(h[0] - -(0.7 * Math.log(0.7) + 0.2 * Math.log(0.2) + 0.1 * Math.log(0.1))) < 1e-12);
  assert.throws(() => accuracy([1], [1, 2]), /1 predictions for 2 labels/);
});

test('PAvPU counts accurate-certain and inaccurate-uncertain', () => {
  // correct: T T F F; entropy: 0.1 0.9 0.2 0.8; threshold 0.5 → ac, au, ic, iu → (1 + 1) / 4
  const correct = [true, true, false, false], ent = [0.1, 0.9, 0.2, 0.8];
  assert.is(pavpu(correct, ent, 0.5), 0.5);
  assert.is(pavpu(correct, ent, 1), 0.5); // all certain: n_ac / n
  const c = pavpuCurve([true, false], [0, 1], 3);
  assert.equal(c.pavpu, [1, 1, 0.5]);
  assert.ok(Math.abs(c.mean - 2.5 / 3) < 1e-12);
});

test('the mnist package loader: 10,000 digits split per digit, pixels in [0, 1]', () => {
  const { train, test: held } = loadMnist(0.8);
  assert.is(train.n + held.n, 10000);
  assert.ok(Math.abs(train.n - 8000) < 10, `train ${train.n}`);
  assert.is(train.x.length, train.n * 784);
  const counts = new Array(10).fill(0);
  for (const y of held.y) counts[y]++;
  assert.ok(counts.every((c) => c > 150), `every digit in the test split: ${counts}`);
  let lo = Infinity, hi = -Infinity;
  for (const v of train.x.subarray(0, 784 * 50)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  assert.ok(lo >= 0 && hi <= 1 && hi > 0.5, `pixel range [${lo}, ${hi}]`);
  const p = permutation(100, 3);
  assert.equal([...p].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(Array.from(permutation(100, 3)), Array.from(p), 'seeded');
  assert.equal(Array.from(gatherRows(Float32Array.from([1, 2, 3, 4, 5, 6]), 2, [2, 0])), [5, 6, 1, 2]);
  assert.throws(() => loadMnist(1), /trainFraction must be in \(0, 1\)/);
});

test.run();
