// The segment task: the per-image loss (void excluded, class weights) against a hand computation,
// every dropout kind trained and evaluated end to end on a tiny FC-DenseNet with zero live bytes
// leaked, and resuming from a checkpoint reproducing an uninterrupted run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sync, memoryStats, scope, tensor } from '../../engine/index.js';
import { runOne, imageLosses, METHODS, PRESETS, type SegmentOptions, type SegData } from '../../tasks/segment/experiment.js';
import type { CamVidSet } from '../../tasks/data/camvid.js';
import { ready, rng } from '../helpers.js';
import { runPaths } from '../../tasks/common/grid.js';

const test = suite('segment');
let dir = '';
test.before(async () => { await ready; dir = mkdtempSync(join(tmpdir(), 'lbd-segment-')); });
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** n images whose classes follow the pixel's row band (learnable), 5 % void. */
function synthetic(n: number, H: number, W: number, seed: number): CamVidSet {
  const r = rng(seed), x = new Float32Array(n * 3 * H * W), y = new Int32Array(n * H * W);
  for (let i = 0; i < n; i++) for (let p = 0; p < H * W; p++) {
    const c = r() < 0.05 ? 11 : Math.floor((Math.floor(p / W) / H) * 4);
    y[i * H * W + p] = c;
    for (let k = 0; k < 3; k++) x[(i * 3 + k) * H * W + p] = r() * 0.5 + (c === k ? 0.5 : 0);
  }
  return { x, y, n, height: H, width: W, pairs: [] };
}

const H = 24, W = 32;
const data: SegData = { train: synthetic(4, H, W, 1), val: synthetic(2, H, W, 2), test: synthetic(4, H, W, 3), raw: new Float32Array(4 * 3 * H * W).fill(0.5), weights: Float32Array.from([...Array(11).fill(1), 0]), fromCache: false };
const o: SegmentOptions = { ...(PRESETS.cpu as SegmentOptions), data: '', methods: [...METHODS], estimator: 'arm', size: [H, W], epochs: 2, batch: 2, samples: 2, rate: 0.2, classWeights: false, flip: true, trainLimit: 4, valLimit: 2, testLimit: 4 };

test('per-image loss: class-weighted mean cross-entropy over non-void pixels', async () => {
  const got = await scope(async () => {
    // 1 image, 3 pixels (one void), 12 classes of logits would be CamVid's 11: use 11 channels
    const logits = new Float32Array(11 * 3);
    logits[0 * 3 + 0] = 2; logits[1 * 3 + 1] = 1; // pixel 0 favours class 0, pixel 1 class 1
    const y = tensor([0, 2, 11], [1, 1, 3], 'i32');
    const w = tensor([...Array(11).fill(1).map((_, k) => (k === 2 ? 3 : 1)), 0], [12]);
    return imageLosses(tensor(logits, [1, 11, 1, 3]), y, w).data();
  });
  const lse = (v: number[]): number => Math.log(v.reduce((a, b) => a + Math.exp(b), 0));
  const p0 = [2, ...Array(10).fill(0)], p1 = [0, 1, ...Array(9).fill(0)];
  const want = (1 * (lse(p0) - 2) + 3 * (lse(p1) - 0)) / (1 + 3); // class 2 weighs 3, void 0
  assert.ok(Math.abs(got[0] - want) < 1e-5, `loss ${got[0]} vs ${want}`);
});

test('every dropout kind trains and is evaluated (accuracy, IoU, patch PAvPU), leaking nothing', async () => {
  await sync();
  const live = memoryStats().liveBytes;
  for (const m of METHODS) {
    const r = await runOne(m, 1, o, data, { checkpoint: runPaths(dir, `${m}-s1`).checkpoint });
    assert.ok(r.pixelAccuracy > 0 && r.pixelAccuracy <= 1, `${m} accuracy ${r.pixelAccuracy}`);
    assert.ok(r.meanIoU >= 0 && r.meanIoU <= 1, `${m} mean IoU ${r.meanIoU}`);
    assert.is(r.iou.length, 11);
    assert.ok(r.iou.slice(4).every((v) => v === null || v === 0), `${m}: classes 4-10 never occur in the labels`);
    assert.is(r.pavpu.value.length, 21);
    assert.ok(r.pavpu.value.every((v) => v >= 0 && v <= 1));
    assert.is(r.losses.length, 2);
    assert.ok(r.losses.every(Number.isFinite));
    assert.is(r.keep[1].length, 4, 'one keep probability per bottleneck layer');
    if (m === 'lbd') assert.ok(r.keep[1].some((k) => Math.abs(k - 0.8) > 1e-5), `LBD keep probabilities moved: ${r.keep[1]}`);
    if (m === 'lbd' || m === 'mc') assert.is(r.examples!.pred.length, 4 * H * W);
  }
  await sync();
  assert.is(memoryStats().liveBytes, live, 'live bytes after all runs');
});

test('resuming from the epoch checkpoint reproduces an uninterrupted run', async () => {
  const a = mkdtempSync(join(dir, 'a-')), b = mkdtempSync(join(dir, 'b-'));
  const files = runPaths(a, 'lbd-s2');
  const two = await runOne('lbd', 2, o, data, { checkpoint: files.checkpoint });
  const three = await runOne('lbd', 2, { ...o, epochs: 3 }, data, { checkpoint: files.checkpoint });
  assert.equal(three.losses.slice(0, 2), two.losses, 'the first two epochs come from the checkpoint');
  const fresh = await runOne('lbd', 2, { ...o, epochs: 3 }, data, { checkpoint: runPaths(b, 'lbd-s2').checkpoint });
  assert.is(three.losses[2], fresh.losses[2], 'epoch 3 loss: resumed equals uninterrupted');
  assert.equal(three.keep, fresh.keep);
  assert.is(three.meanIoU, fresh.meanIoU);
});

test.run();
