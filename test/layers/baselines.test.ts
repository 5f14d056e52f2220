// The LBD paper's learnable-rate baselines: variational Gaussian dropout and Concrete dropout.
// Noise statistics on large tensors, the layers against the float64 reference with the twin
// draw (values and gradients), eval-mode identity, keep probabilities, both regularizers
// against float64 (value, and gradients against central differences), the a ≤ 1 cap, clear
// errors, and zero live-byte growth over training steps of Linear → dropout → Linear.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  Generator, SGD, tensor, full, scope, sum, mul, add, relu, crossEntropy, sync, memoryStats, pipelineCount,
  gaussianDropout, concreteDropout, refGaussianDropout, refConcreteDropout, type Tensor, type Ref,
} from '../../engine/index.js';
import { upload } from '../../engine/dispatch.js';
import { GaussianDropout } from '../../layers/dropout/gaussian.js';
import { randomTwin } from '../../engine/random.js';
import { ConcreteDropout } from '../../layers/dropout/concrete.js';
import { Linear } from '../../layers/linear.js';
import { ready, rng, sample } from '../helpers.js';

const test = suite('baselines');
test.before(async () => { await ready; });

const set = (t: Tensor, v: number[]): void => upload(t.buffer, Float32Array.from(v));
const f32s = (v: number[]): number[] => v.map((x) => Math.fround(x));
const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
const softplus = (v: number): number => Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v)));
const logSigmoid = (v: number): number => -softplus(-v);

/** |got − want| ≤ tol·max(|want|, floor) elementwise. */
function relClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string, floor = 1e-12): void {
  assert.is(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol * Math.max(Math.abs(want[i]), floor))) assert.unreachable(`${what}[${i}]: got ${got[i]}, want ${want[i]} (error ${err.toExponential(2)})`);
  }
}

/** Central differences of a float64 function at x. */
function fdGrad(f: (x: number[]) => number, x: number[]): number[] {
  return x.map((v, i) => {
    const h = 1e-6 * Math.max(1, Math.abs(v));
    const up = x.slice(); up[i] = v + h;
    const dn = x.slice(); dn[i] = v - h;
    return (f(up) - f(dn)) / (2 * h);
  });
}

/** Mean and (population) variance of every `stride`-th value starting at `start`. */
function moments(v: ArrayLike<number>, start: number, stride: number): { mean: number; variance: number; n: number } {
  let s = 0, s2 = 0, n = 0;
  for (let i = start; i < v.length; i += stride) { s += v[i]; s2 += v[i] * v[i]; n++; }
  const mean = s / n;
  return { mean, variance: s2 / n - mean * mean, n };
}

// ---- noise statistics ---------------------------------------------------------------------

test('Gaussian: ξ has mean 1 and variance a per unit on a large tensor', async () => {
  const layer = new GaussianDropout({ units: 4, seed: 11 });
  const alphas = [0.1, 0.25, 0.5, 1];
  set(layer.logAlpha, alphas.map(Math.log));
  await scope(async () => {
    const rows = 1 << 16;
    const y = await layer.forward(full([rows, 4], 1)).data();
    alphas.forEach((a, k) => {
      const m = moments(y, k, 4);
      // standard errors: √(a/n) for the mean, a·√(2/n) for the variance of a normal
      assert.ok(Math.abs(m.mean - 1) < 5 * Math.sqrt(a / m.n), `unit ${k}: mean ${m.mean}`);
      assert.ok(Math.abs(m.variance - a) < 5 * a * Math.sqrt(2 / m.n), `unit ${k}: variance ${m.variance}, want ${a}`);
    });
  });
  layer.dispose();
});

test('Concrete: E[1 − z̃] matches the exact expectation (≈ 1 − p), z̃ concentrates near 0/1 at t = 0.1', async () => {
  const p = 0.3, t = 0.1, th = Math.log(p / (1 - p));
  const layer = new ConcreteDropout({ initialKeep: 1 - p, seed: 12 });
  const n = 1 << 18;
  const y = await scope(async () => layer.forward(full([n, 1], 1)).data());
  // 1 − z̃ = y·(1 − p) (the layer's 1 − p is the f32 logit's)
  const keepScale = 1 - sigmoid(Math.fround(th));
  const exact = expectedKeep(Math.fround(th), t);
  assert.ok(Math.abs(exact - (1 - p)) < 0.01, `the relaxation's E[1 − z̃] = ${exact} is near 1 − p`);
  const m = moments(y, 0, 1);
  const meanKeep = m.mean * keepScale;
  const se = Math.sqrt(m.variance / n) * keepScale;
  assert.ok(Math.abs(meanKeep - exact) < 5 * se + 1e-6, `mean of 1 − z̃ = ${meanKeep}, exact ${exact} (se ${se})`);
  // P(z̃ within 0.05 of 0 or 1): z̃ ∈ (0.05, 0.95) ⇔ L ∈ (t·logit(0.05) − θ, t·logit(0.95) − θ)
  const edge = t * Math.log(19);
  const wantNear = 1 - (sigmoid(edge - th) - sigmoid(-edge - th));
  let near = 0;
  for (let i = 0; i < n; i++) { const z = 1 - y[i] * keepScale; if (z < 0.05 || z > 0.95) near++; }
  const frac = near / n;
  assert.ok(frac > 0.85, `only ${frac} of z̃ within 0.05 of 0 or 1`);
  assert.ok(Math.abs(frac - wantNear) < 5 * Math.sqrt(wantNear * (1 - wantNear) / n), `near-0/1 fraction ${frac}, want ${wantNear}`);
  layer.dispose();
});

/** E[σ(−(θ + L)/t)] for logistic L, by the trapezoid rule on [−60, 60] (chunks keep loops small). */
function expectedKeep(th: number, t: number): number {
  const h = 1e-3;
  let total = 0;
  for (let c = -60; c < 60; c++) total += chunk(c, h, th, t);
  return total;
}
function chunk(from: number, h: number, th: number, t: number): number {
  let s = 0;
  const steps = Math.round(1 / h);
  for (let i = 0; i < steps; i++) {
    const a = from + i * h, b = a + h;
    const fa = sigmoid(-(th + a) / t) * sigmoid(a) * sigmoid(-a);
    const fb = sigmoid(-(th + b) / t) * sigmoid(b) * sigmoid(-b);
    s += 0.5 * h * (fa + fb);
  }
  return s;
}

test('noise layout: Gaussian per element, Concrete per example and channel on [N, C, H, W] (options switch)', async () => {
  const planes = async (layer: GaussianDropout | ConcreteDropout): Promise<[number, number]> => scope(async () => {
    const y = await layer.forward(full([4, 3, 5, 5], 1)).data();
    let constant = 0, varying = 0;
    for (let pl = 0; pl < 12; pl++) {
      const v = y.subarray(pl * 25, pl * 25 + 25);
      if (v.every((x) => x === v[0])) constant++; else varying++;
    }
    return [constant, varying];
  });
  const g1 = new GaussianDropout({ units: 3, initialKeep: 0.6 }), g2 = new GaussianDropout({ units: 3, initialKeep: 0.6, noise: 'channel' });
  const c1 = new ConcreteDropout({ initialKeep: 0.5 }), c2 = new ConcreteDropout({ initialKeep: 0.5, noise: 'element' });
  assert.equal(await planes(g1), [0, 12], 'Gaussian default: per element');
  assert.equal(await planes(g2), [12, 0], "Gaussian noise 'channel'");
  assert.equal(await planes(c1), [12, 0], 'Concrete default: per example and channel');
  assert.equal(await planes(c2), [0, 12], "Concrete noise 'element'");
  for (const l of [g1, g2, c1, c2]) l.dispose();
});

// ---- the layers against float64 with the twin draw ------------------------------------------

/** Σ R ⊙ layer(x) forward and backward against the float64 reference and its central differences. */
async function checkLayer(
  what: string, layer: GaussianDropout | ConcreteDropout, theta: Tensor, shape: number[], share: number, seed: number,
  ref: (x: Ref, th: Ref, draw: { seed: number; stream: number; offset: number }) => Ref,
): Promise<void> {
  await scope(async () => {
    const r = rng(seed);
    const { ref: xr, t: x } = sample({ shape }, r);
    x.requireGrad();
    const th = Array.from(await theta.data());
    const draw = new Generator(seed).reserve(Math.ceil(x.size / share));
    const R = new Float64Array(x.size).map(() => Math.fround(r() * 2 - 1));
    const y = layer.forward(x);
    sum(mul(y, tensor(R, shape))).backward();
    const thRef = (v: number[]): Ref => ({ shape: theta.shape.slice(), data: Float64Array.from(v) });
    const want = ref(xr, thRef(th), draw);
    relClose(await y.data(), want.data, 1e-4, `${what} forward`, 1);
    const L = (v: number[]): number => ref(xr, thRef(v), draw).data.reduce((s, yi, i) => s + yi * R[i], 0);
    relClose(await theta.grad!.data(), fdGrad(L, th), 2e-3, `${what} d/dθ`, 1);
    const wantDx = ref({ shape, data: new Float64Array(x.size).fill(1) }, thRef(th), draw).data.map((m, i) => m * R[i]);
    relClose(await x.grad!.data(), wantDx, 1e-4, `${what} d/dx`, 1);
    theta.grad!.dispose();
    theta.grad = null;
  });
}

test('GaussianDropout = the float64 reference with the twin draw, values and gradients', async () => {
  const a = new GaussianDropout({ units: 5, seed: 21 });
  set(a.logAlpha, [-1, -0.2, -2.5, -0.6, -0.05]);
  await checkLayer('gaussian [7, 5]', a, a.logAlpha, [7, 5], 1, 21, (x, th, d) => refGaussianDropout(x, th, d));
  const b = new GaussianDropout({ units: 3, noise: 'channel', seed: 22 });
  set(b.logAlpha, [-1, -0.3, -1.7]);
  await checkLayer('gaussian [2, 3, 4, 5] channel', b, b.logAlpha, [2, 3, 4, 5], 20, 22, (x, th, d) => refGaussianDropout(x, th, d, 20));
  const c = new GaussianDropout({ granularity: 'layer', initialKeep: 0.7, seed: 23 });
  await checkLayer('gaussian layer [2, 3, 4, 5]', c, c.logAlpha, [2, 3, 4, 5], 1, 23, (x, th, d) => refGaussianDropout(x, th, d));
  for (const l of [a, b, c]) l.dispose();
});

test('ConcreteDropout = the float64 reference with the twin draw, values and gradients', async () => {
  const a = new ConcreteDropout({ granularity: 'unit', units: 5, seed: 31 });
  set(a.logit, [-2, -0.5, 0.3, 1.2, -1]);
  await checkLayer('concrete unit [7, 5]', a, a.logit, [7, 5], 1, 31, (x, th, d) => refConcreteDropout(x, th, d, 0.1));
  const b = new ConcreteDropout({ seed: 32, initialKeep: 0.6, temperature: 0.3 });
  await checkLayer('concrete layer [2, 3, 4, 5] channel', b, b.logit, [2, 3, 4, 5], 20, 32, (x, th, d) => refConcreteDropout(x, th, d, 0.3, 20));
  const c = new ConcreteDropout({ granularity: 'unit', units: 3, noise: 'element', seed: 33 });
  await checkLayer('concrete unit [2, 3, 4, 5] element', c, c.logit, [2, 3, 4, 5], 1, 33, (x, th, d) => refConcreteDropout(x, th, d, 0.1));
  for (const l of [a, b, c]) l.dispose();
});

// ---- modes and keep probabilities ---------------------------------------------------------

test('eval mode is the identity (x itself); sampleAtEval draws noise in eval mode', async () => {
  for (const layer of [new GaussianDropout({ units: 4 }), new ConcreteDropout({ initialKeep: 0.5 })]) {
    await scope(async () => {
      const x = full([3, 4], 2);
      layer.eval();
      assert.is(layer.forward(x), x, `${layer.kind}: eval returns x`);
      layer.sampleAtEval = true;
      const y = await layer.forward(x).data();
      assert.ok(Array.from(y).some((v) => v !== 2), `${layer.kind}: sampleAtEval applies noise`);
      layer.sampleAtEval = false;
      layer.train();
      const z = await layer.forward(x).data();
      assert.ok(Array.from(z).some((v) => v !== 2), `${layer.kind}: training applies noise`);
    });
    layer.dispose();
  }
});

test('keepProbabilities: 1/(1 + a) with the cap for Gaussian, 1 − σ(logit) for Concrete', async () => {
  const g = new GaussianDropout({ units: 3, initialKeep: 0.8 });
  relClose(await g.keepProbabilities(), [0.8, 0.8, 0.8], 1e-6, 'gaussian init');
  set(g.logAlpha, [-1, 0.5, -3]);
  relClose(await g.keepProbabilities(), f32s([-1, 0, -3]).map((v) => 1 / (1 + Math.exp(v))), 1e-7, 'gaussian capped');
  const gl = new GaussianDropout({ granularity: 'layer' });
  assert.equal(await gl.keepProbabilities(), [0.5]);
  const c = new ConcreteDropout();
  relClose(await c.keepProbabilities(), [0.9], 1e-6, 'concrete default 1 − p = 0.9');
  const cu = new ConcreteDropout({ granularity: 'unit', units: 2, initialKeep: 0.25 });
  set(cu.logit, [0.4, -2]);
  relClose(await cu.keepProbabilities(), f32s([0.4, -2]).map((v) => 1 - sigmoid(v)), 1e-7, 'concrete per unit');
  for (const l of [g, gl, c, cu]) l.dispose();
});

test('the a ≤ 1 cap: initialKeep < 0.5 refused, log a > 0 acts as a = 1 and is projected back by training', async () => {
  assert.throws(() => new GaussianDropout({ units: 2, initialKeep: 0.4 }), /GaussianDropout: initialKeep must be in \[0\.5, 1\).*got 0\.4/);
  const layer = new GaussianDropout({ units: 2, seed: 41 });
  set(layer.logAlpha, [1.5, 3]);
  assert.equal(await layer.keepProbabilities(), [0.5, 0.5]);
  // eval-mode sampling uses a = 1 without touching the parameter
  layer.eval();
  layer.sampleAtEval = true;
  await scope(async () => {
    const y = await layer.forward(full([1 << 15, 2], 1)).data();
    for (const k of [0, 1]) {
      const m = moments(y, k, 2);
      assert.ok(Math.abs(m.variance - 1) < 5 * Math.sqrt(2 / m.n), `unit ${k}: variance ${m.variance}, want 1 (capped)`);
    }
  });
  assert.equal(Array.from(await layer.logAlpha.data()), [1.5, 3], 'eval does not project');
  layer.sampleAtEval = false;
  layer.train();
  await scope(async () => {
    const x = full([4, 2], 1);
    sum(layer.forward(x)).backward();
  });
  assert.equal(Array.from(await layer.logAlpha.data()), [0, 0], 'a training forward projects log a onto ≤ 0');
  assert.ok(layer.logAlpha.grad, 'at the cap the gradient still reaches log a');
  layer.dispose();
});

// ---- the formulas against their published forms ------------------------------------------

/**
 * −KL(q(w) ‖ p(w)) up to its constant for q = N(θ, aθ²) and the log-uniform prior p(|w|) ∝ 1/|w|:
 * ½ log a − E_ε[log |1 + √a·ε|], ε ~ N(0, 1) (Kingma et al. 2015, appendix C), by Simpson's rule.
 * The log singularity at ε = −1/√a goes away with ε = s ± r² on either side of it.
 */
function negKLNumeric(a: number): number {
  const s = -1 / Math.sqrt(a);
  let e = 0;
  for (const side of [1, -1]) e += simpson((r) => (r > 0 ? Math.log(Math.sqrt(a) * r * r) : 0) * normalPdf(s + side * r * r) * 2 * r, 0, Math.sqrt(12 + Math.abs(s)), 20000);
  return 0.5 * Math.log(a) - e;
}
const normalPdf = (x: number): number => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
function simpson(f: (x: number) => number, lo: number, hi: number, n: number): number {
  const h = (hi - lo) / n;
  let acc = f(lo) + f(hi);
  for (let i = 1; i < n; i++) acc += (i % 2 ? 4 : 2) * f(lo + i * h);
  return (acc * h) / 3;
}

test('Gaussian KL: the regularizer follows numerical integration of the KL (up to its constant) to 5e-3 for a in [0.1, 1]', async () => {
  // differences to a = 1 cancel the constant; Kingma's cubic fit is good to ~3e-3 there (measured
  // here: ≤ 2.2e-3), while a 1 % change of c1 moves a = 0.2 by 9e-3
  const as = [0.1, 0.2, 0.5, 0.8, 1];
  const kl: number[] = [];
  for (let k = 0; k < as.length; k++) {
    kl.push(await scope(async () => {
      const one = new GaussianDropout({ units: 1, klCoefficient: 1 });
      set(one.logAlpha, [Math.log(as[k])]);
      const v = await one.regularizer()!.item();
      one.dispose();
      return v;
    }));
  }
  const ref = negKLNumeric(1);
  as.forEach((a, k) => {
    const want = -(negKLNumeric(a) - ref), got = kl[k] - kl[as.length - 1];
    assert.ok(Math.abs(got - want) < 5e-3, `a = ${a}: KL(a) − KL(1) = ${got.toFixed(5)}, numerical integration ${want.toFixed(5)}`);
  });
  // the yardstick itself against a second published fit, Molchanov et al. 2017's
  // (k1 = 0.63576, k2 = 1.87320, k3 = 1.48695; good to ~1e-2)
  const mol = (a: number): number => 0.63576 * sigmoid(1.87320 + 1.48695 * Math.log(a)) - 0.5 * Math.log1p(1 / a);
  for (const a of as) {
    const numeric = negKLNumeric(a) - ref, fit = mol(a) - mol(1);
    assert.ok(Math.abs(numeric - fit) < 1e-2, `a = ${a}: numerical −KL difference ${numeric.toFixed(5)} vs Molchanov's fit ${fit.toFixed(5)}`);
  }
});

test('Concrete dropout = Gal et al. 2017\'s published form on the same u; Gaussian dropout = x·(1 + √a·ε)', async () => {
  await scope(async () => {
    const n = 64, p = 0.3, t = 0.1;
    const c = new ConcreteDropout({ granularity: 'layer', initialKeep: 1 - p, noise: 'element', seed: 41 });
    const x = tensor(Array.from({ length: n }, (_, i) => 0.5 + (i % 7) * 0.25), [n, 1]);
    const y = await c.forward(x).data();
    const xs = await x.data();
    const u = randomTwin('uniform', n, 41, 0, 0);
    const pf = sigmoid(Math.fround(Math.log(p / (1 - p)))); // the layer's f32 logit
    for (let i = 0; i < n; i++) {
      // z̃ = σ((log p − log(1 − p) + log u − log(1 − u)) / t), y = x·(1 − z̃)/(1 − p)
      const zt = sigmoid((Math.log(pf) - Math.log(1 - pf) + Math.log(u[i]) - Math.log(1 - u[i])) / t);
      const want = xs[i] * (1 - zt) / (1 - pf);
      assert.ok(Math.abs(y[i] - want) <= 1e-4 * Math.max(1, Math.abs(want)), `concrete ${i}: ${y[i]} vs published ${want}`);
    }
    const g = new GaussianDropout({ granularity: 'layer', initialKeep: 0.6, seed: 42 });
    const a = Math.exp(Math.fround(Math.log((1 - 0.6) / 0.6))); // the layer's f32 log a
    const yg = await g.forward(x).data();
    const eps = randomTwin('normal', n, 42, 0, 0);
    for (let i = 0; i < n; i++) {
      const want = xs[i] * (1 + Math.sqrt(a) * eps[i]);
      assert.ok(Math.abs(yg[i] - want) <= 1e-4 * Math.max(1, Math.abs(want)), `gaussian ${i}: ${yg[i]} vs ${want}`);
    }
    c.dispose(); g.dispose();
  });
});

// ---- regularizers ---------------------------------------------------------------------------

// Kingma, Salimans & Welling 2015 (Variational Dropout and the Local Reparameterization Trick,
// §3.3): −KL ≈ const + ½ log a + c1·a + c2·a² + c3·a³ — the published constants, typed here,
// not imported from the implementation.
const KL_C1 = 1.16145124, KL_C2 = -1.50204118, KL_C3 = 0.58629921;

/** coef · mult · Σ −(½ log a + c1 a + c2 a² + c3 a³), log a = min(θ, 0). */
function refKL(th: number[], coef: number, mult: number): number {
  let s = 0;
  for (const v of th) {
    const la = Math.min(v, 0), a = Math.exp(la);
    s -= 0.5 * la + KL_C1 * a + KL_C2 * a * a + KL_C3 * a * a * a;
  }
  return coef * mult * s;
}

test('Gaussian regularizer: value and d/d log a against float64 (unit and layer, capped units get 0)', async () => {
  const u = new GaussianDropout({ units: 4, datasetSize: 1000 });
  const th = [-2.3, -1, -0.3, 0.7];
  set(u.logAlpha, th);
  await scope(async () => {
    const r = u.regularizer()!;
    assert.equal(r.shape, []);
    const thf = f32s(th);
    relClose([await r.item()], [refKL(thf, 1e-3, 1)], 1e-5, 'unit value');
    r.backward();
    const g = await u.logAlpha.grad!.data();
    relClose(g, fdGrad((v) => refKL(v, 1e-3, 1), thf), 1e-4, 'unit gradient', 1e-6);
    assert.is(g[3], 0, 'above the cap the gradient is 0');
  });
  const l = new GaussianDropout({ granularity: 'layer', initialKeep: 0.7, klCoefficient: 0.01 });
  assert.throws(() => l.regularizer(), /GaussianDropout: the regularizer needs the unit count K/);
  await scope(async () => {
    l.forward(full([2, 6, 3, 3], 1));
    const r = l.regularizer()!;
    const thf = Array.from(await l.logAlpha.data());
    relClose([await r.item()], [refKL(thf, 0.01, 6)], 1e-5, 'layer value (K = 6 from the last input)');
    r.backward();
    relClose(await l.logAlpha.grad!.data(), fdGrad((v) => refKL(v, 0.01, 6), thf), 1e-4, 'layer gradient');
  });
  assert.is(new GaussianDropout({ units: 2 }).regularizer(), null, 'no datasetSize, no coefficient: null');
  u.dispose();
  l.dispose();
});

/** The Concrete regularizer in float64; W flattened row-major with its shape and unit axis. */
function refConcreteReg(th: number[], W: number[] | null, wShape: number[], unitAxis: number, wr: number, dr: number, K: number): number {
  const perLayer = th.length === 1;
  let ent = 0;
  for (const v of th) ent += sigmoid(v) * logSigmoid(v) + sigmoid(-v) * logSigmoid(-v);
  let r = dr * (perLayer ? K : 1) * ent;
  if (W) {
    const inner = wShape.slice(unitAxis + 1).reduce((p, d) => p * d, 1);
    const norms = new Float64Array(wShape[unitAxis]);
    W.forEach((w, i) => { norms[Math.floor(i / inner) % wShape[unitAxis]] += w * w; });
    norms.forEach((nk, k) => { r += wr * nk / (1 - sigmoid(perLayer ? th[0] : th[k])); });
  }
  return r;
}

test('Concrete regularizer: value and gradients (logits, next weight) against float64', async () => {
  // per unit, next = Linear(3 → 5) (unit axis 0); defaults l²/N and 2/N with l = 0.5
  const c = new ConcreteDropout({ granularity: 'unit', units: 3, datasetSize: 100, lengthScale: 0.5 });
  const lin = new Linear(3, 5, { generator: new Generator(5) });
  c.attach(lin.weight, 0);
  const th = [-2, 0.3, 1.5];
  set(c.logit, th);
  await scope(async () => {
    const thf = f32s(th), W = Array.from(await lin.weight.data());
    const wr = 0.25 / 100, dr = 2 / 100;
    const f = (t: number[], w: number[]): number => refConcreteReg(t, w, [3, 5], 0, wr, dr, 3);
    const r = c.regularizer()!;
    relClose([await r.item()], [f(thf, W)], 1e-5, 'unit value');
    r.backward();
    relClose(await c.logit.grad!.data(), fdGrad((t) => f(t, W), thf), 1e-4, 'unit d/dlogit', 1e-6);
    relClose(await lin.weight.grad!.data(), fdGrad((w) => f(thf, w), W), 1e-4, 'unit d/dW', 1e-6);
  });
  // per layer, next = a conv weight [4, 3, 2, 2] (unit axis 1: K = 3), explicit coefficients
  const l = new ConcreteDropout({ weightRegularizer: 0.03, dropoutRegularizer: 0.02, initialKeep: 0.8 });
  const w = tensor(Float32Array.from({ length: 48 }, (_, i) => Math.sin(i) * 0.4), [4, 3, 2, 2]).requireGrad().keep();
  l.attach(w, 1);
  await scope(async () => {
    const thf = Array.from(await l.logit.data()), W = Array.from(await w.data());
    const f = (t: number[], ww: number[]): number => refConcreteReg(t, ww, [4, 3, 2, 2], 1, 0.03, 0.02, 3);
    const r = l.regularizer()!;
    relClose([await r.item()], [f(thf, W)], 1e-5, 'layer value');
    r.backward();
    relClose(await l.logit.grad!.data(), fdGrad((t) => f(t, W), thf), 1e-4, 'layer d/dlogit');
    relClose(await w.grad!.data(), fdGrad((ww) => f(thf, ww), W), 1e-4, 'layer d/dW', 1e-6);
  });
  // never attached: an error saying what to attach, not a silently missing weight term
  const n = new ConcreteDropout({ datasetSize: 50 });
  assert.throws(() => n.regularizer(), /ConcreteDropout: its regularizer's weight term needs the weight this layer's units feed .*attach\(nextLayer\.weight, unitAxis\)/);
  // attached to no weight: the weight term is omitted, K from the last input
  n.attach(null);
  assert.throws(() => n.regularizer(), /ConcreteDropout: the regularizer needs the unit count K/);
  await scope(async () => {
    n.forward(full([2, 7], 1));
    const thf = Array.from(await n.logit.data());
    relClose([await n.regularizer()!.item()], [refConcreteReg(thf, null, [], 0, 0, 2 / 50, 7)], 1e-5, 'no weight');
  });
  assert.is(new ConcreteDropout().regularizer(), null, 'no datasetSize: null');
  // a next weight with another unit count is refused
  const bad = new ConcreteDropout({ granularity: 'unit', units: 4, datasetSize: 10 }).attach(lin.weight, 0);
  assert.throws(() => bad.regularizer(), /ConcreteDropout: the attached weight \[3, 5\] has 3 units on axis 0, the layer has 4/);
  for (const m of [c, lin, l, n, bad]) m.dispose();
  w.dispose();
});

// ---- errors ---------------------------------------------------------------------------------

test('clear errors naming the option and the value', () => {
  const G = (o: object) => () => new GaussianDropout(o);
  const C = (o: object) => () => new ConcreteDropout(o);
  assert.throws(G({}), /GaussianDropout: granularity 'unit' needs units/);
  assert.throws(G({ granularity: 'channel' }), /GaussianDropout: granularity must be 'unit' or 'layer', got 'channel'/);
  assert.throws(G({ units: 0 }), /GaussianDropout: units must be an integer ≥ 1, got 0/);
  assert.throws(G({ units: 2.5 }), /GaussianDropout: units must be an integer ≥ 1, got 2.5/);
  assert.throws(G({ units: 2, initialKeep: 1 }), /GaussianDropout: initialKeep must be in \[0\.5, 1\).*got 1/);
  assert.throws(G({ units: 2, datasetSize: -5 }), /GaussianDropout: datasetSize must be a finite number > 0, got -5/);
  assert.throws(G({ units: 2, klCoefficient: NaN }), /GaussianDropout: klCoefficient must be a finite number ≥ 0, got NaN/);
  assert.throws(G({ units: 2, noise: 'pixel' }), /GaussianDropout: noise must be 'element' or 'channel', got 'pixel'/);
  assert.throws(G({ units: 2, datsetSize: 10 }), /GaussianDropout: unknown option 'datsetSize'/);
  assert.throws(G({ units: 2, seed: -1 }), /GaussianDropout: seed must be a non-negative safe integer, got -1/);
  assert.throws(C({ temperature: 0 }), /ConcreteDropout: temperature must be a finite number > 0, got 0/);
  assert.throws(C({ lengthScale: -1 }), /ConcreteDropout: lengthScale must be a finite number > 0, got -1/);
  assert.throws(C({ initialKeep: 1 }), /ConcreteDropout: initialKeep must be in \(0, 1\), got 1/);
  assert.throws(C({ weightRegularizer: -1 }), /ConcreteDropout: weightRegularizer must be a finite number ≥ 0, got -1/);
  assert.throws(C({ granularity: 'unit' }), /ConcreteDropout: granularity 'unit' needs units/);
  assert.throws(C({ p: 0.1 }), /ConcreteDropout: unknown option 'p'/);
  scope(() => {
    const g = new GaussianDropout({ units: 4 });
    assert.throws(() => g.forward(full([2, 5], 1)), /GaussianDropout: input has 5 units on axis 1 \(shape \[2, 5\]\), the layer was built for 4/);
    assert.throws(() => g.forward(full([4], 1)), /GaussianDropout: input must be \[N, F\] or \[N, C, H, W\]/);
    g.dispose();
    const x = full([2, 3], 1), d = { seed: 1, stream: 0, offset: 0 };
    assert.throws(() => gaussianDropout(x, full([2], 0), d), /gaussian_dropout: the rate must have shape \[\] or \[1\] \(one per layer\) or \[3\]/);
    assert.throws(() => gaussianDropout(x, full([3], 0), { seed: -1, stream: 0, offset: 0 }), /gaussian_dropout: draw must be/);
    assert.throws(() => gaussianDropout(x, full([3], 0), d, { share: 0 }), /gaussian_dropout: share must be an integer ≥ 1, got 0/);
    assert.throws(() => concreteDropout(x, full([1], 0), d, { temperature: -1 }), /concrete_dropout: temperature must be a finite number > 0, got -1/);
    assert.throws(() => concreteDropout(full([2, 3], 1, 'i32'), full([1], 0), d), /concrete_dropout: expects f32 tensors, got i32/);
  });
});

// ---- training: no leak ----------------------------------------------------------------------

test('Linear → dropout → Linear trains with zero live-byte growth and no new pipelines per step', async () => {
  const g = new Generator(77);
  const N = 16;
  const x = g.normal([N, 6]).keep();
  const labels = tensor(Int32Array.from({ length: N }, (_, i) => i % 3), [N], 'i32').keep();
  for (const make of [
    () => new GaussianDropout({ units: 8, initialKeep: 0.7, datasetSize: N, seed: 1 }),
    () => new GaussianDropout({ granularity: 'layer', initialKeep: 0.7, datasetSize: N, seed: 1 }),
    () => new ConcreteDropout({ datasetSize: N, seed: 2 }),
    () => new ConcreteDropout({ granularity: 'unit', units: 8, datasetSize: N, lengthScale: 0.1, seed: 2 }),
  ]) {
    const l1 = new Linear(6, 8, { generator: g }), drop = make(), l2 = new Linear(8, 3, { generator: g });
    drop.attach(l2.weight, 0);
    const params = [...l1.parameters(), ...drop.parameters(), ...l2.parameters()];
    assert.is(params.length, 5, `${drop.kind}: 2 + 1 + 2 parameters`);
    const opt = new SGD(params, { lr: 0.05 });
    const before = await drop.keepProbabilities();
    let live = 0, pipes = 0;
    for (let step = 0; step < 6; step++) {
      await scope(async () => {
        opt.zeroGrad();
        const y = l2.forward(drop.forward(relu(l1.forward(x))));
        const loss = add(crossEntropy(y, labels), drop.regularizer()!);
        loss.backward();
        opt.step();
        return loss.item();
      });
      await sync();
      if (step === 1) { live = memoryStats().liveBytes; pipes = pipelineCount(); }
      if (step > 1) {
        assert.is(memoryStats().liveBytes, live, `${drop.kind} step ${step}: live bytes changed`);
        assert.is(pipelineCount(), pipes, `${drop.kind} step ${step}: a pipeline was compiled`);
      }
    }
    const after = await drop.keepProbabilities();
    assert.ok(after.some((v, i) => v !== before[i]), `${drop.kind}: the rate was trained`);
    opt.zeroGrad();
    for (const m of [l1, drop, l2]) m.dispose();
  }
  x.dispose();
  labels.dispose();
});

test.run();
