// The segmentation report: Table 1's CamVid columns (mean ± std over seeds, the paper's beside),
// per-class IoU, patch PAvPU versus threshold (the paper's Fig. 2b), training loss and LBD keep
// probabilities per epoch, and four test images as input / ground truth / prediction / entropy
// for LBD and MC dropout side by side. Rendered from report.json (`segment.js --render FILE`).
// The claims (LBD against each baseline, paired over seeds and test images: tasks/stats/claims.ts)
// are computed when the report is built from the run files; report.json keeps only the claims.
import { dropoutLabel } from '../../layers/dropout/registry.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTextAtomic } from '../common/files.js';
import { PNG } from 'pngjs';
import { top, esc, writeFigures, pavpuSpec, pavpuRows, type Spec } from '../report/vega.js';
import { CAMVID_CLASSES } from '../data/camvid.js';
import type { SegmentPerImage } from '../stats/per-example.js';
import { buildClaims, claimsHtml, claimsMarkdown, reportClaims, type ClaimMetric, type ClaimRun, type ClaimsSection, type ReportClaims } from '../stats/claims.js';
import { segmentTable } from '../stats/tables.js';
import type { BootstrapOptions } from '../stats/paired.js';

export interface SegmentRun {
  method: string; seed: number; pixelAccuracy: number; iou: (number | null)[]; meanIoU: number;
  pavpu: { t: number[]; value: number[]; mean: number }; losses: number[]; keep: number[][]; imagesPerSecond: number; seconds: number;
  /** Per test image, for paired comparisons between methods (tasks/stats/paired.ts). */
  perImage?: SegmentPerImage;
}
/** Predicted classes and per-pixel entropy of the figure's test images (row-major, image after image). */
export interface SegmentExamples { pred: number[]; entropy: number[] }
export interface Stat { mean: number; std: number }
export interface SegmentRow { method: string; pixelAccuracy: Stat; meanIoU: Stat; meanPAvPU: Stat; imagesPerSecond: Stat }
export interface SegmentReport extends ReportClaims {
  task: 'segment'; options: Record<string, unknown> | object; preset: string; adapter: string; commit: string; date: string;
  /** The decoded-data cache the images came from, if any (tasks/data/camvid.ts loadCamVidSplits). */
  cache?: string;
  sizes: { train: number; val: number; test: number }; table: SegmentRow[]; runs: SegmentRun[];
  examples: { height: number; width: number; input: number[]; label: number[]; methods: Record<string, SegmentExamples> };
}

/** The paper's Table 1, CamVid columns (%; FC-DenseNet-103, 480×360, 700 epochs). */
export const PAPER_TABLE1_CAMVID: Record<string, { accuracy: number; meanIoU: number; meanPAvPU: number }> = {
  lbd: { accuracy: 89.18, meanIoU: 60.42, meanPAvPU: 85.16 },
  concrete: { accuracy: 88.64, meanIoU: 55.95, meanPAvPU: 83.81 },
  gaussian: { accuracy: 88.04, meanIoU: 54.85, meanPAvPU: 85.02 },
  mc: { accuracy: 87.80, meanIoU: 54.40, meanPAvPU: 84.39 },
  regular: { accuracy: 86.65, meanIoU: 53.62, meanPAvPU: 81.17 },
};
const label = dropoutLabel;
const pm = (s: Stat): string => `${(100 * s.mean).toFixed(2)} ± ${(100 * s.std).toFixed(2)}`;

/** Table 1's segmentation columns as Markdown: ours (mean ± std over seeds) beside the paper's. */
export function table1SegMarkdown(r: SegmentReport): string {
  const lines = ['| method | pixel accuracy (%) | mean IoU (%) | Mean PAvPU (%) | paper: accuracy / mean IoU / Mean PAvPU |', '| --- | --- | --- | --- | --- |'];
  for (const row of r.table) {
    const p = PAPER_TABLE1_CAMVID[row.method];
    lines.push(`| ${label(row.method)} | ${pm(row.pixelAccuracy)} | ${pm(row.meanIoU)} | ${pm(row.meanPAvPU)} | ${p ? `${p.accuracy.toFixed(2)} / ${p.meanIoU.toFixed(2)} / ${p.meanPAvPU.toFixed(2)}` : '—'} |`);
  }
  return lines.join('\n');
}

/** Per-class IoU (mean over seeds, %) per method as Markdown; classes absent from the test images show '—'. */
export function iouMarkdown(r: SegmentReport): string {
  const methods = r.table.map((t) => t.method);
  const lines = [`| class | ${methods.map(label).join(' | ')} |`, `| --- |${methods.map(() => ' --- |').join('')}`];
  CAMVID_CLASSES.forEach((c, k) => {
    const cells = methods.map((m) => {
      const v = r.runs.filter((x) => x.method === m).map((x) => x.iou[k]).filter((x): x is number => x !== null);
      return v.length ? (100 * v.reduce((a, b) => a + b, 0) / v.length).toFixed(1) : '—';
    });
    lines.push(`| ${c} | ${cells.join(' | ')} |`);
  });
  return lines.join('\n');
}

const segmentPavpu = (r: SegmentReport): Spec => pavpuSpec(pavpuRows(r.table.map((t) => t.method), r.runs, label),
  'Patch PAvPU (2×2 windows) versus uncertainty threshold (mean over seeds; CamVid test images)', 'threshold t (min + t · (max − min) of validation patch entropy)');

function perEpochSpec(r: SegmentReport, what: 'loss' | 'keep'): Spec {
  const rows: { series: string; run: string; epoch: number; value: number }[] = [];
  for (const x of r.runs) {
    if (what === 'loss') x.losses.forEach((v, e) => rows.push({ series: label(x.method), run: `${x.method} s${x.seed}`, epoch: e + 1, value: v }));
    else if (x.method !== 'regular' && x.method !== 'mc') x.keep.forEach((ks, e) => rows.push({ series: label(x.method), run: `${x.method} s${x.seed}`, epoch: e + 1, value: ks.reduce((a, b) => a + b, 0) / Math.max(1, ks.length) }));
  }
  return top({
    title: what === 'loss' ? 'Training loss per epoch (every seed)' : 'Mean keep probability of the 15 bottleneck layers per epoch (every seed)',
    width: 420, height: 220, data: { values: rows }, mark: { type: 'line', point: true, opacity: 0.8 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative' },
      y: { field: 'value', type: 'quantitative', title: what === 'loss' ? 'loss' : 'keep probability', scale: { zero: false } },
      color: { field: 'series', type: 'nominal', title: 'method' }, detail: { field: 'run', type: 'nominal' },
    },
  });
}

// SegNet's CamVid colours for the 11 classes; void is black.
const PALETTE: [number, number, number][] = [
  [128, 128, 128], [128, 0, 0], [192, 192, 128], [128, 64, 128], [60, 40, 222], [128, 128, 0],
  [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0], [0, 128, 192], [0, 0, 0],
];

/** A perceptual-ish dark-blue → yellow ramp for entropy in [0, 1]. */
function heat(v: number): [number, number, number] {
  const stops: [number, number, number][] = [[13, 8, 135], [126, 3, 168], [204, 71, 120], [248, 149, 64], [240, 249, 33]];
  const x = Math.min(1, Math.max(0, v)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i;
  return [0, 1, 2].map((c) => Math.round(stops[i][c] + f * (stops[i + 1][c] - stops[i][c]))) as [number, number, number];
}

/** The example grid as a PNG: one row per test image; columns input, ground truth, then prediction and entropy per method. */
export function examplesPng(r: SegmentReport, methods = ['lbd', 'mc']): Buffer | null {
  const ex = r.examples, have = methods.filter((m) => ex.methods[m]);
  if (!have.length) return null;
  const H = ex.height, W = ex.width, px = H * W, n = ex.label.length / px, gap = 4;
  const cols = 2 + 2 * have.length;
  const png = new PNG({ width: cols * (W + gap) - gap, height: n * (H + gap) - gap });
  png.data.fill(255);
  const put = (col: number, row: number, colour: (p: number) => [number, number, number]): void => {
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
      const o = ((row * (H + gap) + y) * png.width + col * (W + gap) + x) * 4, c = colour(y * W + x);
      png.data[o] = c[0]; png.data[o + 1] = c[1]; png.data[o + 2] = c[2]; png.data[o + 3] = 255;
    }
  };
  const maxEntropy = Math.log(11);
  for (let i = 0; i < n; i++) {
    put(0, i, (p) => [ex.input[(i * 3) * px + p], ex.input[(i * 3 + 1) * px + p], ex.input[(i * 3 + 2) * px + p]]);
    put(1, i, (p) => PALETTE[ex.label[i * px + p]] ?? PALETTE[11]);
    have.forEach((m, j) => {
      put(2 + 2 * j, i, (p) => PALETTE[ex.methods[m].pred[i * px + p]] ?? PALETTE[11]);
      put(3 + 2 * j, i, (p) => heat(ex.methods[m].entropy[i * px + p] / maxEntropy));
    });
  }
  return PNG.sync.write(png);
}

/** The paper's claims for CamVid: LBD beats each baseline in each of these. */
export const SEGMENT_BASELINES = ['regular', 'mc', 'gaussian', 'concrete'];
export const SEGMENT_CLAIM_METRICS: ClaimMetric[] = [
  { name: 'pixelAccuracy', better: 'higher' }, { name: 'meanIoU', better: 'higher' }, { name: 'meanPAvPU', better: 'higher' },
];

/** LBD against each baseline present, from finished runs (with their per-image tables) and their commits. Null without LBD or a baseline. */
export function segmentClaims(runs: { result: SegmentRun; commit: string }[], o: BootstrapOptions = {}): ClaimsSection | null {
  const methods = new Set(runs.map((r) => r.result.method));
  const bs = SEGMENT_BASELINES.filter((m) => methods.has(m));
  if (!methods.has('lbd') || !bs.length) return null;
  const claimRuns: ClaimRun[] = runs.map(({ result: x, commit }) => ({
    method: x.method, seed: x.seed, commit,
    reported: { pixelAccuracy: x.pixelAccuracy, meanIoU: x.meanIoU, meanPAvPU: x.pavpu.mean },
    table: x.perImage ? segmentTable(x.perImage) : null,
  }));
  return buildClaims(claimRuns, 'lbd', bs, SEGMENT_CLAIM_METRICS, o);
}

/** The claims fields of a segment report.json (nothing when there is no claim to make). */
export const segmentReportClaims = (s: ClaimsSection | null): ReportClaims => (s ? reportClaims(s) : {});

/** The claims as Markdown for the README: one line per claim with its verdict. */
export const segmentClaimsMarkdown = (r: SegmentReport): string => claimsMarkdown(r, label);

/** Writes the figures (SVG and PNG) and report.html next to report.json; returns the file names. */
export async function writeSegmentReport(dir: string, r: SegmentReport): Promise<string[]> {
  const figures: [string, Spec][] = [['pavpu', segmentPavpu(r)], ['loss', perEpochSpec(r, 'loss')]];
  if (r.runs.some((x) => x.method !== 'regular' && x.method !== 'mc' && x.keep.length)) figures.push(['keep', perEpochSpec(r, 'keep')]);
  const files = await writeFigures(dir, figures);
  const ex = examplesPng(r);
  if (ex) { writeFileSync(join(dir, 'examples.png'), ex); files.push('examples.png'); }
  const mdToHtml = (md: string): string => {
    const [head, , ...body] = md.split('\n');
    const cells = (l: string): string[] => l.split('|').slice(1, -1).map((c) => esc(c.trim()));
    return `<table><tr>${cells(head).map((c) => `<th>${c}</th>`).join('')}</tr>\n${body.map((l) => `<tr>${cells(l).map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n')}</table>`;
  };
  const exMethods = ['lbd', 'mc'].filter((m) => r.examples.methods[m]).map(label);
  const html = `<!doctype html><meta charset="utf-8"><title>lbd-gpu: CamVid segmentation</title>
<style>body{font-family:sans-serif;max-width:64em;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child{text-align:left}</style>
<h1>CamVid segmentation with FC-DenseNet and five kinds of dropout</h1>
<p>${r.sizes.train} training, ${r.sizes.val} validation, ${r.sizes.test} test images; preset <code>${esc(r.preset)}</code>; adapter ${esc(r.adapter)};
commit <code>${esc(r.commit)}</code>; ${esc(r.date)}. Mean ± std over ${new Set(r.runs.map((x) => x.seed)).size} seeds. The paper's numbers come from
FC-DenseNet-103 at 480×360 trained for 700 epochs: a different protocol.</p>
${mdToHtml(table1SegMarkdown(r))}
${claimsHtml(r, label)}
<h2>Per-class IoU (%, mean over seeds)</h2>
${mdToHtml(iouMarkdown(r))}
${files.filter((f) => f !== 'examples.png').map((f) => `<p><img src="${f}" alt="${f}" style="max-width:100%"></p>`).join('\n')}
${ex ? `<h2>Four test images</h2><p>Columns: input, ground truth, then prediction and predictive entropy (dark = certain, yellow = uncertain) for ${exMethods.join(', then ')} (first seed).</p><p><img src="examples.png" alt="examples" style="max-width:100%"></p>` : ''}
<h2>Options</h2><pre>${esc(JSON.stringify(r.options, null, 2))}</pre>`;
  writeTextAtomic(join(dir, 'report.html'), html);
  return ['report.html', ...files];
}
