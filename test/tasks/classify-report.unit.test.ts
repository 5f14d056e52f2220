// The classification report: Table 1 in Markdown (ours beside the paper's) and the rendered
// figures (SVG + PNG) and page.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeClassifyReport, table1Markdown, type ClassifyReport } from '../../tasks/classify/report.js';

const test = suite('classify report');

const run = (method: string, seed: number, acc: number) => ({
  method, seed, accuracy: acc, nll: 1.2, ece: 0.05, meanEntropy: 0.9,
  pavpu: { t: [0, 0.5, 1], value: [0.6, 0.7, 0.5], mean: 0.6 }, keep: [[0.5, 0.5], [0.55, 0.45]], losses: [2, 1.5], imagesPerSecond: 100,
});

const report: ClassifyReport = {
  options: { valFraction: 0.1 }, preset: 'cpu', adapter: 'test', commit: 'abc', date: 'today', trainSize: 100, testSize: 50,
  table: [
    { method: 'regular', accuracy: { mean: 0.5, std: 0.01 }, meanPAvPU: { mean: 0.6, std: 0.02 }, nll: { mean: 1.2, std: 0 }, ece: { mean: 0.05, std: 0 }, imagesPerSecond: { mean: 100, std: 0 } },
    { method: 'lbd', accuracy: { mean: 0.52, std: 0.03 }, meanPAvPU: { mean: 0.61, std: 0.01 }, nll: { mean: 1.1, std: 0 }, ece: { mean: 0.04, std: 0 }, imagesPerSecond: { mean: 95, std: 0 } },
  ],
  results: [run('regular', 1, 0.49), run('regular', 2, 0.51), run('lbd', 1, 0.5), run('lbd', 2, 0.54)],
};

test('Table 1 rows: ours as mean ± std in %, the paper beside', () => {
  const md = table1Markdown(report);
  assert.match(md, /\| Regular dropout \| 50\.00 ± 1\.00 \| 60\.00 ± 2\.00 \| 1\.200 ± 0\.000 \| 0\.050 ± 0\.000 \| 91\.61 \| 56\.81 \|/);
  assert.match(md, /\| LBD \| 52\.00 ± 3\.00 \| 61\.00 ± 1\.00 \|.*\| 93\.47 \| 64\.52 \|/);
});

test('figures (SVG and PNG) and report.html are written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbd-report-'));
  try {
    const files = await writeClassifyReport(dir, report);
    assert.equal(files, ['report.html', 'pavpu.png', 'keep.png', 'loss.png']);
    for (const f of ['pavpu', 'keep', 'loss']) {
      assert.ok(readFileSync(join(dir, `${f}.svg`), 'utf8').startsWith('<svg'), `${f}.svg`);
      const png = readFileSync(join(dir, `${f}.png`));
      assert.equal(Array.from(png.subarray(1, 4)), [0x50, 0x4e, 0x47], `${f}.png is a PNG`);
    }
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    assert.match(html, /<td>LBD<\/td><td>52\.00 ± 3\.00<\/td>/);
    assert.ok(existsSync(join(dir, 'report.html')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('training accuracy per epoch gets its figure when the runs have it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbd-report-'));
  try {
    const withAcc = { ...report, results: report.results.map((x) => ({ ...x, trainAccuracy: [0.2, 0.35] })) };
    assert.equal(await writeClassifyReport(dir, withAcc), ['report.html', 'pavpu.png', 'keep.png', 'loss.png', 'accuracy.png']);
    assert.match(readFileSync(join(dir, 'accuracy.svg'), 'utf8'), /Training accuracy/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('per-unit keep probabilities get a histogram figure (learnt kinds only)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbd-report-'));
  try {
    const perUnit = { ...report, results: report.results.map((x) => ({ ...x, keepFinal: [[0.1, 0.5, 0.9], [0.7]] })) };
    const files = await writeClassifyReport(dir, perUnit);
    assert.equal(files, ['report.html', 'pavpu.png', 'keep.png', 'loss.png', 'keep-histogram.png']);
    const svg = readFileSync(join(dir, 'keep-histogram.svg'), 'utf8');
    assert.match(svg, /LBD/);
    assert.not.match(svg, /Regular dropout/, 'fixed-rate dropout has nothing learnt to show');
    const layerOnly = { ...report, results: report.results.map((x) => ({ ...x, keepFinal: [[0.6], [0.7]] })) };
    assert.equal(await writeClassifyReport(dir, layerOnly), ['report.html', 'pavpu.png', 'keep.png', 'loss.png'], 'no histogram of one value per layer');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
