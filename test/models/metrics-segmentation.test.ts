// Segmentation metrics against hand-computed label maps: pixel accuracy and IoU with void pixels,
// a class absent from ground truth and predictions (null, out of the mean) and one only
// predicted (IoU 0, in the mean), accumulation over several adds, entropy and argmax over
// channels, and patch PAvPU with void pixels, all-void windows and partial windows at the border.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  SegmentationConfusion, argmaxChannels, pixelEntropy, patches, concatPatches, entropyRange, patchPavpu, patchPavpuCurve,
} from '../../models/metrics/segmentation.js';
import { assertClose } from '../helpers.js';

const test = suite('metrics-segmentation');

const V = 11;
// 8 pixels, two void: (t, p) = (0,0) (0,1) (1,1) void (1,1) (2,0) void (0,0)
const labels = [0, 0, 1, V, 1, 2, V, 0];
const pred = [0, 1, 1, 2, 1, 0, 0, 0];

test('pixel accuracy and IoU by hand; void pixels count nowhere', () => {
  const m = new SegmentationConfusion(11, V).add(pred, labels);
  assert.is(m.pixelAccuracy(), 4 / 6);
  const iou = m.iou();
  // class 0: TP 2, FN 1 (→1), FP 1 (2→0): 2/4; class 1: TP 2, FP 1: 2/3; class 2: FN 1: 0
  assert.is(iou[0], 0.5);
  assert.is(iou[1], 2 / 3);
  assert.is(iou[2], 0);
  // classes 3..10 appear neither in the labels nor in the (non-void) predictions: null, and out of the mean
  assert.equal(iou.slice(3), Array(8).fill(null));
  assertClose([m.meanIoU()], [(0.5 + 2 / 3 + 0) / 3], 1e-12, 'mean IoU over the 3 present classes');
  // the prediction 2 on a void pixel made no false positive for class 2
  assert.is(m.matrix.reduce((a, b) => a + b, 0), 6);
});

test('a class only predicted has IoU 0 and counts in the mean; accumulation over adds = one add', () => {
  const m = new SegmentationConfusion(4, 4);
  m.add([0, 3], [0, 0]).add([1, 1, 0], [1, 4, 0]);
  // pixels: (0,0) (0,3) (1,1) void (0,0): class 0 TP 2 FN 1 → 2/3, class 1 1, class 2 null, class 3 FP 1 → 0
  assert.equal(m.iou(), [2 / 3, 1, null, 0]);
  assertClose([m.meanIoU()], [(2 / 3 + 1 + 0) / 3], 1e-12, 'mean IoU');
  const once = new SegmentationConfusion(4, 4).add([0, 3, 1, 1, 0], [0, 0, 1, 4, 0]);
  assert.equal(Array.from(once.matrix), Array.from(m.matrix));
  assert.ok(Number.isNaN(new SegmentationConfusion(3, 3).meanIoU()), 'no pixels: NaN');
  assert.throws(() => m.add([0], [7]), /pixel 0 has label 7/);
  assert.throws(() => m.add([0, 1], [0]), /2 predictions for 1 labels/);
});

test('argmax and entropy over channels of [N, C, H, W]', () => {
  // N 2, C 2, H×W 1×2: image 0 p(c0) = [0.5, 1], image 1 p(c0) = [0.2, 0.9]
  const p = [0.5, 1, 0.5, 0, 0.2, 0.9, 0.8, 0.1];
  assert.equal(Array.from(argmaxChannels(p, 2, 2)), [0, 0, 1, 0], 'ties go to the first class');
  const h = (q: number): number => -(q * Math.log(q) + (1 - q) * Math.log(1 - q));
  assertClose(pixelEntropy(p, 2, 2), [Math.LN2, 0, h(0.2), h(0.9)], 1e-12, 'entropy');
});

// 3×5 map, w = 2: windows rows {0,1},{2} × cols {0,1},{2,3},{4} — the last row and column partial
//   labels        pred          entropy = index/10
//   0 0 1 1 V     0 1 1 0 5
//   0 1 1 V V     0 1 0 3 3
//   V V 2 2 2     4 4 2 0 2
const L = [0, 0, 1, 1, V, 0, 1, 1, V, V, V, V, 2, 2, 2];
const P = [0, 1, 1, 0, 5, 0, 1, 0, 3, 3, 4, 4, 2, 0, 2];
const E = Array.from({ length: 15 }, (_, i) => i / 10);

test('patches by hand: void pixels excluded, all-void windows skipped, partial windows at the border', () => {
  const p = patches(P, L, E, 1, 3, 5, { window: 2, voidLabel: V });
  // (0,0): 3 of 4 right, entropy (0 + .1 + .5 + .6)/4; (0,1): 1 of 3 non-void right, (.2 + .3 + .7)/3;
  // (0,2): column 4, rows 0-1, all void: skipped; (1,0): row 2, columns 0-1, all void: skipped;
  // (1,1): 1 of 2 right (0.5 counts as accurate), (1.2 + 1.3)/2; (1,2): the corner pixel alone, 1.4
  assert.equal(Array.from(p.accurate), [1, 0, 1, 1]);
  assertClose(p.entropy, [0.3, 0.4, 1.25, 1.4], 1e-12, 'patch entropies');
  // window 1: every pixel is its own patch (void ones skipped)
  const one = patches(P, L, E, 1, 3, 5, { window: 1, voidLabel: V });
  assert.is(one.accurate.length, 10);
  // two maps: patches of the first, then the second
  const two = patches([...P, ...P], [...L, ...L], [...E, ...E], 2, 3, 5);
  assert.equal(Array.from(two.accurate), [1, 0, 1, 1, 1, 0, 1, 1]);
  assert.equal(Array.from(concatPatches([p, p]).entropy), Array.from(two.entropy));
  assert.throws(() => patches(P, L, E, 1, 3, 4), /expected 1×3×4 = 12 values/);
});

test('patch PAvPU at thresholds by hand, and the curve over the validation range', () => {
  const p = patches(P, L, E, 1, 3, 5);
  // patches (accurate, entropy): (1, .3) (0, .4) (1, 1.25) (1, 1.4); uncertain = entropy > τ
  assert.is(patchPavpu(p, 0.35), 0.5, 'ac (.3) + iu (.4) of 4');
  assert.is(patchPavpu(p, 1.3), 0.5, 'ac (.3, 1.25) of 4; .4 is inaccurate but certain');
  assert.is(patchPavpu(p, 2), 0.75, 'all certain: the 3 accurate ones');
  assert.is(patchPavpu(p, 0.2), 0.25, 'all uncertain: the inaccurate one');
  const range = entropyRange(p.entropy);
  assert.equal(range, { min: 0.3, max: 1.4 });
  const c = patchPavpuCurve(p, range, 2);
  assert.equal(c.t, [0, 1]);
  assert.equal(c.pavpu, [0.5, 0.75], 'τ = min: only the .3 patch certain; τ = max: all certain');
  assert.is(c.mean, 0.625);
  assert.is(patchPavpuCurve(p, range).pavpu.length, 11);
});

test.run();
