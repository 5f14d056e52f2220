// The page's parts that run anywhere, checked under Node: the digits asset round-trips exactly,
// the GPU toy study equals the float64 study on the same u draws, the page's trainer learns
// with every kind and leaks nothing, and the library sources stay host-neutral (the browser test,
// npm run test:web, runs the page itself in Chromium).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ready, noLeak } from '../helpers.js';
import { Generator, randomTwin } from '../../engine/index.js';
import { loadMnist } from '../../tasks/data/mnist.js';
import { encodeDigits, decodeDigits } from '../../tasks/web/digits.js';
import { toyEstimatesGpu } from '../../tasks/web/toy-gpu.js';
import { WebTrainer, PAGE_KINDS, webDefaults } from '../../tasks/web/train.js';
import { makeToyModel } from '../../tasks/toy/model.js';
import { toyEstimates } from '../../tasks/toy/toy-estimates.js';
import { logit } from '../../tasks/toy/sigmoid.js';
import { DROPOUT_NAMES } from '../../layers/dropout/registry.js';

const test = suite('web page parts');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const digits = loadMnist();

test('digits asset: exact round trip, refuses a truncated file', () => {
  const bytes = encodeDigits(digits);
  assert.ok(bytes.length < 8.5e6, `asset is ${bytes.length} bytes`);
  const back = decodeDigits(bytes);
  for (const k of ['train', 'test'] as const) {
    assert.is(back[k].n, digits[k].n, `${k} count`);
    assert.equal(Array.from(back[k].y), Array.from(digits[k].y), `${k} labels`);
    let diff = 0;
    for (let i = 0; i < digits[k].x.length; i++) if (back[k].x[i] !== digits[k].x[i]) diff++;
    assert.is(diff, 0, `${k} pixels differing`);
  }
  assert.throws(() => decodeDigits(bytes.subarray(0, bytes.length - 1)), /expected \d+ bytes/);
});

test('toy study on the GPU = the float64 study on the same u draws (ARM, DisARM, Concrete)', async () => {
  await ready;
  const m = makeToyModel({ samples: 600, seed: 1 });
  const alpha: [number, number] = [logit(0.3), logit(0.8)], t = 0.1, count = 5;
  const gpu = await toyEstimatesGpu(m, alpha, { count, temperature: t, generator: new Generator(7, 3) });
  const twin = new Generator(7, 3), out = new Float64Array(6);
  let worst = 0;
  for (let j = 0; j < count; j++) {
    const d = twin.reserve(2 * m.n);
    toyEstimates(m, alpha, randomTwin('uniform', 2 * m.n, d.seed, d.stream, d.offset), t, out);
    const got = [gpu.arm[0][j], gpu.arm[1][j], gpu.disarm[0][j], gpu.disarm[1][j], gpu.concrete[0][j], gpu.concrete[1][j]];
    for (let i = 0; i < 6; i++) {
      // f32 sums of 600 terms against float64: relative 1e-3 of the estimate's own scale
      const err = Math.abs(got[i] - out[i]) / Math.max(Math.abs(out[i]), 1e-3);
      worst = Math.max(worst, err);
      assert.ok(err < 2e-3, `replicate ${j}, output ${i}: GPU ${got[i]}, float64 ${out[i]}`);
    }
  }
  assert.ok(worst > 0, 'the GPU and float64 values are computed separately');
});

test('page trainer: every kind steps; LBD (ARM) learns, moves its keeps, gives a distribution, leaks nothing', async () => {
  await ready;
  assert.equal([...new Set(PAGE_KINDS.map((k) => (k.startsWith('lbd') ? 'lbd' : k)))].sort(), [...DROPOUT_NAMES].sort(), 'the page offers every registry kind');
  for (const kind of PAGE_KINDS) {
    const t = new WebTrainer({ ...webDefaults, kind, hidden: [32] }, digits.train);
    const l = await t.step(true);
    assert.ok(l !== null && Number.isFinite(l) && l > 1 && l < 4, `${kind}: first loss ${l} (about log 10 = 2.3)`);
    t.dispose();
  }
  const t = new WebTrainer({ ...webDefaults, kind: 'lbd-arm', hidden: [64, 64], logitLr: 5e-2 }, digits.train);
  const k0 = await t.keeps();
  assert.ok(k0.every((k) => k.every((v) => Math.abs(v - 0.5) < 1e-6)), 'initial keep 0.5');
  const first = (await t.step(true))!;
  await noLeak('20 LBD steps', async () => { for (let s = 0; s < 20; s++) await t.step(); });
  let last = 0;
  for (let s = 0; s < 39; s++) last = (await t.step(s === 38))!;
  assert.ok(last < 0.6 * first, `loss ${first} → ${last}`);
  const test5 = { n: 500, x: digits.test.x.subarray(0, 500 * 784), y: digits.test.y.subarray(0, 500) };
  const acc = await t.accuracy(test5);
  assert.ok(acc > 0.6, `accuracy after 60 steps ${acc} (chance 0.1)`);
  const k1 = await t.keeps();
  assert.ok(k1.every((k) => Math.max(...k.map((v) => Math.abs(v - 0.5))) > 0.01), 'keep probabilities moved');
  const p = await t.predictive(digits.test.x.slice(0, 784), 30);
  assert.is(p.samples, 30);
  assert.ok(Math.abs(p.probs.reduce((a, b) => a + b, 0) - 1) < 1e-5 && p.entropy >= 0 && p.entropy <= Math.log(10), `predictive ${p.probs}, entropy ${p.entropy}`);
  t.dispose();
});

/** engine/, kernels/, layers/, models/ source files. */
function walk(d: string): string[] {
  return readdirSync(join(root, d)).flatMap((f) => {
    const p = join(d, f);
    return statSync(join(root, p)).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const libraryFiles = (): string[] => ['engine', 'kernels', 'layers', 'models'].flatMap((d) => walk(d));

test('library sources are host-neutral: environment through kernels/env.ts, Node modules only in the Node host', () => {
  // only the Node host itself (engine/checkpoint.ts loads node:fs inside its path functions)
  const NODE_FILES = new Set(['engine/host-node.ts']);
  const files = libraryFiles();
  assert.ok(files.length > 40, `found ${files.length} files`);
  const bad: string[] = [];
  for (const f of files) {
    const src = readFileSync(join(root, f), 'utf8');
    if (f !== 'kernels/env.ts' && f !== 'engine/host-node.ts' && /\bprocess\.env\b/.test(src)) bad.push(`${f} reads process.env (use env() from kernels/env.ts)`);
    if (!NODE_FILES.has(f) && /from '(node:|fs'|path'|webgpu')|import\('(node:|webgpu)/.test(src)) bad.push(`${f} imports a Node-only module`);
    if (f !== 'engine/device.ts' && /host-node\.js/.test(src)) bad.push(`${f} imports the Node host`);
  }
  assert.equal(bad, []);
});

test.run();
