// tasks/stats/claims.ts and the reports' claims: constructed runs whose difference is known give
// the expected verdicts, runs without per-example outputs give seed statistics only, the claims
// render as Markdown (one line per claim) and in report.html, and a report without claims (made
// before runs kept per-example outputs) still renders, saying so.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildClaims, claimsMarkdown, claimsMatrixMarkdown, fmtDiff, verdictCounts, holmVerdicts, familySummary, NO_CLAIMS, type Claim, type ClaimRun } from '../../tasks/stats/claims.js';
import { recommendTable, classifyTable, allOnes } from '../../tasks/stats/tables.js';
import { packF32, packU8 } from '../../tasks/stats/per-example.js';
import { mulberry32 } from '../../tasks/data/rng.js';
import { recommendClaims, recommendReportClaims, recommendClaimsMarkdown, writeRecommendReport, type RecommendRun, type RecommendReport } from '../../tasks/recommend/report.js';
import { classifyClaims, classifyClaimsMarkdown, writeClassifyReport, type ClassifyReport, type ReportResult } from '../../tasks/classify/report.js';
import { segmentClaims, writeSegmentReport, type SegmentReport } from '../../tasks/segment/report.js';

const test = suite('stats: claims');

/** A recommend-like run: per-user NDCG = user effect + shift + noise (recall columns the same). */
function userRun(method: string, seed: number, user: Float64Array, shift: number, rng: () => number, withTable = true): ClaimRun {
  const v = Float32Array.from(user, (u) => u + shift + 0.05 * (rng() - 0.5));
  const t = recommendTable({ ndcg100: packF32(v), recall20: packF32(v), recall50: packF32(v) });
  const m = t.evaluate(allOnes(t.n));
  return { method, seed, commit: `c${seed}`, reported: { ndcg100: m[0], recall20: m[1], recall50: m[2] }, table: withTable ? t : null };
}

function runsWith(shift: number, withTables = true): ClaimRun[] {
  const rng = mulberry32(5), user = Float64Array.from({ length: 120 }, () => rng());
  return [1, 2, 3, 4, 5].flatMap((s) => [userRun('lbd', s, user, shift, rng, withTables), userRun('base', s, user, 0, rng, withTables), userRun('other', s, user, 0, rng, withTables)]);
}

const metrics = [{ name: 'ndcg100', better: 'higher' as const }, { name: 'recall20', better: 'lower' as const }];

test('a clear difference: supported where higher is better, contradicted where lower is', () => {
  const s = buildClaims(runsWith(0.05), 'lbd', ['base', 'other'], metrics, { B: 300 });
  assert.is(s.claims.length, 4, '2 baselines × 2 metrics');
  assert.is(s.note, undefined);
  const c = s.claims[0];
  assert.is(c.a, 'lbd'); assert.is(c.b, 'base'); assert.is(c.metric, 'ndcg100');
  assert.equal(c.perSeed.map((p) => p.seed), [1, 2, 3, 4, 5]);
  for (const p of c.perSeed) assert.ok(Math.abs(p.diff - 0.05) < 0.01, `seed ${p.seed}: ${p.diff}`);
  assert.is(c.verdict, 'supported');
  assert.ok(c.bootstrap!.ci[0] > 0.04 && c.bootstrap!.ci[1] < 0.06, `bootstrap ${c.bootstrap!.ci}`);
  assert.ok(c.bootstrap!.p < 0.01);
  assert.ok(c.recomputeError! < 1e-12, 'the tables reproduce the reported values');
  assert.equal(c.commits, ['c1', 'c2', 'c3', 'c4', 'c5']);
  assert.ok(c.mde! >= c.seeds.mde! && c.mde! >= c.bootstrap!.mde!);
  assert.is(s.claims[1].metric, 'recall20');
  assert.is(s.claims[1].verdict, 'contradicted', 'the same gap where lower is better');
  assert.is(verdictCounts(s.claims), '2 supported, 2 contradicted, 0 undecided');
});

test('no difference: undecided, with the detectable effect stated', () => {
  const s = buildClaims(runsWith(0), 'lbd', ['base'], metrics, { B: 300 });
  for (const c of s.claims) { assert.is(c.verdict, 'undecided'); assert.ok(c.mde! > 0); }
});

test('the bootstrap is deterministic in its seed, and the same for every comparison of one report', () => {
  const a = buildClaims(runsWith(0.01), 'lbd', ['base'], metrics, { B: 200, seed: 3 });
  const b = buildClaims(runsWith(0.01), 'lbd', ['base', 'other'], metrics, { B: 200, seed: 3 });
  assert.equal(a.claims[0].bootstrap, b.claims[0].bootstrap);
  assert.not.equal(a.claims[0].bootstrap, buildClaims(runsWith(0.01), 'lbd', ['base'], metrics, { B: 200, seed: 4 }).claims[0].bootstrap);
});

test('runs without per-example outputs: seed statistics, no bootstrap, undecided, and a note', () => {
  const s = buildClaims(runsWith(0.05, false), 'lbd', ['base'], metrics, { B: 100 });
  assert.match(s.note!, /no per-example data/);
  for (const c of s.claims) {
    assert.is(c.bootstrap, null); assert.is(c.verdict, 'undecided'); assert.is(c.mde, null);
    assert.ok(c.seeds.ci![0] > 0, 'the seeds alone show the difference');
  }
  assert.match(claimsMarkdown(s.claims.length ? { claims: s.claims, claimsNote: s.note } : {}), /no per-example data/);
});

test('seeds are paired: a seed one method lacks is left out', () => {
  const runs = runsWith(0.05).filter((r) => !(r.method === 'base' && r.seed === 2));
  const c = buildClaims(runs, 'lbd', ['base'], metrics, { B: 100 }).claims[0];
  assert.equal(c.perSeed.map((p) => p.seed), [1, 3, 4, 5]);
  assert.is(c.seeds.n, 4);
});

test('Markdown: one line per claim with its verdict', () => {
  const s = buildClaims(runsWith(0.05), 'lbd', ['base'], metrics, { B: 100 });
  const md = claimsMarkdown({ claims: s.claims }, (m) => m.toUpperCase());
  const lines = md.split('\n');
  assert.is(lines.length, 2 + s.claims.length);
  assert.match(lines[2], /^\| LBD vs BASE \| NDCG@100 \(higher is better; pp\) \| \+[45]\.\d\d \+.*\| supported \|$/);
  assert.match(lines[3], /\| contradicted \|$/);
  assert.is(claimsMarkdown({}), NO_CLAIMS);
});

test('Markdown matrix: one row per baseline, one cell per metric with the mean, the bootstrap interval and the verdict', () => {
  const s = buildClaims(runsWith(0.05), 'lbd', ['base'], metrics, { B: 100 });
  const md = claimsMatrixMarkdown({ claims: s.claims }, (m) => m.toUpperCase());
  const lines = md.split('\n');
  assert.is(lines.length, 3, 'header, rule, one baseline');
  assert.match(lines[0], /^\| LBD − B \| NDCG@100 \(higher is better; pp\) \| /);
  const c0 = s.claims[0]!;
  assert.ok(lines[2]!.includes(`B = BASE | ${fmtDiff(c0.metric, c0.seeds.mean)} [${fmtDiff(c0.metric, c0.bootstrap!.ci[0])}, ${fmtDiff(c0.metric, c0.bootstrap!.ci[1])}] ${c0.verdict}`), lines[2]);
  assert.is(lines[2]!.split('|').length - 2, 1 + metrics.length, 'a cell per metric');
  assert.is(claimsMatrixMarkdown({}), NO_CLAIMS);
});

test('Markdown matrix with the data sets in the columns: one row per baseline, a cell per data set and metric', () => {
  const one = (ds: string, d: number) => buildClaims(runsWith(d), 'lbd', ['base'], metrics, { B: 100, dataset: ds }).claims;
  const claims = [...one('set-a', 0.05), ...one('set-b', -0.05)];
  const byRow = claimsMatrixMarkdown({ claims }).split('\n');
  assert.is(byRow.length, 4, 'a row per data set and baseline');
  const md = claimsMatrixMarkdown({ claims }, (m) => m.toUpperCase(), { datasetColumns: true }).split('\n');
  assert.is(md.length, 3, 'header, rule, one baseline');
  assert.match(md[0]!, /^\| LBD − B \| set-a: NDCG@100 \(higher is better; pp\) \| .*\| set-b: NDCG@100 /);
  assert.is(md[2]!.split('|').length - 2, 1 + 2 * metrics.length, 'a cell per data set and metric');
  // the cells are those of the one-row-per-set form, in the same order
  const cells = (line: string): string[] => line.split(' | ').slice(1);
  assert.equal(cells(md[2]!.replace(/ \|$/, '')), [...cells(byRow[2]!.replace(/ \|$/, '')), ...cells(byRow[3]!.replace(/ \|$/, ''))]);
  assert.ok(md[2]!.includes('supported') && md[2]!.includes('contradicted'), md[2]);
});

/** A recommend run result with per-user outputs. */
function recRun(model: string, seed: number, v: Float32Array): RecommendRun {
  const m = v.reduce((a, b) => a + b, 0) / v.length, st = { mean: m, se: 0.01 };
  return {
    model, seed, bestEpoch: 1, bestBeta: 0.2, valNdcg: [m], beta: [0.2], losses: [1], test: { recall20: st, recall50: st, ndcg100: st, users: v.length },
    usersPerSecond: 1, seconds: 1, perUser: { recall20: packF32(v), recall50: packF32(v), ndcg100: packF32(v) },
  };
}

/** A claim with only what the family correction reads: the two p values and the verdict. */
const pClaim = (pSeeds: number | null, pBoot: number | null, verdict: Claim['verdict']): Claim => ({
  a: 'lbd', b: 'base', metric: 'ndcg100', better: 'higher', perSeed: [], commits: ['c'], mde: null, verdict,
  seeds: { n: 3, mean: 0, sd: 0, ci: null, p: pSeeds, mde: null },
  bootstrap: pBoot === null ? null : { B: 1000, rngSeed: 1, examples: 10, estimate: 0, mean: 0, se: 0, ci: [0, 0], p: pBoot, mde: 0 },
});

test('Holm over the family: each claim at the larger of its two p values, thresholds 0.05/m, 0.05/(m−1), … until the first that fails', () => {
  // larger p: 0.004, 0.02, 0.012, 0.3 → sorted 0.004 ≤ 0.0125, 0.012 ≤ 0.0167, 0.02 ≤ 0.025, 0.3 > 0.05
  const four = [pClaim(0.004, 0.001, 'supported'), pClaim(0.01, 0.02, 'supported'), pClaim(0.012, 0.011, 'contradicted'), pClaim(0.3, 0.001, 'undecided')];
  assert.equal(holmVerdicts(four), ['supported', 'supported', 'contradicted', 'undecided']);
  // the second claim's larger p 0.03 > 0.025 stops the walk there
  four[1] = pClaim(0.03, 0.01, 'supported');
  assert.equal(holmVerdicts(four), ['supported', 'undecided', 'contradicted', 'undecided']);
  // step-down: 0.045 would pass 0.05 on its own, but 0.04 > 0.05/2 came first
  assert.equal(holmVerdicts([pClaim(0.01, 0.01, 'supported'), pClaim(0.04, 0.001, 'supported'), pClaim(0.001, 0.045, 'supported')]), ['supported', 'undecided', 'undecided']);
  // a claim without a bootstrap cannot pass, yet counts in m: 0.02 > 0.05/3
  assert.equal(holmVerdicts([pClaim(0.02, 0.02, 'supported'), pClaim(0.001, null, 'undecided'), pClaim(0.5, 0.5, 'undecided')]), ['undecided', 'undecided', 'undecided']);
  // an undecided verdict stays undecided even when its p passes (the intervals decide the direction)
  assert.equal(holmVerdicts([pClaim(0.001, 0.001, 'undecided')]), ['undecided']);
  assert.equal(holmVerdicts([pClaim(0.03, 0.04, 'supported')], 0.01), ['undecided'], 'a stricter alpha');
});

test('the family line: counts, what chance alone would call, and the counts after Holm', () => {
  const claims = [pClaim(0.004, 0.001, 'supported'), pClaim(0.03, 0.01, 'supported'), pClaim(0.012, 0.011, 'contradicted'), pClaim(0.3, 0.001, 'undecided')];
  const line = familySummary(claims);
  assert.match(line, /^4 claims: 2 supported, 1 contradicted, 1 undecided;/);
  assert.match(line, /at most about 0\.1 supported/);   // 4 × 2.5 %
  assert.match(line, /After Holm's correction over all 4 \(family-wise error ≤ 5 %[^)]*\): 1 supported, 1 contradicted, 2 undecided\.$/);
});

test('recommend: claims per data set (SIVAE+LBD against every other row present), rendered in report.html', async () => {
  const rng = mulberry32(8), user = Float32Array.from({ length: 60 }, () => rng());
  const runs = [1, 2, 3].flatMap((s) => [
    { result: recRun('sivae+lbd', s, user.map((u) => u + 0.1 + 0.01 * rng())), commit: 'abc' },
    { result: recRun('vae', s, user.map((u) => u + 0.01 * rng())), commit: 'abc' },
    { result: recRun('dae', s, user.map((u) => u + 0.01 * rng())), commit: 'def' },
  ]);
  const claims = recommendReportClaims([recommendClaims('ml-100k', runs, { B: 200 }), recommendClaims('other', runs.filter((r) => r.result.model !== 'sivae+lbd'))]);
  assert.is(claims.claims!.length, 6, 'vae, dae × 3 metrics on the one set with SIVAE+LBD');
  assert.equal(claims.claims!.map((c) => c.b), ['vae', 'vae', 'vae', 'dae', 'dae', 'dae'], 'rows in Table 2 order');
  assert.ok(claims.claims!.every((c) => c.dataset === 'ml-100k' && c.verdict === 'supported'));
  assert.equal(claims.claims![3].commits, ['abc', 'def']);
  const report: RecommendReport = {
    task: 'recommend', options: {}, adapter: 'test', commit: 'abc', date: 'today', ...claims,
    datasets: [{ name: 'ml-100k', format: 'ml-100k', path: 'ml-100k', summary: { users: 60 }, table: [], runs: runs.map((r) => r.result) }],
  };
  assert.match(recommendClaimsMarkdown(report), /\| ml-100k: SIVAE\+LBD vs VAE \| NDCG@100/);
  const dir = mkdtempSync(join(tmpdir(), 'lbd-claims-'));
  try {
    await writeRecommendReport(dir, report);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.match(html, /Claims: paired comparisons/);
    assert.match(html, /<h3>ml-100k<\/h3><p>6 supported, 0 contradicted, 0 undecided/);
    assert.match(html, /200 resamples of the 60 test examples/);
    // two data sets of different sizes: the page names each one's count
    const user2 = Float32Array.from({ length: 40 }, () => rng());
    const runs2 = [1, 2, 3].flatMap((s) => [{ result: recRun('sivae+lbd', s, user2.map((u) => u + 0.1 + 0.01 * rng())), commit: 'abc' }, { result: recRun('vae', s, user2.map((u) => u + 0.01 * rng())), commit: 'abc' }]);
    await writeRecommendReport(dir, { ...report, ...recommendReportClaims([recommendClaims('ml-100k', runs, { B: 200 }), recommendClaims('tiny', runs2, { B: 200 })]) });
    assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /200 resamples of the 60 \(ml-100k\), 40 \(tiny\) test examples/);
    await writeRecommendReport(dir, { ...report, claims: undefined });
    assert.ok(readFileSync(join(dir, 'report.html'), 'utf8').includes(NO_CLAIMS), 'an old report renders, saying it has no claims');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A classify result with per-image outputs: n images, `right` of them correct. */
function classResult(method: string, seed: number, y: Uint8Array, right: number, rng: () => number): ReportResult {
  const n = y.length, pred = Uint8Array.from(y, (c, i) => (i < right ? c : (c + 1) % 10));
  const conf = Float32Array.from({ length: n }, () => 0.5 + 0.5 * rng()), pTrue = Float32Array.from(conf, (c, i) => (i < right ? c : c / 4));
  const entropy = Float32Array.from({ length: n }, () => rng() * 2), t = Array.from({ length: 21 }, (_, i) => i / 20);
  const perImage = { pred: packU8(pred), pTrue: packF32(pTrue), confidence: packF32(conf), entropy: packF32(entropy), entropyRange: [0.1, 1.9] as [number, number] };
  const m = classifyTable(perImage, t, y).evaluate(allOnes(n));
  return {
    method, seed, accuracy: m[0], nll: m[2], ece: m[3], meanEntropy: 1, pavpu: { t, value: t.map(() => m[1]), mean: m[1] },
    keep: [[0.5]], losses: [1], imagesPerSecond: 1, perImage,
  };
}

test('classify: LBD against the baselines present, four metrics each; the page shows the claims, an old report says it has none', async () => {
  const rng = mulberry32(2), y = Uint8Array.from({ length: 500 }, () => Math.floor(rng() * 10));
  const runs = [1, 2, 3].flatMap((s) => [
    { result: classResult('lbd', s, y, 400 + s, rng), commit: 'abc' },
    { result: classResult('mc', s, y, 300 + 2 * s, rng), commit: 'abc' },
  ]);
  const s = classifyClaims(runs, y, { B: 200 })!;
  assert.equal(s.claims.map((c) => `${c.b} ${c.metric}`), ['mc accuracy', 'mc meanPAvPU', 'mc nll', 'mc ece']);
  assert.is(s.claims[0].verdict, 'supported');
  assert.ok(s.claims.every((c) => c.recomputeError! < 1e-12));
  assert.is(classifyClaims(runs.filter((r) => r.result.method === 'mc'), y), null, 'no LBD run: no claims');
  const base = JSON.parse(readFileSync(new URL('../../../docs/results/classify/report.json', import.meta.url), 'utf8')) as ClassifyReport;
  const dir = mkdtempSync(join(tmpdir(), 'lbd-claims-'));
  try {
    await writeClassifyReport(dir, base);
    assert.ok(readFileSync(join(dir, 'report.html'), 'utf8').includes(NO_CLAIMS), 'the committed pre-claims report still renders');
    assert.is(classifyClaimsMarkdown(base), NO_CLAIMS);
    const withClaims = { ...base, claims: s.claims };
    await writeClassifyReport(dir, withClaims);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.match(html, /<td>LBD vs MC dropout<\/td><td>accuracy \(higher is better; pp\)<\/td>/);
    assert.is(classifyClaimsMarkdown(withClaims).split('\n').length, 2 + 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('segment: an old report (no claims) renders; a run set without LBD has none', async () => {
  const base = JSON.parse(readFileSync(new URL('../../../docs/results/segment/report.json', import.meta.url), 'utf8')) as SegmentReport;
  assert.is(segmentClaims(base.runs.filter((r) => r.method !== 'lbd').map((r) => ({ result: r, commit: base.commit }))), null);
  const old = segmentClaims(base.runs.map((r) => ({ result: r, commit: base.commit })), { B: 50 })!;
  assert.match(old.note!, /no per-example data/, 'the committed runs have no per-image tables');
  assert.is(old.claims.length, 12, '4 baselines × 3 metrics');
  const dir = mkdtempSync(join(tmpdir(), 'lbd-claims-'));
  try {
    await writeSegmentReport(dir, base);
    assert.ok(readFileSync(join(dir, 'report.html'), 'utf8').includes(NO_CLAIMS));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
