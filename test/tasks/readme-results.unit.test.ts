// The README's results tables must be the ones the committed reports produce (no hand-edited
// numbers); without a committed report the README must not claim any for that task.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { table1Markdown, type ClassifyReport } from '../../tasks/classify/report.js';
import { claimsMatrixMarkdown } from '../../tasks/stats/claims.js';
import { dropoutLabel } from '../../layers/dropout/registry.js';
import { table1SegMarkdown, type SegmentReport } from '../../tasks/segment/report.js';
import { table2Markdown, MODEL_LABEL, type RecommendReport } from '../../tasks/recommend/report.js';
import { rowsMarkdown } from '../../tasks/bench/compare.js';

const test = suite('readme results');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = (): string => readFileSync(root + 'README.md', 'utf8');

/** Each task's committed report, how its README table is rendered, and what the README says without one. */
const TASKS: { task: string; tables: (report: never) => string[]; none: RegExp }[] = [
  // the study grid (5 seeds): Table 1 and the claims, one cell per baseline and metric
  { task: 'classify-study', tables: (r: ClassifyReport) => [table1Markdown(r), claimsMatrixMarkdown(r, dropoutLabel)], none: /^(?![^]*classify-study)/ },
  // the segment (5 seeds) and recommend (3 seeds) study grids: their tables and claims
  { task: 'segment-study', tables: (r: SegmentReport) => [table1SegMarkdown(r), claimsMatrixMarkdown(r, dropoutLabel)], none: /^(?![^]*segment-study)/ },
  { task: 'recommend-study', tables: (r: RecommendReport) => [...r.datasets.map(table2Markdown), claimsMatrixMarkdown(r, (m) => MODEL_LABEL[m] ?? m, { datasetColumns: true })], none: /^(?![^]*recommend-study)/ },
];

for (const { task, tables, none } of TASKS) {
  test(`README tables equal those of docs/results/${task}/report.json`, () => {
    const text = readme(), file = `${root}docs/results/${task}/report.json`;
    if (!existsSync(file)) {
      assert.ok(none.test(text), `no committed ${task} report, so the README must say no results are claimed`);
      return;
    }
    const report = JSON.parse(readFileSync(file, 'utf8')) as never;
    for (const t of tables(report)) assert.ok(text.includes(t), `the README's ${task} table differs from the committed report:\n${t}`);
  });
}

// The runs behind each study's tables: the count the README describes, every row from one commit, named there.
const STUDIES: { task: string; runs: (report: never) => number; count: number }[] = [
  { task: 'classify-study', runs: (r: ClassifyReport) => r.results.length, count: 25 },   // 5 methods × 5 seeds
  { task: 'segment-study', runs: (r: SegmentReport) => r.runs.length, count: 25 },   // 5 methods × 5 seeds
  { task: 'recommend-study', runs: (r: RecommendReport) => r.datasets.reduce((n, d) => n + d.runs.length, 0), count: 60 },   // 2 sets × 10 rows × 3 seeds
];

for (const { task, runs, count } of STUDIES) {
  test(`the ${task} report states the runs (seeds, commit) the README describes`, () => {
    const r = JSON.parse(readFileSync(`${root}docs/results/${task}/report.json`, 'utf8')) as ClassifyReport | SegmentReport | RecommendReport;
    assert.is(runs(r as never), count, 'every run of the grid');
    const commits = [...new Set([r.commit, ...(r.claims ?? []).flatMap((c) => c.commits)])];
    assert.equal(commits.length, 1, 'every row from one commit');
    assert.match(r.commit, /^[0-9a-f]{40}$/);
    assert.match(readme(), new RegExp(`all runs at commit ${r.commit.slice(0, 7)}\\s+\\(\`docs/results/${task}/`), 'the README names the commit beside the report');
  });
}

test('the README\'s PyTorch benchmark tables equal those of the committed bench run it names', () => {
  const text = readme();
  const file = /The run below \([^)]*`(docs\/results\/bench\/[^`]+\.json)`/.exec(text)?.[1];
  assert.ok(file, 'the README names the bench JSON of its PyTorch table');
  const bench = JSON.parse(readFileSync(root + file, 'utf8')) as { rows: Parameters<typeof rowsMarkdown>[0] };
  const made = rowsMarkdown(bench.rows).split('\n\n');
  // every table of the benchmark section (the training steps; products stay in the file) is one the file makes
  const section = text.slice(text.indexOf('The run below'), text.indexOf('\n## ', text.indexOf('The run below')));
  const shown = section.split('\n\n').map((b) => b.trim()).filter((b) => b.startsWith('|'));
  assert.ok(shown.length >= 1 && shown[0].startsWith('| training step |'), 'the README shows the training-step table');
  for (const t of shown) assert.ok(made.includes(t), `the README's benchmark table differs from ${file}:\n${t}`);
});

test.run();
