// Ops declare their attribute and saved-value types (defineOp<A, S>), so nothing in engine/ops
// reads them through a cast (issue 28): a cast would hide a wrong attribute name or type from
// the compiler. Reads the sources; needs no GPU.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const test = suite('typed ops');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const opsDir = join(root, 'engine/ops');

/**
 * `attrs` / `saved` (or `node.attrs`, `attrs.stride`, `node.saved.y`, `attrs['x']`) followed by
 * an `as` cast other than `as const`, as in `attrs.stride as number`, `node.attrs as unknown as T`
 * or `(attrs.outputPadding as number) ?? 0`.
 */
const CAST = /\b(?:attrs|saved)\b(?:\s*(?:\?\.|\.)\s*\w+|\[[^\]]*\])*\s*\)?\s+as\s+(?!const\b)/;

/** The text without comments (a comment may well say "attrs as given"), lines kept where they were. */
const code = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, '')).replace(/\/\/.*$/gm, '');

test('the pattern finds the casts the ops used to have, and nothing else', () => {
  for (const s of [
    'attrs.stride as number', 'node.attrs as unknown as LBDAttrs', '(node.saved.y as Tensor).buffer',
    '(attrs.outputPadding as number) ?? 0', 'node.saved as { rowptr: Tensor; idx: Tensor }',
    'attrs.axes as number[] | undefined', "attrs['shape'] as number[]", 'node.attrs?.act as Activation',
  ]) assert.ok(CAST.test(s), s);
  for (const s of ['import { sumTo as sumToShape }', 'const a = node.attrs;', 'saved.y = y;', 'attrs.shape as const']) {
    assert.not.ok(CAST.test(s), s);
  }
});

test('no op reads its attributes or saved values through an `as` cast', () => {
  const files = readdirSync(opsDir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 10, `only ${files.length} files in engine/ops`);
  const found: string[] = [];
  for (const f of files) {
    code(readFileSync(join(opsDir, f), 'utf8')).split('\n').forEach((line, i) => {
      if (CAST.test(line)) found.push(`engine/ops/${f}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.equal(found, [], `casts on op attributes or saved values (declare them in defineOp<A, S> instead):\n${found.join('\n')}`);
});

test.run();
