// VGG19 (configuration E): parameter counts against the architecture (standard VGG19 = 143,667,240
// without building it), forward shapes of a tiny VGG, a checkpoint round trip through
// loadPretrained, and training steps with each dropout kind in the classifier's slots, leaking
// zero live bytes from step 2 on.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator, tensor, scope, crossEntropy, type Tensor } from '../../engine/index.js';
import { vgg19, vggParameterCount, vggFeatureSize, vggConfigE, loadPretrained, type VggOptions } from '../../models/vgg.js';
import { saveModule } from '../../layers/checkpoint.js';
import { Conv2d } from '../../layers/conv.js';
import { Linear } from '../../layers/linear.js';
import { BatchNorm2d } from '../../layers/norm.js';
import { MaxPool2d } from '../../layers/pool.js';
import type { DropoutLayer } from '../../layers/dropout/base.js';
import { Dropout, MCDropout } from '../../layers/dropout/dropout.js';
import { GaussianDropout } from '../../layers/dropout/gaussian.js';
import { ConcreteDropout } from '../../layers/dropout/concrete.js';
import { LearnableBernoulliDropout } from '../../layers/dropout/lbd.js';
import { threeStepsWithoutLeak } from '../train-steps.js';
import { ready, assertClose } from '../helpers.js';

const test = suite('vgg');
test.before(async () => { await ready; });

const numel = (t: Tensor): number => t.shape.reduce((a, b) => a * b, 1);
const countParams = (ts: Tensor[]): number => ts.reduce((a, t) => a + numel(t), 0);
const TINY: VggOptions = { width: 1 / 16, imageSize: 32, hidden: 16, classes: 10 };

test('configuration E: 16 convolutions in five stages', () => {
  assert.equal(vggConfigE.map((s) => s.length), [2, 2, 4, 4, 4]);
  assert.equal(vggConfigE.map((s) => s[0]), [64, 128, 256, 512, 512]);
  assert.is(vggFeatureSize({ imageSize: 32 }), 512);
  assert.is(vggFeatureSize({ imageSize: 224 }), 512 * 7 * 7);
  assert.is(vggFeatureSize({ imageSize: 32, width: 1 / 16 }), 32);
  assert.is(vggFeatureSize({ imageSize: 32, width: 1e-6 }), 1, 'channels never round below 1');
});

test('parameter counts by hand: 32-px head (hidden 512) and the standard 224-px VGG19', () => {
  // Σ over the 16 convolutions of 3·3·Cin·Cout + Cout
  const conv = (3 * 9 * 64 + 64) + (64 * 9 * 64 + 64)
    + (64 * 9 * 128 + 128) + (128 * 9 * 128 + 128)
    + (128 * 9 * 256 + 256) + 3 * (256 * 9 * 256 + 256)
    + (256 * 9 * 512 + 512) + 3 * (512 * 9 * 512 + 512)
    + 4 * (512 * 9 * 512 + 512);
  assert.is(conv, 20_024_384);
  const fc32 = (512 * 512 + 512) + (512 * 512 + 512) + (512 * 10 + 10);
  assert.is(vggParameterCount({ width: 1, imageSize: 32, hidden: 512, classes: 10 }), conv + fc32);
  assert.is(vggParameterCount({ imageSize: 32 }), 20_554_826, 'defaults for 32 px: hidden 512, 10 classes');
  const fc224 = (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000);
  assert.is(conv + fc224, 143_667_240);
  assert.is(vggParameterCount({ imageSize: 224, hidden: 4096, classes: 1000 }), 143_667_240);
  assert.is(vggParameterCount({ imageSize: 224 }), 143_667_240, 'defaults for 224 px: hidden 4096, 1000 classes');
  // batch norm adds a weight and a bias per conv channel
  const bnChannels = 2 * 64 + 2 * 128 + 4 * 256 + 8 * 512;
  assert.is(vggParameterCount({ imageSize: 224, batchNorm: true }), 143_667_240 + 2 * bnChannels);
  assert.throws(() => vggParameterCount({ imageSize: 64 as 32 }), /imageSize/);
  assert.throws(() => vggParameterCount({ width: 0 }), /width/);
});

test('built tiny models have exactly vggParameterCount parameters (with and without batch norm)', async () => {
  await scope(async () => {
    for (const batchNorm of [false, true]) {
      const o: VggOptions = { ...TINY, batchNorm, generator: new Generator(1) };
      const { model, dropouts } = vgg19(o);
      assert.is(dropouts.length, 0, 'no factory, no dropout');
      assert.is(countParams(model.parameters()), vggParameterCount(o));
      const mods = model.modules();
      assert.is(mods.filter((m) => m instanceof Conv2d).length, 16);
      assert.is(mods.filter((m) => m instanceof MaxPool2d).length, 5);
      assert.is(mods.filter((m) => m instanceof BatchNorm2d).length, batchNorm ? 16 : 0);
      assert.equal(mods.filter((m) => m instanceof Conv2d).map((c) => (c as Conv2d).outChannels),
        [4, 4, 8, 8, 16, 16, 16, 16, 32, 32, 32, 32, 32, 32, 32, 32]);
      assert.equal(mods.filter((m) => m instanceof Linear).map((l) => [(l as Linear).inFeatures, (l as Linear).outFeatures]), [[32, 16], [16, 16], [16, 10]]);
      model.dispose();
    }
  });
});

test('forward shape of a tiny VGG (width 1/16, 32 px, batch 2), train and eval, with batch norm', async () => {
  await scope(async () => {
    for (const batchNorm of [false, true]) {
      const g = new Generator(7);
      const { model } = vgg19({ width: 1 / 16, imageSize: 32, batchNorm, generator: g });
      const x = g.normal([2, 3, 32, 32]);
      const y = model.forward(x);
      assert.equal(y.shape, [2, 10]);
      const v = await y.data();
      assert.ok(v.every(Number.isFinite), 'finite logits');
      model.eval();
      assert.equal(model.forward(x).shape, [2, 10]);
      assert.throws(() => model.forward(g.normal([2, 3, 16, 16])), /larger than the padded input/);
      model.dispose();
    }
  });
});

test('loadPretrained loads a saved checkpoint of the same configuration and refuses another', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgg-'));
  try {
    await scope(async () => {
      const a = vgg19({ ...TINY, batchNorm: true, generator: new Generator(1) }).model;
      const b = vgg19({ ...TINY, batchNorm: true, generator: new Generator(2) }).model;
      const file = join(dir, 'vgg.safetensors');
      await saveModule(file, a);
      await loadPretrained(b, file);
      const pa = a.parameters(), pb = b.parameters();
      for (let i = 0; i < pa.length; i++) assertClose(await pb[i].data(), await pa[i].data(), 0, `parameter ${i}`);
      const c = vgg19({ ...TINY, batchNorm: false }).model;
      let err = '';
      try { await loadPretrained(c, file); } catch (e) { err = (e as Error).message; }
      assert.match(err, /does not match/);
      a.dispose(); b.dispose(); c.dispose();
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const N = 100;
const kinds: [string, (units: number, i: number) => DropoutLayer][] = [
  ['Dropout', (_u, i) => new Dropout(0.5, { seed: 10 + i })],
  ['MCDropout', (_u, i) => new MCDropout(0.5, { seed: 20 + i })],
  ['GaussianDropout', (units, i) => new GaussianDropout({ units, seed: 30 + i, datasetSize: N })],
  ['ConcreteDropout', (_u, i) => new ConcreteDropout({ seed: 40 + i, datasetSize: N })],
  ['LearnableBernoulliDropout', (units, i) => new LearnableBernoulliDropout({ units, seed: 50 + i, datasetSize: N })],
];


for (const [name, factory] of kinds) {
  test(`tiny VGG trains with ${name} in both classifier slots; zero live bytes leaked from step 2 on`, async () => {
    await scope(async () => {
      const g = new Generator(3);
      const { model, dropouts } = vgg19({ ...TINY, dropout: factory, generator: g });
      assert.is(dropouts.length, 2);
      const linears = model.modules().filter((m): m is Linear => m instanceof Linear);
      dropouts.forEach((d, i) => {
        assert.is(d.next?.weight, linears[i + 1].weight, `dropout ${i} feeds Linear ${i + 1}`);
        assert.is(d.next?.unitAxis, 0);
      });
      // the dropout layers' own parameters come on top of the architecture's
      const dropParams = countParams(dropouts.flatMap((d) => d.parameters()));
      assert.is(countParams(model.parameters()), vggParameterCount(TINY) + dropParams);
      const B = 4;
      const x = g.normal([B, 3, 32, 32]);
      const y = tensor([1, 3, 5, 7], [B], 'i32');
      await threeStepsWithoutLeak(model, dropouts, {
        perExample: () => crossEntropy(model.forward(x), y, { reduction: 'none' }),
        batch: () => crossEntropy(model.forward(x), y),
      });
      model.dispose();
    });
  });
}

test.run();
