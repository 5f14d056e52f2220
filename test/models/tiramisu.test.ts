// FC-DenseNet (Tiramisu): parameter counts of 103 / 67 / 56 from the design (checked against
// built models), output size == input size for odd sizes (crops in the transitions up), the
// dropout slots and tiramisuDropout's placement, piecewiseConv's chunks, and training steps with
// each dropout kind in the bottleneck, leaking zero live bytes from step 2 on (and the peak
// counter of engine/memory.ts).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Generator, SGD, sync, scope, memoryStats, crossEntropy, perExample, mul, sum, tensor, relu, concat, type Tensor } from '../../engine/index.js';
import {
  tiramisu, tiramisuParameterCount, tiramisuDropout, FC_DENSENET_103, FC_DENSENET_67, FC_DENSENET_56,
  DenseLayer, TransitionDown, TransitionUp, piecewiseConv, type TiramisuOptions, type TiramisuDropoutFactory,
} from '../../models/tiramisu.js';
import { Conv2d, ConvTranspose2d } from '../../layers/conv.js';
import { BatchNorm2d } from '../../layers/norm.js';
import { Dropout, MCDropout } from '../../layers/dropout/dropout.js';
import { GaussianDropout } from '../../layers/dropout/gaussian.js';
import { ConcreteDropout } from '../../layers/dropout/concrete.js';
import { LearnableBernoulliDropout } from '../../layers/dropout/lbd.js';
import { threeStepsWithoutLeak } from '../train-steps.js';
import { lbdStep, splitParameters } from '../../layers/dropout/lbd-step.js';
import { sumRegularizers } from '../../layers/dropout/base.js';
import { ready, assertClose } from '../helpers.js';
import { resetPeak } from '../../engine/memory.js';

const test = suite('tiramisu');
test.before(async () => { await ready; });

const numel = (t: Tensor): number => t.shape.reduce((a, b) => a * b, 1);
const countParams = (ts: Tensor[]): number => ts.reduce((a, t) => a + numel(t), 0);

test('parameter counts of FC-DenseNet-103 / 67 / 56 from the design', () => {
  // FC-DenseNet-103 by hand. conv(ci, co, k) = ci·co·k² + co; BN = 2 per channel.
  const conv = (ci: number, co: number, k: number): number => ci * co * k * k + co;
  const dense = (c0: number, L: number, g: number): number => {
    let n = 0;
    for (let j = 0; j < L; j++) n += 2 * (c0 + j * g) + conv(c0 + j * g, g, 3);
    return n;
  };
  const g = 16;
  // down: 48 → 112 → 192 → 304 → 464 → 656 (skips), transitions down keep channels
  const skips = [112, 192, 304, 464, 656];
  let n = conv(3, 48, 3);
  const downIn = [48, 112, 192, 304, 464], downL = [4, 5, 7, 10, 12];
  downIn.forEach((c, i) => { n += dense(c, downL[i], g) + 2 * skips[i] + conv(skips[i], skips[i], 1); });
  n += dense(656, 15, g); // bottleneck: 240 new maps go up
  // up: transition up of the block below's new maps (240, 192, 160, 112, 80) + the skip
  const upKeep = [15 * g, 12 * g, 10 * g, 7 * g, 5 * g], upL = [12, 10, 7, 5, 4];
  let last = 0;
  upKeep.forEach((k, i) => {
    const c0 = k + skips[4 - i];
    n += conv(k, k, 3) + dense(c0, upL[i], g);
    last = c0 + upL[i] * g;
  });
  assert.is(last, 256, '80 upsampled + 112 skip + 4·16 new maps into the classifier');
  n += conv(256, 11, 1);
  assert.is(n, 9_322_091);
  assert.is(tiramisuParameterCount(FC_DENSENET_103), 9_322_091);
  // + BN running mean/var (2 per BN channel) = 9,425,163: the paper's "9.4M" (Lasagne count_params)
  assert.is(tiramisuParameterCount(FC_DENSENET_67), 3_463_243, '"3.5M" with BN buffers: 3,502,923');
  assert.is(tiramisuParameterCount(FC_DENSENET_56), 1_376_795, 'paper: 1.5M; with BN buffers 1,397,963');
  assert.throws(() => tiramisuParameterCount({ layersPerBlock: [4, 4], growthRate: 12 }), /2P \+ 1/);
  assert.throws(() => tiramisuParameterCount({ layersPerBlock: [4, 4, 4], growthRate: 0 }), /growthRate/);
});

test('built FC-DenseNet-103 / 67 / 56 have exactly the counted parameters (and BN buffers)', async () => {
  await scope(async () => {
    for (const [cfg, bnChannels] of [[FC_DENSENET_103, 51_536], [FC_DENSENET_67, 19_840], [FC_DENSENET_56, 10_584]] as const) {
      const { model, dropouts } = tiramisu({ ...cfg, generator: new Generator(1) });
      assert.is(dropouts.length, 0);
      assert.is(countParams(model.parameters()), tiramisuParameterCount(cfg));
      assert.is(countParams(model.namedBuffers().map(([, t]) => t)), 2 * bnChannels);
      const mods = model.modules();
      const layers = cfg.layersPerBlock.reduce((a, b) => a + b, 0);
      // the name: dense layers + 5 transitions down + 5 transitions up + first + last conv
      assert.is(layers + 5 + 5 + 2, cfg === FC_DENSENET_103 ? 103 : cfg === FC_DENSENET_67 ? 67 : 56);
      assert.is(mods.filter((m) => m instanceof DenseLayer).length, layers);
      assert.is(mods.filter((m) => m instanceof TransitionDown).length, 5);
      assert.is(mods.filter((m) => m instanceof ConvTranspose2d).length, 5);
      // one BN per piece of a layer's input: as many BN channels as one BN per layer would have
      const bnCh = mods.filter((m): m is BatchNorm2d => m instanceof BatchNorm2d).reduce((a, b) => a + b.numFeatures, 0);
      assert.is(bnCh, bnChannels);
      for (const l of mods.filter((m): m is DenseLayer => m instanceof DenseLayer)) {
        assert.is(l.bns.reduce((a, b) => a + b.numFeatures, 0), l.conv.inChannels);
      }
      model.dispose();
    }
  });
});

const TINY5: TiramisuOptions = { layersPerBlock: Array(11).fill(1), growthRate: 2, firstChannels: 4, classes: 11 };

test('output size equals input size for odd sizes (45×60, 90×120, 37×33): transitions up crop', async () => {
  await scope(async () => {
    const g = new Generator(2);
    const { model } = tiramisu({ ...TINY5, generator: g });
    for (const [H, W] of [[45, 60], [90, 120], [37, 33], [32, 32]]) {
      await scope(async () => {
        // batch 2: at 45×60 the bottleneck is 1×1, and training-mode BN needs > 1 value per channel
        const y = model.forward(g.normal([2, 3, H, W]));
        assert.equal(y.shape, [2, 11, H, W], `${H}×${W}`);
        assert.ok((await y.data()).every(Number.isFinite));
      });
    }
    assert.throws(() => model.forward(g.normal([1, 3, 45, 60])), /more than one value per channel/);
    model.eval();
    assert.equal(model.forward(g.normal([1, 3, 45, 60])).shape, [1, 11, 45, 60]);
    assert.throws(() => model.forward(g.normal([1, 3, 31, 64])), /H, W ≥ 32/);
    model.dispose();
  });
});

test('MC evaluation splits the net: downPath once, upPath per sample; together they are forward', async () => {
  await scope(async () => {
    const g = new Generator(4);
    const bottleneck: MCDropout[] = [];
    const { model } = tiramisu({ ...TINY5, generator: g, dropout: tiramisuDropout(() => { const d = new MCDropout(0.5, { seed: 8 + bottleneck.length }); bottleneck.push(d); return d; }, { seed: 3 }) });
    model.eval();
    for (const d of bottleneck) d.sampleAtEval = false; // deterministic first
    const x = g.normal([1, 3, 128, 128]); // a 4×4 bottleneck: 32 dropout values
    const whole = await model.forward(x).data();
    const down = model.downPath(x);
    assert.equal(Array.from(await model.upPath(down).data()), Array.from(whole), 'eval, no sampling: identical');
    for (const d of bottleneck) d.sampleAtEval = true;
    const a = await model.upPath(down).data(), b = await model.upPath(down).data();
    assert.not.equal(Array.from(a), Array.from(b), 'the bottleneck samples a new mask per upPath');
    model.dispose();
  });
});

test('dropout slots: one per dense layer and transition down; tiramisuDropout puts the kind in the bottleneck only', async () => {
  await scope(async () => {
    const seen: [number, number, boolean, boolean, number][] = [];
    const o: TiramisuOptions = { layersPerBlock: [2, 3, 2], growthRate: 4, firstChannels: 6, classes: 5 };
    const inner: TiramisuDropoutFactory = (channels, w) => new LearnableBernoulliDropout({ granularity: 'layer', units: channels, seed: w.layer });
    const factory = tiramisuDropout(inner, { seed: 3 });
    const { model, dropouts } = tiramisu({ ...o, dropout: (c, w) => { seen.push([w.block, w.layer, w.bottleneck, w.transition, c]); return factory(c, w); } });
    // block 0: 2 layers (6, 10 in) + TD over 14; bottleneck 3 layers; up block 2 layers
    assert.equal(seen, [[0, 0, false, false, 4], [0, 1, false, false, 4], [0, -1, false, true, 14],
      [1, 0, true, false, 4], [1, 1, true, false, 4], [1, 2, true, false, 4], [2, 0, false, false, 4], [2, 1, false, false, 4]]);
    assert.is(dropouts.length, 8);
    assert.equal(dropouts.map((d) => d.kind), ['dropout', 'dropout', 'dropout', 'lbd', 'lbd', 'lbd', 'dropout', 'dropout']);
    assert.ok(dropouts.filter((d) => d.kind === 'dropout').every((d) => (d as Dropout).p === 0.2));
    // 3 LBD logits on top of the architecture's parameters
    assert.is(countParams(model.parameters()), tiramisuParameterCount(o) + 3);
    // the transition up sees the bottleneck's 12 new maps only, and the classifier 12 + 14 + 8
    const tu = model.modules().find((m) => m instanceof TransitionUp) as TransitionUp;
    assert.is(tu.deconv.inChannels, 12);
    assert.is(model.classifier.inChannels, 34);
    assert.ok(model.modules().filter((m) => m instanceof Conv2d).length === 2 + 7 + 1);
    model.dispose();
  });
});

test('piecewiseConv in chunks (as at 480×360, where the stack exceeds the 128 MiB binding limit) = one conv over the concatenation', async () => {
  await scope(async () => {
    const g = new Generator(9);
    const conv = new Conv2d(11, 5, 3, { padding: 1, generator: g });
    const pieces = [g.normal([2, 4, 6, 7]).requireGrad(), g.normal([2, 3, 6, 7]).requireGrad(), g.normal([2, 4, 6, 7]).requireGrad()];
    const run = async (maxCh?: number): Promise<ArrayLike<number>[]> => scope(async () => {
      for (const t of [...pieces, conv.weight, conv.bias!]) t.grad = null;
      const y = piecewiseConv(conv, pieces, maxCh);
      assert.equal(y.shape, [2, 5, 6, 7]);
      sum(mul(y, y)).backward();
      const out: ArrayLike<number>[] = [await y.data()];
      for (const t of [...pieces, conv.weight, conv.bias!]) { out.push(await t.grad!.data()); t.grad!.dispose(); t.grad = null; }
      return out;
    });
    const whole = await run();
    for (const maxCh of [4, 7, 8]) {
      const parts = await run(maxCh);
      parts.forEach((p, i) => assertClose(p, whole[i], 1e-4, `maxChannels ${maxCh}, output/gradient ${i}`));
    }
    conv.dispose();
  });
});

test('a dense layer over pieces (one BN per piece) = BN → ReLU → conv over the concatenated stack', async () => {
  await scope(async () => {
    const g = new Generator(4);
    const layer = new DenseLayer([3, 2, 2], 4, null, g);
    const pieces = [g.normal([2, 3, 5, 6]), g.normal([2, 2, 5, 6]), g.normal([2, 2, 5, 6])];
    const bn = new BatchNorm2d(7); // weight 1, bias 0, as each piece's BN starts
    const want = layer.conv.forward(relu(bn.forward(concat(pieces, 1))));
    assertClose(await layer.forward(...pieces).data(), await want.data(), 1e-5, 'dense layer');
    const runMean = concat(layer.bns.map((b) => b.running_mean), 0);
    assertClose(await runMean.data(), await bn.running_mean.data(), 1e-6, 'running means updated per piece');
    assert.throws(() => layer.forward(concat(pieces, 1)), /expects pieces of \[3, 2, 2\] channels, got \[7\]/);
    layer.dispose(); bn.dispose();
  });
});

const N = 50;
const kinds: [string, TiramisuDropoutFactory][] = [
  ['Dropout', () => new Dropout(0.5, { seed: 10 })],
  ['MCDropout', () => new MCDropout(0.5, { seed: 20 })],
  ['GaussianDropout', (units, w) => new GaussianDropout({ units, seed: 30 + w.layer, datasetSize: N })],
  ['ConcreteDropout', (_u, w) => new ConcreteDropout({ seed: 40 + w.layer, datasetSize: N })],
  ['LearnableBernoulliDropout', (units, w) => new LearnableBernoulliDropout({ granularity: 'layer', units, seed: 50 + w.layer, datasetSize: N })],
];


const VOID = 11;
for (const [name, inner] of kinds) {
  test(`tiny Tiramisu (blocks 2-2-2, growth 4, 16×16) trains with ${name} in the bottleneck; zero live bytes leaked from step 2 on`, async () => {
    await scope(async () => {
      const g = new Generator(3);
      const o: TiramisuOptions = { layersPerBlock: [2, 2, 2], growthRate: 4, firstChannels: 8, classes: 11, generator: g };
      const { model, dropouts } = tiramisu({ ...o, dropout: tiramisuDropout(inner, { seed: 5 }) });
      // slots: 2 layers + transition down, 2 bottleneck layers, 2 layers
      assert.is(dropouts.length, 7);
      assert.equal(dropouts.map((d) => d.constructor.name), ['Dropout', 'Dropout', 'Dropout', name, name, 'Dropout', 'Dropout']);
      const B = 2;
      const x = g.normal([B, 3, 16, 16]);
      const lab = new Int32Array(B * 16 * 16).map((_, i) => (i % 7 === 0 ? VOID : (i * 5) % 11));
      const y = tensor(lab, [B, 16, 16], 'i32');
      await threeStepsWithoutLeak(model, dropouts, {
        perExample: () => perExample(crossEntropy(model.forward(x), y, { reduction: 'none', ignoreIndex: VOID })),
        batch: () => crossEntropy(model.forward(x), y, { ignoreIndex: VOID }),
      }, (step) => {
        if (step === 2) assert.ok(memoryStats().peakBytes > memoryStats().liveBytes, 'the step\'s activations raised the peak');
        resetPeak();
        assert.is(memoryStats().peakBytes, memoryStats().liveBytes, 'resetPeak');
      });
      model.dispose();
    });
  });
}

test('memory-efficient mode (BN → ReLU → conv recomputed in the backward): the same two LBD steps, running statistics included, at a lower peak', async () => {
  const B = 2, S = 24;
  const runSteps = async (memoryEfficient: boolean): Promise<{ losses: number[]; state: number[][]; peak: number }> => scope(async () => {
    const g = new Generator(11);
    const lbd: TiramisuDropoutFactory = (units, w) => new LearnableBernoulliDropout({ granularity: 'layer', units, seed: 60 + w.layer, datasetSize: 10 });
    const { model, dropouts } = tiramisu({ layersPerBlock: [3, 3, 3], growthRate: 4, firstChannels: 8, classes: 11, generator: g, dropout: tiramisuDropout(lbd, { seed: 9 }), memoryEfficient });
    const x = g.normal([B, 3, S, S]);
    const y = tensor(new Int32Array(B * S * S).map((_, i) => (i % 9 === 0 ? VOID : (i * 7) % 11)), [B, S, S], 'i32');
    const { weights, logits } = splitParameters(model);
    // SGD: Adam's g/√v would magnify float-rounding differences of near-zero gradients
    const wopt = new SGD(weights, { lr: 1e-2 }), lopt = new SGD(logits, { lr: 1e-1 });
    const losses: number[] = [];
    let peak = 0;
    for (let step = 0; step < 2; step++) {
      await sync();
      resetPeak();
      const start = memoryStats().liveBytes;
      losses.push(await scope(() => lbdStep(() => perExample(crossEntropy(model.forward(x), y, { reduction: 'none', ignoreIndex: VOID })),
        { weights: wopt, logits: lopt, model, regularizer: () => sumRegularizers(dropouts) }).loss.item()));
      peak = Math.max(peak, memoryStats().peakBytes - start);
    }
    const state = await Promise.all([...model.parameters(), ...model.namedBuffers().map(([, t]) => t)].map((t) => t.array()));
    wopt.dispose(); lopt.dispose(); model.dispose();
    return { losses, state, peak };
  });
  const plain = await runSteps(false), efficient = await runSteps(true);
  assertClose(efficient.losses, plain.losses, 1e-5, 'losses');
  assert.is(efficient.state.length, plain.state.length);
  efficient.state.forEach((t, i) => assertClose(t, plain.state[i], 1e-5, `parameter or buffer ${i} after two steps`));
  assert.ok(efficient.peak < 0.8 * plain.peak, `peak over the start: ${efficient.peak} B memory-efficient vs ${plain.peak} B`);
});

test.run();
