// idx files (MNIST format) written here, plain and gzipped, and broken ones.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { readIdx, loadIdxDataset, loadIdxImages, loadIdxLabels } from '../../tasks/data/idx.js';

const test = suite('data-idx');

function idx(dims: number[], data: number[], dtype = 0x08): Buffer {
  const h = Buffer.alloc(4 + 4 * dims.length);
  h[2] = dtype;
  h[3] = dims.length;
  dims.forEach((d, i) => h.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([h, Buffer.from(data)]);
}

test('images and labels, plain and gzip', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbd-idx-'));
  try {
    const px = Array.from({ length: 3 * 2 * 4 }, (_, i) => (i * 11) % 256);
    writeFileSync(join(dir, 'img-idx3-ubyte'), idx([3, 2, 4], px));
    writeFileSync(join(dir, 'img-idx3-ubyte.gz'), gzipSync(idx([3, 2, 4], px)));
    writeFileSync(join(dir, 'lab-idx1-ubyte.gz'), gzipSync(idx([3], [7, 0, 9])));
    for (const f of ['img-idx3-ubyte', 'img-idx3-ubyte.gz']) {
      const im = loadIdxImages(join(dir, f));
      assert.is(im.n, 3);
      assert.is(im.height, 2);
      assert.is(im.width, 4);
      assert.is(im.x.length, 24);
      for (let i = 0; i < 24; i++) assert.ok(Math.abs(im.x[i] - px[i] / 255) < 1e-7);
    }
    assert.equal(Array.from(loadIdxLabels(join(dir, 'lab-idx1-ubyte.gz'))), [7, 0, 9]);
    const ds = loadIdxDataset(join(dir, 'img-idx3-ubyte.gz'), join(dir, 'lab-idx1-ubyte.gz'));
    assert.is(ds.n, 3);
    assert.equal(Array.from(ds.y), [7, 0, 9]);
    assert.equal(readIdx(join(dir, 'img-idx3-ubyte')).dims, [3, 2, 4]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad magic, other dtype, truncated, trailing bytes, bad gzip, count mismatch: errors naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbd-idx-'));
  try {
    const good = idx([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]);
    const cases: [string, Buffer, RegExp][] = [
      ['magic', Buffer.concat([Buffer.from([1, 0]), good.subarray(2)]), /magic: bad idx magic number 0x01000803/],
      ['dtype', idx([2], [0, 0, 0, 0, 0, 0, 0, 0], 0x0d), /dtype: idx dtype 0xd is not supported/],
      ['short', good.subarray(0, good.length - 1), /short: truncated idx data \(7 bytes, dims \[2,2,2\] need 8\)/],
      ['head', good.subarray(0, 9), /head: truncated idx header/],
      ['tiny', good.subarray(0, 2), /tiny: truncated idx file/],
      ['long', Buffer.concat([good, Buffer.from([0])]), /long: 1 bytes after the idx data/],
      ['short.gz', gzipSync(good.subarray(0, good.length - 3)), /short\.gz: truncated idx data/],
      ['cut.gz', gzipSync(good).subarray(0, 15), /cut\.gz: bad gzip data/],
    ];
    for (const [name, bytes, re] of cases) {
      writeFileSync(join(dir, name), bytes);
      assert.throws(() => readIdx(join(dir, name)), re);
    }
    writeFileSync(join(dir, 'img'), good);
    writeFileSync(join(dir, 'lab'), idx([3], [1, 2, 3]));
    assert.throws(() => loadIdxDataset(join(dir, 'img'), join(dir, 'lab')), /lab: 3 labels for 2 images/);
    assert.throws(() => loadIdxLabels(join(dir, 'img')), /img: idx labels need 1 dim/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
