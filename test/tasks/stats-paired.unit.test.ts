// tasks/stats/paired.ts: Student-t quantiles against printed table values, the seed-level paired
// t-interval and p, the MDE formulas against hand-computed numbers, the bootstrap's determinism
// and coverage of a known difference, and the verdict rule on constructed intervals.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  tQuantile, tCdf, regularizedBeta, logGamma, seedStats, mdeSeeds, mdeBootstrap, bootstrapTables, bootstrapStats, pairedReplicates,
  resampleWeights, quantileSorted, verdict, detectableEffect, type ExampleTable,
} from '../../tasks/stats/paired.js';
import { mulberry32 } from '../../tasks/data/rng.js';

const test = suite('stats: paired statistics');

const close = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tolerance ${tol})`);

test('log Γ and I_x(a, b) at closed forms', () => {
  close(logGamma(1), 0, 1e-14, 'lnΓ(1)');
  close(logGamma(5), Math.log(24), 1e-13, 'lnΓ(5) = ln 4!');
  close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-13, 'lnΓ(½) = ln √π');
  close(logGamma(0.1), Math.log(9.513507698668732), 1e-12, 'lnΓ(0.1)');
  // I_x(1, 1) = x; I_x(a, 1) = x^a; I_x(1, b) = 1 − (1 − x)^b
  close(regularizedBeta(0.3, 1, 1), 0.3, 1e-14, 'I_0.3(1,1)');
  close(regularizedBeta(0.7, 3, 1), 0.7 ** 3, 1e-14, 'I_0.7(3,1)');
  close(regularizedBeta(0.2, 1, 4), 1 - 0.8 ** 4, 1e-14, 'I_0.2(1,4)');
  close(regularizedBeta(0.4, 2.5, 3.5) + regularizedBeta(0.6, 3.5, 2.5), 1, 1e-14, 'symmetry');
});

test('t quantiles equal the printed table values', () => {
  // two-sided 95 % and one-sided 80 % critical values as every t table prints them (6 decimals)
  const table: [number, number, number][] = [
    [0.975, 1, 12.706205], [0.975, 2, 4.302653], [0.975, 4, 2.776445], [0.975, 9, 2.262157], [0.975, 30, 2.042272],
    [0.8, 4, 0.940965], [0.8, 2, 1.060660], [0.95, 10, 1.812461], [0.9, 3, 1.637744], [0.995, 30, 2.749996],
  ];
  for (const [p, df, v] of table) {
    close(tQuantile(p, df), v, 5e-7, `t_{${p},${df}}`);
    close(tQuantile(1 - p, df), -v, 5e-7, `t_{${1 - p},${df}}`);
  }
  assert.is(tQuantile(0.5, 7), 0);
  // ν → ∞: the normal quantile
  close(tQuantile(0.975, 1e7), 1.959964, 1e-6, 't_{0.975,∞}');
});

test('t CDF: closed forms for 1 and 2 degrees of freedom, and the inverse of the quantile', () => {
  for (const t of [-3, -0.5, 0, 0.7, 2, 10]) {
    close(tCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-14, `Cauchy at ${t}`);
    close(tCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-14, `df 2 at ${t}`);
  }
  for (const df of [1, 3, 4.5, 20]) for (const p of [0.01, 0.2, 0.8, 0.975]) close(tCdf(tQuantile(p, df), df), p, 1e-13, `CDF(quantile(${p}, ${df}))`);
});

test('seed-level paired differences: mean, t-interval, p', () => {
  const s = seedStats([1, 2, 3]);
  assert.is(s.n, 3); assert.is(s.mean, 2); assert.is(s.sd, 1);
  close(s.ci![0], 2 - 4.302653 / Math.sqrt(3), 1e-6, 'lower');
  close(s.ci![1], 2 + 4.302653 / Math.sqrt(3), 1e-6, 'upper');
  // df 2: two-sided p = 1 − t/√(2 + t²) with t = 2/(1/√3)
  const t = 2 * Math.sqrt(3);
  close(s.p!, 1 - t / Math.sqrt(2 + t * t), 1e-13, 'p');
  const one = seedStats([0.4]);
  assert.is(one.mean, 0.4); assert.is(one.ci, null); assert.is(one.mde, null);
  assert.is(seedStats([0, 0, 0]).p, 1, 'no difference at all');
  assert.is(seedStats([0.1, 0.1]).p, 0, 'the same non-zero difference every seed');
});

test('MDE: (t_.975,n−1 + t_.8,n−1)·sd/√n over seeds, 2.80·SE for the bootstrap', () => {
  // by hand from the table: (2.776445 + 0.940965) · 0.01 / √5 = 0.0166248
  close(mdeSeeds(0.01, 5)!, 0.0166248, 5e-7, '5 seeds');
  // (4.302653 + 1.060660) / √3
  close(mdeSeeds(1, 3)!, 3.096510, 5e-6, '3 seeds');
  assert.is(mdeSeeds(1, 1), null);
  // (1.959964 + 0.841621) · 0.01
  close(mdeBootstrap(0.01)!, 0.02801585, 1e-8, 'bootstrap');
  assert.is(detectableEffect(0.02, 0.03), 0.03);
  assert.is(detectableEffect(0.02, null), null, 'a verdict needs both tests');
});

/** Per-user values as an ExampleTable (the mean is the metric). */
function meanTable(v: Float64Array): ExampleTable {
  return {
    n: v.length, metrics: ['mean'],
    evaluate(w) { let s = 0, sw = 0; for (let i = 0; i < v.length; i++) { s += w[i] * v[i]; sw += w[i]; } return Float64Array.of(s / sw); },
  };
}

function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

test('resamples: n draws with replacement, deterministic in the seed', () => {
  const w = resampleWeights(50, mulberry32(3));
  assert.is(w.reduce((a, b) => a + b, 0), 50);
  assert.equal(Array.from(resampleWeights(50, mulberry32(3))), Array.from(w));
  assert.not.equal(Array.from(resampleWeights(50, mulberry32(4))), Array.from(w));
  const tables = [meanTable(Float64Array.from({ length: 30 }, (_, i) => i)), meanTable(Float64Array.from({ length: 30 }, (_, i) => i * i))];
  const r1 = bootstrapTables(tables, { B: 100, seed: 9 }), r2 = bootstrapTables(tables, { B: 100, seed: 9 }), r3 = bootstrapTables(tables, { B: 100, seed: 10 });
  assert.equal(Array.from(r1[1][0]), Array.from(r2[1][0]), 'same seed, same replicates');
  assert.not.equal(Array.from(r1[1][0]), Array.from(r3[1][0]));
  assert.throws(() => bootstrapTables([meanTable(new Float64Array(3)), meanTable(new Float64Array(4))]), /cannot be paired/);
});

test('quantiles of sorted values interpolate between order statistics', () => {
  const v = [1, 2, 3, 4, 5];
  assert.is(quantileSorted(v, 0), 1); assert.is(quantileSorted(v, 1), 5); assert.is(quantileSorted(v, 0.5), 3);
  close(quantileSorted(v, 0.1), 1.4, 1e-15, 'type 7');
});

/** A paired data set of `seeds` runs per method over n users: A = B + delta + noise, B = a user effect + noise. */
function pairedSet(seed: number, n: number, seeds: number, delta: number): { a: ExampleTable[]; b: ExampleTable[] } {
  const rng = mulberry32(seed);
  const user = Float64Array.from({ length: n }, () => gaussian(rng));
  const mk = (d: number): ExampleTable => meanTable(Float64Array.from(user, (u) => u + d + 0.5 * gaussian(rng)));
  return { a: Array.from({ length: seeds }, () => mk(delta)), b: Array.from({ length: seeds }, () => mk(0)) };
}

test('paired bootstrap: its 95 % interval covers a known difference (≥ 90 % of 60 data sets) and excludes 0 for a large one', () => {
  let covered = 0, widthRatio = 0;
  const delta = 0.1, sets = 60;
  for (let k = 0; k < sets; k++) {
    const { a, b } = pairedSet(100 + k, 200, 3, delta);
    const reps = bootstrapTables([...a, ...b], { B: 400, seed: k + 1 });
    const d = pairedReplicates(reps.slice(0, 3).map((r) => r[0]), reps.slice(3).map((r) => r[0]));
    const st = bootstrapStats(d, 0, { rngSeed: k + 1, examples: 200 });
    // the true difference of the population the users were drawn from is delta (noise has mean 0)
    if (st.ci[0] <= delta && delta <= st.ci[1]) covered++;
    widthRatio += (st.ci[1] - st.ci[0]) / (2 * 1.96 * st.se) / sets;
  }
  assert.ok(covered >= 0.9 * sets, `covered ${covered} of ${sets}`);
  close(widthRatio, 1, 0.05, 'percentile intervals ≈ ±1.96 SE on average (near-normal differences)');
  const big = pairedSet(7, 200, 3, 1);
  const reps = bootstrapTables([...big.a, ...big.b], { B: 400 });
  const st = bootstrapStats(pairedReplicates(reps.slice(0, 3).map((r) => r[0]), reps.slice(3).map((r) => r[0])), 1, { rngSeed: 1, examples: 200 });
  assert.ok(st.ci[0] > 0.5, `interval ${st.ci}`);
  close(st.p, 2 / 401, 1e-15, 'no resample on the far side: p = 2/(B + 1)');
});

test('bootstrap p is 1 when the two methods are the same', () => {
  const { a } = pairedSet(3, 50, 2, 0);
  const reps = bootstrapTables([...a, ...a], { B: 200 });
  const st = bootstrapStats(pairedReplicates(reps.slice(0, 2).map((r) => r[0]), reps.slice(2).map((r) => r[0])), 0, { rngSeed: 1, examples: 50 });
  assert.is(st.p, 1); assert.equal(st.ci, [0, 0]); assert.is(st.se, 0);
});

test('verdicts: both intervals on the paper\'s side, both on the other, or undecided', () => {
  assert.is(verdict([0.1, 0.2], [0.05, 0.3], 'higher'), 'supported');
  assert.is(verdict([-0.2, -0.1], [-0.3, -0.05], 'higher'), 'contradicted');
  assert.is(verdict([-0.2, -0.1], [-0.3, -0.05], 'lower'), 'supported', 'lower is better: A − B below 0');
  assert.is(verdict([0.1, 0.2], [0.05, 0.3], 'lower'), 'contradicted');
  assert.is(verdict([-0.1, 0.2], [0.05, 0.3], 'higher'), 'undecided', 'the seed interval straddles 0');
  assert.is(verdict([0.1, 0.2], [-0.01, 0.3], 'higher'), 'undecided', 'the bootstrap interval straddles 0');
  assert.is(verdict([0, 0.2], [0.05, 0.3], 'higher'), 'undecided', 'touching 0 does not exclude it');
  assert.is(verdict([0.1, 0.2], [-0.3, -0.05], 'higher'), 'undecided', 'the tests disagree');
  assert.is(verdict(null, [0.05, 0.3], 'higher'), 'undecided', 'one seed: no t-interval');
  assert.is(verdict([0.1, 0.2], null, 'higher'), 'undecided', 'no per-example data');
});

test.run();
