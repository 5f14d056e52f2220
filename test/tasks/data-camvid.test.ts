// CamVid loader on tiny PNGs written in the exact SegNet layout (split lists with the
// /SegNet/CamVid/ prefix, RGB images, grayscale label PNGs): values, limit/offset, area and
// bilinear resizing of images, nearest resizing of labels (values kept), errors naming the file
// (missing, corrupt PNG, label/image size mismatch, label value > 11), flips, statistics,
// median-frequency weights, and one check on the real data when present.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import pngjs from 'pngjs';
import {
  loadCamVid, readCamVidList, resizeImage, resizeLabels, flipHorizontal, flipFlags, channelStats, normalizeChannels,
  medianFrequencyWeights, loadCamVidSplits, CAMVID_VOID,
} from '../../tasks/data/camvid.js';
import { assertClose } from '../helpers.js';

const { PNG } = pngjs;
const test = suite('data-camvid');

const H = 4, W = 6;
const pixel = (k: number, c: number, y: number, x: number): number => (k * 50 + c * 20 + y * 6 + x) % 256;
const labelAt = (k: number, y: number, x: number): number => (k + y * W + x) % 12;

function writePng(file: string, w: number, h: number, value: (y: number, x: number, c: number) => number, gray: boolean): void {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    for (let c = 0; c < 3; c++) png.data[4 * (y * w + x) + c] = value(y, x, gray ? 0 : c);
    png.data[4 * (y * w + x) + 3] = 255;
  }
  writeFileSync(file, PNG.sync.write(png, gray ? { colorType: 0 } : { colorType: 2 }));
}

/** root/{train,trainannot}/k.png for k < n and root/train.txt with the SegNet prefix. */
function makeSet(root: string, n: number, split = 'train'): void {
  mkdirSync(join(root, split), { recursive: true });
  mkdirSync(join(root, `${split}annot`), { recursive: true });
  const lines: string[] = [];
  for (let k = 0; k < n; k++) {
    writePng(join(root, split, `${k}.png`), W, H, (y, x, c) => pixel(k, c, y, x), false);
    writePng(join(root, `${split}annot`, `${k}.png`), W, H, (y, x) => labelAt(k, y, x), true);
    lines.push(`/SegNet/CamVid/${split}/${k}.png /SegNet/CamVid/${split}annot/${k}.png`);
  }
  writeFileSync(join(root, `${split}.txt`), lines.join('\n') + '\n');
}

let dir = '';
test.before(() => { dir = mkdtempSync(join(tmpdir(), 'camvid-')); makeSet(dir, 3); });
test.after(() => { rmSync(dir, { recursive: true, force: true }); });

test('loads the SegNet layout: prefix stripped, CHW images in [0, 1], labels 0..11; limit and offset', () => {
  assert.equal(readCamVidList(dir, 'train')[1], { image: join(dir, 'train', '1.png'), label: join(dir, 'trainannot', '1.png') });
  const s = loadCamVid(dir, 'train');
  assert.is(s.n, 3);
  assert.is(s.height, H);
  assert.is(s.width, W);
  assert.is(s.x.length, 3 * 3 * H * W);
  for (let k = 0; k < 3; k++) for (let c = 0; c < 3; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    assert.is(s.x[((k * 3 + c) * H + y) * W + x], Math.fround(pixel(k, c, y, x) / 255));
    if (c === 0) assert.is(s.y[(k * H + y) * W + x], labelAt(k, y, x));
  }
  const part = loadCamVid(dir, 'train', { offset: 1, limit: 1 });
  assert.is(part.n, 1);
  assert.equal(Array.from(part.y), Array.from(s.y.subarray(H * W, 2 * H * W)));
  assert.throws(() => loadCamVid(dir, 'val'), /val\.txt: CamVid split list not found/);
});

test('resize at load time: area averages 2×2 blocks; labels nearest', () => {
  const full = loadCamVid(dir, 'train', { limit: 1 });
  const s = loadCamVid(dir, 'train', { limit: 1, size: [2, 3] });
  assert.is(s.height, 2);
  assert.is(s.width, 3);
  for (let c = 0; c < 3; c++) for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) {
    const at = (yy: number, xx: number): number => full.x[(c * H + yy) * W + xx];
    const want = (at(2 * y, 2 * x) + at(2 * y, 2 * x + 1) + at(2 * y + 1, 2 * x) + at(2 * y + 1, 2 * x + 1)) / 4;
    assertClose([s.x[(c * 2 + y) * 3 + x]], [want], 1e-6, `area ${c},${y},${x}`);
    // nearest: output (y, x) takes the source pixel under its centre, (2y + 1, 2x + 1)
    if (c === 0) assert.is(s.y[y * 3 + x], labelAt(0, 2 * y + 1, 2 * x + 1));
  }
  const b = loadCamVid(dir, 'train', { limit: 1, size: [2, 3], resize: 'bilinear' });
  // half-pixel centres at 2× downscale fall between 4 source pixels: the same as area here
  assertClose(b.x, s.x, 1e-6, 'bilinear at exactly 2×');
});

test('nearest resizing of labels keeps label values (non-integer factors, up and down)', () => {
  const src = Int32Array.from({ length: 7 * 9 }, (_, i) => [0, 3, 11, 10][(i * 7) % 4]);
  for (const [h, w] of [[3, 5], [10, 13], [7, 9], [1, 1]]) {
    const r = resizeLabels(src, 7, 9, h, w);
    assert.is(r.length, h * w);
    assert.ok(Array.from(r).every((v) => [0, 3, 11, 10].includes(v)), `${h}×${w}`);
  }
  assert.equal(Array.from(resizeLabels(src, 7, 9, 7, 9)), Array.from(src), 'same size: identity');
  // bilinear/area of a constant image stay constant; area 3 → 2 weighs the middle pixel half each way
  assertClose(resizeImage(new Float32Array(2 * 5 * 7).fill(0.25), 2, 5, 7, 3, 4, 'bilinear'), new Float32Array(2 * 12).fill(0.25), 1e-6, 'bilinear constant');
  assertClose(resizeImage(Float32Array.from([0, 3, 6]), 1, 1, 3, 1, 2, 'area'), [(0 + 1.5) / 1.5, (1.5 + 6) / 1.5], 1e-6, 'area 3 → 2');
});

test('errors name the file: missing, corrupt PNG, label/image size mismatch, label value > 11', () => {
  const bad = mkdtempSync(join(tmpdir(), 'camvid-bad-'));
  try {
    makeSet(bad, 2);
    const err = (o = {}): string => { try { loadCamVid(bad, 'train', o); return ''; } catch (e) { return (e as Error).message; } };
    // missing
    rmSync(join(bad, 'trainannot', '1.png'));
    assert.match(err(), `${join(bad, 'trainannot', '1.png')}: file not found`);
    // size mismatch: the label is 5×4, its image 6×4
    writePng(join(bad, 'trainannot', '1.png'), 5, H, () => 1, true);
    assert.match(err(), `${join(bad, 'trainannot', '1.png')}: label is 5×4`);
    // a label value of 12
    writePng(join(bad, 'trainannot', '1.png'), W, H, (y, x) => (y === 2 && x === 3 ? 12 : 0), true);
    assert.match(err(), `${join(bad, 'trainannot', '1.png')}: label value 12 outside 0..11`);
    // corrupt (truncated) image
    makeSet(bad, 2);
    const img = join(bad, 'train', '0.png');
    writeFileSync(img, Buffer.from(PNG.sync.write(new PNG({ width: W, height: H })).subarray(0, 40)));
    assert.match(err(), `${img}: cannot decode image`);
    // images of different sizes without `size`
    makeSet(bad, 2);
    writePng(join(bad, 'train', '1.png'), 8, 6, () => 0, false);
    writePng(join(bad, 'trainannot', '1.png'), 8, 6, () => 0, true);
    assert.match(err(), `${join(bad, 'train', '1.png')}: image is 8×6`);
    assert.is(loadCamVid(bad, 'train', { size: [3, 4] }).n, 2, 'with size both are resized');
  } finally {
    rmSync(bad, { recursive: true, force: true });
  }
});

test('seeded horizontal flips mirror images and labels together', () => {
  const s = loadCamVid(dir, 'train');
  const flags = flipFlags(3, 7);
  assert.equal(flags, flipFlags(3, 7), 'same seed, same flips');
  const f = flipHorizontal(s.x, s.y, 3, H, W, [true, false, true]);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
    assert.is(f.y[y * W + x], s.y[y * W + (W - 1 - x)]);
    assert.is(f.y[(H + y) * W + x], s.y[(H + y) * W + x], 'image 1 untouched');
    assert.is(f.x[((2 * 3 + 1) * H + y) * W + x], s.x[((2 * 3 + 1) * H + y) * W + (W - 1 - x)]);
  }
  assert.is(s.y[0], labelAt(0, 0, 0), 'the input is not modified');
});

test('channel statistics, normalisation and median-frequency weights by hand', () => {
  // 1 image, 2 channels of 2 pixels: channel 0 = [1, 3], channel 1 = [2, 2]
  const x = Float32Array.from([1, 3, 2, 2]);
  const st = channelStats(x, 1, 2);
  assert.equal(st, { mean: [2, 2], std: [1, 0] });
  assert.equal(Array.from(normalizeChannels(x, 1, st)), [-1, 1, 0, 0]);
  // two 1×4 maps, 3 classes, void 3: [0 0 1 V] (3 valid), [0 2 2 2] (4 valid)
  // freq0 = 3/7, freq1 = 1/3, freq2 = 3/4; median 3/7
  const w = medianFrequencyWeights(Int32Array.from([0, 0, 1, 3, 0, 2, 2, 2]), 2, 3, 3);
  assertClose(w, [1, 9 / 7, 4 / 7], 1e-6, 'weights');
  const w4 = medianFrequencyWeights(Int32Array.from([0, 0, 1, 3, 0, 2, 2, 2]), 2, 4, 3);
  assert.is(w4[3], 0, 'a class that never appears gets weight 0');
});

const REAL = fileURLToPath(new URL('../../../data/camvid', import.meta.url));
test('cache: equal to decoding; read without the PNGs; another selection or other files are decoded anew; a corrupt cache is refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'camvid-cache-'));
  try {
    for (const s of ['train', 'val', 'test']) makeSet(root, 3, s);
    const cache = join(root, 'cache', 'c.safetensors'), limits = { train: 3, val: 2, test: 1 };
    const first = await loadCamVidSplits(root, limits, [2, 3], cache);
    assert.is(first.fromCache, false);
    assert.ok(existsSync(cache), 'written');
    const moved = join(root, 'moved');
    renameSync(root + '/train', moved); // no PNGs: the cache must serve
    const again = await loadCamVidSplits(join(root, 'absent'), limits, [2, 3], cache);
    renameSync(moved, root + '/train');
    assert.is(again.fromCache, true);
    for (const s of ['train', 'val', 'test'] as const) {
      assert.equal(Array.from(again[s].x), Array.from(first[s].x), `${s}.x`);
      assert.equal(Array.from(again[s].y), Array.from(first[s].y), `${s}.y`);
      assert.equal([again[s].n, again[s].height, again[s].width], [first[s].n, first[s].height, first[s].width]);
    }
    assert.is(again.train.pairs[1].image, join(root, 'absent', 'train', '1.png'));
    assert.is((await loadCamVidSplits(root, { ...limits, val: 1 }, [2, 3], cache)).fromCache, false, 'another limit');
    assert.is((await loadCamVidSplits(root, { ...limits, val: 1 }, [2, 3], cache)).fromCache, true, 'rewritten');
    writeFileSync(join(root, 'val.txt'), '/SegNet/CamVid/val/1.png /SegNet/CamVid/valannot/1.png\n');
    assert.is((await loadCamVidSplits(root, { ...limits, val: 1 }, [2, 3], cache)).fromCache, false, 'other files listed');
    await rejects(loadCamVidSplits(join(root, 'absent'), limits, [2, 3], cache), /another selection.*does not exist/);
    writeFileSync(cache, Buffer.from([1, 2, 3]));
    await rejects(loadCamVidSplits(root, limits, [2, 3], cache), /c\.safetensors.*too short/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p; } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected an error matching ${re}`);
}

test('real data (when present): the first train pair loads at 360×480 with labels ≤ 11', () => {
  if (!existsSync(join(REAL, 'train.txt'))) return;
  const s = loadCamVid(REAL, 'train', { limit: 1 });
  assert.is(s.height, 360);
  assert.is(s.width, 480);
  assert.ok(s.y.every((v) => v >= 0 && v <= CAMVID_VOID));
  assert.ok(s.x.every((v) => v >= 0 && v <= 1));
  const small = loadCamVid(REAL, 'train', { limit: 1, size: [90, 120] });
  assert.is(small.y.length, 90 * 120);
  assert.ok(small.y.every((v) => v >= 0 && v <= CAMVID_VOID));
});

test.run();
