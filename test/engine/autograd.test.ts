// Tape behaviour, scopes and memory, clear errors, and a small MLP that must learn without
// leaking a byte per step.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  tensor, zeros, scope, memoryStats, noGrad, matmul, add, mul, sum, mean, relu, crossEntropy, reshape,
  Generator, SGD, sync, softmax, indexSelect, concat, slice, dispatchTotal, submitTotal, pipelineCount, type Tensor,
} from '../../engine/index.js';
import { ready, noLeak, assertClose } from '../helpers.js';

const test = suite('autograd');
test.before(async () => { await ready; });

test('gradients accumulate across backward calls until cleared', async () => {
  await noLeak('accumulate', () => scope(async () => {
    const x = tensor([1, 2, 3]).requireGrad();
    sum(mul(x, x)).backward();
    sum(mul(x, x)).backward();
    assert.equal(await x.grad!.array(), [4, 8, 12]);
    x.dispose();
  }));
});

test('a tensor used twice gets the sum of both paths', async () => {
  await scope(async () => {
    const x = tensor([0.5, -1]).requireGrad();
    const y = add(mul(x, 3), relu(x));
    sum(y).backward();
    assert.equal(await x.grad!.array(), [4, 3]);
    x.dispose();
  });
});

test('noGrad records nothing', () => {
  scope(() => {
    const x = tensor([1, 2]).requireGrad();
    const y = noGrad(() => mul(x, x));
    assert.is(y.requiresGrad, false);
    assert.is(y.node, null);
    assert.throws(() => sum(y).backward(), /does not require grad/);
    x.dispose();
  });
});

test('scope frees intermediates, keeps results and kept tensors', async () => {
  await sync();
  const before = memoryStats().liveBytes;
  let kept: Tensor | null = null;
  const out = scope(() => {
    const a = tensor([1, 2, 3, 4]);
    kept = mul(a, 2).keep();
    const b = add(a, 1);
    return { r: mul(b, b) };
  });
  assert.equal(await out.r.array(), [4, 9, 16, 25]);
  assert.equal(await kept!.array(), [2, 4, 6, 8]);
  assert.ok(memoryStats().liveBytes > before);
  out.r.dispose();
  kept!.dispose();
  assert.is(memoryStats().liveBytes, before);
});

test('clear errors: shapes, dtypes, disposed tensors, bad options', () => {
  scope(() => {
    const a = tensor(new Float32Array(6), [2, 3]);
    assert.throws(() => add(a, tensor(new Float32Array(4), [4])), /add: shapes \[2, 3\] and \[4\] cannot be broadcast/);
    assert.throws(() => reshape(a, [4, 2]), /cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/);
    assert.throws(() => crossEntropy(a, tensor([0, 1], [2], 'f32')), /labels must be i32/);
    assert.throws(() => crossEntropy(a, tensor([0, 1, 2], [3], 'i32')), /labels \[3\] do not match logits \[2, 3\]/);
    assert.throws(() => tensor([1, 2, 3], [2, 2]), /3 values do not fill shape \[2, 2\]/);
    assert.throws(() => tensor([1, 2.5], [2], 'i32'), /value 2.5 at index 1 does not fit i32/);
    assert.throws(() => tensor([0, NaN], [2], 'i32'), /value NaN at index 1 does not fit i32/);
    assert.throws(() => tensor([1e39], [1]), /value 1e\+39 at index 0 does not fit f32/);
    assert.throws(() => sum(a, [2]), /axis 2 is out of range for a 2-d tensor/);
    assert.throws(() => concat([a, tensor(new Float32Array(4), [2, 2])], 0), /differ outside axis 0/);
    assert.throws(() => slice(a, [0, 0], [1]), /starts\/ends need 2 entries/);
    assert.throws(() => indexSelect(a, tensor([0.5], [1])), /indices must be a 1-d i32 tensor/);
    const d = tensor([1]);
    d.dispose();
    assert.throws(() => add(d, d), /already disposed/);
    assert.throws(() => new SGD([tensor([1]).requireGrad()], { lr: -1 }), /lr must be > 0/);
  });
});

test('out-of-range labels and indices give NaN, never a silent number', async () => {
  await scope(async () => {
    const logits = tensor([1, 2, 3, 4], [2, 2]);
    const l = await crossEntropy(logits, tensor([0, 7], [2], 'i32'), { reduction: 'none' }).array();
    assert.ok(Number.isNaN(l[1]) && Number.isFinite(l[0]));
    const ignored = await crossEntropy(logits, tensor([-100, 1], [2], 'i32')).item();
    assertClose([ignored], [Math.log(1 + Math.exp(-1))], 1e-6, 'mean over the non-ignored label');
    const g = await indexSelect(logits, tensor([1, 5], [2], 'i32')).array();
    assert.equal(g.slice(0, 2), [3, 4]);
    assert.ok(Number.isNaN(g[2]));
  });
});

test('softmax survives huge logits', async () => {
  await scope(async () => {
    const p = await softmax(tensor([1000, 0, -1000, 3e38], [1, 4])).array();
    assertClose(p, [0, 0, 0, 1], 1e-7, 'softmax');
  });
});

/** A 2-layer MLP on a synthetic 3-class problem. */
function mlp(g: Generator) {
  const w1 = mul(g.normal([2, 32]), Math.sqrt(2 / 2)).requireGrad().keep();
  const b1 = zeros([32]).requireGrad().keep();
  const w2 = mul(g.normal([32, 3]), Math.sqrt(1 / 32)).requireGrad().keep();
  const b2 = zeros([3]).requireGrad().keep();
  const forward = (x: Tensor) => add(matmul(relu(add(matmul(x, w1), b1)), w2), b2);
  return { params: [w1, b1, w2, b2], forward };
}

test('a tiny MLP learns, and each step leaks zero live bytes and compiles no pipeline', async () => {
  const g = new Generator(11);
  const { params, forward } = mlp(g);
  // three clusters around (±1.5, 0) and (0, 1.5)
  const N = 96;
  const xs: number[] = [], ys: number[] = [];
  const cx = [[-1.5, 0], [1.5, 0], [0, 1.5]];
  const noise = await g.normal([N * 2], 0, 0.4).data();
  for (let i = 0; i < N; i++) { const c = i % 3; ys.push(c); xs.push(cx[c][0] + noise[2 * i], cx[c][1] + noise[2 * i + 1]); }
  const x = tensor(xs, [N, 2]).keep();
  const y = tensor(ys, [N], 'i32').keep();
  const opt = new SGD(params, { lr: 0.2, momentum: 0.9 });
  const losses: number[] = [];
  let live = -1, pipes = -1;
  for (let step = 0; step < 100; step++) {
    const loss = await scope(async () => {
      opt.zeroGrad();
      const l = crossEntropy(forward(x), y);
      l.backward();
      opt.step();
      return step % 10 === 0 || step === 99 ? await l.item() : NaN;
    });
    if (!Number.isNaN(loss)) losses.push(loss);
    await sync();
    if (step === 2) { live = memoryStats().liveBytes; pipes = pipelineCount(); }
    if (step > 2) {
      assert.is(memoryStats().liveBytes, live, `step ${step}: live bytes changed`);
      assert.is(pipelineCount(), pipes, `step ${step}: a pipeline was compiled in the hot loop`);
    }
  }
  assert.ok(losses[losses.length - 1] < 0.35 * losses[0], `loss ${losses[0]} -> ${losses[losses.length - 1]}`);
  const acc = await scope(async () => {
    const p = await forward(x).data();
    let ok = 0;
    for (let i = 0; i < N; i++) { const row = [p[3 * i], p[3 * i + 1], p[3 * i + 2]]; if (row.indexOf(Math.max(...row)) === ys[i]) ok++; }
    return ok / N;
  });
  assert.ok(acc > 0.9, `training accuracy ${acc}`);
  opt.zeroGrad();
  opt.dispose();
  for (const t of [...params, x, y]) t.dispose();
});

test('a training step batches its dispatches: one submit for the whole step', async () => {
  await scope(async () => {
    const w = tensor([1, 2, 3, 4], [2, 2]).requireGrad();
    await sync();
    const d0 = dispatchTotal(), s0 = submitTotal();
    const l = mean(relu(matmul(w, w)));
    l.backward();
    const v = await l.item();
    assert.is(v, (7 + 10 + 15 + 22) / 4);
    assert.ok(dispatchTotal() - d0 >= 6, `${dispatchTotal() - d0} dispatches`);
    assert.is(submitTotal() - s0, 1, 'forward + backward + read-back in one submit');
    w.dispose();
  });
});

test.run();
