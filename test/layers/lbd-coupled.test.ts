// Examples coupled by batch norm: with batch norm in training mode after an LBD layer, every
// example's loss depends on every example's masks, so the per-example ARM/DisARM form
// (d_b = E_b(z1) − E_b(z2)) is biased and lbdStep must take the joint-vector form (the whole
// batch's loss difference for every example). Checked against the exact gradient by enumerating
// all 2^(B·U) joint masks of a batch of 2; the same check applied to the forced per-example form
// must fail. Also: which graphs the tape walk (couplingOf) calls coupled.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  tensor, scope, square, sub, reshape, concat, slice, matmul, batchNorm, sum, mean, logsumexp, relu, add, recompute, crossEntropy, perExample, Generator,
  type Tensor,
} from '../../engine/index.js';
import { Linear } from '../../layers/linear.js';
import { LearnableBernoulliDropout } from '../../layers/dropout/lbd.js';
import { lbdGradients } from '../../layers/dropout/lbd-step.js';
import { SIVAE } from '../../models/vae.js';
import { tiramisu, tiramisuDropout } from '../../models/tiramisu.js';
import { ready } from '../helpers.js';

const test = suite('lbd-coupled');
test.before(async () => { await ready; });

const sig = (a: number): number => 1 / (1 + Math.exp(-a));

// the network: x [2, 2] → LBD (one logit, a Bernoulli per example and unit, inverted scaling)
// → h = y·w [2, 1] → batch norm over the 2 examples (eps 0.25, γ = 1, β = 0) → (n_b − t_b)²
const X = [[1.0, -0.5], [0.3, 0.8]], W = [0.9, -0.7], T = [0.5, -0.2], EPS = 0.25, ALPHA = 0.4;

/** E over all 16 joint masks of the batch-mean loss, as a function of the logit (float64). */
function exactLoss(alpha: number): number {
  const p = sig(alpha);
  let e = 0;
  for (let m = 0; m < 16; m++) {
    let prob = 1;
    const h = [0, 1].map((b) => {
      let v = 0;
      for (let k = 0; k < 2; k++) {
        const z = (m >> (2 * b + k)) & 1;
        prob *= z ? p : 1 - p;
        v += X[b][k] * W[k] * z / p;
      }
      return v;
    });
    const mu = (h[0] + h[1]) / 2, v = ((h[0] - mu) ** 2 + (h[1] - mu) ** 2) / 2;
    const n = h.map((x) => (x - mu) / Math.sqrt(v + EPS));
    e += prob * ((n[0] - T[0]) ** 2 + (n[1] - T[1]) ** 2) / 2;
  }
  return e;
}

/**
 * The mean and standard error of the logit's gradient from lbdGradients over `chunks` × `steps`
 * batches of 2 (fresh u every step; the gradient accumulates in α.grad and is read per chunk).
 */
async function estimate(estimator: 'arm' | 'disarm', coupling: 'auto' | 'per-example', chunks: number, steps: number) {
  return scope(async () => {
    const drop = new LearnableBernoulliDropout({ granularity: 'layer', estimator, initialKeep: sig(ALPHA), generator: new Generator(estimator === 'arm' ? 5 : 6) });
    const x = tensor(X.flat(), [2, 2]), w = tensor(W, [2, 1]), t = tensor(T, [2, 1]);
    const loss = (): Tensor => reshape(square(sub(batchNorm(matmul(drop.forward(x), w), null, null, null, null, { eps: EPS }), t)), [2]);
    const means: number[] = [];
    let coupled: boolean | null = null;
    for (let c = 0; c < chunks; c++) {
      for (let s = 0; s < steps; s++) scope(() => { coupled = lbdGradients(loss, { model: drop, coupling }).coupled; });
      means.push((await drop.alpha.grad!.data())[0] / steps);
      drop.alpha.grad!.dispose(); drop.alpha.grad = null;
    }
    drop.dispose();
    const m = means.reduce((a, b) => a + b, 0) / chunks;
    const se = Math.sqrt(means.reduce((a, b) => a + (b - m) ** 2, 0) / (chunks - 1) / chunks);
    return { m, se: Math.max(se, 1e-6), coupled: coupled as boolean | null };
  });
}

const exactGrad = (exactLoss(ALPHA + 1e-5) - exactLoss(ALPHA - 1e-5)) / 2e-5;

for (const estimator of ['arm', 'disarm'] as const) {
  test(`batch norm after LBD, batch 2 (${estimator}): lbdStep picks the joint form and matches the exact gradient; the per-example form does not`, async () => {
    const joint = await estimate(estimator, 'auto', 8, 50);
    assert.ok(joint.coupled, 'the walk must find the batch norm downstream of the LBD layer');
    const z = (joint.m - exactGrad) / joint.se;
    assert.ok(Math.abs(z) < 4, `joint ${estimator}: mean ${joint.m.toFixed(4)} vs exact ${exactGrad.toFixed(4)} (SE ${joint.se.toFixed(4)}, z ${z.toFixed(2)})`);
    // the same check on the per-example form (the estimator lbdStep used before): it must fail
    const per = await estimate(estimator, 'per-example', 8, 50);
    const zp = (per.m - exactGrad) / per.se;
    assert.ok(per.coupled === false);
    assert.ok(Math.abs(zp) > 6, `per-example ${estimator} should be visibly biased here: mean ${per.m.toFixed(4)} vs exact ${exactGrad.toFixed(4)} (z ${zp.toFixed(2)})`);
  });
}

/** couplingOf's verdict for one recorded graph (a training-mode LBD layer on a [B, 3] input). */
function verdict(f: (y: Tensor, x: Tensor) => Tensor, B = 4): { coupled: boolean; reason: string | null } {
  return scope(() => {
    const drop = new LearnableBernoulliDropout({ units: 3, generator: new Generator(1) });
    const x = new Generator(2).normal([B, 3]);
    const r = lbdGradients(() => f(drop.forward(x), x), { model: drop });
    drop.dispose();
    return { coupled: r.coupled, reason: r.couplingReason };
  });
}

test('the tape walk: which graphs couple examples', () => {
  const g = new Generator(3);
  const lin = new Linear(3, 2, { generator: g });
  const perRow = (t: Tensor): Tensor => sum(square(t), 1);
  // per-example graphs
  assert.not.ok(verdict((y) => perRow(relu(lin.forward(y)))).coupled, 'an MLP');
  assert.not.ok(verdict((y) => crossEntropy(lin.forward(y), tensor([0, 1, 1, 0], [4], 'i32'), { reduction: 'none' })).coupled, 'cross-entropy per example');
  assert.not.ok(verdict((y, x) => perRow(add(y, batchNorm(x, null, null))))
    .coupled, 'batch norm on a tensor no LBD mask reaches');
  const rm = tensor([0, 0, 0], [3]), rv = tensor([1, 1, 1], [3]);
  assert.not.ok(verdict((y) => perRow(batchNorm(y, rm, rv, null, null, { training: false }))).coupled, 'batch norm in eval mode (running statistics)');
  assert.not.ok(verdict((y) => {
    const second = new LearnableBernoulliDropout({ units: 2, generator: new Generator(9) });
    return perRow(second.forward(relu(lin.forward(y))));
  }).coupled, 'a second LBD layer downstream of the first');
  // SIVAE's layout: copies along the batch, split to [C, B, ...], a log-sum-exp over the copies
  assert.not.ok(verdict((y) => {
    const B = 4;
    const c = reshape(concat([y, y, y], 0), [3, B, 3]);
    return logsumexp(sum(c, -1), 0);
  }).coupled, 'a reduction over copies of each example');
  // coupled graphs
  const bn = verdict((y) => perRow(batchNorm(y, null, null)));
  assert.ok(bn.coupled && /batch_norm/.test(bn.reason!), `batch norm in training mode: ${bn.reason}`);
  assert.ok(verdict((y) => perRow(sub(y, mean(y, 0, { keepdims: true })))).coupled, 'centering over the batch');
  assert.ok(verdict((y) => sum(matmul(y, y, { transB: true }), 1)).coupled, 'a Gram matrix of the examples');
  assert.ok(verdict((y) => perRow(sub(y, slice(concat([y, y], 0), [1, 0], [5, 3])))).coupled, 'rows shifted by one example');
  assert.ok(verdict((y) => perRow(recompute((a) => relu(a), [y]))).coupled, 'recompute (opaque: assumed coupled)');
  lin.dispose();
});

test('the models: SIVAE\'s copies stay per example; the Tiramisu\'s batch norm after the bottleneck couples', async () => {
  await scope(async () => {
    const B = 4, I = 12;
    const x = tensor(Array.from({ length: B * I }, (_, i) => +((i * 7) % 5 === 0)), [B, I]);
    const drop = new LearnableBernoulliDropout({ units: I, generator: new Generator(3) });
    const sivae = new SIVAE({ items: I, hidden: 6, latent: 3, dropout: drop, generator: new Generator(4), noiseGenerator: new Generator(5), V: 3 });
    const r = lbdGradients(() => sivae.perExampleLoss(x, 0.5), { model: sivae });
    assert.not.ok(r.coupled, `SIVAE (V + 1 = B = 4 copies) must keep the per-example form: ${r.couplingReason}`);
    sivae.dispose();
    const g = new Generator(6);
    const { model } = tiramisu({ layersPerBlock: [2, 2, 2], growthRate: 4, firstChannels: 8, classes: 11, generator: g,
      dropout: tiramisuDropout((units, w) => new LearnableBernoulliDropout({ granularity: 'layer', units, seed: 50 + w.layer }), { seed: 5 }) });
    const xi = g.normal([2, 3, 16, 16]);
    const y = tensor(new Int32Array(2 * 256).map((_, i) => (i * 5) % 11), [2, 16, 16], 'i32');
    const t = lbdGradients(() => perExample(crossEntropy(model.forward(xi), y, { reduction: 'none' })), { model });
    assert.ok(t.coupled && /batch_norm/.test(t.couplingReason!), `Tiramisu: ${t.couplingReason}`);
    model.dispose();
  });
});

test.run();
