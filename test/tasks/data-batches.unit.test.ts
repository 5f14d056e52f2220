// Seeded shuffling batch iterator and validation split.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { batches, batchCount, splitValidation } from '../../tasks/data/batches.js';

const test = suite('data-batches');

const n = 23, d = 3;
const x = Float32Array.from({ length: n * d }, (_, i) => Math.floor(i / d) * 10 + (i % d));
const y = Int32Array.from({ length: n }, (_, i) => 100 + i);

test('every index once per epoch, rows and labels match, last batch smaller', () => {
  const seen: number[] = [];
  const all = [...batches(x, y, { batchSize: 5, seed: 1 })];
  assert.equal(all.map((b) => b.y.length), [5, 5, 5, 5, 3]);
  assert.is(all.length, batchCount(n, 5));
  for (const b of all) {
    assert.is(b.x.length, b.y.length * d);
    b.idx.forEach((r, i) => {
      seen.push(r);
      assert.is(b.y[i], 100 + r);
      assert.equal(Array.from(b.x.subarray(i * d, i * d + d)), [r * 10, r * 10 + 1, r * 10 + 2]);
    });
  }
  assert.equal(seen.slice().sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i));
  assert.not.equal(seen, Array.from({ length: n }, (_, i) => i), 'shuffled');
});

test('seeded: same seed and epoch repeat, other epoch or seed differ; no shuffle keeps order', () => {
  const order = (o: { seed: number; epoch?: number; shuffle?: boolean }) => [...batches(x, y, { batchSize: 4, ...o })].flatMap((b) => Array.from(b.idx));
  assert.equal(order({ seed: 3 }), order({ seed: 3, epoch: 0 }));
  assert.not.equal(order({ seed: 3, epoch: 1 }), order({ seed: 3 }));
  assert.not.equal(order({ seed: 4 }), order({ seed: 3 }));
  assert.equal(order({ seed: 3, shuffle: false }), Array.from({ length: n }, (_, i) => i));
});

test('drop_last drops the short batch; indices restrict the rows', () => {
  const all = [...batches(x, y, { batchSize: 5, seed: 2, dropLast: true })];
  assert.equal(all.map((b) => b.y.length), [5, 5, 5, 5]);
  assert.is(all.length, batchCount(n, 5, true));
  assert.is(new Set(all.flatMap((b) => Array.from(b.idx))).size, 20);
  const sub = [...batches(x, y, { batchSize: 2, seed: 2, indices: [4, 9, 13] })].flatMap((b) => Array.from(b.idx));
  assert.equal(sub.sort((a, b) => a - b), [4, 9, 13]);
  assert.throws(() => [...batches(x, y, { batchSize: 0, seed: 1 })], /batchSize/);
});

test('splitValidation: disjoint, covering, seeded, sized', () => {
  const s = splitValidation(100, 0.1, 7);
  assert.is(s.val.length, 10);
  assert.is(s.train.length, 90);
  assert.equal([...s.train, ...s.val].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(Array.from(splitValidation(100, 0.1, 7).val), Array.from(s.val));
  assert.not.equal(Array.from(splitValidation(100, 0.1, 8).val), Array.from(s.val));
  assert.ok(s.val.every((v, i) => i === 0 || v > s.val[i - 1]), 'sorted');
  assert.is(splitValidation(10, 0, 1).val.length, 0);
  assert.throws(() => splitValidation(10, 1, 1), /fraction/);
});

test.run();
