// Batch normalisation beyond the registry's forward/backward cases: running statistics after
// training steps against float64, eval mode, in-place updates without read-back or tape, errors.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  tensor, full, scope, sync, sum, mul, add, relu, batchNorm, refBatchStats, submitTotal, memoryStats, dispatchTotal, replay, type Tensor, type Ref,
} from '../../engine/index.js';
import { withoutSideEffects } from '../../engine/tape.js';
import { setTuning } from '../../engine/plans/tuning.js';
import { cpuKernelPaths } from '../../engine/device.js';
import { registry, type OpDef } from '../../engine/op.js';
import { ready, rng, assertClose } from '../helpers.js';
import { referenceOf } from '../../engine/testing.js';

const test = suite('batch norm');
test.before(async () => { await ready; });

const randRef = (r: () => number, shape: number[], lo = -2, hi = 2): Ref =>
  ({ shape, data: Float64Array.from({ length: shape.reduce((p, d) => p * d, 1) }, () => Math.fround(lo + (hi - lo) * r())) });

/** Eval-mode float64 batch norm with given statistics. */
function refEval(x: Ref, rm: Float64Array, rv: Float64Array, w: Float64Array, b: Float64Array, eps: number): Float64Array {
  const C = x.shape[1], S = x.shape.slice(2).reduce((p, d) => p * d, 1);
  return x.data.map((v, i) => { const c = Math.floor(i / S) % C; return (v - rm[c]) / Math.sqrt(rv[c] + eps) * w[c] + b[c]; });
}

for (const shape of [[4, 3, 5, 6], [9, 5], [2, 3, 7]]) {
  test(`running statistics after 2 training steps match float64, then eval mode uses them ${JSON.stringify(shape)}`, async () => {
    const r = rng(shape.length * 101 + shape[1]);
    const C = shape[1];
    const momentum = 0.1, eps = 1e-5;
    const rm = full([C], 0).keep(), rv = full([C], 1).keep();
    const w = tensor(randRef(r, [C], 0.5, 1.5).data).requireGrad().keep();
    const b = tensor(randRef(r, [C]).data).requireGrad().keep();
    const wantM = new Float64Array(C), wantV = new Float64Array(C).fill(1);
    for (let step = 0; step < 2; step++) {
      // a shifted, scaled batch so the statistics are far from 0 and 1
      const x = randRef(r, shape, 1 + step, 4 + 2 * step);
      await scope(async () => {
        const tx = tensor(x.data, shape).requireGrad();
        await sync();
        const s0 = submitTotal();
        const y = batchNorm(tx, rm, rv, w, b, { training: true, momentum, eps });
        assert.is(submitTotal(), s0, 'batchNorm submitted work (a read-back?)');
        sum(mul(y, y)).backward();
        assert.ok(tx.grad && w.grad && b.grad, 'gradients reach x, weight and bias');
        w.grad!.dispose(); w.grad = null; b.grad!.dispose(); b.grad = null;
      });
      const st = refBatchStats(x);
      for (let c = 0; c < C; c++) {
        wantM[c] = (1 - momentum) * wantM[c] + momentum * st.mean[c];
        wantV[c] = (1 - momentum) * wantV[c] + momentum * st.var[c] * st.count / (st.count - 1);
      }
    }
    assert.ok(!rm.requiresGrad && !rv.requiresGrad && rm.node === null && rv.node === null, 'running stats stay off the tape');
    assertClose(await rm.data(), wantM, 1e-5, 'running mean');
    assertClose(await rv.data(), wantV, 1e-5, 'running var');

    // eval mode: normalises with the running statistics and leaves them alone
    const x = randRef(r, shape);
    await scope(async () => {
      const tx = tensor(x.data, shape).requireGrad();
      const y = batchNorm(tx, rm, rv, w, b, { training: false, eps });
      const wd = Float64Array.from(await w.data()), bd = Float64Array.from(await b.data());
      assertClose(await y.data(), refEval(x, wantM, wantV, wd, bd, eps), 1e-4, 'eval output');
      sum(y).backward();
      // dy/dx = w / sqrt(rv + eps) per channel
      const S = shape.slice(2).reduce((p, d) => p * d, 1);
      const gx = x.data.map((_, i) => { const c = Math.floor(i / S) % C; return wd[c] / Math.sqrt(wantV[c] + eps); });
      assertClose(await tx.grad!.data(), gx, 1e-4, 'eval d/dx');
      w.grad!.dispose(); w.grad = null; b.grad!.dispose(); b.grad = null;
    });
    assertClose(await rm.data(), wantM, 1e-5, 'running mean unchanged by eval');
    assertClose(await rv.data(), wantV, 1e-5, 'running var unchanged by eval');
    for (const t of [rm, rv, w, b]) t.dispose();
  });
}

// The fused op against the composition it replaces (relu after batchNorm), on the same data:
// outputs, gradients of x, w, b and the running statistics after training, then eval mode.
test('batch norm + ReLU fused equals relu(batchNorm(x)) in training and eval; 2 passes fewer per training step; replay and withoutSideEffects leave the running statistics alone', async () => {
  const r = rng(4242);
  const shape = [4, 3, 9, 8], C = 3;
  const x = randRef(r, shape, -1, 3);
  const wv = randRef(r, [C], 0.5, 1.5).data, bv = randRef(r, [C], -0.5, 0.5).data;
  const run = async (fused: boolean, training: boolean, rm: Tensor, rv: Tensor) => scope(async () => {
    const tx = tensor(x.data, shape).requireGrad();
    const w = tensor(wv).requireGrad(), b = tensor(bv).requireGrad();
    const R = tensor(randRef(rng(7), shape).data, shape);
    await sync();
    const d0 = dispatchTotal();
    const y = fused ? batchNorm(tx, rm, rv, w, b, { training, relu: true }) : relu(batchNorm(tx, rm, rv, w, b, { training }));
    const forward = dispatchTotal() - d0;
    sum(mul(y, R)).backward();
    const passes = dispatchTotal() - d0;
    return { y: await y.data(), gx: await tx.grad!.data(), gw: await w.grad!.data(), gb: await b.grad!.data(), forward, passes };
  });
  const stats = () => [full([C], 0.2).keep(), full([C], 1.5).keep()];
  const [rm1, rv1] = stats(), [rm2, rv2] = stats();
  for (const training of [true, false]) {
    const a = await run(true, training, rm1, rv1), e = await run(false, training, rm2, rv2);
    const what = training ? 'training' : 'eval';
    assert.ok(a.y.some((v) => v === 0) && a.y.some((v) => v > 0), `${what}: both sides of the ReLU are exercised`);
    assertClose(a.y, Float64Array.from(e.y), 1e-5, `${what}: y`);
    assertClose(a.gx, Float64Array.from(e.gx), 1e-5, `${what}: dx`);
    assertClose(a.gw, Float64Array.from(e.gw), 1e-4, `${what}: dw`);
    assertClose(a.gb, Float64Array.from(e.gb), 1e-4, `${what}: db`);
    assertClose(await rm1.data(), Float64Array.from(await rm2.data()), 1e-6, `${what}: running mean`);
    assertClose(await rv1.data(), Float64Array.from(await rv2.data()), 1e-6, `${what}: running var`);
    if (training) {
      // one pass on CPU adapters (the channel's workgroup reduces then writes), else statistics then apply
      assert.is(a.forward, cpuKernelPaths() ? 1 : 2, 'fused training forward passes');
      assert.is(a.passes, e.passes - 2, `fused training step: ${a.passes} passes vs ${e.passes} composed`);
    } else assert.is(a.forward, 1, 'fused eval forward: one pass');
  }
  // side effects: a replayed or side-effect-free training forward must not move the running statistics
  const before = [await rm1.array(), await rv1.array()];
  await scope(async () => {
    const tx = tensor(x.data, shape).requireGrad();
    const w = tensor(wv).requireGrad(), b = tensor(bv).requireGrad();
    const y = withoutSideEffects(() => batchNorm(tx, rm1, rv1, w, b, { relu: true }));
    assert.equal([await rm1.array(), await rv1.array()], before, 'withoutSideEffects: running statistics unchanged');
    const y2 = batchNorm(tx, rm1, rv1, w, b, { relu: true });
    const moved = [await rm1.array(), await rv1.array()];
    assert.not.equal(moved, before, 'a recorded training forward moves the running statistics');
    replay(y2, (n) => (n.op.name === 'batch_norm_relu' ? { ...n.attrs } : null));
    assert.equal([await rm1.array(), await rv1.array()], moved, 'replay: running statistics unchanged');
    y.dispose();
  });
  for (const t of [rm1, rv1, rm2, rv2]) t.dispose();
});

// The registry checks the adapter's default form (on lavapipe: one pass each way, one subgroup
// per channel where planes hold a multiple of 4 values); this checks the others against it on
// the same data: every combination of ReLU, pre-bias and mode, both plane walks.
test('one-pass (subgroup per channel, workgroup per channel) and split batch-norm kernels agree (y, dx, dw, db, dpb, running statistics)', async () => {
  const r = rng(99);
  try {
    for (const shape of [[4, 3, 9, 8], [3, 5, 2, 6], [6, 5]]) {
      const C = shape[1];
      const x = randRef(r, shape, -1, 3), wv = randRef(r, [C], 0.5, 1.5).data, bv = randRef(r, [C], -0.5, 0.5).data, pv = randRef(r, [C]).data;
      const R = randRef(r, shape);
      for (const relu of [false, true]) for (const pre of [false, true]) for (const training of [true, false]) {
        const out: Float32Array[][] = [];
        for (const [one, lanes] of [[true, true], [true, false], [false, false]]) {
          setTuning({ batchNorm: { onePass: one, lanes: lanes } });
          out.push(await scope(async () => {
            const rm = tensor(randRef(rng(5), [C]).data), rv = tensor(randRef(rng(6), [C], 0.5, 2).data);
            const tx = tensor(x.data, shape).requireGrad(), w = tensor(wv).requireGrad(), b = tensor(bv).requireGrad(), pb = tensor(pv).requireGrad();
            const y = batchNorm(tx, rm, rv, w, b, { training, relu, preBias: pre ? pb : null });
            sum(mul(y, tensor(R.data, shape))).backward();
            const got = [await y.data(), await tx.grad!.data(), await w.grad!.data(), await b.grad!.data(), await rm.data(), await rv.data()];
            if (pre) got.push(await pb.grad!.data());
            return got as Float32Array[];
          }));
        }
        const what = `${JSON.stringify(shape)} relu ${relu} pre ${pre} ${training ? 'training' : 'eval'}`;
        for (const o of [1, 2]) out[0].forEach((a, k) => assertClose(a, out[o][k], 1e-4, `${what}: output ${k}, form ${o} vs 0`));
      }
    }
  } finally { setTuning({ batchNorm: { onePass: null, lanes: true } }); }
});

test('x feeding batch norm and another op: BN adds its gradient into the one the tape holds (no add pass), and x\'s gradient matches finite differences, on every kernel path', async () => {
  const bnr = registry.get('batch_norm_relu')!, addDef = registry.get('add')!;
  const r = rng(606);
  const shape = [2, 3, 4, 4], C = 3; // 16 pixels a plane: the lanes form applies
  const xl = randRef(r, shape), c = randRef(r, shape, 0.5, 1.5), s = randRef(r, shape), R = randRef(r, shape);
  const w = randRef(r, [C], 0.5, 1.5), b = randRef(r, [C], -0.5, 0.5);
  // float64: F(xl) = Σ R ⊙ (relu(bn(c ⊙ xl)) + s ⊙ c ⊙ xl), differentiated by central differences
  const F = (d: Float64Array): number => {
    const x = { shape, data: d.map((v, i) => v * c.data[i]) };
    return referenceOf(bnr, [x, w, b], { eps: 1e-5 }).data.reduce((acc, y, i) => acc + R.data[i] * (y + s.data[i] * x.data[i]), 0);
  };
  const want = xl.data.map((v, i) => {
    const h = 1e-6 * Math.max(1, Math.abs(v)), d = xl.data.slice();
    d[i] = v + h; const up = F(d);
    d[i] = v - h; return (up - F(d)) / (2 * h);
  });
  let adds = 0;
  const forward = addDef.forward;
  (addDef as OpDef).forward = (...a) => { adds++; return forward.apply(addDef, a); };
  try {
    for (const [path, onePass, lanes] of [['one subgroup a channel', true, true], ['one workgroup a channel', true, false], ['split passes', false, false]] as const) {
      setTuning({ batchNorm: { onePass: onePass, lanes: lanes } });
      let total = 0;
      // the tape reaches BN before or after the other consumer, depending on the root's order:
      // only when BN comes second is there a gradient to add into
      for (const order of [0, 1]) {
        await scope(async () => {
          const t = tensor(xl.data, shape).requireGrad();
          const x = mul(t, tensor(c.data, shape));
          const u = batchNorm(x, null, null, tensor(w.data), tensor(b.data), { relu: true });
          const m = mul(x, tensor(s.data, shape));
          const root = order ? add(m, u) : add(u, m);
          adds = 0;
          root.backward(tensor(R.data, shape));
          total += adds;
          assertClose(await t.grad!.data(), want, 2e-3, `${path}, root order ${order}`);
        });
      }
      assert.is(total, 1, `${path}: one of the two orders should accumulate x's gradient inside BN's backward (add passes: ${total})`);
    }
  } finally {
    (addDef as OpDef).forward = forward;
    setTuning({ batchNorm: { onePass: null, lanes: true } });
  }
});

test('a training step allocates nothing that outlives its scope', async () => {
  const rm = full([3], 0).keep(), rv = full([3], 1).keep();
  const w = full([3], 1).requireGrad().keep(), b = full([3], 0).requireGrad().keep();
  const x = tensor(randRef(rng(5), [4, 3, 5, 5]).data, [4, 3, 5, 5]).keep();
  let live = -1;
  for (let step = 0; step < 4; step++) {
    await scope(async () => {
      sum(batchNorm(x, rm, rv, w, b)).backward();
      for (const t of [w, b]) { t.grad!.dispose(); t.grad = null; }
    });
    await sync();
    if (step === 1) live = memoryStats().liveBytes;
    if (step > 1) assert.is(memoryStats().liveBytes, live, `step ${step}`);
  }
  for (const t of [rm, rv, w, b, x]) t.dispose();
});

test('clear errors for bad shapes and options', () => {
  scope(() => {
    const x = full([4, 3, 2, 2], 1);
    const s3 = full([3], 0), s4 = full([4], 0);
    const thr = (f: () => Tensor, re: RegExp) => assert.throws(f, re);
    thr(() => batchNorm(x, s4, s4, null, null), /running mean \[4\] \(f32\) does not match the 3 channels of x \[4, 3, 2, 2\]/);
    thr(() => batchNorm(x, s3, s3, s4, null), /weight \[4\] .* 3 channels/);
    thr(() => batchNorm(x, null, null, null, null, { training: false }), /eval mode .* needs the running mean and var/);
    thr(() => batchNorm(x, s3, null), /both running mean and running var/);
    thr(() => batchNorm(x, s3, s3, null, null, { momentum: 2 }), /momentum must be in \[0, 1\], got 2/);
    thr(() => batchNorm(x, s3, s3, null, null, { eps: 0 }), /eps must be > 0/);
    thr(() => batchNorm(full([1, 3], 1), s3, s3), /more than one value per channel, got x \[1, 3\]/);
    thr(() => batchNorm(full([5], 1), null, null), /expects x \[N, C, \.\.\.\], got \[5\]/);
  });
});

test.run();
