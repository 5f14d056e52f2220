// CPU transforms: channel statistics and normalisation, flips, seeded random crops.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { channelStats, normalize, flipHorizontal, randomCropFlip, resizeBilinear } from '../../tasks/data/transforms.js';
import { mulberry32 } from '../../tasks/data/rng.js';

const test = suite('data-transforms');

function randomImages(n: number, c: number, h: number, w: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  const x = new Float32Array(n * c * h * w);
  for (let i = 0; i < x.length; i++) x[i] = r() * (1 + ((i / (h * w)) | 0) % c); // channels differ
  return x;
}

test('normalisation with training statistics gives mean 0, std 1 per channel', () => {
  const x = randomImages(20, 3, 8, 8, 1);
  const st = channelStats(x, 3, 64);
  assert.ok(Math.abs(st.mean[0] - 0.5) < 0.05 && Math.abs(st.mean[2] - 1.5) < 0.1, `means ${st.mean}`);
  const z = normalize(x.slice(), 3, 64, st);
  const after = channelStats(z, 3, 64);
  for (let k = 0; k < 3; k++) {
    assert.ok(Math.abs(after.mean[k]) < 1e-5, `mean ${after.mean[k]}`);
    assert.ok(Math.abs(after.std[k] - 1) < 1e-5, `std ${after.std[k]}`);
  }
  assert.throws(() => normalize(x, 2, 64, st), /stats for 3 channels/);
});

test('flip twice is the identity; flip mirrors rows', () => {
  const x = randomImages(3, 3, 4, 5, 2);
  const f = flipHorizontal(x, 3, 4, 5);
  assert.equal(Array.from(flipHorizontal(f, 3, 4, 5)), Array.from(x));
  assert.is(f[0], x[4]);
  assert.is(f[5 + 1], x[5 + 3]);
});

test('random crop keeps the shape, is seeded, shifts with zero padding; pad 0 + no flip is identity', () => {
  const n = 64, c = 3, h = 32, w = 32;
  const x = new Float32Array(n * c * h * w).fill(1);
  const a = randomCropFlip(x, c, h, w, { pad: 4, seed: 5 });
  assert.is(a.length, x.length);
  assert.equal(Array.from(randomCropFlip(x, c, h, w, { pad: 4, seed: 5 })), Array.from(a));
  assert.not.equal(Array.from(randomCropFlip(x, c, h, w, { pad: 4, seed: 6 })), Array.from(a));
  // each image: a ones-rectangle of (32-|dy|)×(32-|dx|), zeros elsewhere, same in every channel
  let shifted = 0;
  for (let i = 0; i < n; i++) {
    const p = a.subarray(i * c * h * w, i * c * h * w + h * w);
    let ones = 0;
    for (const v of p) { assert.ok(v === 0 || v === 1); ones += v; }
    assert.ok(ones >= 28 * 28 && ones <= 32 * 32, `ones ${ones}`);
    if (ones < 32 * 32) shifted++;
    assert.equal(Array.from(a.subarray((i * c + 2) * h * w, (i * c + 3) * h * w)), Array.from(p));
  }
  assert.ok(shifted > n / 2, `most images shifted: ${shifted}`);
  const y = randomImages(4, c, 8, 8, 3);
  assert.equal(Array.from(randomCropFlip(y, c, 8, 8, { pad: 0, flip: false, seed: 1 })), Array.from(y));
  // pad 0 with flips: every image is either itself or its mirror, both occur
  const fl = randomCropFlip(y, c, 8, 8, { pad: 0, seed: 9 });
  const my = flipHorizontal(y, c, 8, 8);
  let same = 0, mirrored = 0;
  for (let i = 0; i < 4; i++) {
    const s = (i * c * 64), e = s + c * 64;
    const got = Array.from(fl.subarray(s, e));
    if (String(got) === String(Array.from(y.subarray(s, e)))) same++;
    else if (String(got) === String(Array.from(my.subarray(s, e)))) mirrored++;
  }
  assert.is(same + mirrored, 4);
});

test('a crop by a known offset: pixel (r, c) moves to (r - dy, c - dx)', () => {
  // find a seed-independent check: with pad 1 and a ramp image, every output pixel is 0 or an input pixel at offset ≤ 1
  const h = 6, w = 6;
  const x = Float32Array.from({ length: h * w }, (_, i) => i + 1);
  const o = randomCropFlip(x, 1, h, w, { pad: 1, flip: false, seed: 11 });
  const nz = Array.from(o).findIndex((v) => v !== 0);
  const shift = o[nz] - 1 - nz; // = dy·w + dx of the first non-zero pixel
  for (let i = 0; i < h * w; i++) if (o[i] !== 0) assert.is(o[i] - 1 - i, shift);
});

test('resizeBilinear: hand-computed 2×2 → 4×4 and 4×4 → 2×2 (half-pixel centres), constants kept', () => {
  const up = resizeBilinear(Float32Array.from([0, 1, 2, 3]), 1, 2, 2, 4, 4);
  const r = [0, 0.25, 0.75, 1]; // source coordinate of each output row/column, clamped at the borders
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) assert.ok(Math.abs(up[y * 4 + x] - (2 * r[y] + r[x])) < 1e-6, `up[${y}][${x}] = ${up[y * 4 + x]}`);
  const down = resizeBilinear(Float32Array.from({ length: 16 }, (_, i) => i), 1, 4, 4, 2, 2);
  assert.equal(Array.from(down), [2.5, 4.5, 10.5, 12.5]); // the mean of each 2×2 block
  const c = resizeBilinear(new Float32Array(2 * 3 * 5 * 7).fill(0.75), 3, 5, 7, 224, 224);
  assert.is(c.length, 2 * 3 * 224 * 224);
  assert.ok(c.every((v) => v === 0.75));
  assert.throws(() => resizeBilinear(new Float32Array(10), 3, 2, 2, 4, 4), /not a multiple/);
});

test.run();
