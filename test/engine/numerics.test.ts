// Numerics at the edges, against the ops' float64 references: batch norm on inputs offset by
// 1,000 (statistics and gradients, every kernel form), softmax / log-softmax / cross-entropy
// gradients at logits of ±100-1,000, and exp / log near the ends of their ranges. The bounds
// are PyTorch float32's errors on the same kind of input times 1.5 where it was measured
// (batch norm's weight gradient 1.2e-5 of its scale, the cross-entropy gradient 1e-7, exp
// 6e-8 relative), else a few float32 roundings. LBD_NUMERICS=1 prints every measured error.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tensor, full, scope, batchNorm, crossEntropy, softmax, logSoftmax, multinomialLogLik, exp, log, registry, type Ref } from '../../engine/index.js';
import { refBatchStats } from '../../engine/ops/norm.js';
import { setTuning } from '../../engine/plans/tuning.js';
import { bnGrads } from './bn-grads.js';
import { referenceOf } from '../../engine/testing.js';
import { ready, rng } from '../helpers.js';

const test = suite('numerics at the edges');
test.before(async () => { await ready; });

/** Largest |got − want| over the largest |want|: an error relative to the tensor's scale. */
function scaledErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) { num = Math.max(num, Math.abs(got[i] - want[i])); den = Math.max(den, Math.abs(want[i])); }
  return num / den;
}

/** Largest |got − want| / |want| elementwise. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]) / Math.abs(want[i]));
  return e;
}

const verbose = process.env.LBD_NUMERICS === '1';
/** Collects measured errors against their bounds; `done` fails naming every one over its bound. */
function errors(): { within(what: string, err: number, tol: number): void; done(): void } {
  const over: string[] = [];
  return {
    within(what, err, tol) {
      if (verbose) console.log(`  ${what}: ${err.toExponential(2)} (bound ${tol})`);
      if (!(err <= tol)) over.push(`${what}: error ${err.toExponential(2)} > ${tol}`);
    },
    done() { assert.ok(over.length === 0, over.join('; ')); },
  };
}

const ref = (op: string, inputs: Ref[], attrs: Record<string, unknown> = {}): Ref => referenceOf(registry.get(op)!, inputs, attrs);
const f32 = (n: number, f: (i: number) => number): Float64Array => Float64Array.from({ length: n }, (_, i) => Math.fround(f(i)));

// ---- batch norm at an offset of 1,000 -----------------------------------------------------------

const forms = [['one subgroup a channel', true, true], ['one workgroup a channel', true, false], ['split passes', false, false]] as const;

// [8, 4, 6, 6]: 36-pixel planes (vec4 lanes; the workgroup forms' flat walk); [4, 3, 12, 16]:
// planes of 192 (the plane walk); [3, 2, 5, 7]: 35 (no lanes form: the workgroup one runs);
// [40, 5] features: fewer values a channel than a workgroup has invocations
for (const shape of [[8, 4, 6, 6], [4, 3, 12, 16], [3, 2, 5, 7], [40, 5]]) {
  test(`batch norm on inputs offset by 1,000 ${JSON.stringify(shape)}: statistics and gradients against float64, every kernel form`, async () => {
    const { within, done } = errors();
    const r = rng(shape.reduce((p, d) => p * 31 + d, 7));
    const C = shape[1], n = shape.reduce((p, d) => p * d, 1), eps = 1e-5;
    const x: Ref = { shape, data: f32(n, () => 1000 + 4 * r() - 2) };
    const R = f32(n, () => 2 * r() - 1);
    const w = f32(C, () => 0.5 + r()), b = f32(C, () => r() - 0.5);
    const want = bnGrads(x, R, w, eps);
    const st = refBatchStats(x);
    try {
      for (const [form, one, lanes] of forms) {
        setTuning({ batchNorm: { onePass: one, lanes: lanes } });
        await scope(async () => {
          // momentum 1: the running statistics become the batch's (the variance unbiased)
          const rm = full([C], 0), rv = full([C], 1);
          const tx = tensor(x.data, shape).requireGrad(), tw = tensor(w).requireGrad(), tb = tensor(b).requireGrad();
          batchNorm(tx, rm, rv, tw, tb, { training: true, momentum: 1, eps }).backward(tensor(R, shape));
          const what = `${JSON.stringify(shape)} ${form}`;
          // the mean rounded once (half an ulp of 1,000 is 3.05e-8 of it); the rest a few roundings
          within(`${what}: mean`, relErr(await rm.data(), st.mean), 4e-8);
          within(`${what}: variance`, relErr(await rv.data(), st.var.map((v) => v * st.count / (st.count - 1))), 1e-6);
          within(`${what}: d/dweight`, scaledErr(await tw.grad!.data(), want.dw), 1.8e-5);
          within(`${what}: d/dbias`, scaledErr(await tb.grad!.data(), want.db), 1e-6);
          within(`${what}: d/dx`, scaledErr(await tx.grad!.data(), want.dx), 1e-6);
        });
      }
    } finally { setTuning({ batchNorm: { onePass: null, lanes: true } }); }
    done();
  });
}

// ---- softmax, log-softmax and cross-entropy at logits of ±100-1,000 -----------------------------

/** Rows of C logits each: an offset of ±100-1,000 per row plus a spread of ±3 (the probabilities are not all 0 or 1). */
function extremeLogits(r: () => number, rows: number, C: number): Float64Array {
  const off = f32(rows, () => (r() < 0.5 ? -1 : 1) * (100 + 900 * r()));
  return f32(rows * C, (i) => off[Math.floor(i / C)] + 6 * r() - 3);
}

test('cross-entropy gradient at logits of ±100-1,000 (classification and per-pixel layouts)', async () => {
  const { within, done } = errors();
  const r = rng(30);
  for (const shape of [[64, 10], [6, 7, 3, 2]]) {
    const [N, C] = shape, S = shape.slice(2).reduce((p, d) => p * d, 1);
    // logits laid out [N, C, S]: made as rows [N·S, C], then moved to [N, C, S]
    const rowsL = extremeLogits(r, N * S, C);
    const l = new Float64Array(rowsL.length);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) l[(n * C + c) * S + s] = rowsL[(n * S + s) * C + c];
    const labels = Float64Array.from({ length: N * S }, () => Math.floor(r() * C));
    const g = f32(N * S, () => 2 * r() - 1);
    const p = ref('softmax', [{ shape: [N * S, C], data: rowsL }], { axis: 1 }).data;
    const want = new Float64Array(l.length);
    for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let s = 0; s < S; s++) {
      const o = n * S + s;
      want[(n * C + c) * S + s] = g[o] * (p[o * C + c] - +(c === labels[o]));
    }
    const wantLoss = ref('cross_entropy', [{ shape, data: l }, { shape: [N, ...shape.slice(2)], data: labels }], { ignoreIndex: -100 }).data;
    await scope(async () => {
      const tl = tensor(l, shape).requireGrad();
      const loss = crossEntropy(tl, tensor(labels, [N, ...shape.slice(2)], 'i32'), { reduction: 'none' });
      loss.backward(tensor(g, loss.shape));
      within(`cross-entropy ${JSON.stringify(shape)}: loss`, scaledErr(await loss.data(), wantLoss), 3e-7);
      within(`cross-entropy ${JSON.stringify(shape)}: d/dlogits`, scaledErr(await tl.grad!.data(), want), 1.5e-7);
    });
  }
  done();
});

// softmax and log-softmax work from l − max (within these bounds with the builtin exp too); the
// multinomial log-likelihood's gradient took exp(l − lse), 3e-5 off here. log-softmax's 1.2e-7
// is its formula's float32 floor: g − exp(y)·Σg with every step rounded once gives the same.
test('softmax, log-softmax and multinomial log-likelihood gradients at logits of ±100-1,000 (last axis and another)', async () => {
  const { within, done } = errors();
  const r = rng(31);
  const rows = 48, C = 12;
  const l = extremeLogits(r, rows, C);
  const R = f32(rows * C, () => 2 * r() - 1);
  const counts = f32(rows * C, () => Math.floor(3 * r()));
  const gRow = f32(rows, () => 2 * r() - 1);
  const y = ref('softmax', [{ shape: [rows, C], data: l }], { axis: 1 }).data;
  // softmax: dx = y ⊙ (R − Σ R⊙y); log-softmax: dx = R − y·Σ R; multinomial: dl = g·(x − y·Σ x) (rows of C)
  const wantS = new Float64Array(l.length), wantL = new Float64Array(l.length), wantM = new Float64Array(l.length);
  for (let i = 0; i < rows; i++) {
    let ry = 0, rs = 0, xs = 0;
    for (let c = 0; c < C; c++) { ry += R[i * C + c] * y[i * C + c]; rs += R[i * C + c]; xs += counts[i * C + c]; }
    for (let c = 0; c < C; c++) {
      const k = i * C + c;
      wantS[k] = y[k] * (R[k] - ry);
      wantL[k] = R[k] - y[k] * rs;
      wantM[k] = gRow[i] * (counts[k] - y[k] * xs);
    }
  }
  for (const transposed of [false, true]) {
    // transposed: the same rows as columns of [C, rows], softmax over axis 0 (the permuting path)
    const tr = (a: Float64Array): Float64Array => (transposed ? Float64Array.from(a, (_, k) => a[(k % rows) * C + Math.floor(k / rows)]) : a);
    const shape = transposed ? [C, rows] : [rows, C], axis = transposed ? 0 : 1;
    for (const [name, f, want] of [['softmax', softmax, wantS], ['log-softmax', logSoftmax, wantL]] as const) {
      await scope(async () => {
        const tl = tensor(tr(l), shape).requireGrad();
        f(tl, axis).backward(tensor(tr(R), shape));
        within(`${name}${transposed ? ' (axis 0)' : ''}: d/dlogits`, scaledErr(await tl.grad!.data(), tr(want)), 1.5e-7);
      });
    }
  }
  await scope(async () => {
    const tl = tensor(l, [rows, C]).requireGrad();
    multinomialLogLik(tl, tensor(counts, [rows, C])).backward(tensor(gRow, [rows]));
    within('multinomial log-likelihood: d/dlogits', scaledErr(await tl.grad!.data(), wantM), 1.5e-7);
  });
  done();
});

// ---- exp and log near the ends of their ranges --------------------------------------------------

test('exp near ±80 and across its range: relative error within PyTorch float32\'s 6e-8 · 1.5', async () => {
  const { within, done } = errors();
  const r = rng(32);
  // 4,096 values (the vec4 kernel) and 4,095 (scalar): the two layouts of the elementwise kernel
  for (const [what, lo, hi] of [['near 80', 79, 81], ['near -80', -81, -79], ['over [-87, 88]', -87, 88], ['near 0', -0.01, 0.01]] as const) {
    for (const n of [4096, 4095]) {
      const x = f32(n, () => lo + (hi - lo) * r());
      const want = ref('exp', [{ shape: [n], data: x }]).data;
      const got = await scope(async () => exp(tensor(x, [n])).data());
      within(`exp ${what} (${n % 4 ? 'scalar' : 'vec4'})`, relErr(got, want), 9e-8);
    }
  }
  done();
  // past the ends: overflow to +∞, underflow to 0
  const got = await scope(async () => exp(tensor([89, 100, -104, -200, NaN], [5])).data());
  assert.equal([...got], [Infinity, Infinity, 0, 0, NaN], 'exp beyond float32\'s range, and of NaN');
});

test('log near 0, 1 and float32\'s largest values: relative error within an ulp (1.2e-7)', async () => {
  const { within, done } = errors();
  const r = rng(33);
  // log-uniform samples 10^[a, b], and values 1 ± 1e-3 (where log x is small and a rounding of x − 1 shows)
  const cases: [string, (n: number) => Float64Array][] = [
    ['near 1e-38', (n) => f32(n, () => 1.2e-38 * 10 ** (2 * r()))],
    ['near 3e38', (n) => f32(n, () => 3.4e38 * 10 ** (-2 * r()))],
    ['near 1', (n) => f32(n, () => 1 + 2e-3 * r() - 1e-3)],
    ['over [1e-30, 1e30]', (n) => f32(n, () => 10 ** (60 * r() - 30))],
  ];
  for (const [what, make] of cases) {
    for (const n of [4096, 4095]) {
      const x = make(n).map((v) => (v === 1 ? 1.5 : v)); // log 1 = 0 has no relative error to speak of
      const want = ref('log', [{ shape: [n], data: x }]).data;
      const got = await scope(async () => log(tensor(x, [n])).data());
      within(`log ${what} (${n % 4 ? 'scalar' : 'vec4'})`, relErr(got, want), 1.2e-7);
    }
  }
  done();
  const got = await scope(async () => log(tensor([0, 1, 3.4028234663852886e38], [3])).data());
  assert.equal([got[0], got[1]], [-Infinity, 0], 'log 0 and log 1');
  assert.ok(Math.abs(got[2] - Math.log(3.4028234663852886e38)) < 1e-5, 'log of the largest float32');
});

test.run();
