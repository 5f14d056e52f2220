// tasks/stats/tables.ts: metrics recomputed from the per-example outputs a run file keeps equal
// the models/metrics functions — on the whole test set and on a resample, given as weights, which
// must equal the functions applied to the multiset with example i repeated w[i] times. Includes
// confidences on ECE bin edges, entropies equal to a PAvPU threshold, and classes absent from the
// set or from a resample for mean IoU.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { accuracy, argmaxRows, predictiveEntropy, pavpu, nll, expectedCalibrationError } from '../../models/metrics/classification.js';
import { SegmentationConfusion, patches, concatPatches, patchPavpuCurve } from '../../models/metrics/segmentation.js';
import { meanAndStdErr } from '../../models/metrics/ranking.js';
import { classifyTable, segmentTable, recommendTable, allOnes, eceBin } from '../../tasks/stats/tables.js';
import { packF32, packU8, withoutPerExample, type ClassifyPerImage } from '../../tasks/stats/per-example.js';
import { perImageTable, type Predictions } from '../../tasks/segment/experiment.js';
import { mulberry32 } from '../../tasks/data/rng.js';

const test = suite('stats: metrics from per-example tables');

const close = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

/** Indices 0..n−1 with i repeated w[i] times. */
const expand = (w: Float64Array): number[] => Array.from(w).flatMap((k, i) => Array<number>(k).fill(i));

const C = 10;

/** Synthetic predictive probabilities [n, C] (float32, as the run's), labels, and edge cases on purpose. */
function classifyData(n: number, seed: number): { p: Float32Array; y: Int32Array } {
  const rng = mulberry32(seed), p = new Float32Array(n * C), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    const row = Array.from({ length: C }, () => { const v = rng() ** 4; s += v; return v; });
    row.forEach((v, c) => { p[i * C + c] = v / s; });
    y[i] = Math.floor(rng() * C);
  }
  // confidences exactly on bin edges: 1 (top edge), k/15 rounded to float32, and 0 (bin 0)
  const setRow = (i: number, top: number, at: number): void => { for (let c = 0; c < C; c++) p[i * C + c] = c === at ? top : Math.fround(top / 2); };
  setRow(0, 1, 3); y[0] = 3;
  setRow(1, Math.fround(1 / 15), 0); y[1] = 0;
  setRow(2, Math.fround(7 / 15), 5); y[2] = 4;
  setRow(3, Math.fround(14 / 15), 9); y[3] = 9;
  for (let c = 0; c < C; c++) p[4 * C + c] = 0; // confidence 0
  y[4] = 0;
  // a tie at the top between the true class and a lower-index class (argmax takes the first)
  for (let c = 0; c < C; c++) p[5 * C + c] = c === 1 || c === 6 ? 0.4 : 0.025;
  y[5] = 6;
  return { p, y };
}

function classifyRun(p: Float32Array, y: Int32Array, valSeed: number): { perImage: ClassifyPerImage; t: number[]; ent: Float32Array; pred: Int32Array } {
  const n = y.length, pred = argmaxRows(p, C);
  const ent = Float32Array.from(predictiveEntropy(p, C)); // the run file's float32 entropies
  const rng = mulberry32(valSeed);
  // the validation range: its low end is one of the test entropies exactly, so that threshold ties one
  const lo = ent[7], hi = lo + 1.5 * rng() + 0.5;
  return {
    perImage: {
      pred: packU8(pred), pTrue: packF32(Array.from(y, (c, i) => p[i * C + c])), confidence: packF32(Array.from(pred, (c, i) => p[i * C + c])),
      entropy: packF32(ent), entropyRange: [lo, hi],
    },
    t: Array.from({ length: 21 }, (_, i) => i / 20), ent, pred,
  };
}

/** The run's metrics by models/metrics over the examples idx (a multiset). */
function classifyReference(p: Float32Array, y: Int32Array, r: ReturnType<typeof classifyRun>, idx: number[]): number[] {
  const ps = new Float32Array(idx.length * C), ys = Int32Array.from(idx, (i) => y[i]);
  idx.forEach((i, k) => ps.set(p.subarray(i * C, (i + 1) * C), k * C));
  const pred = Int32Array.from(idx, (i) => r.pred[i]), ent = Float64Array.from(idx, (i) => r.ent[i]);
  const correct = Array.from(pred, (c, k) => c === ys[k]);
  const [lo, hi] = r.perImage.entropyRange;
  const curve = r.t.map((s) => pavpu(correct, ent, lo + s * (hi - lo)));
  return [accuracy(pred, ys), curve.reduce((a, b) => a + b, 0) / curve.length, nll(ps, ys, C), expectedCalibrationError(ps, ys, C)];
}

test('ECE bins: right-closed, 0 into bin 0, 1 into the last', () => {
  assert.is(eceBin(0), 0); assert.is(eceBin(1), 14); assert.is(eceBin(1 / 15), 0); assert.is(eceBin(1 / 15 + 1e-12), 1); assert.is(eceBin(0.5), 7);
});

test('classify: accuracy, Mean PAvPU, NLL and ECE on the whole test set equal models/metrics', () => {
  const { p, y } = classifyData(400, 1);
  const r = classifyRun(p, y, 2);
  const got = classifyTable(r.perImage, r.t, y).evaluate(allOnes(y.length));
  const want = classifyReference(p, y, r, Array.from(y, (_, i) => i));
  assert.is(got[0], want[0], 'accuracy (same sum)');
  close(got[1], want[1], 1e-14, 'Mean PAvPU (summed per example instead of per threshold)');
  assert.is(got[2], want[2], 'NLL (same sum)');
  assert.is(got[3], want[3], 'ECE (same bins, same sums)');
});

test('classify: a resample (weights) equals the metrics of the repeated examples', () => {
  const { p, y } = classifyData(300, 3);
  const r = classifyRun(p, y, 4);
  const table = classifyTable(r.perImage, r.t, y), rng = mulberry32(5);
  for (let k = 0; k < 5; k++) {
    const w = Float64Array.from(y, () => Math.floor(rng() * 4)); // some examples drawn 0 times, some up to 3
    const got = table.evaluate(w), want = classifyReference(p, y, r, expand(w));
    ['accuracy', 'Mean PAvPU', 'NLL', 'ECE'].forEach((m, j) => close(got[j], want[j], 1e-12, `${m}, resample ${k}`));
  }
});

test('classify without labels: correct = (pTrue === confidence), the same unless the true class ties the top', () => {
  const { p, y } = classifyData(200, 6);
  const r = classifyRun(p, y, 7);
  const a = classifyTable(r.perImage, r.t, y).evaluate(allOnes(200)), b = classifyTable(r.perImage, r.t).evaluate(allOnes(200));
  // row 5's true class ties the predicted one: counted correct without labels, wrong with them
  close(b[0] - a[0], 1 / 200, 1e-15, 'one tie');
});

const H = 7, W = 9, SEG_C = 11, VOID = 11;

/** Synthetic segmentation outputs of N images: class 9 never occurs, class 10 only in image 2. */
function segmentData(N: number, seed: number): { pred: Int32Array; y: Int32Array; ent: Float64Array } {
  const rng = mulberry32(seed), px = H * W;
  const y = new Int32Array(N * px), pred = new Int32Array(N * px), ent = new Float64Array(N * px);
  for (let i = 0; i < N * px; i++) {
    const r = rng();
    y[i] = r < 0.1 ? VOID : Math.floor(rng() * 9);
    pred[i] = rng() < 0.6 && y[i] !== VOID ? y[i] : Math.floor(rng() * 9);
    ent[i] = rng() * 2;
  }
  y[2 * px + 5] = 10; pred[2 * px + 6] = 10;
  // an all-void 2×2 window (no patch) in image 0
  for (const o of [0, 1, W, W + 1]) y[o] = VOID;
  return { pred, y, ent };
}

/** Per image [TP, FP, FN] per class from that image's confusion matrix. */
function classCounts(pred: ArrayLike<number>, y: ArrayLike<number>): number[][] {
  const m = new SegmentationConfusion(SEG_C, VOID).add(pred, y).matrix;
  return Array.from({ length: SEG_C }, (_, k) => {
    let fp = 0, fn = 0;
    for (let j = 0; j < SEG_C; j++) if (j !== k) { fn += m[k * SEG_C + j]; fp += m[j * SEG_C + k]; }
    return [m[k * SEG_C + k], fp, fn];
  });
}

function segmentReference(d: ReturnType<typeof segmentData>, idx: number[], range: { min: number; max: number }): number[] {
  const px = H * W, conf = new SegmentationConfusion(SEG_C, VOID), parts = [];
  for (const i of idx) {
    const sl = <T extends Int32Array | Float64Array>(a: T): T => a.subarray(i * px, (i + 1) * px) as T;
    conf.add(sl(d.pred), sl(d.y));
    parts.push(patches(sl(d.pred), sl(d.y), sl(d.ent), 1, H, W, { window: 2, voidLabel: VOID }));
  }
  return [conf.pixelAccuracy(), conf.meanIoU(), patchPavpuCurve(concatPatches(parts), range, 21).mean];
}

test('segment: pixel accuracy, mean IoU and patch Mean PAvPU from per-image counts equal the whole-set metrics, also on resamples', () => {
  const N = 6, d = segmentData(N, 11), px = H * W, range = { min: 0.3, max: 1.6 };
  const pred: Predictions = {
    pred: d.pred, entropy: d.ent, confusion: new SegmentationConfusion(SEG_C, VOID), patches: { accurate: new Uint8Array(0), entropy: new Float64Array(0) },
    images: Array.from({ length: N }, (_, i) => {
      const sl = <T extends Int32Array | Float64Array>(a: T): T => a.subarray(i * px, (i + 1) * px) as T;
      return { patches: patches(sl(d.pred), sl(d.y), sl(d.ent), 1, H, W, { window: 2, voidLabel: VOID }), counts: classCounts(sl(d.pred), sl(d.y)) };
    }),
  };
  const thresholds = patchPavpuCurve(pred.images[0].patches, range, 21).threshold;
  const table = segmentTable(perImageTable(pred, thresholds));
  const all = Array.from({ length: N }, (_, i) => i);
  const whole = new SegmentationConfusion(SEG_C, VOID).add(d.pred, d.y);
  assert.is(whole.iou()[9], null, 'class 9 is absent from the set');
  assert.equal(Array.from(table.evaluate(allOnes(N))), segmentReference(d, all, range), 'whole set: exact');
  // image 2 left out: class 10 has no pixel anywhere, so it leaves the mean
  const w = Float64Array.of(2, 1, 0, 3, 1, 1);
  const sub = new SegmentationConfusion(SEG_C, VOID);
  for (const i of expand(w)) sub.add(d.pred.subarray(i * px, (i + 1) * px), d.y.subarray(i * px, (i + 1) * px));
  assert.is(sub.iou()[10], null);
  assert.equal(Array.from(table.evaluate(w)), segmentReference(d, expand(w), range), 'resample without image 2: exact');
  const rng = mulberry32(12);
  for (let k = 0; k < 5; k++) {
    const wk = Float64Array.from({ length: N }, () => Math.floor(rng() * 3));
    if (!wk.some((v) => v)) wk[0] = 1;
    assert.equal(Array.from(table.evaluate(wk)), segmentReference(d, expand(wk), range), `resample ${k}`);
  }
});

test('recommend: the mean of per-user values, whole set and resampled', () => {
  const rng = mulberry32(21), n = 150;
  const cols = [0, 1, 2].map(() => Float32Array.from({ length: n }, () => rng()));
  const table = recommendTable({ ndcg100: packF32(cols[0]), recall20: packF32(cols[1]), recall50: packF32(cols[2]) });
  assert.equal(table.metrics, ['ndcg100', 'recall20', 'recall50']);
  const w = Float64Array.from({ length: n }, () => Math.floor(rng() * 3));
  for (const [weights, idx] of [[allOnes(n), Array.from({ length: n }, (_, i) => i)], [w, expand(w)]] as const) {
    const got = table.evaluate(weights);
    cols.forEach((c, m) => close(got[m], meanAndStdErr(idx.map((i) => c[i])).mean, 1e-12, `metric ${m}`));
  }
});

test('tables refuse arrays of different lengths', () => {
  const { p, y } = classifyData(20, 1);
  const r = classifyRun(p, y, 2);
  assert.throws(() => classifyTable({ ...r.perImage, entropy: packF32([1, 2]) }, r.t, y), /20 predictions/);
  assert.throws(() => classifyTable(r.perImage, r.t, y.subarray(0, 5)), /labels/);
  assert.throws(() => recommendTable({ ndcg100: packF32([1]), recall20: packF32([1, 2]), recall50: packF32([1]) }), /users per metric/);
});

test('withoutPerExample drops perImage and perUser, nothing else', () => {
  assert.equal(withoutPerExample({ a: 1, perImage: { x: 1 }, perUser: 'y', b: [2] }), { a: 1, b: [2] });
});

test.run();
