// The layers one by one: shapes, PyTorch's initialisation bounds, forward against float64,
// buffers and train/eval behaviour, and clear errors for bad options and inputs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Generator, tensor, full, scope, sum, refConv, refConvTranspose, refDropoutMask, type Tensor } from '../../engine/index.js';
import { Sequential } from '../../layers/sequential.js';
import { Conv2d, ConvTranspose2d } from '../../layers/conv.js';
import { BatchNorm1d, BatchNorm2d } from '../../layers/norm.js';
import { MaxPool2d, AvgPool2d, GlobalAvgPool2d } from '../../layers/pool.js';
import { ReLU, Flatten } from '../../layers/basic.js';
import { Dropout } from '../../layers/dropout/dropout.js';
import { ready, rng, sample, assertClose } from '../helpers.js';

const test = suite('layers');
test.before(async () => { await ready; });

const maxAbs = async (t: Tensor): Promise<number> => Math.max(...Array.from(await t.data(), Math.abs));

test('Conv2d: PyTorch layout and init bounds, forward = conv + bias, clear errors', async () => {
  const conv = new Conv2d(3, 8, 3, { stride: 2, padding: 1, generator: new Generator(1) });
  assert.equal(conv.weight.shape, [8, 3, 3, 3]);
  assert.equal(conv.bias!.shape, [8]);
  assert.equal(conv.namedParameters().map(([n]) => n), ['weight', 'bias']);
  const bound = 1 / Math.sqrt(27);
  assert.ok(await maxAbs(conv.weight) <= bound && await maxAbs(conv.bias!) <= bound, 'U(±1/√fanIn)');
  assert.ok(await maxAbs(conv.weight) > 0.8 * bound, 'weights fill the range');
  await scope(async () => {
    const { ref, t } = sample({ shape: [2, 3, 7, 5] }, rng(8));
    const y = conv.forward(t);
    const w = { shape: conv.weight.shape, data: Float64Array.from(await conv.weight.data()) };
    const b = await conv.bias!.data();
    const want = refConv(ref, w, 2, 1);
    const hw = want.shape[2] * want.shape[3];
    want.data.forEach((v, i) => { want.data[i] = v + b[Math.floor(i / hw) % 8]; });
    assert.equal(y.shape, [2, 8, 4, 3]);
    assertClose(await y.data(), want.data, 1e-4, 'Conv2d forward');
    assert.throws(() => conv.forward(full([2, 4, 8, 8], 0)), /Conv2d\(3 → 8, k=3x3, stride 2, padding 1\): expects input \[N, 3, H, W\], got \[2, 4, 8, 8\]/);
  });
  const nb = new Conv2d(2, 4, [3, 1], { bias: false, init: 'kaiming-normal', generator: new Generator(2) });
  assert.is(nb.bias, null);
  assert.equal(nb.weight.shape, [4, 2, 3, 1]);
  assert.throws(() => new Conv2d(3, 8, 3, { stride: 0 }), /Conv2d: stride must be an integer ≥ 1, got 0/);
  assert.throws(() => new Conv2d(3, 0, 3), /Conv2d: outChannels must be an integer ≥ 1, got 0/);
  assert.throws(() => new Conv2d(3, 8, 0), /Conv2d: kernel size must be a positive integer or \[kh, kw\], got 0/);
  assert.throws(() => new Conv2d(3, 8, 3, { init: 'nope' as never }), /unknown initialiser 'nope'/);
  conv.dispose();
  nb.dispose();
});

test('ConvTranspose2d: [Cin, Cout, k, k] weight, fanIn = Cout·k², output size, clear errors', async () => {
  const ct = new ConvTranspose2d(4, 6, 3, { stride: 2, padding: 1, outputPadding: 1, generator: new Generator(3) });
  assert.equal(ct.weight.shape, [4, 6, 3, 3]);
  assert.equal(ct.bias!.shape, [6]);
  const bound = 1 / Math.sqrt(6 * 9);
  assert.ok(await maxAbs(ct.weight) <= bound && await maxAbs(ct.bias!) <= bound);
  await scope(async () => {
    const { ref, t } = sample({ shape: [2, 4, 5, 3] }, rng(9));
    const y = ct.forward(t);
    assert.equal(y.shape, [2, 6, 10, 6]);
    const w = { shape: ct.weight.shape, data: Float64Array.from(await ct.weight.data()) };
    const b = await ct.bias!.data();
    const want = refConvTranspose(ref, w, 2, 1, 1);
    want.data.forEach((v, i) => { want.data[i] = v + b[Math.floor(i / 60) % 6]; });
    assertClose(await y.data(), want.data, 1e-4, 'ConvTranspose2d forward');
    assert.throws(() => ct.forward(full([2, 6, 5, 5], 0)), /ConvTranspose2d\(4 → 6, .*\): expects input \[N, 4, H, W\], got \[2, 6, 5, 5\]/);
  });
  assert.throws(() => new ConvTranspose2d(4, 6, 3, { stride: 2, outputPadding: 2 }), /outputPadding 2 must be smaller than stride 2/);
  ct.dispose();
});

test('BatchNorm2d / BatchNorm1d: parameters, buffers updated in place, eval mode, errors', async () => {
  const bn = new BatchNorm2d(3);
  assert.equal(bn.namedParameters().map(([n]) => n), ['weight', 'bias']);
  assert.equal(bn.namedBuffers().map(([n]) => n), ['running_mean', 'running_var']);
  assert.equal(await bn.weight!.array(), [1, 1, 1]);
  assert.equal(await bn.bias!.array(), [0, 0, 0]);
  const rm = bn.running_mean, rv = bn.running_var;
  await scope(async () => {
    // channel c holds c + {0, 2} (batch 2, one pixel): mean c + 1, biased var 1, unbiased 2
    const x = tensor([0, 1, 2, 2, 3, 4], [2, 3, 1, 1]);
    const y = bn.forward(x);
    assertClose(await y.data(), [-1, -1, -1, 1, 1, 1].map((v) => v / Math.sqrt(1 + 1e-5)), 1e-5, 'training output');
    assert.ok(bn.running_mean === rm && bn.running_var === rv, 'the same buffer tensors');
    assertClose(await rm.data(), [0.1, 0.2, 0.3], 1e-6, 'running mean');
    assertClose(await rv.data(), [1.1, 1.1, 1.1], 1e-6, 'running var (unbiased)');
    bn.eval();
    const e = await bn.forward(tensor([0.1, 0.2, 0.3], [1, 3, 1, 1])).array();
    assertClose(e, [0, 0, 0], 1e-6, 'eval output uses the running statistics');
    assertClose(await rm.data(), [0.1, 0.2, 0.3], 1e-6, 'eval leaves the running mean alone');
    assert.throws(() => bn.forward(full([2, 3], 0)), /BatchNorm2d\(3\): expects input \[N, C, H, W\] with C = 3, got \[2, 3\]/);
    assert.throws(() => bn.forward(full([2, 4, 2, 2], 0)), /got \[2, 4, 2, 2\]/);
  });
  const b1 = new BatchNorm1d(2, { momentum: 0.5, affine: false });
  assert.is(b1.parameters().length, 0);
  await scope(async () => {
    b1.forward(tensor([1, 2, 3, 6], [2, 2]));
    assertClose(await b1.running_mean.data(), [1, 2], 1e-6, 'BatchNorm1d running mean, momentum 0.5');
    assert.equal(b1.forward(full([4, 2, 5], 1)).shape, [4, 2, 5]);
    assert.throws(() => b1.forward(full([4, 2, 5, 5], 1)), /BatchNorm1d\(2\): expects input \[N, C\] or \[N, C, L\] with C = 2/);
  });
  assert.throws(() => new BatchNorm2d(3, { momentum: 1.5 }), /BatchNorm2d: momentum must be in \[0, 1\], got 1.5/);
  assert.throws(() => new BatchNorm1d(0), /BatchNorm1d: numFeatures must be a positive integer, got 0/);
  bn.dispose();
  b1.dispose();
});

test('Dropout: masks from its own generator, fresh per call, identity in eval mode', async () => {
  await scope(async () => {
    const x = full([5, 41], 1);
    const d = new Dropout(0.3, { seed: 42 });
    const twin = new Generator(42);
    const a = await d.forward(x).data();
    const b = await d.forward(x).data();
    for (const y of [a, b]) {
      const want = refDropoutMask(x.size, 0.3, twin.reserve(x.size));
      for (let i = 0; i < x.size; i++) if ((y[i] === 0) !== (want[i] === 0)) assert.unreachable(`element ${i} differs from the twin`);
    }
    assert.ok(a.some((v, i) => (v === 0) !== (b[i] === 0)), 'two calls, two masks');
    const same = await new Dropout(0.3, { seed: 42 }).forward(x).data();
    assert.equal(Array.from(same), Array.from(a), 'same seed, same first mask');
    d.eval();
    assert.is(d.forward(x), x, 'eval mode returns the input');
    assert.is(new Dropout(0).forward(x), x, 'p = 0 is the identity');
    // gradients flow through the training-mode layer
    const xg = full([3, 7], 1).requireGrad();
    const dt = new Dropout(0.5, { generator: new Generator(5) });
    sum(dt.forward(xg)).backward();
    const g = await xg.grad!.data();
    assert.ok(g.every((v) => v === 0 || v === 2), 'gradient is the mask (0 or 1/(1 − p))');
  });
  assert.throws(() => new Dropout(1.5), /Dropout: p must be a number in \[0, 1\], got 1.5/);
});

test('train()/eval() reach nested layers; pooling, ReLU, Flatten', async () => {
  const drop = new Dropout(0.5, { seed: 1 });
  const bn = new BatchNorm2d(2);
  const net = new Sequential(bn, new ReLU(), new MaxPool2d(2), drop, new AvgPool2d(2, { stride: 1 }), new Flatten());
  net.eval();
  assert.ok(!drop.training && !bn.training);
  net.train();
  assert.ok(drop.training && bn.training);
  await scope(async () => {
    const y = net.forward(sample({ shape: [2, 2, 6, 6] }, rng(1)).t);
    assert.equal(y.shape, [2, 8]);
    assert.equal(new GlobalAvgPool2d().forward(full([2, 5, 3, 3], 1)).shape, [2, 5]);
    assert.equal(await new ReLU().forward(tensor([-1, 0.5])).array(), [0, 0.5]);
    assert.equal(new Flatten(2).forward(full([2, 3, 4, 5], 1)).shape, [2, 3, 20]);
    assert.throws(() => new Flatten(4).forward(full([2, 3], 1)), /Flatten\(4\): input \[2, 3\] has only 2 axes/);
  });
  assert.throws(() => new MaxPool2d(2, { padding: 2 }), /MaxPool2d: padding 2 must be at most half the kernel size 2/);
  assert.throws(() => new AvgPool2d(3, { stride: 0 }), /AvgPool2d: stride must be an integer ≥ 1, got 0/);
  net.dispose();
});

test.run();
