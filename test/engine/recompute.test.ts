// recompute (gradient checkpointing): BN → ReLU → conv with captured module parameters gives
// the same output, input and parameter gradients and running statistics as the plain path; it
// holds fewer live bytes between forward and backward; a replay through it recomputes without
// moving the running statistics; nothing leaks. (The op's finite-difference check is in ops.test.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Generator, scope, sync, memoryStats, recompute, relu, sum, mul, replay, type Tensor } from '../../engine/index.js';
import { Conv2d } from '../../layers/conv.js';
import { BatchNorm2d } from '../../layers/norm.js';
import { ready, assertClose } from '../helpers.js';

const test = suite('recompute');
test.before(async () => { await ready; });

function block(seed: number): { bn: BatchNorm2d; conv: Conv2d; params: Tensor[]; f: (x: Tensor) => Tensor } {
  const g = new Generator(seed);
  const bn = new BatchNorm2d(6), conv = new Conv2d(6, 4, 3, { padding: 1, generator: g });
  return { bn, conv, params: [bn.weight!, bn.bias!, conv.weight, conv.bias!], f: (x) => conv.forward(relu(bn.forward(x))) };
}

async function run(checkpointed: boolean): Promise<{ out: number[]; grads: number[][]; stats: number[][]; held: number }> {
  return scope(async () => {
    const b = block(1);
    const x = new Generator(2).normal([2, 6, 12, 12]).requireGrad();
    const w = new Generator(3).normal([2, 4, 12, 12]);
    await sync();
    const before = memoryStats().liveBytes;
    const y = checkpointed ? recompute(b.f, [x], b.params) : b.f(x);
    await sync();
    const held = memoryStats().liveBytes - before;
    sum(mul(y, w)).backward();
    const r = { out: await y.array(), grads: [await x.grad!.array(), ...await Promise.all(b.params.map((p) => p.grad!.array()))], stats: [await b.bn.running_mean.array(), await b.bn.running_var.array()], held };
    b.bn.dispose(); b.conv.dispose(); x.dispose();
    return r;
  });
}

test('same output, gradients (input and captured parameters) and running statistics; fewer bytes held before backward', async () => {
  const plain = await run(false), ck = await run(true);
  assertClose(ck.out, plain.out, 1e-6, 'output');
  ['x', 'bn.weight', 'bn.bias', 'conv.weight', 'conv.bias'].forEach((n, i) => assertClose(ck.grads[i], plain.grads[i], 1e-5, `grad ${n}`));
  assertClose(ck.stats[0], plain.stats[0], 1e-6, 'running mean (moved once)');
  assertClose(ck.stats[1], plain.stats[1], 1e-6, 'running var (moved once)');
  // plain keeps BN's and ReLU's outputs (2 × 6 channels); recompute only the 4-channel output
  const map = (c: number): number => 2 * c * 12 * 12 * 4;
  assert.ok(plain.held >= ck.held + 2 * map(6), `plain held ${plain.held} B, recompute ${ck.held} B`);
  assert.ok(ck.held <= map(4) + 4096, `recompute held ${ck.held} B, more than its output`);
});

test('a replay through a recompute node recomputes it without moving the running statistics', async () => {
  await scope(async () => {
    const b = block(4);
    const x = new Generator(5).normal([2, 6, 8, 8]).requireGrad();
    const scaled = mul(x, new Generator(6).normal([2, 6, 8, 8]));
    const y = recompute(b.f, [scaled], b.params);
    const mean = await b.bn.running_mean.array();
    const again = replay(y, (n) => (n.op.name === 'mul' ? n.attrs : null));
    assert.ok(again !== y, 'the recompute node ran again');
    assertClose(await again.array(), await y.array(), 1e-6, 'replayed output');
    assertClose(await b.bn.running_mean.array(), mean, 0, 'running mean unchanged by the replay');
    b.bn.dispose(); b.conv.dispose(); x.dispose();
  });
});

test('no live bytes leaked by forward + backward; errors when fn returns an input', async () => {
  const b = block(7);
  const x = new Generator(8).normal([1, 6, 8, 8]).requireGrad().keep();
  await sync();
  const start = memoryStats().liveBytes;
  for (let i = 0; i < 2; i++) {
    scope(() => { sum(recompute(b.f, [x], b.params)).backward(); });
    for (const p of [x, ...b.params]) { p.grad?.dispose(); p.grad = null; }
    await sync();
    assert.is(memoryStats().liveBytes, start, `pass ${i}: ${memoryStats().liveBytes - start} bytes leaked`);
  }
  assert.throws(() => recompute((t) => t, [x]), /returned one of its inputs/);
  b.bn.dispose(); b.conv.dispose(); x.dispose();
});

test.run();
