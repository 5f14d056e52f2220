// The developer tools of the public API: mcPredict against the same passes computed by hand,
// checkGradients and checkOp passing on right gradients and failing on wrong ones, a custom
// kernel declared by signature (defineKernel) inside a custom differentiable op, and benchmark.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  tensor, scope, softmax, matmul, tanh, mul, empty, apply, defineOp, defineKernel, benchmark, gridFor, pipelineCount, sync, memoryStats,
  Generator, Sequential, Linear, ReLU, Dropout, mcPredict, dispatchTotal, type Tensor, type Ref,
} from '../../models/index.js';
import { checkGradients, checkOp } from '../../engine/testing.js';
import { ready, assertClose } from '../helpers.js';

const test = suite('library');
test.before(async () => { await ready; });

function net(seed: number): { model: Sequential; drop: Dropout } {
  const g = new Generator(seed);
  // plain dropout: mcPredict must turn its sampling at evaluation on, and off again
  const drop = new Dropout(0.5, { generator: new Generator(seed + 1) });
  return { model: new Sequential(new Linear(3, 6, { generator: g }), new ReLU(), drop, new Linear(6, 4, { generator: g })), drop };
}

test('mcPredict: the mean softmax of S passes with fresh masks, its entropy, expected entropy and mutual information', async () => {
  const { model, drop } = net(1);
  const x = tensor(Float32Array.from({ length: 15 }, (_, i) => Math.cos(i * 0.7) * 2), [5, 3]);
  const S = 6;
  const start = drop.generator.position;
  const got = await mcPredict(model, x, { samples: S });
  assert.ok(model.training && !drop.sampleAtEval, 'training mode and sampleAtEval restored');
  // the same passes by hand: the generator back where it was, S forwards, host float64 maths
  drop.generator.seek(start);
  model.eval(); drop.sampleAtEval = true;
  const passes: Float32Array[] = [];
  for (let s = 0; s < S; s++) passes.push(await scope(async () => (await softmax(model.forward(x), -1).data()) as Float32Array));
  model.train(); drop.sampleAtEval = false;
  const H = (p: ArrayLike<number>, r: number): number => { let h = 0; for (let c = 0; c < 4; c++) { const v = p[r * 4 + c]; if (v > 0) h -= v * Math.log(v); } return h; };
  const mean = new Float64Array(20).map((_, i) => passes.reduce((a, p) => a + p[i], 0) / S);
  const entropy = Array.from({ length: 5 }, (_, r) => H(mean, r));
  const expected = Array.from({ length: 5 }, (_, r) => passes.reduce((a, p) => a + H(p, r), 0) / S);
  assert.equal(got.shape, [5, 4]);
  assert.is(got.samples, S);
  assertClose(got.probs, mean, 1e-6, 'probs');
  assertClose(got.entropy, entropy, 1e-5, 'entropy');
  assertClose(got.expectedEntropy, expected, 1e-5, 'expected entropy');
  assertClose(got.mutualInformation, entropy.map((h, r) => Math.max(0, h - expected[r])), 1e-5, 'mutual information');
  assert.ok(got.mutualInformation.some((v) => v > 1e-4), 'dropout passes disagree somewhere');
  // deterministic: dropout at its expectation, no disagreement; batches give the same answer
  const det = await mcPredict(model, x, { stochastic: false });
  const split = await mcPredict(model, x, { stochastic: false, batchSize: 2 });
  assert.is(det.samples, 1);
  assert.ok(det.mutualInformation.every((v) => v === 0));
  assertClose(split.probs, det.probs, 1e-6, 'batched');
  model.eval();
  const plain = await scope(async () => softmax(model.forward(x), -1).data());
  model.train();
  assertClose(det.probs, plain, 1e-6, 'deterministic = eval-mode softmax');
  await assert_rejects(mcPredict(model, x, { samples: 0 }), /samples must be a positive integer/);
  model.dispose(); x.dispose();
});

test('checkGradients: right gradients pass (float64 reference and GPU finite differences), a wrong backward fails', async () => {
  await scope(async () => {
    const x = tensor([0.3, -0.2, 0.9, 0.1, -0.7, 0.4], [2, 3]), w = tensor([0.5, -1, 0.25, 0.8, -0.3, 0.6], [3, 2]);
    const f = (a: Tensor, b: Tensor): Tensor => tanh(matmul(a, b));
    // the float64 reference written out: tanh of the 2×2 product
    const ref = ([a, b]: Ref[]): Ref => {
      const out = new Float64Array(4);
      for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) { let s = 0; for (let k = 0; k < 3; k++) s += a.data[i * 3 + k] * b.data[k * 2 + j]; out[i * 2 + j] = Math.tanh(s); }
      return { shape: [2, 2], data: out };
    };
    const withRef = await checkGradients(f, [x, w], { reference: ref });
    assert.ok(withRef.ok && withRef.inputs.length === 2, withRef.summary);
    const onGpu = await checkGradients(f, [x, w]);
    assert.ok(onGpu.ok, onGpu.summary);
    assert.is(x.grad, null, 'the caller\'s tensors are left alone');
    // an op whose backward is twice the truth
    const wrong = defineOp({
      name: 'test_wrong_square',
      forward: ([a]) => mul(a, a),
      backward: (g, node) => [mul(mul(g, node.inputs[0]), 4)],
      reference: ([a]) => ({ shape: a.shape, data: a.data.map((v) => v * v) }),
      cases: [{ inputs: [{ shape: [3] }] }],
    });
    const sq = (a: Tensor): Tensor => apply(wrong, [a]);
    const bad = await checkGradients(sq, [x], { throwOnFailure: false });
    assert.not.ok(bad.ok, 'twice the gradient is caught');
    await assert_rejects(checkGradients(sq, [x]), /gradient mismatch/);
    await assert_rejects(checkOp(wrong), /test_wrong_square.*d\/dx0 error/s);
  });
});

// A custom differentiable op on kernels declared by signature: y = a·x³ (a a uniform), and its
// backward dy/dx = 3a·x² by a second kernel.
const cubeKernel = defineKernel({
  name: 'test_cube',
  params: { n: 'u32', a: 'f32', power: 'u32' },
  bindings: { x: { access: 'read' }, y: { access: 'read_write' } },
  body: (c: { derivative: boolean }) => `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= P.n) { return; }
  let v = x[i];
  y[i] = ${c.derivative ? '3.0 * P.a * v * v' : 'P.a * v * v * v'};
}`,
});
const cubeDef = defineOp<{ a: number }>({
  name: 'test_cube',
  forward([x], attrs) {
    const y = empty(x.shape);
    cubeKernel.dispatch({ bindings: { x, y }, params: { n: x.size, a: attrs.a, power: 3 }, workgroups: [gridFor(x.size)], config: { derivative: false } });
    return y;
  },
  backward(g, node) {
    const [x] = node.inputs;
    const d = empty(x.shape);
    cubeKernel.dispatch({ bindings: { x, y: d }, params: { n: x.size, a: node.attrs.a, power: 2 }, workgroups: [gridFor(x.size)], config: { derivative: true } });
    const out = mul(g, d);
    d.dispose();
    return [out];
  },
  reference: ([x], attrs) => ({ shape: x.shape.slice(), data: x.data.map((v) => attrs.a * v ** 3) }),
  cases: [{ inputs: [{ shape: [5] }], attrs: { a: 0.5 } }, { inputs: [{ shape: [3, 70] }], attrs: { a: -2 } }],
});

test('defineKernel: declarations generated from the signature, dispatch by name, one pipeline per config; checkOp on a custom op', async () => {
  assert.match(cubeKernel.header, /struct Params \{ n: u32, a: f32, power: u32[,}]/);
  assert.match(cubeKernel.header, /@group\(0\) @binding\(1\) var<storage, read> x: array<f32>;/);
  assert.match(cubeKernel.header, /@group\(0\) @binding\(2\) var<storage, read_write> y: array<f32>;/);
  const fwd = cubeKernel.source({ derivative: false }), bwd = cubeKernel.source({ derivative: true });
  assert.is.not(fwd.key, bwd.key, 'each config is its own pipeline');
  assert.is(cubeKernel.source({ derivative: false }), fwd, 'the same config is the same source');
  const r = await checkOp(cubeDef);
  assert.ok(r.ok && r.checked === 2, r.failures.join('\n'));
  await scope(async () => {
    const x = tensor([1, 2, -3], [3]);
    assert.equal(Array.from(await apply(cubeDef, [x], { a: 2 }).data()), [2, 16, -54]);
    assert.throws(() => cubeKernel.dispatch({ bindings: { x } as never, params: { n: 3, a: 1, power: 3 }, workgroups: [1], config: { derivative: false } }), /binding 'y' is missing/);
    assert.throws(() => cubeKernel.dispatch({ bindings: { x, y: x, z: x } as never, params: { n: 3, a: 1, power: 3 }, workgroups: [1], config: { derivative: false } }), /unknown binding 'z'/);
    assert.throws(() => cubeKernel.source(), /depends on a config/);
  });
  assert.throws(() => defineKernel({ name: 'bad', bindings: { 'not ok': { access: 'read' } }, body: '' }), /not usable as a WGSL name/);
});

test('benchmark: GPU and wall time per run after warm-up, dispatches per run, no leak', async () => {
  const x = tensor(new Float32Array(64 * 64).fill(0.5), [64, 64]);
  const d0 = dispatchTotal();
  await scope(() => { matmul(x, x); });
  const perProduct = dispatchTotal() - d0;
  const before = pipelineCount();
  const r = await benchmark(() => { matmul(x, x); matmul(x, x); }, { warmup: 1, runs: 4 });
  assert.is(r.gpuMs.runs.length, 4);
  assert.ok(r.gpuMs.median > 0 && r.gpuMs.min <= r.gpuMs.median && r.gpuMs.median <= r.gpuMs.max, JSON.stringify(r.gpuMs));
  assert.ok(r.wallMs.median > 0);
  assert.is(r.dispatches, 2 * perProduct, 'two products a run');
  assert.is(r.leakedBytes, 0);
  assert.ok(pipelineCount() - before <= 2, 'compiled in the warm-up');
  await sync();
  const live = memoryStats().liveBytes;
  await assert_rejects(benchmark(() => undefined, { runs: 0 }), /runs must be an integer/);
  assert.is(memoryStats().liveBytes, live);
  x.dispose();
});

async function assert_rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p; } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected a rejection matching ${re}`);
}

test.run();
