// Per-example tables (tasks/stats/paired.ts ExampleTable) built from what a run file keeps
// (tasks/stats/per-example.ts): each recomputes the run's reported metrics for any multiset of
// test examples, given as a weight per example (how often a bootstrap resample drew it). With
// every weight 1 each gives what the run reported, by the same definitions and, where the run
// summed in example order, the same summation order:
//
// - classify: accuracy, NLL (p clamped at 1e-12), ECE (15 equal-width bins, (b/15, (b+1)/15],
//   confidence 0 in bin 0) as models/metrics/classification.ts; Mean PAvPU over the run's
//   thresholds lo + t(hi − lo) with certain = entropy ≤ threshold. Mean PAvPU is linear in the
//   examples: the mean over thresholds of n_good(τ)/n is Σ_i g_i / (T·n) with g_i the number of
//   thresholds at which example i is accurate-and-certain or inaccurate-and-uncertain.
// - segment: pixel accuracy, mean IoU (a class with TP + FP + FN = 0 over the multiset is left
//   out, as SegmentationConfusion.meanIoU) and patch Mean PAvPU (Σ good / Σ patches per threshold,
//   mean over thresholds) from per-image sums: exact, since they are integer counts.
// - recommend: the mean over test users of Recall@20, Recall@50, NDCG@100.
//
// One difference from the run's own numbers: classify stores each image's entropy as float32 (the
// run compared float64 entropies with the thresholds), so an entropy within float32 rounding of
// a threshold can fall on the other side; the reports print the largest such gap (recomputeError).
import { NLL_CLAMP } from '../../models/metrics/classification.js';
import type { ExampleTable } from './paired.js';
import { unpackF32, unpackU8, type ClassifyPerImage, type SegmentPerImage, type RecommendPerUser } from './per-example.js';
import { binOf } from '../../models/metrics/classification.js';

export const CLASSIFY_METRICS = ['accuracy', 'meanPAvPU', 'nll', 'ece'] as const;
export const SEGMENT_METRICS = ['pixelAccuracy', 'meanIoU', 'meanPAvPU'] as const;
export const RECOMMEND_METRICS = ['ndcg100', 'recall20', 'recall50'] as const;

/** The ECE's bins, as expectedCalibrationError's default. */
export const ECE_BINS = 15;

/** ECE bin of a confidence: (b/bins, (b+1)/bins], 0 into bin 0 (expectedCalibrationError's own binOf). */
export const eceBin = (c: number, bins = ECE_BINS): number => binOf(c, bins);

/**
 * A classification run's table. `t`: the run's PAvPU grid in [0, 1] (result.pavpu.t); `labels`:
 * the test labels (correct = pred === label). Without labels, correct = (pTrue === confidence):
 * the same unless the true class tied the predicted one at the top.
 */
export function classifyTable(p: ClassifyPerImage, t: readonly number[], labels?: ArrayLike<number>): ExampleTable {
  const pred = unpackU8(p.pred, 'perImage.pred'), pTrue = unpackF32(p.pTrue, 'perImage.pTrue');
  const conf = unpackF32(p.confidence, 'perImage.confidence'), ent = unpackF32(p.entropy, 'perImage.entropy');
  const n = pred.length;
  if (pTrue.length !== n || conf.length !== n || ent.length !== n) throw new Error(`perImage: ${n} predictions, ${pTrue.length} pTrue, ${conf.length} confidences, ${ent.length} entropies`);
  if (labels && labels.length !== n) throw new Error(`perImage: ${n} images but ${labels.length} labels`);
  const [lo, hi] = p.entropyRange;
  const thresholds = t.map((s) => lo + s * (hi - lo)); // as the run computed them
  const correct = new Uint8Array(n), nllTerm = new Float64Array(n), bin = new Uint8Array(n), good = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    correct[i] = +(labels ? pred[i] === labels[i] : pTrue[i] === conf[i]);
    nllTerm[i] = -Math.log(Math.max(pTrue[i], NLL_CLAMP));
    bin[i] = eceBin(conf[i]);
    let g = 0;
    for (const th of thresholds) g += +(!!correct[i] === ent[i] <= th);
    good[i] = g;
  }
  const T = thresholds.length;
  return {
    n, metrics: CLASSIFY_METRICS,
    evaluate(w: Float64Array): Float64Array {
      let sw = 0, ok = 0, nll = 0, g = 0;
      const cnt = new Float64Array(ECE_BINS), cs = new Float64Array(ECE_BINS), as = new Float64Array(ECE_BINS);
      for (let i = 0; i < n; i++) {
        const wi = w[i];
        if (!wi) continue;
        sw += wi; ok += wi * correct[i]; nll += wi * nllTerm[i]; g += wi * good[i];
        const b = bin[i];
        cnt[b] += wi; cs[b] += wi * conf[i]; as[b] += wi * correct[i];
      }
      let gaps = 0;
      for (let b = 0; b < ECE_BINS; b++) if (cnt[b]) gaps += Math.abs(as[b] - cs[b]);
      return Float64Array.of(ok / sw, g / (T * sw), nll / sw, gaps / sw);
    },
  };
}

/** A segmentation run's table (per image: [class][TP, FP, FN], good patches per threshold, patches). */
export function segmentTable(p: SegmentPerImage): ExampleTable {
  const n = p.counts.length;
  if (p.goodPatches.length !== n || p.patches.length !== n) throw new Error(`perImage: ${n} images of counts, ${p.goodPatches.length} of good patches, ${p.patches.length} of patch counts`);
  const C = n ? p.counts[0].length : 0, T = n ? p.goodPatches[0].length : 0;
  const counts = new Float64Array(n * C * 3), good = new Float64Array(n * T);
  for (let i = 0; i < n; i++) {
    if (p.counts[i].length !== C || p.goodPatches[i].length !== T) throw new Error(`perImage: image ${i} has ${p.counts[i].length} classes / ${p.goodPatches[i].length} thresholds, image 0 ${C} / ${T}`);
    p.counts[i].forEach((c, k) => counts.set(c, (i * C + k) * 3));
    good.set(p.goodPatches[i], i * T);
  }
  return {
    n, metrics: SEGMENT_METRICS,
    evaluate(w: Float64Array): Float64Array {
      const s = new Float64Array(C * 3), gs = new Float64Array(T);
      let patches = 0;
      for (let i = 0; i < n; i++) {
        const wi = w[i];
        if (!wi) continue;
        for (let j = 0; j < C * 3; j++) s[j] += wi * counts[i * C * 3 + j];
        for (let j = 0; j < T; j++) gs[j] += wi * good[i * T + j];
        patches += wi * p.patches[i];
      }
      // every non-void pixel of true class k is a TP or an FN of k
      let ok = 0, all = 0;
      const iou: number[] = [];
      for (let k = 0; k < C; k++) {
        const tp = s[3 * k], fp = s[3 * k + 1], fn = s[3 * k + 2];
        ok += tp; all += tp + fn;
        if (tp + fp + fn > 0) iou.push(tp / (tp + fp + fn));
      }
      const curve = Array.from(gs, (g) => g / patches);
      return Float64Array.of(
        all ? ok / all : NaN,
        iou.length ? iou.reduce((a, b) => a + b, 0) / iou.length : NaN,
        curve.reduce((a, b) => a + b, 0) / T,
      );
    },
  };
}

/** A recommendation run's table (per test user). */
export function recommendTable(p: RecommendPerUser): ExampleTable {
  const cols = RECOMMEND_METRICS.map((m) => unpackF32(p[m], `perUser.${m}`));
  const n = cols[0].length;
  for (const c of cols) if (c.length !== n) throw new Error(`perUser: ${cols.map((x) => x.length).join(', ')} users per metric`);
  return {
    n, metrics: RECOMMEND_METRICS,
    evaluate(w: Float64Array): Float64Array {
      let sw = 0;
      const s = new Float64Array(cols.length);
      for (let i = 0; i < n; i++) {
        const wi = w[i];
        if (!wi) continue;
        sw += wi;
        for (let m = 0; m < cols.length; m++) s[m] += wi * cols[m][i];
      }
      return s.map((v) => v / sw);
    },
  };
}

/** All weights 1: the whole test set. */
export const allOnes = (n: number): Float64Array => new Float64Array(n).fill(1);
