// The classification task's per-method run on a tiny synthetic set: every method trains and is
// evaluated under the same protocol, the metrics are well-formed, LBD's keep probabilities are
// recorded per epoch, and no GPU bytes outlive the run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runOne, METHODS, batchAccuracy, type ClassifyOptions } from '../../tasks/classify/experiment.js';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sync, memoryStats, tensor, scope, crossEntropy, Generator } from '../../engine/index.js';
import { vgg19 } from '../../models/vgg.js';
import { Dropout } from '../../layers/dropout/dropout.js';
import { saveModule } from '../../layers/checkpoint.js';
import { ready } from '../helpers.js';
import { runPaths } from '../../tasks/common/grid.js';

const test = suite('classify');
test.before(async () => { await ready; });

function synthetic(n: number, seed: number): { x: Float32Array; y: Int32Array; n: number } {
  let s = seed;
  const r = (): number => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296 - 0.5; };
  const x = new Float32Array(n * 3072);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) { y[i] = i % 10; fillImage(x, i, y[i], r); }
  return { x, y, n };
}

function fillImage(x: Float32Array, i: number, label: number, r: () => number): void {
  for (let j = 0; j < 3072; j++) x[i * 3072 + j] = r() + (j % 10 === label ? 1 : 0);
}

const o: ClassifyOptions = {
  data: '', methods: [...METHODS], granularity: 'unit', estimator: 'disarm', epochs: 2, batch: 8, lr: 1e-3, logitLr: 1e-2,
  seeds: 1, width: 1 / 16, hidden: 16, trainPerClass: 4, testPerClass: 2, valFraction: 0.25, samples: 3, rate: 0.5,
  augment: true, batchNorm: true, imageSize: 32,
};

test('every method trains and is evaluated with well-formed metrics, leaking nothing', async () => {
  const data = { train: synthetic(40, 1), test: synthetic(20, 2) };
  await sync();
  const live = memoryStats().liveBytes;
  for (const m of METHODS) {
    const r = await runOne(m, 1, o, data);
    assert.is(r.method, m);
    assert.ok(r.accuracy >= 0 && r.accuracy <= 1, `${m} accuracy ${r.accuracy}`);
    assert.ok(Number.isFinite(r.nll) && r.nll > 0, `${m} nll ${r.nll}`);
    assert.ok(r.ece >= 0 && r.ece <= 1, `${m} ece ${r.ece}`);
    assert.is(r.pavpu.value.length, 21);
    assert.ok(r.pavpu.value.every((v) => v >= 0 && v <= 1));
    assert.is(r.losses.length, 2);
    assert.ok(r.losses.every(Number.isFinite));
    assert.is(r.trainAccuracy!.length, 2, 'training accuracy per epoch');
    assert.ok(r.trainAccuracy!.every((v) => v >= 0 && v <= 1), `${m} training accuracy ${r.trainAccuracy}`);
    assert.is(r.keep.length, 2, 'keep probabilities per epoch');
    assert.is(r.keep[0].length, 2, 'two dropout layers');
    if (m === 'lbd') assert.ok(r.keep[1].some((k) => Math.abs(k - 0.5) > 1e-4), 'LBD keep probabilities moved');
    if (m === 'regular') assert.equal(r.keep[1], [0.5, 0.5]);
    if (m === 'lbd') assert.equal(r.keepFinal!.map((k) => k.length), [16, 16], 'per-unit keep probabilities of both layers');
  }
  await sync();
  assert.is(memoryStats().liveBytes, live, 'live bytes after all runs');
});

test('the running training accuracy of the progress bar: label at the top logit', async () => {
  const acc = await scope(async () => {
    const logits = tensor([2, 1, 0, /**/ 0, 3, 1, /**/ 5, 5.5, 0, /**/ 1, 1, 4], [4, 3]);
    const y = tensor([0, 2, 1, 2], [4], 'i32'); // right, wrong, right, right
    return batchAccuracy(logits, crossEntropy(logits, y, { reduction: 'none' })).item();
  });
  assert.ok(Math.abs(acc - 0.75) < 1e-6, `accuracy ${acc}`);
});

test('--init: every run starts from the checkpoint (its own seed\'s weights change nothing, another seed\'s do)', async () => {
  const data = { train: synthetic(40, 7), test: synthetic(20, 8) };
  const dir = mkdtempSync(join(tmpdir(), 'lbd-init-'));
  try {
    const save = async (seed: number): Promise<string> => {
      const { model } = vgg19({ width: o.width, hidden: o.hidden, classes: 10, imageSize: 32, batchNorm: o.batchNorm, generator: new Generator(seed), dropout: () => new Dropout(0.5) });
      const file = join(dir, `s${seed}.safetensors`);
      await saveModule(file, model);
      model.dispose();
      return file;
    };
    const base = await runOne('regular', 1, { ...o, epochs: 1 }, data);
    const same = await runOne('regular', 1, { ...o, epochs: 1, init: await save(1) }, data);
    const other = await runOne('regular', 1, { ...o, epochs: 1, init: await save(2) }, data);
    assert.equal(same.losses, base.losses, 'seed 1\'s own initial weights');
    assert.not.equal(other.losses, base.losses, 'seed 2\'s weights were loaded');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('224-px inputs: each 32-px batch is upsampled for the ImageNet-shaped VGG (paper preset path)', async () => {
  const data = { train: synthetic(40, 5), test: synthetic(20, 6) };
  await sync();
  const live = memoryStats().liveBytes;
  const r = await runOne('lbd', 1, { ...o, epochs: 1, imageSize: 224 }, data);
  assert.ok(r.losses.every(Number.isFinite) && r.accuracy >= 0);
  assert.is(r.imagesPerSecond > 0, true);
  await sync();
  assert.is(memoryStats().liveBytes, live);
});

test('a run checkpoints each epoch and resumes from the last one (weights, both optimizers, history)', async () => {
  const data = { train: synthetic(40, 3), test: synthetic(20, 4) };
  const dir = mkdtempSync(join(tmpdir(), 'lbd-classify-'));
  try {
    const files = runPaths(dir, 'lbd-s1');
    const two = await runOne('lbd', 1, { ...o, epochs: 2 }, data, { checkpoint: files.checkpoint });
    assert.ok(existsSync(files.checkpoint), 'one checkpoint file holds the run');
    const three = await runOne('lbd', 1, { ...o, epochs: 3 }, data, { checkpoint: files.checkpoint });
    assert.is(three.losses.length, 3);
    assert.equal(three.losses.slice(0, 2), two.losses, 'the first two epochs come from the checkpoint');
    assert.equal(three.keep.slice(0, 2), two.keep);
    const fresh = await runOne('lbd', 1, { ...o, epochs: 3 }, data);
    assert.equal(fresh.losses.slice(0, 2), two.losses, 'same data order and initial weights per seed');
    assert.is(three.losses[2], fresh.losses[2], 'resumed epoch 3 loss equals the uninterrupted one');
    assert.equal(three.keep, fresh.keep);
    assert.is(three.accuracy, fresh.accuracy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
