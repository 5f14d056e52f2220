// The LBD gradient for every granularity, pinned by exact tests:
// 1. ARM and DisARM (inverted scaling and plain masks) are unbiased for a `layer` logit (one
//    logit, a Bernoulli variable per unit), `channel` logits (one mask per example and channel,
//    shared over H×W) and a `shared` logit (two layers): the mean over batches of identical
//    examples against the exact gradient of the expected loss, by enumerating every mask; the
//    layer case also checks that the test can see a 1/units error in the logit's scale.
// 2. On the same u, DisARM equals E[ARM | z1, z2] — the conditional mean of u − ½ given the two
//    masks computed by numerical integration over u, not from DisARM's closed form — and ARM
//    equals Σ_b d_b (u − ½)/B with u regenerated on the host.
// 3. The Eq. 3 regularizer's value and gradients for a convolution's weights with channel and
//    layer logits, against float64 finite differences of Eq. 3 written out here.
// The formulas are in docs/estimators.md.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tensor, scope, square, sub, reshape, matmul, mul, sum, Generator, type Tensor } from '../../engine/index.js';
import { refMasks } from '../../engine/ops/lbd.js';
import { Conv2d } from '../../layers/conv.js';
import { Sequential } from '../../layers/sequential.js';
import { LearnableBernoulliDropout, SharedLogit } from '../../layers/dropout/lbd.js';
import { lbdGradients } from '../../layers/dropout/lbd-step.js';
import { ready, assertClose } from '../helpers.js';

const test = suite('lbd-granularity');
test.before(async () => { await ready; });

const sig = (a: number): number => 1 / (1 + Math.exp(-a));

/** Σ over all 2^n masks of P(z)·f(z); z[i] ~ Ber(p[i]). */
function enumerate(p: number[], f: (z: number[]) => number): number {
  let e = 0;
  for (let m = 0; m < 1 << p.length; m++) {
    const z = p.map((_, i) => (m >> i) & 1);
    e += z.reduce((q, zi, i) => q * (zi ? p[i] : 1 - p[i]), 1) * f(z);
  }
  return e;
}

/** Central differences of E(α) for each logit. */
const gradOf = (alpha: number[], E: (a: number[]) => number): number[] => alpha.map((_, k) => {
  const up = alpha.slice(), dn = alpha.slice();
  up[k] += 1e-5; dn[k] -= 1e-5;
  return (E(up) - E(dn)) / 2e-5;
});

interface Case {
  /** The layers (their logits are what the test differentiates). */
  drops: LearnableBernoulliDropout[];
  logit: Tensor;
  /** Per-example losses of a batch of B identical examples. */
  loss: (B: number) => Tensor;
  /** The exact expected per-example loss as a function of the logits (float64). */
  expected: (alpha: number[]) => number;
  dispose: () => void;
}

const H = [0.9, -0.6, 1.3], WOUT = [0.8, 0.5, -0.7], TARGET = 0.3;

/** `layer`: x = h [B, 3] → LBD (one logit, 3 Bernoullis) → ·w → (y − t)². */
function layerCase(estimator: 'arm' | 'disarm', inverted: boolean): Case {
  const drop = new LearnableBernoulliDropout({ granularity: 'layer', estimator, inverted, initialKeep: sig(0.6), generator: new Generator(21) });
  const w = tensor(WOUT, [3, 1]).keep();
  return {
    drops: [drop], logit: drop.alpha,
    loss: (B) => {
      const x = tensor(Array.from({ length: B }, () => H).flat(), [B, 3]);
      return reshape(square(sub(matmul(drop.forward(x), w), TARGET)), [B]);
    },
    expected: ([a]) => {
      const p = sig(a);
      return enumerate([p, p, p], (z) => (z.reduce((s, zk, k) => s + zk * H[k] * WOUT[k] / (inverted ? p : 1), 0) - TARGET) ** 2);
    },
    dispose: () => { drop.dispose(); w.dispose(); },
  };
}

// channel: x [B, 2, 2, 2] → LBD per channel (one mask per example and channel over its 4 pixels)
// → s = Σ x·V → (s − t)²
const XC = [0.7, -0.2, 0.4, 1.1, -0.9, 0.3, 0.6, -0.5], VC = [0.5, 1.2, -0.4, 0.8, 0.9, -0.6, 1.0, 0.2], ALPHA_C = [0.3, -0.6];
function channelCase(estimator: 'arm' | 'disarm', inverted: boolean): Case {
  const drop = new LearnableBernoulliDropout({ granularity: 'channel', units: 2, estimator, inverted, generator: new Generator(22) });
  drop.alpha.dispose();
  (drop as { alpha: Tensor }).alpha = tensor(ALPHA_C, [2]).requireGrad().keep();
  const v = tensor(VC, [1, 2, 2, 2]).keep();
  // Σ over a channel's pixels of x·V: what a kept channel contributes
  const perChannel = [0, 1].map((c) => [0, 1, 2, 3].reduce((s, i) => s + XC[c * 4 + i] * VC[c * 4 + i], 0));
  return {
    drops: [drop], logit: drop.alpha,
    loss: (B) => {
      const x = tensor(Array.from({ length: B }, () => XC).flat(), [B, 2, 2, 2]);
      return square(sub(sum(mul(drop.forward(x), v), [1, 2, 3]), 0.2));
    },
    expected: (a) => {
      const p = a.map(sig);
      return enumerate(p, (z) => (z.reduce((s, zc, c) => s + zc * perChannel[c] / (inverted ? p[c] : 1), 0) - 0.2) ** 2);
    },
    dispose: () => { drop.dispose(); v.dispose(); },
  };
}

// shared: x = h [B, 2] → LBD → ·W [2, 2] → LBD → ·v → (y − t)², both LBD layers on one logit
const HS = [1.1, -0.7], WS = [[0.6, -0.9], [0.8, 0.4]], VS = [1.2, -0.5];
function sharedCase(estimator: 'arm' | 'disarm', inverted: boolean): Case {
  const shared = new SharedLogit(sig(0.5));
  const d1 = new LearnableBernoulliDropout({ granularity: 'shared', shared, estimator, inverted, generator: new Generator(23) });
  const d2 = new LearnableBernoulliDropout({ granularity: 'shared', shared, estimator, inverted, generator: new Generator(24) });
  const W = tensor(WS.flat(), [2, 2]).keep(), v = tensor(VS, [2, 1]).keep();
  return {
    drops: [d1, d2], logit: shared.alpha,
    loss: (B) => {
      const x = tensor(Array.from({ length: B }, () => HS).flat(), [B, 2]);
      return reshape(square(sub(matmul(d2.forward(matmul(d1.forward(x), W)), v), TARGET)), [B]);
    },
    expected: ([al]) => {
      const p = sig(al), s = inverted ? 1 / p : 1;
      return enumerate([p, p, p, p], (z) => {
        const a = [0, 1].map((j) => (z[0] * HS[0] * WS[0][j] + z[1] * HS[1] * WS[1][j]) * s);
        return ((z[2] * a[0] * VS[0] + z[3] * a[1] * VS[1]) * s - TARGET) ** 2;
      });
    },
    dispose: () => { d1.dispose(); d2.dispose(); W.dispose(); v.dispose(); shared.alpha.dispose(); },
  };
}

/** Mean and standard error over K batches of the logits' gradient from lbdGradients. */
async function monteCarlo(c: Case, B: number, K: number): Promise<{ mean: number[]; se: number[] }> {
  const model = new Sequential(...c.drops);
  const est: number[][] = [];
  for (let r = 0; r < K; r++) {
    est.push(await scope(async () => {
      lbdGradients(() => c.loss(B), { model });
      const g = Array.from(await c.logit.grad!.data());
      c.logit.grad!.dispose(); c.logit.grad = null;
      return g;
    }));
  }
  const n = est[0].length;
  const mean = Array.from({ length: n }, (_, k) => est.reduce((s, e) => s + e[k], 0) / K);
  const se = mean.map((m, k) => Math.max(Math.sqrt(est.reduce((s, e) => s + (e[k] - m) ** 2, 0) / (K - 1) / K), 1e-7));
  return { mean, se };
}

const cases = { layer: layerCase, channel: channelCase, shared: sharedCase };
for (const [name, make] of Object.entries(cases)) {
  for (const inverted of [true, false]) {
    test(`${name} granularity (${inverted ? 'inverted scaling' : 'plain masks'}): ARM and DisARM are unbiased against all masks enumerated`, async () => {
      for (const estimator of ['arm', 'disarm'] as const) {
        await scope(async () => {
          const c = make(estimator, inverted);
          const alpha = Array.from(await c.logit.data());
          const exact = gradOf(alpha, c.expected);
          const { mean, se } = await monteCarlo(c, 1024, 16);
          exact.forEach((g, k) => {
            const z = (mean[k] - g) / se[k];
            assert.ok(Math.abs(z) < 4, `${name} ${estimator} α${k}: mean ${mean[k].toExponential(3)} vs exact ${g.toExponential(3)} (SE ${se[k].toExponential(2)}, z ${z.toFixed(2)})`);
            // the test must be able to see a wrong scale of the logit's gradient (e.g. 1/units,
            // or a missing per-copy or per-layer sum): a halved gradient would be > 4 SE off
            assert.ok(Math.abs(g) / 2 > 4 * se[k], `${name} ${estimator} α${k}: too little power (exact ${g.toExponential(3)}, SE ${se[k].toExponential(2)})`);
          });
          c.dispose();
        });
      }
    });
  }
}

// ---- DisARM = E[ARM | z1, z2] on the same u ---------------------------------------------------

/**
 * E[u − ½ | 1[u > σ(−α)] = z1, 1[u < σ(α)] = z2] for u ~ U(0, 1), by the midpoint rule over u
 * (the region's mean of u − ½) — from the masks' definitions alone, not DisARM's closed form.
 */
const condMemo = new Map<string, number>();
function condMean(alpha: number, z1: number, z2: number): number {
  const key = `${alpha},${z1},${z2}`;
  if (!condMemo.has(key)) condMemo.set(key, integrate(alpha, z1, z2));
  return condMemo.get(key)!;
}
function integrate(alpha: number, z1: number, z2: number): number {
  const lo = Math.fround(sig(-alpha)), hi = Math.fround(sig(alpha));
  let s = 0, n = 0;
  const N = 20000;
  for (let i = 0; i < N; i++) {
    const u = (i + 0.5) / N;
    if (+(u > lo) === z1 && +(u < hi) === z2) { s += u - 0.5; n++; }
  }
  return n ? s / n : 0;
}

for (const [name, make] of Object.entries(cases)) {
  test(`${name}: on the same u, DisARM = E[ARM | z1, z2] and ARM = Σ d_b (u − ½)/B (inverted scaling: their difference)`, async () => {
    for (const inverted of [false, true]) {
      const B = 48;
      const out: Record<string, { g: number[]; d: number[] }> = {};
      const draws: Record<string, { u: Float64Array; z1: Uint8Array; z2: Uint8Array; units: number }[]> = {};
      let alpha: number[] = [];
      for (const estimator of ['arm', 'disarm'] as const) {
        await scope(async () => {
          const c = make(estimator, inverted); // same generator seeds: the same u for both estimators
          alpha = Array.from(await c.logit.data());
          const r = lbdGradients(() => c.loss(B), { model: new Sequential(...c.drops) });
          const e1 = await r.e1.data(), e2 = await r.e2.data();
          out[estimator] = { g: Array.from(await c.logit.grad!.data()), d: Array.from(e1, (v, b) => v - e2[b]) };
          draws[estimator] = c.drops.map((l) => {
            const units = name === 'layer' ? 3 : 2;
            return { ...refMasks(B, units, alpha, l.lastDraw!), units };
          });
          c.logit.grad!.dispose(); c.logit.grad = null;
          c.dispose();
        });
      }
      assert.equal(Array.from(draws.arm[0].u.slice(0, 8)), Array.from(draws.disarm[0].u.slice(0, 8)), 'both estimators saw the same u');
      assertClose(out.arm.d, out.disarm.d, 1e-6, 'the same loss differences');
      // host ARM and E[ARM | z1, z2] per logit, summed over the layers (and units of a layer logit)
      const L = alpha.length;
      const arm = new Array<number>(L).fill(0), cond = new Array<number>(L).fill(0);
      for (const { u, z1, z2, units } of draws.arm) {
        for (let b = 0; b < B; b++) {
          for (let k = 0; k < units; k++) {
            const i = b * units + k, j = L > 1 ? k : 0;
            arm[j] += out.arm.d[b] * (u[i] - 0.5) / B;
            cond[j] += out.arm.d[b] * condMean(alpha[j], z1[i], z2[i]) / B;
          }
        }
      }
      // f32 sums of B terms of size |d|: an absolute tolerance well under one term's share
      const tol = 2e-4 * Math.max(...out.arm.d.map(Math.abs));
      const near = (got: number[], want: number[], what: string): void => got.forEach((g, k) => {
        assert.ok(Math.abs(g - want[k]) <= tol, `${what} [${k}]: got ${g}, want ${want[k]} (tolerance ${tol.toExponential(2)})`);
      });
      if (!inverted) {
        near(out.arm.g, arm, `${name} plain: ARM on the GPU vs Σ d (u − ½)/B`);
        near(out.disarm.g, cond, `${name} plain: DisARM vs E[ARM | z1, z2]`);
        assert.ok(out.disarm.g.some((v, k) => Math.abs(v - arm[k]) > 10 * tol), `${name}: DisARM differs from ARM on this u (else the check is empty)`);
      } else {
        // the path-wise term is the same in both (same masks, same weights): it cancels
        near(out.disarm.g.map((v, k) => v - out.arm.g[k]), cond.map((v, k) => v - arm[k]), `${name} inverted: DisARM − ARM vs E[ARM | z1, z2] − ARM`);
      }
    }
  });
}

// ---- Eq. 3 for convolutions ------------------------------------------------------------------

/**
 * Eq. 3 divided by N for an LBD layer in front of a convolution with weight W [Co, Ci, kh, kw]
 * (its units are the Ci input channels): Σ_k ‖W[·, k]‖² / (2 s² N p_k) − (1/N) Σ_k H(p_k) with
 * inverted scaling (W = p·M), Σ_k p_k ‖W[·, k]‖² / (2 s² N) − … with plain masks; a layer logit
 * counts every channel.
 */
function eq3Conv(alpha: number[], W: number[], shape: number[], N: number, s2: number, inverted: boolean): number {
  const [Co, Ci, kh, kw] = shape;
  let r = 0;
  for (let k = 0; k < Ci; k++) {
    const p = sig(alpha[alpha.length > 1 ? k : 0]);
    let norm = 0;
    for (let o = 0; o < Co; o++) for (let i = 0; i < kh * kw; i++) norm += W[(o * Ci + k) * kh * kw + i] ** 2;
    r += (inverted ? norm / p : norm * p) / (2 * s2 * N);
    r -= (-p * Math.log(p) - (1 - p) * Math.log(1 - p)) / N;
  }
  return r;
}

for (const [granularity, inverted] of [['channel', true], ['channel', false], ['layer', true]] as const) {
  test(`Eq. 3 in front of a convolution (${granularity} logits, ${inverted ? 'inverted' : 'plain'}): value and gradients against float64 finite differences`, async () => {
    await scope(async () => {
      const N = 40, s2 = 0.7, shape = [3, 4, 3, 3];
      const conv = new Conv2d(4, 3, 3, { generator: new Generator(8) });
      const drop = new LearnableBernoulliDropout({ granularity, units: 4, inverted, datasetSize: N, priorVariance: s2 });
      const a0 = granularity === 'channel' ? [0.4, -1.2, 1.9, 0.1] : [-0.3];
      drop.alpha.dispose();
      (drop as { alpha: Tensor }).alpha = tensor(a0, [a0.length]).requireGrad().keep();
      drop.attach(conv.weight, 1);
      const W = Array.from(await conv.weight.data());
      const r = drop.regularizer()!;
      assertClose([await r.item()], [eq3Conv(a0, W, shape, N, s2, inverted)], 1e-5, 'value');
      r.backward();
      const fd = (f: (d: number) => number): number => (f(1e-6) - f(-1e-6)) / 2e-6;
      const ga = a0.map((_, k) => fd((d) => { const a = a0.slice(); a[k] += d; return eq3Conv(a, W, shape, N, s2, inverted); }));
      const gw = W.map((_, i) => fd((d) => { const w = W.slice(); w[i] += d; return eq3Conv(a0, w, shape, N, s2, inverted); }));
      assertClose(await drop.alpha.grad!.data(), ga, 1e-4, 'd/dα');
      assertClose(await conv.weight.grad!.data(), gw, 1e-4, 'd/dW');
      conv.dispose(); drop.dispose();
    });
  });
}

test.run();
