// The README's CIFAR-10 table must be the one the committed report produces (no hand-edited
// numbers); without a committed report the README must not claim any.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { table1Markdown, type ClassifyReport } from '../../tasks/classify/report.js';

const test = suite('readme results');
const root = fileURLToPath(new URL('../../../', import.meta.url));

test('README Table 1 equals table1Markdown(docs/results/classify/report.json)', () => {
  const readme = readFileSync(root + 'README.md', 'utf8');
  const file = root + 'docs/results/classify/report.json';
  if (!existsSync(file)) {
    assert.ok(/No results are claimed yet/.test(readme), 'no committed classify report, so the README must say no results are claimed');
    return;
  }
  const report = JSON.parse(readFileSync(file, 'utf8')) as ClassifyReport;
  assert.ok(readme.includes(table1Markdown(report)), 'the README table differs from the committed report');
});

test.run();
