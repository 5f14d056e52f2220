// ImageFolder loader: small JPEG/PNG trees written here, corrupt files, the real CIFAR-10 JPEGs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';
import { loadImageFolder } from '../../tasks/data/imagefolder.js';

const { PNG } = pngjs;
const test = suite('data-imagefolder');

/** A w×h RGBA image of one colour. */
function solid(w: number, h: number, [r, g, b]: number[]): Buffer {
  const d = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) d.set([r, g, b, 255], 4 * i);
  return d;
}
const png = (w: number, h: number, data: Buffer): Buffer => {
  const p = new PNG({ width: w, height: h });
  data.copy(p.data);
  return PNG.sync.write(p);
};
const jpg = (w: number, h: number, data: Buffer): Buffer => jpeg.encode({ width: w, height: h, data }, 95).data;

function tree(files: Record<string, Buffer>): string {
  const root = mkdtempSync(join(tmpdir(), 'lbd-imgfolder-'));
  for (const [p, b] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), b);
  }
  return root;
}

test('PNG and JPEG classes: shapes, CHW planes, labels, sorted classes, limit', () => {
  // a 4×2 PNG with distinct pixels to check the exact layout
  const d = Buffer.alloc(4 * 2 * 4);
  for (let i = 0; i < 8; i++) d.set([i * 10, 100 + i, 255 - i, 255], 4 * i);
  const root = tree({
    'zebra/b.png': png(4, 2, solid(4, 2, [0, 0, 0])),
    'zebra/a.png': png(4, 2, d),
    'ant/1.jpg': jpg(4, 2, solid(4, 2, [200, 40, 90])),
    'ant/2.jpeg': jpg(4, 2, solid(4, 2, [10, 250, 128])),
    'ant/3.jpg': jpg(4, 2, solid(4, 2, [0, 0, 0])),
  });
  try {
    const s = loadImageFolder(root);
    assert.equal(s.classes, ['ant', 'zebra']);
    assert.is(s.n, 5);
    assert.is(s.height, 2);
    assert.is(s.width, 4);
    assert.is(s.x.length, 5 * 3 * 8);
    assert.equal(Array.from(s.y), [0, 0, 0, 1, 1]);
    assert.ok(s.files[3].endsWith('a.png'), 'files sorted by name within a class');
    // exact PNG pixels, R then G then B planes
    const a = s.x.subarray(3 * 24, 4 * 24);
    for (let i = 0; i < 8; i++) {
      assert.ok(Math.abs(a[i] - (i * 10) / 255) < 1e-7);
      assert.ok(Math.abs(a[8 + i] - (100 + i) / 255) < 1e-7);
      assert.ok(Math.abs(a[16 + i] - (255 - i) / 255) < 1e-7);
    }
    // JPEG solid colours within a few levels
    const want = [200, 40, 90];
    for (let k = 0; k < 3; k++) for (let i = 0; i < 8; i++) assert.ok(Math.abs(s.x[k * 8 + i] * 255 - want[k]) < 4, `jpeg pixel ${s.x[k * 8 + i] * 255} vs ${want[k]}`);
    let lo = Infinity, hi = -Infinity;
    for (const v of s.x) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    assert.ok(lo >= 0 && hi <= 1, `values in [0, 1]: [${lo}, ${hi}]`);
    const l = loadImageFolder(root, { limit: 1, size: [2, 4] });
    assert.is(l.n, 2);
    assert.equal(Array.from(l.y), [0, 1]);
    assert.throws(() => loadImageFolder(root, { size: [4, 2] }), /1\.jpg: image is 4×2 .* expected 2×4/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('corrupt, truncated, wrong-size and stray files are errors naming the file', () => {
  const good = jpg(8, 8, solid(8, 8, [1, 2, 3]));
  const goodPng = png(8, 8, solid(8, 8, [1, 2, 3]));
  const cases: [Record<string, Buffer>, RegExp][] = [
    [{ 'c/a.jpg': good, 'c/b.jpg': good.subarray(0, good.length - 2) }, /b\.jpg: cannot decode/],
    [{ 'c/a.jpg': good, 'c/b.jpg': good.subarray(0, good.length >> 1) }, /b\.jpg: cannot decode/],
    [{ 'c/a.png': goodPng, 'c/b.png': goodPng.subarray(0, goodPng.length - 20) }, /b\.png: cannot decode/],
    [{ 'c/a.png': goodPng, 'c/b.png': Buffer.from('not a png at all') }, /b\.png: cannot decode/],
    [{ 'c/a.jpg': good, 'd/b.png': png(8, 7, solid(8, 7, [0, 0, 0])) }, /b\.png: image is 8×7/],
    [{ 'c/a.jpg': good, 'c/notes.txt': Buffer.from('x') }, /notes\.txt: not a \.jpg/],
  ];
  for (const [files, re] of cases) {
    const root = tree(files);
    try {
      assert.throws(() => loadImageFolder(root), re);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  }
});

test('the real CIFAR-10 JPEG test tree, 5 per class', () => {
  const dir = fileURLToPath(new URL('../../../data/cifar10-jpeg', import.meta.url));
  if (!existsSync(join(dir, 'test'))) {
    console.log(`  note: ${dir}/test is missing, skipping the real-data check`);
    return;
  }
  const s = loadImageFolder(join(dir, 'test'), { limit: 5, size: [32, 32] });
  assert.equal(s.classes, ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
  assert.is(s.n, 50);
  assert.is(s.x.length, 50 * 3 * 32 * 32);
  for (let k = 0; k < 10; k++) assert.equal(Array.from(s.y.subarray(5 * k, 5 * k + 5)), [k, k, k, k, k]);
  let lo = Infinity, hi = -Infinity, sum = 0;
  for (const v of s.x) { lo = Math.min(lo, v); hi = Math.max(hi, v); sum += v; }
  assert.ok(lo >= 0 && hi <= 1 && hi - lo > 0.5, `range [${lo}, ${hi}]`);
  const mean = sum / s.x.length;
  assert.ok(mean > 0.3 && mean < 0.65, `mean pixel ${mean}`);
  assert.ok(readFileSync(s.files[0]).length > 0);
});

test.run();
