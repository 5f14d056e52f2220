// Collaborative-filtering VAEs (models/vae.ts): SIVAE with V = 0 is the Mult-VAE with the
// sampled KL; the SIVAE logits' ARM/DisARM gradient over V+1 mask copies is unbiased against
// exact enumeration (and using only the primary copy is not); lbdGradients applies it; the
// VampPrior log p(z) and IAF log q(z) against float64 references, MADE's autoregressive
// Jacobian and the IAF log-determinant; a few training steps of every kind, leak-free.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  tensor, scope, noGrad, replay, backward, mean, sub, concat, lbdEstimate, withLbdEstimator, Generator, Adam, RowPattern, type Tensor,
} from '../../engine/index.js';
import { LearnableBernoulliDropout } from '../../layers/dropout/lbd.js';
import { GaussianDropout } from '../../layers/dropout/gaussian.js';
import { ConcreteDropout } from '../../layers/dropout/concrete.js';
import { Dropout } from '../../layers/dropout/dropout.js';
import type { DropoutLayer } from '../../layers/dropout/base.js';
import { lbdGradients, lbdStep, splitParameters } from '../../layers/dropout/lbd-step.js';
import {
  recommender, MultVAE, SIVAE, VampPriorVAE, IAFVAE, MADE, madeDegree, RECOMMENDER_KINDS,
  type CFModel, type RecommenderKind,
} from '../../models/vae.js';
import { refMasks } from '../../engine/ops/lbd.js';
import { ready, assertClose, noLeak, rng } from '../helpers.js';

const test = suite('vae');
test.before(async () => { await ready; });

const LOG_2PI = Math.log(2 * Math.PI);
const sig = (a: number): number => 1 / (1 + Math.exp(-a));
const lse = (v: number[]): number => { const m = Math.max(...v); return m + Math.log(v.reduce((s, x) => s + Math.exp(x - m), 0)); };

// ---- float64 twins of the pieces ----------------------------------------------------------

interface Lin { w: Float64Array; b: Float64Array; inF: number; outF: number }
const f64 = async (t: Tensor): Promise<Float64Array> => Float64Array.from(await t.data());
async function lin(l: { weight: Tensor; bias: Tensor | null; inFeatures: number; outFeatures: number }): Promise<Lin> {
  return { w: await f64(l.weight), b: await f64(l.bias!), inF: l.inFeatures, outF: l.outFeatures };
}
/** x·W + b for one row (W stored [in, out]); `mask` multiplies W elementwise. */
function affineRow(x: ArrayLike<number>, l: Lin, mask?: Float64Array): number[] {
  const y = Array.from(l.b);
  for (let i = 0; i < l.inF; i++) for (let j = 0; j < l.outF; j++) y[j] += x[i] * l.w[i * l.outF + j] * (mask ? mask[i * l.outF + j] : 1);
  return y;
}
const tanhRow = (v: number[]): number[] => v.map(Math.tanh);

interface Net { enc1: Lin; enc2: Lin; dec1: Lin; dec2: Lin; L: number }
async function netOf(m: CFModel): Promise<Net> {
  return { enc1: await lin(m.enc1), enc2: await lin(m.enc2), dec1: await lin(m.dec1), dec2: await lin(m.dec2), L: m.latent };
}
const normalise = (x: number[]): number[] => { const n = Math.sqrt(x.reduce((s, v) => s + v * v, 0)); return x.map((v) => v / Math.max(n, 1e-6)); };
function encodeRow(net: Net, h: number[]): { mu: number[]; lv: number[] } {
  const o = affineRow(tanhRow(affineRow(h, net.enc1)), net.enc2);
  return { mu: o.slice(0, net.L), lv: o.slice(net.L) };
}
function logLik(net: Net, z: number[], x: number[]): number {
  const lg = affineRow(tanhRow(affineRow(z, net.dec1)), net.dec2);
  const l = lse(lg);
  return x.reduce((s, xj, j) => s + xj * (lg[j] - l), 0);
}
const logNormalRow = (z: number[], mu: number[], lv: number[]): number =>
  z.reduce((s, zl, l) => s - 0.5 * (LOG_2PI + lv[l] + (zl - mu[l]) ** 2 * Math.exp(-lv[l])), 0);
const logStd = (z: number[]): number => z.reduce((s, v) => s - 0.5 * (LOG_2PI + v * v), 0);

/** SIVAE's per-example loss for one row with masks z[c][j] (inverted scaling by σ(α)). */
function sivaeLoss(net: Net, x: number[], masks: number[][], alpha: number[], eps: number[], beta: number): number {
  const xn = normalise(x);
  const enc = masks.map((z) => encodeRow(net, xn.map((v, j) => (v * z[j]) / sig(alpha[j]))));
  const eta = enc[0].mu.map((m, l) => m + Math.exp(0.5 * enc[0].lv[l]) * eps[l]);
  const lq = enc.map((e) => logNormalRow(eta, e.mu, e.lv));
  return -logLik(net, eta, x) + beta * (lse(lq) - Math.log(masks.length) - logStd(eta));
}

/** E over all 2^(C·I) joint masks of the loss (float64). */
function exactExpectation(net: Net, x: number[], C: number, alpha: number[], eps: number[], beta: number): number {
  const I = x.length;
  let e = 0;
  for (let m = 0; m < 2 ** (C * I); m++) e += maskTerm(net, x, C, I, m, alpha, eps, beta);
  return e;
}
function maskTerm(net: Net, x: number[], C: number, I: number, m: number, alpha: number[], eps: number[], beta: number): number {
  let prob = 1;
  const masks: number[][] = [];
  for (let c = 0; c < C; c++) {
    const z: number[] = [];
    for (let j = 0; j < I; j++) {
      const bit = (m >> (c * I + j)) & 1;
      prob *= bit ? sig(alpha[j]) : 1 - sig(alpha[j]);
      z.push(bit);
    }
    masks.push(z);
  }
  return prob * sivaeLoss(net, x, masks, alpha, eps, beta);
}

const zeroGrads = (m: { parameters(): Tensor[] }): void => { for (const p of m.parameters()) { p.grad?.dispose(); p.grad = null; } };
const binaryRows = (B: number, I: number, density: number, seed: number): number[] => {
  const r = rng(seed);
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = Array.from({ length: I }, () => +(r() < density));
    if (!row.some((v) => v)) row[b % I] = 1;
    out.push(...row);
  }
  return out;
};

// ---- 1. SIVAE with V = 0 is the Mult-VAE ---------------------------------------------------

test('SIVAE with V = 0 gives the Mult-VAE loss (sampled KL) for the same weights, ε and masks; copies without dropout coincide', async () => {
  await noLeak('sivae V=0', () => scope(async () => {
    const I = 30, B = 8, beta = 0.7;
    const x = tensor(binaryRows(B, I, 0.3, 1), [B, I]);
    const make = (kind: 'vae' | 'sivae', drop: DropoutLayer | null, V = 0) => {
      const o = { items: I, hidden: 12, latent: 5, dropout: drop, generator: new Generator(42), noiseGenerator: new Generator(7) };
      return kind === 'vae' ? new MultVAE({ ...o, kl: 'sample' }) : new SIVAE({ ...o, V });
    };
    const lbd = () => new LearnableBernoulliDropout({ units: I, initialKeep: 0.6, generator: new Generator(3) });
    const a = make('vae', lbd()), b = make('sivae', lbd());
    const la = await a.perExampleLoss(x, beta).data(), lb = await b.perExampleLoss(x, beta).data();
    assertClose(lb, la, 1e-6, 'SIVAE(V = 0) vs Mult-VAE, LBD masks');
    assert.ok(Array.from(la).every(Number.isFinite));
    // with no dropout every copy is the same Gaussian: the mixture is that Gaussian, for any V
    const c = make('vae', null), d = make('sivae', null, 3);
    const lc = await c.perExampleLoss(x, beta).data();
    assertClose(await d.perExampleLoss(x, beta).data(), lc, 1e-5, 'SIVAE(V = 3, no dropout) vs Mult-VAE');
    // and the analytic-KL Mult-VAE differs per sample (so the comparison above can fail)
    const e = new MultVAE({ items: I, hidden: 12, latent: 5, generator: new Generator(42), noiseGenerator: new Generator(7) });
    const le = await e.perExampleLoss(x, beta).data();
    assert.ok(Array.from(le).some((v, i) => Math.abs(v - lc[i]) > 1e-3), 'analytic and sampled KL should differ per sample');
    for (const m of [a, b, c, d, e]) m.dispose();
  }));
});

test('SIVAE matches a float64 reference of Eq. 6 with its copy-major masks', async () => {
  await scope(async () => {
    const I = 6, B = 3, V = 2, beta = 0.4;
    const drop = new LearnableBernoulliDropout({ units: I, initialKeep: 0.7, generator: new Generator(9) });
    const m = new SIVAE({ items: I, hidden: 5, latent: 3, V, dropout: drop, generator: new Generator(5), noiseGenerator: new Generator(6) });
    const xs = binaryRows(B, I, 0.5, 4);
    const eps = [0.3, -1.1, 0.8];
    const epsT = tensor(eps, [1, 3]);
    m.setEpsilon(epsT);
    const got = await m.perExampleLoss(tensor(xs, [B, I]), beta).data();
    const net = await netOf(m);
    const alpha = Array.from(await drop.alpha.data());
    // the masks the layer drew: row c·B + b of the (V+1)·B batch (the kernel compares u < σ(α) in f32)
    const { z2 } = refMasks((V + 1) * B, I, alpha, drop.lastDraw!);
    for (let b = 0; b < B; b++) {
      const masks = Array.from({ length: V + 1 }, (_, c) => Array.from(z2.slice((c * B + b) * I, (c * B + b + 1) * I)));
      const want = sivaeLoss(net, xs.slice(b * I, (b + 1) * I), masks, alpha, eps, beta);
      assertClose([got[b]], [want], 2e-5, `example ${b}`);
    }
    m.dispose();
  });
});

test('Mult-VAE (analytic KL, the fused sample and KL ops) matches a float64 reference, with ε shared by the rows and per row; eval uses z = μ', async () => {
  await scope(async () => {
    const I = 7, B = 3, L = 3, beta = 0.35;
    const m = new MultVAE({ items: I, hidden: 5, latent: L, generator: new Generator(11) });
    const xs = binaryRows(B, I, 0.5, 8);
    const net = await netOf(m);
    const want = (b: number, eps: number[] | null): number => {
      const x = xs.slice(b * I, (b + 1) * I);
      const { mu, lv } = encodeRow(net, normalise(x));
      const z = eps ? mu.map((v, l) => v + Math.exp(0.5 * lv[l]) * eps[l]) : mu;
      const kl = 0.5 * mu.reduce((s, v, l) => s + Math.exp(lv[l]) - lv[l] + v * v - 1, 0);
      return -logLik(net, z, x) + beta * kl;
    };
    const shared = [0.3, -1.1, 0.8];
    const perRow = [0.5, -0.2, 1.3, -0.7, 0.1, 0.9, -1.4, 0.6, 0.25];
    const cases: [number[], number[], (b: number) => number[]][] = [[shared, [1, L], () => shared], [perRow, [B, L], (b) => perRow.slice(b * L, (b + 1) * L)]];
    for (const [eps, shape, row] of cases) {
      const e = tensor(eps, shape);
      m.setEpsilon(e);
      const got = await m.perExampleLoss(tensor(xs, [B, I]), beta).data();
      for (let b = 0; b < B; b++) assertClose([got[b]], [want(b, row(b))], 2e-5, `training, ε ${shape.join('x')}, example ${b}`);
    }
    m.eval();
    const got = await m.perExampleLoss(tensor(xs, [B, I]), beta).data();
    for (let b = 0; b < B; b++) assertClose([got[b]], [want(b, null)], 2e-5, `eval, example ${b}`);
    m.setEpsilon(null);
    m.dispose();
  });
});

test('the tape replay of lbdStep reuses ε (drawn once, a leaf): with masks that are all ones on both passes E(z1) = E(z2); scores() ranks with dropout at its expectation', async () => {
  await noLeak('sivae replay ε', () => scope(async () => {
    const I = 10, B = 6;
    const x = tensor(binaryRows(B, I, 0.4, 3), [B, I]);
    const drop = new LearnableBernoulliDropout({ units: I, generator: new Generator(2) });
    // σ(20) rounds to 1 in f32: z2 = 1[u < 1] = 1 and z1 = 1[u > σ(−20) ≈ 2e-9] = 1 (u ≥ 2^-24)
    drop.alpha.dispose();
    (drop as { alpha: Tensor }).alpha = tensor(new Float32Array(I).fill(20), [I]).requireGrad().keep();
    const m = new SIVAE({ items: I, hidden: 8, latent: 3, V: 2, dropout: drop, generator: new Generator(4) });
    const r = lbdGradients(() => m.perExampleLoss(x, 0.5), { model: m });
    assert.equal(Array.from(await r.e1.data()), Array.from(await r.e2.data()), 'a fresh ε on the replay would change E(z1)');
    zeroGrads(m);
    // ranking: eval mode, inverted scaling → the mask's expectation is the identity
    const plain = new SIVAE({ items: I, hidden: 8, latent: 3, V: 2, dropout: null, generator: new Generator(4) });
    const s1 = await m.scores(x).data();
    assertClose(s1, await m.scores(x).data(), 0, 'scores are deterministic');
    assertClose(s1, await plain.scores(x).data(), 1e-6, 'scores with LBD at expectation vs no dropout');
    assert.ok(m.training && drop.training, 'scores() restores training mode');
    m.dispose();
    plain.dispose();
  }));
});

// ---- 2. unbiased logits' gradient over the joint masks -------------------------------------

interface Estimates { joint: number[][]; primary: number[][]; exact: number[] }

/** K estimates (path-wise + joint ARM/DisARM, and path-wise + primary copy only) on B copies of one row. */
async function sivaeEstimates(estimator: 'arm' | 'disarm', V: number, K: number, B: number): Promise<Estimates> {
  return scope(async () => {
    const I = 3, C = V + 1, beta = 1;
    const x0 = [1, 1, 1], eps = [0.9, -0.6];
    const drop = new LearnableBernoulliDropout({ units: I, estimator, generator: new Generator(31) });
    const alpha0 = [0.4, -0.8, 1.1];
    drop.alpha.dispose();
    (drop as { alpha: Tensor }).alpha = tensor(alpha0, [3]).requireGrad().keep();
    const m = new SIVAE({ items: I, hidden: 4, latent: 2, V, dropout: drop, generator: new Generator(17) });
    m.setEpsilon(tensor(eps, [1, 2]));
    const net = await netOf(m);
    const exact = alpha0.map((_, k) => {
      const up = alpha0.slice(), dn = alpha0.slice();
      up[k] += 1e-5; dn[k] -= 1e-5;
      return (exactExpectation(net, x0, C, up, eps, beta) - exactExpectation(net, x0, C, dn, eps, beta)) / 2e-5;
    });
    const x = tensor(Array.from({ length: B }, () => x0).flat(), [B, I]);
    const joint: number[][] = [], primary: number[][] = [];
    for (let r = 0; r < K; r++) {
      await scope(async () => {
        zeroGrads(m);
        const e2 = m.perExampleLoss(x, beta);
        const draw = drop.lastDraw!;
        const e1 = replay(e2, (n) => (n.op.name === 'lbd_dropout' ? { ...n.attrs, pass: 1 } : null));
        withLbdEstimator(() => backward(mean(e2))); // the path-wise part, as lbdGradients takes it
        const path = Array.from(await drop.alpha.grad!.data());
        const d = noGrad(() => sub(e1, e2));
        const o = { draw, units: I, estimator, scale: 1 / B };
        const j = await lbdEstimate(concat(new Array<Tensor>(C).fill(d), 0), drop.alpha, o).data();
        const p = await lbdEstimate(d, drop.alpha, o).data(); // reads rows 0..B−1: copy 0 only
        joint.push(path.map((v, k) => v + j[k]));
        primary.push(path.map((v, k) => v + p[k]));
      });
    }
    m.dispose();
    return { joint, primary, exact };
  });
}

const zScores = (est: number[][], exact: number[]): { z: number[]; msg: string } => {
  const K = est.length;
  const z = exact.map((ex, k) => {
    const v = est.map((e) => e[k]);
    const mu = v.reduce((a, b) => a + b, 0) / K;
    const se = Math.max(Math.sqrt(v.reduce((a, b) => a + (b - mu) ** 2, 0) / (K - 1) / K), 1e-6);
    return (mu - ex) / se;
  });
  const means = exact.map((_, k) => est.reduce((a, e) => a + e[k], 0) / K);
  return { z, msg: `means ${means.map((v) => v.toExponential(3))} vs exact ${exact.map((v) => v.toExponential(3))}, z ${z.map((v) => v.toFixed(2))}` };
};

for (const estimator of ['arm', 'disarm'] as const) {
  test(`SIVAE (V = 2, 3 items): the joint ${estimator} gradient of the logits is unbiased against exact enumeration of 2^9 masks; the primary copy alone is biased`, async () => {
    const { joint, primary, exact } = await sivaeEstimates(estimator, 2, 24, 2048);
    const j = zScores(joint, exact), p = zScores(primary, exact);
    assert.ok(j.z.every((v) => Math.abs(v) < 4), `joint ${estimator}: ${j.msg}`);
    assert.ok(p.z.some((v) => Math.abs(v) > 6), `primary-only ${estimator} should be visibly biased: ${p.msg}`);
  });
}

test('lbdGradients gives the SIVAE logits the joint estimate over the V+1 copies (path-wise + Σ over copies)', async () => {
  await noLeak('lbdGradients sivae', () => scope(async () => {
    const I = 5, B = 16, V = 2;
    const drop = new LearnableBernoulliDropout({ units: I, estimator: 'disarm', initialKeep: 0.6, generator: new Generator(12) });
    const m = new SIVAE({ items: I, hidden: 6, latent: 3, V, dropout: drop, generator: new Generator(2) });
    const epsT = tensor(Array.from({ length: B * 3 }, (_, i) => Math.sin(i)), [B, 3]);
    m.setEpsilon(epsT);
    const x = tensor(binaryRows(B, I, 0.5, 8), [B, I]);
    const start = drop.generator.position;
    const manual = await scope(async () => {
      zeroGrads(m);
      const e2 = m.perExampleLoss(x, 0.5);
      const e1 = replay(e2, (n) => (n.op.name === 'lbd_dropout' ? { ...n.attrs, pass: 1 } : null));
      withLbdEstimator(() => backward(mean(e2)));
      const d = noGrad(() => sub(e1, e2));
      const j = await lbdEstimate(concat(new Array<Tensor>(V + 1).fill(d), 0), drop.alpha, { draw: drop.lastDraw!, units: I, estimator: 'disarm', scale: 1 / B }).data();
      return Array.from(await drop.alpha.grad!.data(), (v, k) => v + j[k]);
    });
    drop.generator.seek(start);
    const viaStep = await scope(async () => {
      zeroGrads(m);
      lbdGradients(() => m.perExampleLoss(x, 0.5), { model: m });
      return Array.from(await drop.alpha.grad!.data());
    });
    zeroGrads(m);
    assertClose(viaStep, manual, 1e-5, 'lbdGradients α gradient vs path-wise + joint DisARM');
    m.dispose();
  }));
});

// ---- 3. VampPrior and IAF against float64 --------------------------------------------------

test('VampPrior log p(z) and its loss match float64 references (pseudo-inputs clamped to [0, 1], normalised, no dropout)', async () => {
  await scope(async () => {
    const I = 5, K = 4, L = 3, B = 6, beta = 0.3;
    const r = rng(11);
    const pseudo = Array.from({ length: K * I }, () => -0.2 + 1.4 * r());
    const m = new VampPriorVAE({ items: I, hidden: 4, latent: L, K, pseudoInputs: tensor(pseudo, [K, I]), generator: new Generator(3), dropout: new Dropout(0.5, { seed: 1 }) });
    const zs = Array.from({ length: B * L }, () => 2 * r() - 1);
    const got = await m.logPrior(tensor(zs, [B, L])).data();
    const net = await netOf(m);
    const u = await f64(m.pseudo);
    const comps = Array.from({ length: K }, (_, k) => encodeRow(net, normalise(Array.from(u.slice(k * I, (k + 1) * I), (v) => Math.min(1, Math.max(0, v))))));
    const logPrior = (z: number[]): number => lse(comps.map((c) => logNormalRow(z, c.mu, c.lv))) - Math.log(K);
    const want = Array.from({ length: B }, (_, b) => logPrior(zs.slice(b * L, (b + 1) * L)));
    assertClose(got, want, 1e-4, 'log p(z)');
    // whole loss with a fixed ε and dropout off (eval-mode dropout, training-mode sampling)
    m.dropout!.eval();
    const eps = [0.5, -0.3, 1.2];
    m.setEpsilon(tensor(eps, [1, L]));
    const xs = binaryRows(B, I, 0.5, 2);
    const loss = await m.perExampleLoss(tensor(xs, [B, I]), beta).data();
    const wantLoss = Array.from({ length: B }, (_, b) => {
      const x = xs.slice(b * I, (b + 1) * I);
      const { mu, lv } = encodeRow(net, normalise(x));
      const z = mu.map((v, l) => v + Math.exp(0.5 * lv[l]) * eps[l]);
      return -logLik(net, z, x) + beta * (logNormalRow(z, mu, lv) - logPrior(z));
    });
    assertClose(loss, wantLoss, 1e-4, 'VampPrior loss');
    m.dispose();
  });
});

async function madeOf(made: MADE) {
  return {
    l1: { w: await f64(made.w1), b: await f64(made.b1), inF: made.L, outF: made.H }, m1: await f64(made.mask1),
    l2: { w: await f64(made.w2), b: await f64(made.b2), inF: made.H, outF: 2 * made.L }, m2: await f64(made.mask2),
  };
}
type Made64 = Awaited<ReturnType<typeof madeOf>>;
const madeRow = (p: Made64, z: number[]): number[] => affineRow(tanhRow(affineRow(z, p.l1, p.m1)), p.l2, p.m2);
/** IAF in float64: z_T and Σ_t Σ log σ_t. */
function flow64(ps: Made64[], z0: number[]): { z: number[]; logdet: number } {
  let z = z0.slice(), logdet = 0;
  const L = z0.length;
  for (const p of ps) {
    const o = madeRow(p, z);
    z = z.map((v, l) => { const s = sig(o[L + l]); logdet += Math.log(s); return s * v + (1 - s) * o[l]; });
  }
  return { z, logdet };
}
function logAbsDet(a: number[][]): number {
  const n = a.length, m = a.map((r) => r.slice());
  let ld = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    ld += Math.log(Math.abs(m[c][c]));
    for (let r = c + 1; r < n; r++) { const f = m[r][c] / m[c][c]; for (let k = c; k < n; k++) m[r][k] -= f * m[c][k]; }
  }
  return ld;
}

test('IAF: MADE outputs depend only on earlier inputs (numerical Jacobian, both orders); log q(z_T) matches float64 and the flow log-determinant', async () => {
  await scope(async () => {
    const L = 5, H = 8;
    for (const order of ['forward', 'reverse'] as const) {
      const made = new MADE(L, H, order, new Generator(order === 'forward' ? 1 : 2));
      const z0 = [0.3, -0.7, 1.1, 0.2, -1.4];
      const base = await made.forward(tensor(z0, [1, L])).data();
      for (let i = 0; i < L; i++) {
        const z = z0.slice(); z[i] += 0.5;
        const o = await made.forward(tensor(z, [1, L])).data();
        for (let j = 0; j < 2 * L; j++) {
          const changed = o[j] !== base[j];
          const allowed = madeDegree(i, L, order) < madeDegree(j % L, L, order);
          if (allowed) assert.ok(Math.abs(o[j] - base[j]) > 1e-7, `${order}: output ${j} should depend on input ${i}`);
          else assert.ok(!changed, `${order}: output ${j} depends on input ${i} (${base[j]} → ${o[j]})`);
        }
      }
      made.dispose();
    }
    const I = 6, B = 4, beta = 0.6;
    const m = new IAFVAE({ items: I, hidden: 5, latent: L, T: 3, madeHidden: H, generator: new Generator(8) });
    const ps = await Promise.all(m.made.map(madeOf));
    const r = rng(5);
    const mus = Array.from({ length: B * L }, () => r() - 0.5), lvs = Array.from({ length: B * L }, () => -1 + r());
    const eps = Array.from({ length: B * L }, () => 2 * r() - 1);
    const { z, logq } = m.posterior(tensor(mus, [B, L]), tensor(lvs, [B, L]), tensor(eps, [B, L]));
    const zg = await z.data(), lq = await logq.data();
    for (let b = 0; b < B; b++) {
      const mu = mus.slice(b * L, (b + 1) * L), lv = lvs.slice(b * L, (b + 1) * L);
      const z0 = mu.map((v, l) => v + Math.exp(0.5 * lv[l]) * eps[b * L + l]);
      const f = flow64(ps, z0);
      assertClose(zg.slice(b * L, (b + 1) * L), f.z, 1e-5, `z_T row ${b}`);
      assertClose([lq[b]], [logNormalRow(z0, mu, lv) - f.logdet], 1e-5, `log q(z_T) row ${b}`);
      // change of variables: log|det ∂z_T/∂z_0| (central differences) is Σ log σ_t
      const J = Array.from({ length: L }, (_, i) => {
        const up = z0.slice(), dn = z0.slice(); up[i] += 1e-6; dn[i] -= 1e-6;
        const a = flow64(ps, up).z, c = flow64(ps, dn).z;
        return a.map((v, j) => (v - c[j]) / 2e-6);
      });
      assert.ok(Math.abs(logAbsDet(J) - f.logdet) < 1e-6, `row ${b}: log|det J| ${logAbsDet(J)} vs Σ log σ ${f.logdet}`);
    }
    // the whole loss with fixed ε
    const xs = binaryRows(B, I, 0.5, 6);
    m.setEpsilon(tensor(eps, [B, L]));
    const loss = await m.perExampleLoss(tensor(xs, [B, I]), beta).data();
    const net = await netOf(m);
    for (let b = 0; b < B; b++) {
      const x = xs.slice(b * I, (b + 1) * I);
      const { mu, lv } = encodeRow(net, normalise(x));
      const z0 = mu.map((v, l) => v + Math.exp(0.5 * lv[l]) * eps[b * L + l]);
      const f = flow64(ps, z0);
      const want = -logLik(net, f.z, x) + beta * (logNormalRow(z0, mu, lv) - f.logdet - logStd(f.z));
      assertClose([loss[b]], [want], 1e-4, `IAF loss row ${b}`);
    }
    m.dispose();
  });
});

// ---- 4. training steps -----------------------------------------------------------------------

type DropKind = 'none' | 'dropout' | 'lbd' | 'gaussian' | 'concrete';
const makeDrop = (k: DropKind, I: number): DropoutLayer | null => {
  switch (k) {
    case 'none': return null;
    case 'dropout': return new Dropout(0.5, { seed: 4 });
    case 'lbd': return new LearnableBernoulliDropout({ units: I, generator: new Generator(5) });
    case 'gaussian': return new GaussianDropout({ units: I, seed: 6 });
    case 'concrete': return new ConcreteDropout({ units: I, seed: 7 });
  }
};

const runs: [RecommenderKind, DropKind][] = [
  ...RECOMMENDER_KINDS.flatMap((k): [RecommenderKind, DropKind][] => [[k, 'none'], [k, 'lbd']]),
  ['vae', 'dropout'], ['dae', 'dropout'], ['sivae', 'gaussian'], ['sivae', 'concrete'],
];

test('20 training steps of every kind (no dropout, LBD via lbdStep, and the Table 2 baselines): finite losses, lower eval loss, no leak', async () => {
  const I = 24, B = 32, beta = 0.2, steps = 20;
  const xs = binaryRows(B, I, 0.25, 13);
  for (const [kind, dk] of runs) {
    await noLeak(`${kind}+${dk}`, () => scope(async () => {
      const x = tensor(xs, [B, I]);
      const model = recommender(kind, { items: I, hidden: 16, latent: 4, V: 2, K: 6, T: 2, dropout: makeDrop(dk, I), generator: new Generator(21) });
      const { weights, logits } = splitParameters(model);
      const wopt = new Adam(weights, { lr: 0.01 });
      const lopt = logits.length ? new Adam(logits, { lr: 0.05 }) : null;
      const evalLoss = async (): Promise<number> => scope(async () => {
        model.eval();
        const l = await noGrad(() => mean(model.perExampleLoss(x, beta))).item();
        model.train();
        return l;
      });
      const before = await evalLoss();
      for (let s = 0; s < steps; s++) {
        const l = await scope(async () => {
          if (dk === 'lbd') return lbdStep(() => model.perExampleLoss(x, beta), { weights: wopt, logits: lopt!, model }).loss.item();
          wopt.zeroGrad();
          lopt?.zeroGrad();
          const loss = mean(model.perExampleLoss(x, beta));
          backward(loss);
          wopt.step();
          lopt?.step();
          return loss.item();
        });
        assert.ok(Number.isFinite(l), `${kind}+${dk} step ${s}: loss ${l}`);
      }
      const after = await evalLoss();
      assert.ok(after < before - 0.05, `${kind}+${dk}: eval loss ${before.toFixed(4)} → ${after.toFixed(4)} after ${steps} steps`);
      const sc = model.scores(x);
      assert.equal(sc.shape, [B, I]);
      assert.ok(model.training, 'scores() restores training mode');
      wopt.dispose();
      lopt?.dispose();
      model.dispose();
    }));
  }
});

/** The nonzero pattern of dense host rows [B, I]. */
function patternOf(xs: readonly number[], B: number, I: number): RowPattern {
  const rowptr = new Int32Array(B + 1), cols: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < I; i++) if (xs[b * I + i] !== 0) cols.push(i);
    rowptr[b + 1] = cols.length;
  }
  return new RowPattern(rowptr, Int32Array.from(cols), I);
}

test('the first layer through the input\'s row pattern (sparse_linear) gives the dense path\'s loss, gradients and scores: every kind, every dropout kind', async () => {
  const I = 30, B = 9, beta = 0.2;
  const xs = binaryRows(B, I, 0.2, 17);
  const rows = patternOf(xs, B, I);
  assert.ok(rows.nnz < B * I / 2, 'the pattern is sparse');
  for (const [kind, dk] of runs) {
    await noLeak(`${kind}+${dk} sparse`, () => scope(async () => {
      const x = tensor(xs, [B, I]);
      // two identical models (same seeds: same weights, masks and ε), one per path
      const run = async (sparse: boolean): Promise<{ loss: number; grads: ArrayLike<number>[]; scores: ArrayLike<number> }> => scope(async () => {
        const model = recommender(kind, { items: I, hidden: 16, latent: 4, V: 2, K: 6, T: 2, dropout: makeDrop(dk, I), generator: new Generator(21) });
        const loss = () => model.perExampleLoss(x, beta, sparse ? rows : null);
        const l = dk === 'lbd' ? lbdGradients(loss, { model }).loss : mean(loss());
        if (dk !== 'lbd') backward(l);
        const params = model.parameters();
        const out = {
          loss: await l.item(),
          grads: await Promise.all(params.map(async (t) => (t.grad ? t.grad.data() : new Float32Array(0)))),
          scores: await noGrad(() => model.scores(x, sparse ? rows : null)).data(),
        };
        model.dispose();
        return out;
      });
      const dense = await run(false), sparse = await run(true);
      assertClose([sparse.loss], [dense.loss], 1e-5, `${kind}+${dk} loss`);
      assert.equal(sparse.grads.length, dense.grads.length);
      dense.grads.forEach((g, k) => assertClose(sparse.grads[k], g, 1e-4, `${kind}+${dk} gradient of parameter ${k}`));
      assertClose(sparse.scores, dense.scores, 1e-5, `${kind}+${dk} scores`);
    }));
  }
});

test('a row pattern is checked when built, and must fit the input', async () => {
  const p = (rp: number[], ix: number[], cols: number) => () => new RowPattern(Int32Array.from(rp), Int32Array.from(ix), cols);
  assert.throws(p([0, 2], [1], 4), /rowptr must run from 0 to indices.length \(1\)/);
  assert.throws(p([0, 2, 1, 2], [1, 2], 4), /rowptr decreases at row 1/);
  assert.throws(p([0, 2], [1, 4], 4), /column 4 at entry 1 \(row 0\) is outside \[0, 4\)/);
  assert.throws(p([0, 2], [2, 2], 4), /row 0's columns must increase strictly/);
  const ok = new RowPattern(Int32Array.from([0, 1, 3]), Int32Array.from([2, 0, 3]), 4);
  assert.equal(Array.from(ok.byColumn.colptr), [0, 1, 1, 2, 3]);
  assert.equal(Array.from(ok.byColumn.rowOf), [1, 0, 1]);
  const twice = ok.repeat(2);
  assert.equal(Array.from(twice.rowptr), [0, 1, 3, 4, 6]);
  assert.equal(Array.from(twice.indices), [2, 0, 3, 2, 0, 3]);
  await noLeak('pattern shape check', () => scope(async () => {
    const model = recommender('vae', { items: 4, hidden: 3, latent: 2, generator: new Generator(1) });
    assert.throws(() => model.perExampleLoss(tensor(new Float32Array(12), [3, 4]), 0.2, ok), /vae: RowPattern \[2, 4\], 3 entries does not fit the input \[3, 4\]/);
    model.dispose();
  }));
});

test('options are checked, before anything is allocated, with messages that name them', async () => {
  await noLeak('option checks', () => {
    assert.throws(() => recommender('nope' as RecommenderKind, { items: 3 }), /kind must be one of/);
    assert.throws(() => new SIVAE({ items: 3, V: -1 }), /V must be an integer/);
    assert.throws(() => new IAFVAE({ items: 3, latent: 1 }), /at least 2 latent/);
    assert.throws(() => new MultVAE({ items: 3, kl: 'x' as 'sample' }), /kl must be/);
    assert.throws(() => new VampPriorVAE({ items: 3, K: 0 }), /K must be/);
  });
});

test.run();
