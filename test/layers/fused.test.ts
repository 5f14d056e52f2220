// FusedSequential (layers/norm.ts) against a plain Sequential holding the SAME modules: conv →
// BN → ReLU with the conv's bias moved into the batch-norm op, BN → ReLU fused, a BN without a
// ReLU and a conv without a BN after it left alone. Outputs, every parameter's gradient, the
// running statistics (training) and eval mode must agree; the fused one takes fewer passes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Generator, tensor, scope, sync, sum, mul, dispatchTotal, type Tensor } from '../../engine/index.js';
import { copyBuffer } from '../../engine/dispatch.js';
import { Sequential } from '../../layers/sequential.js';
import { Conv2d } from '../../layers/conv.js';
import { BatchNorm2d, FusedSequential } from '../../layers/norm.js';
import { MaxPool2d } from '../../layers/pool.js';
import { ReLU, Flatten } from '../../layers/basic.js';
import { Linear } from '../../layers/linear.js';
import { ready, rng, assertClose, noLeak } from '../helpers.js';

const test = suite('fused sequential');
test.before(async () => { await ready; });

const values = async (t: Tensor): Promise<Float32Array> => Float32Array.from(await t.data());

test('FusedSequential = Sequential of the same modules: 3 training steps (running stats) and eval, outputs and gradients; fewer passes', async () => {
  await noLeak('fused sequential', async () => {
    const g = new Generator(3);
    const layers = [
      new Conv2d(3, 5, 3, { padding: 1, generator: g }), new BatchNorm2d(5), new ReLU(),
      new Conv2d(5, 4, 3, { padding: 1, generator: g }), new BatchNorm2d(4), // BN without a ReLU
      new MaxPool2d(2),
      new Conv2d(4, 6, 1, { generator: g }), new ReLU(), // conv without a BN
      new Flatten(1), new Linear(72, 7, { generator: g }), new ReLU(), // ReLU in the product's epilogue
    ];
    const fused = new FusedSequential(...layers);
    const plain = new Sequential(...layers);
    assert.equal(fused.namedParameters().map(([n]) => n), plain.namedParameters().map(([n]) => n), 'same parameter names');
    const named = plain.namedParameters();
    const buffers = plain.namedBuffers();
    const r = rng(11);
    const x = tensor(Float32Array.from({ length: 4 * 3 * 6 * 8 }, () => r() * 4 - 1), [4, 3, 6, 8]).keep();
    const R = tensor(Float32Array.from({ length: 4 * 7 }, () => r() * 2 - 1), [4, 7]).keep();
    const run = async (m: Sequential) => scope(async () => {
      await sync();
      const d0 = dispatchTotal();
      const y = m.forward(x);
      sum(mul(y, R)).backward();
      const passes = dispatchTotal() - d0;
      const grads: Float32Array[] = [];
      for (const [, p] of named) { grads.push(await values(p.grad!)); p.grad!.dispose(); p.grad = null; }
      return { y: await values(y), grads, passes, stats: await Promise.all(buffers.map(([, b]) => values(b))) };
    });
    for (const training of [true, false]) {
      plain.train(training);
      for (let step = 0; step < (training ? 3 : 1); step++) {
        const before = await Promise.all(buffers.map(([, b]) => values(b)));
        const a = await run(fused);
        // the running statistics back as they were, so that the plain run starts from the same state
        buffers.forEach(([, b], k) => { const src = tensor(before[k], b.shape); copyBuffer(src.buffer, 0, b.buffer, 0, b.size * 4); src.dispose(); });
        const e = await run(plain);
        const what = `${training ? 'training' : 'eval'} step ${step}`;
        assert.ok(a.y.some((v) => v === 0) && a.y.some((v) => v !== 0), `${what}: the last ReLU cuts some values`);
        assertClose(a.y, e.y, 1e-4, `${what}: y`);
        // in training the conv biases before a BN get 0 (fused, exactly) vs float noise (plain): an absolute 1e-4
        a.grads.forEach((gr, k) => assertClose(gr, e.grads[k], 1e-4, `${what}: d ${named[k][0]}`));
        a.stats.forEach((s, k) => assertClose(s, e.stats[k], 1e-5, `${what}: ${buffers[k][0]}`));
        if (training) {
          assert.ok(a.stats.some((s, k) => s.some((v, i) => v !== before[k][i])), `${what}: the running statistics moved`);
          // the conv bias's gradient reduction (x2 convs; the bias add itself is a GEMM epilogue
          // either way), the ReLU forward + backward after the first BN, and after the Linear the
          // ReLU's forward (the epilogue) and one of its ReLU-gradient and bias-sum passes (one
          // act-grad pass does both)
          assert.ok(a.passes <= e.passes - 6, `${what}: fused ${a.passes} passes vs ${e.passes}`);
        } else assert.ok(a.passes < e.passes, `${what}: fused ${a.passes} passes vs ${e.passes}`);
      }
    }
    x.dispose(); R.dispose();
    for (const [, p] of named) p.dispose();
    for (const [, b] of buffers) b.dispose();
  });
});

test.run();
