// The toy study's model (LBD §3.1): the enumerated gradient against finite differences, the
// fused three-estimator pass against the generic estimators, ARM/DisARM unbiased on the toy
// loss, Concrete visibly biased, DisARM's variance at keep ½ at most ARM's. CPU only.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { makeToyModel, expectedLoss, exactGradient, sampleLoss } from '../../tasks/toy/model.js';
import { toyEstimates } from '../../tasks/toy/toy-estimates.js';
import { armEstimate, disarmEstimate, concreteEstimate } from '../../tasks/toy/estimators.js';
import { concreteExpectedGradient, bernoulliGradientFromMoments, relaxedMoments } from '../../tasks/toy/concrete-exact.js';
import { gridPoint } from '../../tasks/toy/grid.js';
import { zScores, SE_FLOOR, mean } from '../../tasks/toy/stats.js';
import { sigmoid, logit } from '../../tasks/toy/sigmoid.js';
import { Rng } from '../../tasks/toy/rng.js';

const test = suite('toy model');
const model = makeToyModel({ samples: 1000, seed: 5 });
const T = 0.1;
const alphaOf = (keep: [number, number]): [number, number] => [logit(keep[0]), logit(keep[1])];

test('weights: both hidden units active on a good share of the samples', () => {
  for (const a of model.active) assert.ok(a >= 0.25 && a <= 0.75, `active share ${a}`);
});

test('the enumerated gradient matches a central finite difference of the enumerated expectation', () => {
  for (const alpha of [[0, 0], [-2.2, 0.85], [1.7, -0.4], [3, 3]]) {
    const g = exactGradient(model, alpha), h = 1e-5;
    for (const k of [0, 1]) {
      const up = alpha.slice(), dn = alpha.slice();
      up[k] += h; dn[k] -= h;
      const fd = (expectedLoss(model, up) - expectedLoss(model, dn)) / (2 * h);
      assert.ok(Math.abs(fd - g[k]) <= 1e-7 * Math.max(1e-3, Math.abs(g[k])) + 1e-10, `α = ${alpha}, k = ${k}: fd ${fd} vs ${g[k]}`);
    }
    // the same gradient from the sample moments (the form the Concrete quadrature uses)
    const gm = bernoulliGradientFromMoments(model, alpha);
    assert.ok(Math.abs(gm[0] - g[0]) < 1e-12 && Math.abs(gm[1] - g[1]) < 1e-12, `moments form ${gm} vs ${g}`);
  }
});

test('the fused pass equals the generic ARM, DisARM and Concrete estimators on the per-sample losses', () => {
  const small = makeToyModel({ samples: 40, seed: 3 });
  const alpha = [logit(0.3), logit(0.8)], rng = new Rng(1), u = rng.fillUniform(new Float64Array(2 * small.n));
  const fused = toyEstimates(small, alpha, u, T, new Float64Array(6));
  const want = new Float64Array(6);
  for (let i = 0; i < small.n; i++) {
    const ui = [u[2 * i], u[2 * i + 1]], L = (z: number[]): number => sampleLoss(small, i, z[0], z[1]);
    const dL = (z: number[]): number[] => {
      const e = small.r[i] - z[0] * small.c1[i] - z[1] * small.c2[i];
      return [-2 * e * small.c1[i], -2 * e * small.c2[i]];
    };
    const parts = [armEstimate(L, alpha, ui), disarmEstimate(L, alpha, ui), concreteEstimate(dL, alpha, ui, T)];
    parts.forEach((p, q) => { want[2 * q] += p[0] / small.n; want[2 * q + 1] += p[1] / small.n; });
  }
  for (let q = 0; q < 6; q++) assert.ok(Math.abs(fused[q] - want[q]) < 1e-12 * Math.max(1, Math.abs(want[q])), `output ${q}: ${fused[q]} vs ${want[q]}`);
});

test('ARM and DisARM means match the exact gradient within 4 standard errors at two grid points', () => {
  for (const keep of [[0.3, 0.7], [0.9, 0.1]] as [number, number][]) {
    const { point } = gridPoint(model, keep, { estimates: 200, temperature: T, seed: 21 }, 1);
    for (const e of ['arm', 'disarm'] as const) {
      const z = zScores(point[e]);
      assert.ok(z.every((v) => Math.abs(v) < 4), `${e} at keep ${keep}: z = ${z.map((v) => v.toFixed(2))}, mean ${point[e].mean} vs exact ${point.exact}`);
    }
  }
});

test('Concrete is visibly biased at keep (0.9, 0.1): its exact mean misses the gradient, and 400 estimates show it', () => {
  const keep: [number, number] = [0.9, 0.1], alpha = alphaOf(keep);
  const exact = exactGradient(model, alpha), target = concreteExpectedGradient(model, alpha, T);
  const rel = Math.abs((target[0] - exact[0]) / exact[0]);
  assert.ok(rel > 0.2, `Concrete's exact mean ${target[0]} vs gradient ${exact[0]}: only ${(100 * rel).toFixed(1)}% off`);
  const { point } = gridPoint(model, keep, { estimates: 400, temperature: T, seed: 22 }, 2);
  const se = point.concrete.std.map((s) => Math.max(s / Math.sqrt(point.concrete.n), SE_FLOOR));
  const zExact = zScores(point.concrete)[0];
  assert.ok(Math.abs(zExact) > 6, `Concrete's Monte Carlo bias for α1 is only ${zExact.toFixed(2)} standard errors`);
  // and its Monte Carlo mean is what the quadrature says it converges to (for both logits)
  for (const k of [0, 1]) {
    const z = (point.concrete.mean[k] - target[k]) / se[k];
    assert.ok(Math.abs(z) < 4, `Concrete mean ${point.concrete.mean[k]} vs its quadrature ${target[k]}: z = ${z.toFixed(2)}`);
  }
  // sanity of the quadrature: as t → 0 the relaxed moments become Bernoulli ones
  const q = relaxedMoments(alpha[0], 1e-3), p = sigmoid(alpha[0]);
  assert.ok(Math.abs(q.m - p) < 1e-4 && Math.abs(q.g - p * (1 - p)) < 1e-3 && Math.abs(q.h - p * (1 - p) / 2) < 1e-3, JSON.stringify(q));
});

test('DisARM variance ≤ ARM variance at keep (½, ½), from the same draws', () => {
  const { point } = gridPoint(model, [0.5, 0.5], { estimates: 200, temperature: T, seed: 23 }, 3);
  for (const k of [0, 1]) assert.ok(point.disarm.std[k] <= point.arm.std[k], `logit ${k + 1}: DisARM std ${point.disarm.std[k]} > ARM std ${point.arm.std[k]}`);
  assert.ok(mean(point.disarm.mse) <= mean(point.arm.mse), 'DisARM MSE above ARM MSE at keep ½');
});

test.run();
