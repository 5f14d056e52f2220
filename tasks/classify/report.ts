// The classification report's pictures and page: PAvPU versus threshold for every method (the
// paper's Fig. 2a), keep probabilities per epoch, training loss per epoch, and Table 1 (mean ± std
// over seeds beside the paper's numbers). Rendered from report.json, so an existing report can be
// re-rendered (`classify.js --render DIR/report.json`). The claims (LBD against each baseline,
// paired over seeds and test images: tasks/stats/claims.ts) are computed when the report is built
// from the run files, which keep the per-image outputs; report.json keeps only the claims.
import { dropoutLabel } from '../../layers/dropout/registry.js';
import { join } from 'node:path';
import { writeTextAtomic } from '../common/files.js';
import { top, esc, writeFigures, pavpuSpec, pavpuRows, type Spec } from '../report/vega.js';
import { buildClaims, claimsHtml, claimsMarkdown, reportClaims, type ClaimMetric, type ClaimRun, type ClaimsSection, type ReportClaims } from '../stats/claims.js';
import { classifyTable } from '../stats/tables.js';
import type { BootstrapOptions } from '../stats/paired.js';
import type { ClassifyPerImage } from '../stats/per-example.js';

export interface ReportResult {
  method: string; seed: number; accuracy: number; nll: number; ece: number; meanEntropy: number;
  pavpu: { t: number[]; value: number[]; mean: number }; keep: number[][]; losses: number[]; imagesPerSecond: number;
  keepFinal?: number[][];
  trainAccuracy?: number[];
  /** Only in run files (stripped from report.json). */
  perImage?: ClassifyPerImage;
}
export interface ReportRow { method: string; accuracy: { mean: number; std: number }; meanPAvPU: { mean: number; std: number }; nll: { mean: number; std: number }; ece: { mean: number; std: number }; imagesPerSecond: { mean: number; std: number } }
export interface ClassifyReport extends ReportClaims { options: Record<string, unknown>; preset?: string; adapter: string; commit: string; date: string; trainSize: number; testSize: number; table: ReportRow[]; results: ReportResult[] }

/** The paper's Table 1, CIFAR-10 columns (%, VGG19 fine-tuned from ImageNet, 224 px, 300 epochs). */
export const PAPER_TABLE1: Record<string, { accuracy: number; meanPAvPU: number }> = {
  lbd: { accuracy: 93.47, meanPAvPU: 64.52 },
  concrete: { accuracy: 92.72, meanPAvPU: 59.97 },
  gaussian: { accuracy: 91.16, meanPAvPU: 52.71 },
  mc: { accuracy: 91.57, meanPAvPU: 52.08 },
  regular: { accuracy: 91.61, meanPAvPU: 56.81 },
};


const classifyPavpu = (r: ClassifyReport): Spec => pavpuSpec(pavpuRows(r.table.map((t) => t.method), r.results, dropoutLabel),
  'PAvPU versus uncertainty threshold (mean over seeds; CIFAR-10 test split)', 'threshold t (PredEnt_min + t · (max − min), from validation)');

function perEpochSpec(r: ClassifyReport, what: 'keep' | 'loss' | 'accuracy'): Spec {
  const rows: { method: string; run: string; epoch: number; value: number }[] = [];
  for (const x of r.results) {
    if (what === 'loss') x.losses.forEach((v, e) => rows.push({ method: dropoutLabel(x.method), run: `${x.method} s${x.seed}`, epoch: e + 1, value: v }));
    else if (what === 'accuracy') x.trainAccuracy?.forEach((v, e) => rows.push({ method: dropoutLabel(x.method), run: `${x.method} s${x.seed}`, epoch: e + 1, value: 100 * v }));
    else x.keep.forEach((ks, e) => ks.forEach((v, l) => rows.push({ method: `${dropoutLabel(x.method)}, layer ${l + 1}`, run: `${x.method} s${x.seed} l${l}`, epoch: e + 1, value: v })));
  }
  return top({
    title: { keep: 'Mean keep probability per dropout layer after each epoch (every seed)', loss: 'Training loss at the end of each epoch (every seed)', accuracy: 'Training accuracy over each epoch (every seed)' }[what],
    width: 420, height: 240, data: { values: rows }, mark: { type: 'line', point: true, opacity: 0.8 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
      y: { field: 'value', type: 'quantitative', title: { keep: 'keep probability', loss: 'loss', accuracy: 'training accuracy (%)' }[what], scale: { zero: false } },
      color: { field: 'method', type: 'nominal', title: what === 'keep' ? 'method, layer' : 'method' },
      detail: { field: 'run', type: 'nominal' },
    },
  });
}

/** Learnt per-unit keep probabilities at the end of training (when some layer has more than one). */
function keepHistogramSpec(r: ClassifyReport): Spec | null {
  const rows: { method: string; layer: string; keep: number }[] = [];
  for (const x of r.results) {
    if (x.method === 'regular' || x.method === 'mc') continue; // fixed rates, nothing learnt
    x.keepFinal?.forEach((ks, l) => { if (ks.length > 1) for (const k of ks) rows.push({ method: dropoutLabel(x.method), layer: `layer ${l + 1}`, keep: k }); });
  }
  if (!rows.length) return null;
  return top({
    title: 'Learnt keep probability per unit after training (every seed)', data: { values: rows },
    facet: { row: { field: 'method', type: 'nominal', title: null }, column: { field: 'layer', type: 'nominal', title: null } },
    spec: {
      width: 220, height: 120, mark: 'bar',
      encoding: {
        x: { field: 'keep', type: 'quantitative', bin: { maxbins: 30, extent: [0, 1] }, title: 'keep probability' },
        y: { aggregate: 'count', type: 'quantitative', title: 'units' },
      },
    },
  });
}

const pm = (s: { mean: number; std: number }, scale = 100, digits = 2): string => `${(scale * s.mean).toFixed(digits)} ± ${(scale * s.std).toFixed(digits)}`;

/** Table 1 as Markdown: ours (mean ± std over seeds) beside the paper's. */
export function table1Markdown(r: ClassifyReport): string {
  const lines = ['| method | accuracy (%) | Mean PAvPU (%) | NLL | ECE | paper: accuracy | paper: Mean PAvPU |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const row of r.table) {
    const p = PAPER_TABLE1[row.method];
    lines.push(`| ${dropoutLabel(row.method)} | ${pm(row.accuracy)} | ${pm(row.meanPAvPU)} | ${pm(row.nll, 1, 3)} | ${pm(row.ece, 1, 3)} | ${p ? p.accuracy.toFixed(2) : '—'} | ${p ? p.meanPAvPU.toFixed(2) : '—'} |`);
  }
  return lines.join('\n');
}

/** The paper's claims for CIFAR-10: LBD beats each baseline in each of these. */
export const CLASSIFY_BASELINES = ['regular', 'mc', 'gaussian', 'concrete'];
export const CLASSIFY_CLAIM_METRICS: ClaimMetric[] = [
  { name: 'accuracy', better: 'higher' }, { name: 'meanPAvPU', better: 'higher' }, { name: 'nll', better: 'lower' }, { name: 'ece', better: 'lower' },
];

/**
 * LBD against each baseline present, from finished runs (results with their per-image outputs and
 * the commit of each run); `labels`: the test labels. Null without LBD runs or baselines.
 */
export function classifyClaims(runs: { result: ReportResult; commit: string }[], labels?: ArrayLike<number>, o: BootstrapOptions = {}): ClaimsSection | null {
  const methods = new Set(runs.map((r) => r.result.method));
  const bs = CLASSIFY_BASELINES.filter((m) => methods.has(m));
  if (!methods.has('lbd') || !bs.length) return null;
  const claimRuns: ClaimRun[] = runs.map(({ result: x, commit }) => ({
    method: x.method, seed: x.seed, commit,
    reported: { accuracy: x.accuracy, meanPAvPU: x.pavpu.mean, nll: x.nll, ece: x.ece },
    table: x.perImage ? classifyTable(x.perImage, x.pavpu.t, labels) : null,
  }));
  return buildClaims(claimRuns, 'lbd', bs, CLASSIFY_CLAIM_METRICS, o);
}

/** The claims fields of a classify report.json (nothing when there is no claim to make). */
export const classifyReportClaims = (s: ClaimsSection | null): ReportClaims => (s ? reportClaims(s) : {});

/** The claims as Markdown for the README: one line per claim with its verdict. */
export const classifyClaimsMarkdown = (r: ClassifyReport): string => claimsMarkdown(r, dropoutLabel);

/** Writes the figures (SVG and PNG) and report.html next to report.json. */
export async function writeClassifyReport(dir: string, r: ClassifyReport): Promise<string[]> {
  const figures: [string, Spec][] = [['pavpu', classifyPavpu(r)], ['keep', perEpochSpec(r, 'keep')], ['loss', perEpochSpec(r, 'loss')]];
  if (r.results.some((x) => x.trainAccuracy?.length)) figures.push(['accuracy', perEpochSpec(r, 'accuracy')]);
  const hist = keepHistogramSpec(r);
  if (hist) figures.push(['keep-histogram', hist]);
  const files = await writeFigures(dir, figures);
  const rows = r.table.map((row) => {
    const p = PAPER_TABLE1[row.method];
    return `<tr><td>${esc(dropoutLabel(row.method))}</td><td>${pm(row.accuracy)}</td><td>${pm(row.meanPAvPU)}</td><td>${pm(row.nll, 1, 3)}</td><td>${pm(row.ece, 1, 3)}</td><td>${row.imagesPerSecond.mean.toFixed(1)}</td><td>${p ? p.accuracy.toFixed(2) : '—'}</td><td>${p ? p.meanPAvPU.toFixed(2) : '—'}</td></tr>`;
  }).join('\n');
  const html = `<!doctype html><meta charset="utf-8"><title>lbd-gpu: CIFAR-10 classification</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child{text-align:left}</style>
<h1>CIFAR-10 with VGG19 and five kinds of dropout</h1>
<p>${r.trainSize} training images (of which ${esc(String(r.options.valFraction))} held out for validation), ${r.testSize} test images; preset <code>${esc(String(r.preset ?? ''))}</code>;
adapter ${esc(r.adapter)}; commit <code>${esc(r.commit)}</code>; ${esc(r.date)}. Mean ± std over ${new Set(r.results.map((x) => x.seed)).size} seeds.
The paper's numbers come from VGG19 fine-tuned from ImageNet at 224 px for 300 epochs: a different protocol.</p>
<table><tr><th>method</th><th>accuracy (%)</th><th>Mean PAvPU (%)</th><th>NLL</th><th>ECE</th><th>images/s</th><th>paper: accuracy</th><th>paper: Mean PAvPU</th></tr>
${rows}</table>
${claimsHtml(r, dropoutLabel)}
${files.map((f) => `<p><img src="${f}" alt="${f}" style="max-width:100%"></p>`).join('\n')}
<h2>Options</h2><pre>${esc(JSON.stringify(r.options, null, 2))}</pre>`;
  writeTextAtomic(join(dir, 'report.html'), html);
  return ['report.html', ...files];
}
