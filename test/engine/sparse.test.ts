// GPU densify of CSR batches against a host-built dense matrix on awkward shapes, the ratings
// helpers that feed it (contiguous and shuffled rows), argument checks, and no leaked buffers.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { densifyCsr, densifyCsrHost } from '../../engine/ops/sparse.js';
import { tensor } from '../../engine/tensor.js';
import { scope } from '../../engine/memory.js';
import { toCsr, densifyBatch, densifyRows, type Csr } from '../../tasks/data/ratings.js';
import { ready, rng, noLeak } from '../helpers.js';

const test = suite('sparse');
test.before(async () => { await ready; });

/** A random CSR (sorted, distinct columns per row) with some empty rows. */
function randomCsr(rows: number, cols: number, density: number, seed: number, values: boolean): Csr {
  const r = rng(seed);
  const ri: number[] = [], ci: number[] = [], v: number[] = [];
  for (let i = 0; i < rows; i++) {
    if (r() < 0.25) continue; // an empty row
    for (let j = 0; j < cols; j++) if (r() < density) { ri.push(i); ci.push(j); v.push(Math.fround(r() * 4 - 2)); }
  }
  return toCsr(rows, cols, Int32Array.from(ri), Int32Array.from(ci), values ? Float32Array.from(v) : undefined);
}

function denseRows(m: Csr, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * m.cols);
  rows.forEach((r, b) => {
    for (let k = m.indptr[r]; k < m.indptr[r + 1]; k++) out[b * m.cols + m.indices[k]] = m.values ? m.values[k] : 1;
  });
  return out;
}

test('densify matches the host dense rows: B = 1, empty rows, I not a multiple of 4 or 64', async () => {
  for (const [rows, cols, density, values] of [[1, 1, 1, false], [1, 67, 0.3, true], [5, 3, 0.5, false], [13, 130, 0.1, true], [70, 257, 0.05, false], [4, 9, 0, true]] as const) {
    const m = randomCsr(rows, cols, density, rows * 1000 + cols, values);
    await noLeak(`${rows}x${cols}`, async () => {
      await scope(async () => {
        const all = Array.from({ length: rows }, (_, i) => i);
        const d = densifyBatch(m, 0, rows);
        assert.equal(d.shape, [rows, cols]);
        assert.equal(Array.from(await d.data()), Array.from(denseRows(m, all)), `${rows}x${cols} all rows`);
        if (rows > 2) {
          const mid = densifyBatch(m, 1, rows - 1);
          assert.equal(Array.from(await mid.data()), Array.from(denseRows(m, all.slice(1, rows - 1))), 'a middle slice (offsets rebased)');
          const pick = [rows - 1, 0, rows - 1, 2];
          const g = densifyRows(m, pick);
          assert.equal(Array.from(await g.data()), Array.from(denseRows(m, pick)), 'shuffled rows with a repeat');
        }
      });
    });
  }
});

test('an empty batch and a batch with no nonzeros give zeros', async () => {
  await noLeak('empty', async () => {
    await scope(async () => {
      const z = densifyCsrHost(Int32Array.from([0, 0, 0]), new Int32Array(0), 5);
      assert.equal(Array.from(await z.data()), new Array(10).fill(0));
      const none = densifyCsrHost(Int32Array.from([0]), new Int32Array(0), 5);
      assert.equal(none.shape, [0, 5]);
    });
  });
});

test('the op on device tensors: repeated columns sum, values default to 1', async () => {
  await noLeak('op', async () => {
    await scope(async () => {
      const rp = tensor(Int32Array.from([0, 3, 3, 5]), [4], 'i32');
      const ix = tensor(Int32Array.from([2, 0, 2, 4, 4]), [5], 'i32');
      const vs = tensor(Float32Array.from([1, 2, 3, 0.5, 0.25]), [5]);
      assert.equal(Array.from(await densifyCsr(rp, ix, 5, vs).data()), [2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.75]);
      assert.equal(Array.from(await densifyCsr(rp, ix, 5).data()), [1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    });
  });
});

test('bad batches are errors', async () => {
  await noLeak('errors', async () => {
    assert.throws(() => densifyCsrHost(Int32Array.from([0, 2]), Int32Array.from([0, 5]), 5), /column index 5 at nonzero 1 is outside \[0, 5\)/);
    assert.throws(() => densifyCsrHost(Int32Array.from([0, 2, 1, 2]), Int32Array.from([0, 1]), 5), /rowptr decreases at row 1/);
    assert.throws(() => densifyCsrHost(Int32Array.from([0, 1]), Int32Array.from([0, 1]), 5), /rowptr must run from 0 to indices\.length \(2\)/);
    assert.throws(() => densifyCsrHost(Int32Array.from([0, 2]), Int32Array.from([0, 1]), 5, new Float32Array(1)), /1 values for 2 indices/);
    await scope(async () => {
      const rp = tensor(Float32Array.from([0, 1]), [2]);
      const ix = tensor(Int32Array.from([0]), [1], 'i32');
      assert.throws(() => densifyCsr(rp, ix, 3), /rowptr must be a 1-d i32 tensor/);
    });
  });
});

test.run();
