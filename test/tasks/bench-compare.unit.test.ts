// The bench's pure helpers: median, --compare's row matching and ratios, and merging PyTorch's
// timings (with the same-model check). No GPU work.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { median, compareBench, compareMarkdown, mergeTorch, rowsMarkdown, type ModelRecord, type OpRecord, type BenchFile } from '../../tasks/bench/compare.js';

const test = suite('bench-compare');

const model = (name: string, variant: string, stepMs: number, extra: Partial<ModelRecord['ours']> = {}): ModelRecord => ({
  section: 'models', name, variant, desc: `${name} desc`, unit: 'images', batch: 64, params: 1000, logits: variant === 'lbd' ? 2 : 0,
  ours: { stepsMs: [stepMs], stepMs, perSecond: 64000 / stepMs, dispatches: 400, hostMs: 50, gpuMs: 300, liveDelta: 0, peakBytes: 1 << 20, ...extra },
});
const op = (name: string, variant: string, wall: number): OpRecord => ({
  section: 'ops', name, variant, desc: name, flops: 2e9,
  ours: { wallMs: [wall], gpuMs: [wall / 2], wallMsMedian: wall, gpuMsMedian: wall / 2, wallGflops: 2e9 / (wall * 1e6), gpuGflops: 4e9 / (wall * 1e6) },
});

test('median of odd and even counts, unsorted input left alone', () => {
  const v = [5, 1, 3];
  assert.is(median(v), 3);
  assert.equal(v, [5, 1, 3]);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.throws(() => median([]), /no values/);
});

test('--compare matches rows by name and variant and gives B/A ratios of every shared figure', () => {
  const a: BenchFile = { rows: [model('vgg', 'regular', 200), model('vgg', 'lbd', 220), op('mm', 'AB', 10)], records: [{ op: 'matmul', shape: '1x1x1', variant: 'auto', ms: 4 }] };
  const b: BenchFile = {
    rows: [op('mm', 'AB', 5), model('vgg', 'regular', 100, { dispatches: 200, hostMs: 10, gpuMs: 90 }), model('tiny', 'regular', 7)],
    records: [{ op: 'matmul', shape: '1x1x1', variant: 'auto', ms: 1 }],
  };
  const c = compareBench(a, b);
  assert.equal(c.rows.map((r) => r.key), ['vgg regular', 'mm AB', 'matmul · 1x1x1 · auto']);
  const vgg = c.rows[0];
  assert.is(vgg.aMs, 200); assert.is(vgg.bMs, 100); assert.is(vgg.timeRatio, 0.5);
  assert.equal(vgg.more.dispatches, [400, 200, 0.5]);
  assert.equal(vgg.more.hostMs, [50, 10, 0.2]);
  assert.equal(vgg.more.gpuMs, [300, 90, 0.3]);
  assert.is(c.rows[1].timeRatio, 0.5);
  assert.is(c.rows[2].timeRatio, 0.25);
  assert.equal(c.onlyA, ['vgg lbd']);
  assert.equal(c.onlyB, ['tiny regular']);
  const md = compareMarkdown(c, 'a.json', 'b.json');
  assert.match(md, /\| vgg regular \| 200 \| 100 \| 0\.50 \| 2\.00 \|/);
  assert.match(md, /only in A: vgg lbd/);
  assert.match(md, /only in B: tiny regular/);
});

test('legacy records match on their stable key when the variant carries measurements', () => {
  const a: BenchFile = { records: [{ op: 'train-images/s', shape: 's', key: 'classify lbd', variant: 'LBD: 100 images/s', ms: 640 }] };
  const b: BenchFile = { records: [{ op: 'train-images/s', shape: 's', key: 'classify lbd', variant: 'LBD: 200 images/s', ms: 320 }] };
  const c = compareBench(a, b);
  assert.is(c.rows.length, 1);
  assert.is(c.rows[0].timeRatio, 0.5);
});

test('older files: measurements in the variant or shape and the matmul kernel picked do not split a row', () => {
  const a: BenchFile = { records: [
    { op: 'matmul', shape: '1024x1024x1024', variant: 'subgroup 16x64', ms: 100 },
    { op: 'matmul', shape: '1024x1024x1024', variant: 'tiled (forced)', ms: 600 },
    { op: 'recommend-epoch', shape: '136677 users, built in 3.4 s', variant: 'vae+drop: 78 users/s, epoch 1753 s', ms: 6400 },
    { op: 'matmul', shape: '256x256x256', variant: 'subgroup 16x32', ms: 2 },
  ] };
  const b: BenchFile = { records: [
    { op: 'matmul', shape: '1024x1024x1024', variant: 'tiled 64x64', ms: 0.2 },
    { op: 'matmul', shape: '1024x1024x1024', variant: 'tiled (forced)', ms: 0.3 },
    { op: 'recommend-epoch', shape: '136677 users, built in 3.7 s', variant: 'vae+drop: 9800 users/s, epoch 14 s', ms: 51 },
  ] };
  const c = compareBench(a, b);
  assert.equal(c.rows.map((r) => [r.key, r.bMs]), [
    ['matmul · 1024x1024x1024 · auto', 0.2],
    ['matmul · 1024x1024x1024 · tiled (forced)', 0.3],
    ['recommend-epoch · 136677 users, built in # s · vae+drop', 51],
  ]);
  assert.equal(c.onlyA, ['matmul · 256x256x256 · auto']);
  // a file of several calls (runs[]): records of all, a later call's figure replacing an earlier one's
  const multi: BenchFile = { runs: [{ records: [{ op: 'x', shape: 's', variant: 'v', ms: 9 }] }, { records: [{ op: 'x', shape: 's', variant: 'v', ms: 3 }, { op: 'y', shape: 's', ms: 1 }] }] };
  const m = compareBench(multi, multi);
  assert.equal(m.rows.map((r) => [r.key, r.aMs]), [['x · s · v', 3], ['y · s · ', 1]]);
});

test('mergeTorch: all rounds pooled, ratio = PyTorch ms / ours, per-second from the batch', () => {
  const r = mergeTorch(model('vgg', 'regular', 200), [
    { name: 'vgg', variant: 'regular', wallMs: [300, 500], gpuMs: [], params: 1000, logits: 0, items: 64 },
    { name: 'vgg', variant: 'lbd', wallMs: [9999], gpuMs: [], params: 1000, logits: 2, items: 64 },
    { name: 'vgg', variant: 'regular', wallMs: [400], gpuMs: [], params: 1000, logits: 0, items: 64 },
  ]);
  assert.equal(r.torch!.stepsMs, [300, 500, 400]);
  assert.is(r.torch!.stepMs, 400);
  assert.is(r.ratio, 2);
  assert.is(r.torch!.perSecond, 160);
  assert.is(r.torch!.gpuMs, null);
  const o = mergeTorch(op('mm', 'AB', 10), [{ name: 'mm', variant: 'AB', wallMs: [20, 40, 30], gpuMs: [25], flops: 2e9 }]);
  assert.is(o.ratio, 3);
  assert.is(o.torch!.gflops, 2e9 / (30 * 1e6));
  assert.is(o.torch!.gpuMs, 25);
});

test('mergeTorch refuses a different model or product, and a missing row', () => {
  assert.throws(() => mergeTorch(model('vgg', 'regular', 200), [{ name: 'vgg', variant: 'regular', wallMs: [1], gpuMs: [], params: 999, logits: 0 }]),
    /vgg regular is not the same model: lbd-gpu has 1000 weights \+ 0 logits, PyTorch 999 \+ 0/);
  assert.throws(() => mergeTorch(model('vgg', 'lbd', 200), [{ name: 'vgg', variant: 'lbd', wallMs: [1], gpuMs: [], params: 1000, logits: 1 }]), /not the same model/);
  assert.throws(() => mergeTorch(op('mm', 'AB', 10), [{ name: 'mm', variant: 'AB', wallMs: [1], gpuMs: [], flops: 1e9 }]), /not the same product/);
  assert.throws(() => mergeTorch(model('vgg', 'regular', 200), [{ name: 'vgg', variant: 'lbd', wallMs: [1], gpuMs: [], params: 1000, logits: 2 }]), /gave no timings for vgg regular/);
});

test('rowsMarkdown: one line per row, PyTorch columns only when some row has them', () => {
  const plain = rowsMarkdown([model('vgg', 'regular', 200), op('mm', 'AB', 10)]);
  assert.not.match(plain, /PyTorch/);
  assert.is(plain.split('\n').filter((l) => l.startsWith('| vgg desc') || l.startsWith('| mm |')).length, 2);
  const lbd = model('vgg', 'lbd', 220);
  lbd.overRegular = 1.1;
  const withT = rowsMarkdown([mergeTorch(model('vgg', 'regular', 200), [{ name: 'vgg', variant: 'regular', wallMs: [100], gpuMs: [], params: 1000, logits: 0 }]), lbd]);
  assert.match(withT, /PyTorch ms/);
  assert.match(withT, /\| vgg desc \| regular \| 200 \| 320 images \| 400 \| 50\.00 \| 300 \| 0 \|  \| 100 \| 640 images \| 0\.50 \|/);
  assert.match(withT, /\| vgg desc \| lbd \| 220 .* \| 1\.10 \| \| \| \|/);
});

test.run();
