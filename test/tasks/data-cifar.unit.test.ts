// CIFAR-10 binary batches written here byte by byte.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCifarBinary, loadCifar10Dir, CIFAR10_CLASSES } from '../../tasks/data/cifar-binary.js';

const test = suite('data-cifar');

/** n records: label (i·3) mod 10, pixel p of record i = (i + p) mod 256. */
function records(n: number, first = 0): Buffer {
  const b = Buffer.alloc(n * 3073);
  for (let i = 0; i < n; i++) {
    b[i * 3073] = ((first + i) * 3) % 10;
    for (let p = 0; p < 3072; p++) b[i * 3073 + 1 + p] = (first + i + p) % 256;
  }
  return b;
}

test('reads records in order across files, CHW planes, [0, 1], limit', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbd-cifar-'));
  try {
    for (let k = 1; k <= 5; k++) writeFileSync(join(dir, `data_batch_${k}.bin`), records(2, 2 * (k - 1)));
    writeFileSync(join(dir, 'test_batch.bin'), records(3, 100));
    const tr = loadCifar10Dir(dir, 'train');
    assert.is(tr.n, 10);
    assert.is(tr.x.length, 10 * 3072);
    assert.equal(Array.from(tr.y), [0, 3, 6, 9, 2, 5, 8, 1, 4, 7]);
    assert.equal(tr.classes, CIFAR10_CLASSES);
    for (const [i, p] of [[0, 0], [7, 1023], [7, 1024], [9, 3071]]) assert.ok(Math.abs(tr.x[i * 3072 + p] - ((i + p) % 256) / 255) < 1e-7, `x[${i}, ${p}]`);
    const te = loadCifar10Dir(dir, 'test');
    assert.is(te.n, 3);
    assert.equal(Array.from(te.y), [0, 3, 6]);
    assert.ok(Math.abs(te.x[2 * 3072 + 5] - 107 / 255) < 1e-7);
    const lim = loadCifarBinary([join(dir, 'data_batch_1.bin'), join(dir, 'data_batch_2.bin')], { limit: 3 });
    assert.is(lim.n, 3);
    assert.is(lim.x.length, 3 * 3072);
    assert.equal(Array.from(lim.y), [0, 3, 6]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a truncated file or a bad label is an error naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbd-cifar-'));
  try {
    const f = join(dir, 'data_batch_1.bin');
    writeFileSync(f, records(2).subarray(0, 3073 * 2 - 10));
    assert.throws(() => loadCifarBinary(f), /data_batch_1\.bin: size 6136 bytes is not a positive multiple of 3073/);
    writeFileSync(f, Buffer.alloc(0));
    assert.throws(() => loadCifarBinary(f), /data_batch_1\.bin: size 0/);
    const b = records(2);
    b[3073] = 10;
    writeFileSync(f, b);
    assert.throws(() => loadCifarBinary(f), /data_batch_1\.bin: record 1 has label 10/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
