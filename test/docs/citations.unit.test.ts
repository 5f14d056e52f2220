// The repository documents itself: no tracked text file may cite a path outside it — a parent
// folder's files, a machine's absolute paths, or the maths / kernels /
// architecture notes by their outside names instead of docs/estimators.md, docs/kernels.md and
// docs/architecture.md. Walks the tree (no git needed), skipping what .gitignore names.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const test = suite('citations');
const root = fileURLToPath(new URL('../../../', import.meta.url));

// built from pieces so that this file does not match itself
const OUTSIDE = [
  new RegExp(['\\.\\.', 'shared'].join('/')),
  new RegExp(['', 'work', 'shared'].join('/')),
  new RegExp(`\\b(${['REFERENCE', 'KERNELS', 'ARCHITECTURE'].join('|')})\\.md`),
];
const SKIP_DIRS = /^(node_modules|dist.*|runs|data|\.git|\.gpu|\.gl|\.whl)$/;
const TEXT = /\.(ts|js|mjs|md|sh|json|html|py|yml|yaml|txt|svg)$|^\.gitignore$/;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    const s = statSync(p, { throwIfNoEntry: false });
    if (!s) return [];
    if (s.isDirectory()) return SKIP_DIRS.test(f) && dir === root.replace(/\/$/, '') ? [] : walk(p);
    return TEXT.test(f) ? [p] : [];
  });
}

test('no file of the project cites a path outside the repository', () => {
  const bad: string[] = [];
  const files = walk(root.replace(/\/$/, ''));
  assert.ok(files.length > 100, `walked ${files.length} files from ${root}`);
  for (const f of files) {
    const lines = readFileSync(f, 'utf8').split('\n');
    lines.forEach((line, i) => {
      for (const re of OUTSIDE) if (re.test(line)) bad.push(`${relative(root, f)}:${i + 1}: ${line.trim().slice(0, 120)}`);
    });
  }
  assert.is(bad.length, 0, `citations of paths outside the repository (point them at docs/):\n${bad.join('\n')}`);
});

test.run();
