// Learnable Bernoulli dropout: the masks' keep rates, unbiasedness of the ARM and DisARM
// gradients against exact enumeration of all 2³ masks (with and without inverted scaling),
// DisARM's lower variance, and the tape replay against a full second forward.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  tensor, scope, relu, square, sub, mul, reshape, concat, slice, matmul, lbdDropout, Generator, Adam, sync, memoryStats, pipelineCount, crossEntropy,
  type Tensor,
} from '../../engine/index.js';
import { Linear } from '../../layers/linear.js';
import { LearnableBernoulliDropout, SharedLogit } from '../../layers/dropout/lbd.js';
import { lbdGradients, lbdStep, splitParameters } from '../../layers/dropout/lbd-step.js';
import { Sequential, Lambda } from '../../layers/sequential.js';
import { ready, assertClose } from '../helpers.js';

const test = suite('lbd');
test.before(async () => { await ready; });

const sig = (a: number): number => 1 / (1 + Math.exp(-a));

test('both masks keep each unit with probability σ(α)', async () => {
  await scope(async () => {
    const B = 20000, U = 3;
    const alpha = tensor([-1.2, 0, 2], [3]);
    const x = tensor(new Float32Array(B * U).fill(1), [B, U]);
    const g = new Generator(5);
    for (const pass of [1, 2] as const) {
      const y = await lbdDropout(x, alpha, { draw: g.reserve(B * U), pass, scaled: false }).data();
      for (let k = 0; k < U; k++) {
        let kept = 0;
        for (let b = 0; b < B; b++) kept += y[b * U + k];
        const p = sig([-1.2, 0, 2][k]);
        const se = Math.sqrt(p * (1 - p) / B);
        assert.ok(Math.abs(kept / B - p) < 4 * se, `pass ${pass} unit ${k}: keep rate ${kept / B} vs σ(α) = ${p}`);
      }
    }
  });
});

/** A tiny random network: x → Linear(2, 3) → ReLU → LBD(3 units) → Linear(3, 1); squared error. */
function tinyNet(inverted: boolean, estimator: 'arm' | 'disarm', seed: number) {
  const g = new Generator(seed);
  const l1 = new Linear(2, 3, { generator: g });
  const drop = new LearnableBernoulliDropout({ units: 3, estimator, inverted, generator: new Generator(seed + 100) });
  const l2 = new Linear(3, 1, { generator: g });
  return { l1, drop, l2, model: new Sequential(l1, new Lambda(relu), drop, l2) };
}

/** E over all 8 masks of the per-example loss, as a function of α (float64). */
function exactExpectation(h: number[], w2: number[], b2: number, target: number, alpha: number[], inverted: boolean): number {
  let e = 0;
  for (let m = 0; m < 8; m++) {
    let prob = 1, y = b2;
    for (let k = 0; k < 3; k++) {
      const z = (m >> k) & 1;
      const p = sig(alpha[k]);
      prob *= z ? p : 1 - p;
      y += z * h[k] * w2[k] / (inverted ? p : 1);
    }
    e += prob * (y - target) ** 2;
  }
  return e;
}

for (const inverted of [true, false]) {
  test(`ARM and DisARM are unbiased against exact enumeration (${inverted ? 'inverted scaling' : 'plain masks'}); DisARM has lower variance`, async () => {
    const x0 = [0.7, -1.3], target = 0.4, B = 2048, K = 16;
    const results: Record<string, number[][]> = {};
    let exact: number[] = [];
    for (const estimator of ['arm', 'disarm'] as const) {
      await scope(async () => {
        const { l1, drop, l2, model } = tinyNet(inverted, estimator, 3);
        // logits away from ½ so the path-wise term and both estimators matter
        const alpha0 = [0.4, -0.8, 1.1];
        drop.alpha.dispose();
        (drop as { alpha: Tensor }).alpha = tensor(alpha0, [3]).requireGrad().keep();
        const W1 = await l1.weight.data(), b1 = await l1.bias!.data(), W2 = await l2.weight.data(), b2 = (await l2.bias!.data())[0];
        const h = [0, 1, 2].map((k) => Math.max(0, x0[0] * W1[k] + x0[1] * W1[3 + k] + b1[k]));
        assert.ok(h.every((v) => v > 0.05), `all three hidden units must be active for a meaningful test (h = ${h})`);
        // exact gradient of the expected loss: central differences of the enumerated expectation
        exact = alpha0.map((_, k) => {
          const up = alpha0.slice(), dn = alpha0.slice();
          up[k] += 1e-5; dn[k] -= 1e-5;
          return (exactExpectation(h, Array.from(W2), b2, target, up, inverted) - exactExpectation(h, Array.from(W2), b2, target, dn, inverted)) / 2e-5;
        });
        const x = tensor(Array.from({ length: B }, () => x0).flat(), [B, 2]);
        const t = tensor(new Float32Array(B).fill(target), [B, 1]);
        const est: number[][] = [];
        for (let r = 0; r < K; r++) {
          const g = await scope(async () => {
            lbdGradients(() => reshape(square(sub(model.forward(x), t)), [B]), { model });
            const v = Array.from(await drop.alpha.grad!.data());
            for (const p of model.parameters()) { p.grad?.dispose(); p.grad = null; }
            return v;
          });
          est.push(g);
        }
        results[estimator] = est;
        model.dispose();
      });
    }
    for (const estimator of ['arm', 'disarm']) {
      const est = results[estimator];
      for (let k = 0; k < 3; k++) {
        const v = est.map((e) => e[k]);
        const m = v.reduce((a, b) => a + b, 0) / K;
        const sd = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (K - 1));
        const se = Math.max(sd / Math.sqrt(K), 1e-6);
        assert.ok(Math.abs(m - exact[k]) < 4 * se,
          `${estimator} α${k}: mean ${m.toExponential(3)} vs exact ${exact[k].toExponential(3)} (SE ${se.toExponential(2)}, z ${((m - exact[k]) / se).toFixed(2)})`);
      }
    }
    // same u draws (same generator seeds) for both: compare spreads per logit
    for (let k = 0; k < 3; k++) {
      const v = (e: string) => { const s = results[e].map((r) => r[k]); const m = s.reduce((a, b) => a + b, 0) / K; return s.reduce((a, b) => a + (b - m) ** 2, 0); };
      assert.ok(v('disarm') <= v('arm') * 1.05, `α${k}: DisARM spread ${v('disarm')} > ARM ${v('arm')}`);
    }
  });
}

/** E over all 2⁶ joint masks (two copies × 3 units, inverted scaling) of (a·c − t)², a and c each copy's readout. */
function exactTwoCopies(h: number[], w: number[], v: number[], t: number, alpha: number[]): number {
  let e = 0;
  for (let m = 0; m < 64; m++) {
    let prob = 1, a = 0, c = 0;
    for (let k = 0; k < 3; k++) {
      const p = sig(alpha[k]), z0 = (m >> k) & 1, z1 = (m >> (k + 3)) & 1;
      prob *= (z0 ? p : 1 - p) * (z1 ? p : 1 - p);
      a += z0 * h[k] * w[k] / p;
      c += z1 * h[k] * v[k] / p;
    }
    e += prob * (a * c - t) ** 2;
  }
  return e;
}

test('copies of a batch through one LBD layer (SIVAE\'s V + 1 masks): the joint-vector estimators are unbiased', async () => {
  const h = [0.9, -0.6, 1.3], w = [0.8, 0.5, -0.7], v = [-0.4, 0.9, 0.6], t = 0.3, alpha0 = [0.5, -0.7, 1.0], B = 2048, K = 16;
  const exact = alpha0.map((_, k) => {
    const up = alpha0.slice(), dn = alpha0.slice();
    up[k] += 1e-5; dn[k] -= 1e-5;
    return (exactTwoCopies(h, w, v, t, up) - exactTwoCopies(h, w, v, t, dn)) / 2e-5;
  });
  for (const estimator of ['arm', 'disarm'] as const) {
    await scope(async () => {
      const drop = new LearnableBernoulliDropout({ units: 3, estimator, generator: new Generator(11) });
      drop.alpha.dispose();
      (drop as { alpha: Tensor }).alpha = tensor(alpha0, [3]).requireGrad().keep();
      const x = tensor(Array.from({ length: B }, () => h).flat(), [B, 3]);
      const W = tensor(w, [3, 1]), V = tensor(v, [3, 1]), target = tensor(new Float32Array(B).fill(t), [B, 1]);
      const loss = (): Tensor => {
        const y = drop.forward(concat([x, x], 0)); // copy-major: row r is example r mod B
        const a = matmul(slice(y, [0, 0], [B, 3]), W), c = matmul(slice(y, [B, 0], [2 * B, 3]), V);
        return reshape(square(sub(mul(a, c), target)), [B]);
      };
      const est: number[][] = [];
      for (let r = 0; r < K; r++) {
        est.push(await scope(async () => {
          lbdGradients(loss, { model: drop });
          const g = Array.from(await drop.alpha.grad!.data());
          drop.alpha.grad!.dispose(); drop.alpha.grad = null;
          return g;
        }));
      }
      for (let k = 0; k < 3; k++) {
        const s = est.map((e) => e[k]);
        const m = s.reduce((p, q) => p + q, 0) / K;
        const se = Math.max(Math.sqrt(s.reduce((p, q) => p + (q - m) ** 2, 0) / (K - 1) / K), 1e-6);
        assert.ok(Math.abs(m - exact[k]) < 4 * se, `${estimator} α${k}: mean ${m.toExponential(3)} vs exact ${exact[k].toExponential(3)} (z ${((m - exact[k]) / se).toFixed(2)})`);
      }
      drop.dispose();
    });
  }
});

test('replaying the tape gives the same gradients as a full second forward', async () => {
  await scope(async () => {
    const g = new Generator(21);
    const prefix = new Sequential(new Linear(4, 6, { generator: g }), new Lambda(relu));
    const drop = new LearnableBernoulliDropout({ units: 6, estimator: 'disarm', generator: new Generator(8) });
    const head = new Sequential(new Linear(6, 5, { generator: g }), new Lambda(relu), new Linear(5, 2, { generator: g }));
    const model = new Sequential(prefix, drop, head);
    const x = g.normal([32, 4]);
    const y = tensor(Array.from({ length: 32 }, (_, i) => i % 2), [32], 'i32');
    const loss = () => crossEntropy(model.forward(x), y, { reduction: 'none' });
    const grads = async (full: boolean): Promise<number[][]> => scope(async () => {
      for (const p of model.parameters()) { p.grad?.dispose(); p.grad = null; }
      const r = lbdGradients(loss, {
        model,
        fullSecondForward: full ? () => { drop.override = { draw: drop.lastDraw!, pass: 1 }; const e = loss(); drop.override = null; return e; } : undefined,
      });
      void r;
      const out: number[][] = [];
      for (const p of model.parameters()) out.push(Array.from(await p.grad!.data()));
      return out;
    });
    // same draws for both runs: reseed the layer's generator by giving both the same offsets
    const gen = drop.generator as unknown as { offset: number };
    const start = gen.offset;
    const a = await grads(false);
    gen.offset = start;
    const b = await grads(true);
    assert.is(a.length, b.length);
    a.forEach((v, i) => assertClose(v, b[i], 1e-6, `parameter ${i}`));
    model.dispose();
  });
});

test('a shared logit sums the terms of every layer that uses it; parameters() lists it once', async () => {
  await scope(async () => {
    const shared = new SharedLogit(0.6);
    const g = new Generator(4);
    const model = new Sequential(
      new Linear(3, 4, { generator: g }), new LearnableBernoulliDropout({ granularity: 'shared', shared, generator: new Generator(1) }),
      new Linear(4, 4, { generator: g }), new LearnableBernoulliDropout({ granularity: 'shared', shared, generator: new Generator(2) }),
      new Linear(4, 1, { generator: g }));
    const { weights, logits } = splitParameters(model);
    assert.is(logits.length, 1);
    assert.is(logits[0], shared.alpha);
    assert.is(weights.length, 6);
    assert.is(model.parameters().filter((p) => p === shared.alpha).length, 1);
    const x = g.normal([64, 3]);
    lbdGradients(() => reshape(square(model.forward(x)), [64]), { model });
    assert.ok(shared.alpha.grad, 'the shared logit has a gradient');
    assert.ok(Number.isFinite((await shared.alpha.grad!.data())[0]));
    for (const p of model.parameters()) { p.grad?.dispose(); p.grad = null; }
    model.dispose();
  });
});

test('training with lbdStep learns, moves the keep probabilities, and leaks nothing per step', async () => {
  const g = new Generator(12);
  const model = new Sequential(new Linear(2, 16, { generator: g }), new Lambda(relu),
    new LearnableBernoulliDropout({ units: 16, generator: new Generator(3) }), new Linear(16, 2, { generator: g }));
  const { weights, logits } = splitParameters(model);
  const wopt = new Adam(weights, { lr: 0.02 });
  const lopt = new Adam(logits, { lr: 0.05 });
  const N = 128;
  const xs = await scope(() => g.normal([N, 2]).data());
  const ys = Array.from({ length: N }, (_, i) => +(xs[2 * i] * xs[2 * i + 1] > 0));
  const x = tensor(xs, [N, 2]).keep();
  const y = tensor(ys, [N], 'i32').keep();
  const drop = model.layers[2] as LearnableBernoulliDropout;
  const keep0 = await drop.keepProbabilities();
  let first = NaN, last = NaN, live = -1, pipes = -1;
  for (let step = 0; step < 60; step++) {
    const l = await scope(async () => {
      const r = lbdStep(() => crossEntropy(model.forward(x), y, { reduction: 'none' }), { weights: wopt, logits: lopt, model });
      return step === 0 || step === 59 ? await r.loss.item() : NaN;
    });
    if (step === 0) first = l;
    if (step === 59) last = l;
    await sync();
    if (step === 3) { live = memoryStats().liveBytes; pipes = pipelineCount(); }
    if (step > 3) {
      assert.is(memoryStats().liveBytes, live, `step ${step}: live bytes changed`);
      assert.is(pipelineCount(), pipes, `step ${step}: a pipeline was compiled`);
    }
  }
  const keep1 = await drop.keepProbabilities();
  assert.ok(last < first, `loss ${first} -> ${last}`);
  assert.ok(keep1.some((p, i) => Math.abs(p - keep0[i]) > 0.01), 'keep probabilities moved');
  wopt.dispose(); lopt.dispose(); model.dispose(); x.dispose(); y.dispose();
});

/** Eq. 3 / N in float64 (docs/estimators.md §6): weight term + entropy term. */
function refRegularizer(alpha: number[], W: Float32Array | number[], units: number, outs: number, N: number, s2: number, inverted: boolean): number {
  let r = 0;
  for (let k = 0; k < units; k++) {
    const a = alpha[alpha.length > 1 ? k : 0];
    const p = sig(a);
    let norm = 0;
    for (let j = 0; j < outs; j++) norm += W[k * outs + j] ** 2;
    r += (inverted ? norm / p : norm * p) / (2 * s2 * N);
    const H = -p * Math.log(p) - (1 - p) * Math.log(1 - p);
    r -= H / N;
  }
  return r;
}

for (const [granularity, inverted] of [['unit', true], ['unit', false], ['layer', true]] as const) {
  test(`Eq. 3 regularizer (${granularity}, ${inverted ? 'inverted' : 'plain'}): value and gradients against float64 finite differences`, async () => {
    await scope(async () => {
      const units = 4, outs = 3, N = 50, s2 = 0.5;
      const g = new Generator(31);
      const next = new Linear(units, outs, { generator: g });
      const drop = new LearnableBernoulliDropout({ granularity, units, inverted, datasetSize: N, priorVariance: s2 });
      const a0 = granularity === 'unit' ? [0.3, -1.5, 2.2, 0.9] : [-0.4];
      drop.alpha.dispose();
      (drop as { alpha: Tensor }).alpha = tensor(a0, [a0.length]).requireGrad().keep();
      drop.attach(next.weight, 0);
      const W = Array.from(await next.weight.data());
      const r = drop.regularizer()!;
      const want = refRegularizer(a0, W, units, outs, N, s2, inverted);
      assertClose([await r.item()], [want], 1e-5, 'value');
      r.backward();
      const fd = (f: (d: number) => number): number => (f(1e-6) - f(-1e-6)) / 2e-6;
      const ga = a0.map((_, k) => fd((d) => { const a = a0.slice(); a[k] += d; return refRegularizer(a, W, units, outs, N, s2, inverted); }));
      const gw = W.map((_, i) => fd((d) => { const w = W.slice(); w[i] += d; return refRegularizer(a0, w, units, outs, N, s2, inverted); }));
      assertClose(await drop.alpha.grad!.data(), ga, 1e-4, 'd/dα');
      assertClose(await next.weight.grad!.data(), gw, 1e-4, 'd/dW');
      // numerically safe for extreme logits
      drop.alpha.grad!.dispose(); drop.alpha.grad = null;
      const big = tensor(a0.map((v, i) => (i % 2 ? -60 : 60)), [a0.length]).requireGrad().keep();
      drop.alpha.dispose();
      (drop as { alpha: Tensor }).alpha = big;
      const rb = drop.regularizer()!;
      assert.ok(Number.isFinite(await rb.item()), 'finite for |α| = 60');
      next.dispose(); big.dispose();
    });
  });
}

test.run();
