// NLL and expected calibration error against hand-computed cases, and PAvPU at its extremes and
// with entropies exactly at the threshold (which count as certain).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { nll, expectedCalibrationError, binOf, pavpu, predictiveEntropy, NLL_CLAMP } from '../../models/metrics/classification.js';

const test = suite('metrics-calibration');
const near = (got: number, want: number, what: string, tol = 1e-12): void => {
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want}`);
};

test('NLL: one-hot correct is 0, one-hot wrong hits the clamp, uniform is log C, a mix averages', () => {
  near(nll([1, 0, 0, 0, 0, 1], [0, 2], 3), 0, 'one-hot correct');
  near(nll([0, 1, 0], [0], 3), -Math.log(NLL_CLAMP), 'one-hot wrong (clamped at 1e-12)');
  assert.ok(Number.isFinite(nll([0, 1, 0], [0], 3)));
  near(nll([0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25], [1, 3], 4), Math.log(4), 'uniform over 4');
  near(nll([0.5, 0.5, 1, 0], [1, 0], 2), Math.log(2) / 2, 'mean of log 2 and 0');
  assert.throws(() => nll([1, 0], [0, 1], 2), /probabilities/);
  assert.throws(() => nll([1, 0], [2], 2), /label 2/);
});

test('ECE: zero for perfectly calibrated toy sets', () => {
  // four rows at confidence 0.75, three right; two rows at 0.5, one right
  const probs = [0.75, 0.25, 0.25, 0.75, 0.75, 0.25, 0.75, 0.25, 0.5, 0.5, 0.5, 0.5];
  const labels = [0, 1, 0, 1, 0, 1];
  near(expectedCalibrationError(probs, labels, 2), 0, 'calibrated, 15 bins');
  near(expectedCalibrationError(probs, labels, 2, 4), 0, 'calibrated, 4 bins');
  near(expectedCalibrationError([1, 0, 0, 0, 0, 1], [0, 2], 3), 0, 'confident and right');
});

test('ECE: fully overconfident sets', () => {
  near(expectedCalibrationError([1, 0, 0, 1, 1, 0], [1, 0, 1], 2), 1, 'confidence 1, all wrong');
  near(expectedCalibrationError([1, 0, 0, 1, 1, 0, 0, 1], [0, 0, 1, 1], 2), 0.5, 'confidence 1, half right');
});

test('ECE: equal-width bins, Σ |acc − conf|·n_b/n', () => {
  // 10 bins: 0.9, 0.9 → bin (0.8, 0.9]: acc ½, conf 0.9; 0.6 → bin (0.5, 0.6]: acc 1, conf 0.6
  const probs = [0.9, 0.1, 0.9, 0.1, 0.6, 0.4], labels = [0, 1, 0];
  near(expectedCalibrationError(probs, labels, 2, 10), (2 * 0.4 + 1 * 0.4) / 3, '10 bins', 1e-12);
  // 2 bins: all three in (0.5, 1]: acc ⅔, conf 0.8
  near(expectedCalibrationError(probs, labels, 2, 2), Math.abs(2 / 3 - 0.8), '2 bins', 1e-12);
  // 1 bin: |accuracy − mean confidence|
  near(expectedCalibrationError(probs, labels, 2, 1), Math.abs(2 / 3 - 0.8), '1 bin', 1e-12);
  assert.throws(() => expectedCalibrationError(probs, labels, 2, 0), /bins/);
});

// Guo et al.'s bins are right-closed, (b/bins, (b+1)/bins]: a confidence exactly on an inner edge
// belongs to the bin below it. Each set pairs a right row on the edge with a wrong row just above
// it, so left-closed bins ([b/bins, (b+1)/bins): both rows in one bin) give another value.
test('ECE: a confidence exactly on a bin edge falls in the bin below (right-closed bins)', () => {
  // 2 bins, 0.5 on the edge: right-closed {0.5 right} {0.9 wrong} → (0.5 + 0.9)/2; left-closed → |1 − 1.4|/2
  near(expectedCalibrationError([0.5, 0.5, 0.9, 0.1], [0, 1], 2, 2), (0.5 + 0.9) / 2, '0.5 with 2 bins');
  // 10 bins, 0.5 = 5/10: bin (0.4, 0.5], not [0.5, 0.6) with the 0.55 row (left-closed: 0.05/2)
  near(expectedCalibrationError([0.5, 0.5, 0.55, 0.45], [0, 1], 2, 10), (0.5 + 0.55) / 2, '0.5 with 10 bins');
  // 4 bins, 0.25 (a uniform row over 4 classes, argmax the first): bin [0, 0.25], not (0.25, 0.5] with 0.3
  near(expectedCalibrationError([0.25, 0.25, 0.25, 0.25, 0.3, 0.25, 0.25, 0.2], [0, 1], 4, 4), (0.75 + 0.3) / 2, '0.25 with 4 bins');
  // 4 bins, 0.75 = 3/4: bin (0.5, 0.75], not (0.75, 1] with 0.8 (left-closed: |1 − 1.55|/2)
  near(expectedCalibrationError([0.75, 0.25, 0.8, 0.2], [0, 1], 2, 4), (0.25 + 0.8) / 2, '0.75 with 4 bins');
  // 10 bins, 0.3 — an edge no double holds (0.3·10 = 3.0000000000000004): still (0.2, 0.3], not
  // (0.3, 0.4] with the 0.35 row; and 0.7 (0.7·10 = 7.000000000000001) in (0.6, 0.7], not with 0.72
  near(expectedCalibrationError([0.3, 0.2, 0.2, 0.2, 0.1, 0.35, 0.3, 0.2, 0.1, 0.05], [0, 1], 5, 10), (0.7 + 0.35) / 2, '0.3 with 10 bins');
  near(expectedCalibrationError([0.7, 0.3, 0.72, 0.28], [0, 1], 2, 10), (0.3 + 0.72) / 2, '0.7 with 10 bins');
  for (const [c, bins, b] of [[0.3, 10, 2], [0.7, 10, 6], [0.1, 10, 0], [0.30000000000000004, 10, 3], [1, 15, 14], [0, 15, 0], [1 / 3, 3, 0], [2 / 3, 3, 1]] as const) {
    assert.is(binOf(c, bins), b, `binOf(${c}, ${bins})`);
  }
});

test('PAvPU: all certain gives the accuracy, all uncertain its complement', () => {
  const correct = [1, 1, 0, 0, 1];
  near(pavpu(correct, [0, 0, 0, 0, 0], 0.1), 3 / 5, 'all certain');
  near(pavpu(correct, [1, 1, 1, 1, 1], 0.1), 2 / 5, 'all uncertain');
  near(pavpu([true, true], [0, 0], 0.5), 1, 'certain and right');
  near(pavpu([false, false], [2, 2], 0.5), 1, 'uncertain and wrong');
});

test('PAvPU: an entropy exactly at the threshold counts as certain', () => {
  const correct = [1, 1, 0, 0, 1];
  const t = 0.3;
  near(pavpu(correct, [t, t, t, t, t], t), 3 / 5, 'ties at the threshold are certain');
  // just below the ties they are all uncertain
  near(pavpu(correct, [t, t, t, t, t], t - 1e-12), 2 / 5, 'threshold just below');
  // entropies from predictive rows: uniform rows (log 2) at a threshold of exactly their entropy
  const H = predictiveEntropy([0.5, 0.5, 1, 0, 0.5, 0.5], 2);
  near(H[0], Math.LN2, 'entropy of a uniform row', 1e-15);
  assert.is(H[1], 0);
  // rows 0 and 2 tie at the threshold (certain), row 1 is certain: all certain → accuracy ⅔
  near(pavpu([1, 0, 1], H, H[0]), 2 / 3, 'ties from predictiveEntropy');
  near(pavpu([1, 0, 1], H, 0), 0, 'threshold 0: rows 0, 2 uncertain but right, row 1 certain but wrong');
});

test.run();
