// The recommendation report: Table 2 per data set (mean ± std over seeds, with the mean standard
// error over test users), the paper's ML-20M numbers beside; figures of validation NDCG@100 per
// epoch for every model, the β schedule, and LBD's learnt per-item keep probability against the
// item's popularity. Rendered from report.json (`recommend.js --render DIR/report.json`).
// The claims (per data set, SIVAE+LBD against each other row, paired over seeds and test users:
// tasks/stats/claims.ts) are computed when the report is built from the run files; report.json
// keeps only the claims.
import { join } from 'node:path';
import { writeTextAtomic } from '../common/files.js';
import { top, esc, writeFigures, type Spec } from '../report/vega.js';
import type { RecommendPerUser } from '../stats/per-example.js';
import { buildClaims, claimsHtml, claimsMarkdown, type ClaimMetric, type ClaimRun, type ClaimsSection, type ReportClaims } from '../stats/claims.js';
import { recommendTable } from '../stats/tables.js';
import type { BootstrapOptions } from '../stats/paired.js';

export interface MetricStat { mean: number; se: number }
export interface RecommendRun {
  model: string; seed: number; bestEpoch: number; bestBeta: number;
  valNdcg: number[]; beta: number[]; losses: number[];
  test: { recall20: MetricStat; recall50: MetricStat; ndcg100: MetricStat; users: number };
  usersPerSecond: number; seconds: number;
  /** LBD only: the learnt keep probability of each item and its number of training users. */
  keepVsPopularity?: { keep: number[]; popularity: number[] };
  /** Per test user, for paired comparisons between rows (tasks/stats/paired.ts). */
  perUser?: RecommendPerUser;
}
export interface TableRow { model: string; recall20: SeedStat; recall50: SeedStat; ndcg100: SeedStat }
/** Mean and std over seeds of a metric, and the mean over seeds of its per-run standard error over test users. */
export interface SeedStat { mean: number; std: number; se: number }
export interface DatasetReport { name: string; format: string; path: string; fingerprint?: string; summary: Record<string, number>; table: TableRow[]; runs: RecommendRun[] }
export interface RecommendReport extends ReportClaims { task: 'recommend'; options: Record<string, unknown>; adapter: string; commit: string; date: string; datasets: DatasetReport[] }

export const MODEL_LABEL: Record<string, string> = {
  'sivae+lbd': 'SIVAE+LBD', 'sivae+gdrop': 'SIVAE+GDrop', 'sivae+cdrop': 'SIVAE+CDrop',
  'vampprior+drop': 'VAE-VampPrior+Drop', vampprior: 'VAE-VampPrior', 'iaf+drop': 'VAE-IAF+Drop', iaf: 'VAE-IAF',
  'vae+drop': 'VAE+Drop', vae: 'VAE', dae: 'DAE',
};

/** The paper's Table 2, ML-20M column (%; standard errors ≈ 0.2 %). */
export const PAPER_TABLE2_ML20M: Record<string, [number, number, number]> = {
  'sivae+lbd': [39.95, 53.95, 43.01], 'sivae+gdrop': [35.77, 49.45, 38.69], 'sivae+cdrop': [37.19, 51.30, 39.90],
  'vampprior+drop': [39.65, 53.63, 42.56], vampprior: [35.84, 50.27, 38.57], 'iaf+drop': [39.29, 53.52, 42.37],
  iaf: [35.94, 50.28, 38.85], 'vae+drop': [39.47, 53.53, 42.63], vae: [35.67, 49.89, 38.53], dae: [38.58, 52.28, 41.92],
};

const label = (m: string): string => MODEL_LABEL[m] ?? m;

/** Mean ± std over seeds (in %), with the mean per-run standard error over users. */
export const fmtStat = (s: SeedStat): string => `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)} (SE ${(100 * s.se).toFixed(2)})`;

/** One data set's Table 2 as Markdown. */
export function table2Markdown(d: DatasetReport): string {
  const lines = ['| model | Recall@20 (%) | Recall@50 (%) | NDCG@100 (%) | paper ML-20M: R@20 / R@50 / NDCG@100 |', '| --- | --- | --- | --- | --- |'];
  for (const r of d.table) {
    const p = PAPER_TABLE2_ML20M[r.model];
    lines.push(`| ${label(r.model)} | ${fmtStat(r.recall20)} | ${fmtStat(r.recall50)} | ${fmtStat(r.ndcg100)} | ${p ? p.map((v) => v.toFixed(2)).join(' / ') : '—'} |`);
  }
  return lines.join('\n');
}

function ndcgSpec(r: RecommendReport): Spec {
  const rows: { dataset: string; model: string; epoch: number; ndcg: number }[] = [];
  for (const d of r.datasets) {
    for (const m of new Set(d.runs.map((x) => x.model))) {
      const runs = d.runs.filter((x) => x.model === m);
      const E = Math.min(...runs.map((x) => x.valNdcg.length));
      for (let e = 0; e < E; e++) rows.push({ dataset: d.name, model: label(m), epoch: e + 1, ndcg: 100 * runs.reduce((a, x) => a + x.valNdcg[e], 0) / runs.length });
    }
  }
  return top({
    title: 'Validation NDCG@100 after each epoch (mean over seeds)', data: { values: rows },
    facet: { column: { field: 'dataset', type: 'nominal', title: null } }, resolve: { scale: { y: 'independent' } },
    spec: {
      width: 360, height: 240, mark: { type: 'line', opacity: 0.9 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative' },
        y: { field: 'ndcg', type: 'quantitative', title: 'NDCG@100 (%)', scale: { zero: false } },
        color: { field: 'model', type: 'nominal', title: 'model' },
      },
    },
  });
}

function betaSpec(r: RecommendReport): Spec {
  const rows: { dataset: string; epoch: number; beta: number }[] = [];
  for (const d of r.datasets) {
    const run = d.runs.find((x) => x.beta.length);
    run?.beta.forEach((b, e) => rows.push({ dataset: d.name, epoch: e + 1, beta: b }));
  }
  return top({
    title: 'KL weight β at the end of each epoch (linear annealing, capped)', width: 360, height: 200,
    data: { values: rows }, mark: 'line',
    encoding: { x: { field: 'epoch', type: 'quantitative' }, y: { field: 'beta', type: 'quantitative', title: 'β' }, color: { field: 'dataset', type: 'nominal' } },
  });
}

function keepSpec(r: RecommendReport): Spec | null {
  const rows: { dataset: string; popularity: number; keep: number }[] = [];
  for (const d of r.datasets) {
    const run = d.runs.find((x) => x.keepVsPopularity);
    if (!run) continue;
    const { keep, popularity } = run.keepVsPopularity!;
    keep.forEach((k, i) => rows.push({ dataset: d.name, popularity: popularity[i], keep: k }));
  }
  if (!rows.length) return null;
  return top({
    title: 'SIVAE+LBD: learnt keep probability of each item against its popularity (first seed)', data: { values: rows },
    facet: { column: { field: 'dataset', type: 'nominal', title: null } },
    spec: {
      width: 360, height: 240, mark: { type: 'point', size: 8, opacity: 0.35, filled: true },
      encoding: {
        x: { field: 'popularity', type: 'quantitative', scale: { type: 'log' }, title: 'training users who liked the item (log)' },
        y: { field: 'keep', type: 'quantitative', title: 'keep probability σ(α)', scale: { zero: false } },
      },
    },
  });
}

/** The paper's Table 2 claim: SIVAE+LBD beats every other row in each of these. */
export const RECOMMEND_CLAIM_METRICS: ClaimMetric[] = [
  { name: 'ndcg100', better: 'higher' }, { name: 'recall20', better: 'higher' }, { name: 'recall50', better: 'higher' },
];

/** One data set's claims: SIVAE+LBD against each other row present. Null without SIVAE+LBD or another row. */
export function recommendClaims(dataset: string, runs: { result: RecommendRun; commit: string }[], o: BootstrapOptions = {}): ClaimsSection | null {
  const rows = [...new Set(runs.map((r) => r.result.model))];
  const bs = Object.keys(MODEL_LABEL).filter((m) => m !== 'sivae+lbd' && rows.includes(m));
  if (!rows.includes('sivae+lbd') || !bs.length) return null;
  const claimRuns: ClaimRun[] = runs.map(({ result: x, commit }) => ({
    method: x.model, seed: x.seed, commit,
    reported: { ndcg100: x.test.ndcg100.mean, recall20: x.test.recall20.mean, recall50: x.test.recall50.mean },
    table: x.perUser ? recommendTable(x.perUser) : null,
  }));
  return buildClaims(claimRuns, 'sivae+lbd', bs, RECOMMEND_CLAIM_METRICS, { ...o, dataset });
}

/** The claims fields of a recommend report.json from each data set's claims (nothing when no set has any). */
export function recommendReportClaims(sections: (ClaimsSection | null)[]): ReportClaims {
  const have = sections.filter((s): s is ClaimsSection => s !== null);
  if (!have.length) return {};
  const notes = [...new Set(have.map((s) => s.note).filter((n): n is string => !!n))];
  return { claims: have.flatMap((s) => s.claims), ...(notes.length ? { claimsNote: notes.join('; ') } : {}) };
}

/** The claims as Markdown for the README: one line per claim with its verdict (the data set in each claim's name). */
export const recommendClaimsMarkdown = (r: RecommendReport): string => claimsMarkdown(r, label);

/** Writes the figures (SVG and PNG) and report.html next to report.json; returns the file names. */
export async function writeRecommendReport(dir: string, r: RecommendReport): Promise<string[]> {
  const figures: [string, Spec][] = [['ndcg', ndcgSpec(r)], ['beta', betaSpec(r)]];
  const keep = keepSpec(r);
  if (keep) figures.push(['keep-popularity', keep]);
  const files = await writeFigures(dir, figures);
  const tables = r.datasets.map((d) => {
    const rows = d.table.map((row) => {
      const p = PAPER_TABLE2_ML20M[row.model];
      return `<tr><td>${esc(label(row.model))}</td><td>${fmtStat(row.recall20)}</td><td>${fmtStat(row.recall50)}</td><td>${fmtStat(row.ndcg100)}</td><td>${p ? p.map((v) => v.toFixed(2)).join(' / ') : '—'}</td></tr>`;
    }).join('\n');
    const summary = Object.entries(d.summary).map(([k, v]) => `${esc(k)} ${v}`).join(', ');
    return `<h2>${esc(d.name)}</h2><p><code>${esc(d.path)}</code> (${esc(d.format)}): ${summary}</p>
<table><tr><th>model</th><th>Recall@20 (%)</th><th>Recall@50 (%)</th><th>NDCG@100 (%)</th><th>paper ML-20M: R@20 / R@50 / NDCG@100</th></tr>
${rows}</table>`;
  }).join('\n');
  const html = `<!doctype html><meta charset="utf-8"><title>lbd-gpu: collaborative filtering</title>
<style>body{font-family:sans-serif;max-width:64em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child{text-align:left}</style>
<h1>Collaborative filtering with SIVAE and the Table 2 baselines</h1>
<p>Adapter ${esc(r.adapter)}; commit <code>${esc(r.commit)}</code>; ${esc(r.date)}. Each cell: mean ± std over seeds of the test
metric at the epoch with the best validation NDCG@100, and (SE) the mean over seeds of its standard error over test users.
The paper's column is ML-20M, a different and much larger data set, for reference only.</p>
${tables}
${claimsHtml(r, label)}
${files.map((f) => `<p><img src="${f}" alt="${f}" style="max-width:100%"></p>`).join('\n')}
<h2>Options</h2><pre>${esc(JSON.stringify(r.options, null, 2))}</pre>`;
  writeTextAtomic(join(dir, 'report.html'), html);
  return ['report.html', ...files];
}
