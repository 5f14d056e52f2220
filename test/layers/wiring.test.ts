// LBD that cannot be wired wrong: a Sequential attaches each dropout layer to the weight its
// units feed; a regularizer whose weight term has no weight says what to attach; lbdStep adds
// the dropout layers' regularizers unless told not to; lbdStep in eval mode, a plain backward()
// through learnable Bernoulli dropout and a loss that bypasses the LBD layers are errors; a
// module saved with two optimizers and its generators resumes to exactly the uninterrupted step.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor, scope, relu, crossEntropy, mean, Generator, Adam, type Tensor } from '../../engine/index.js';
import {
  Sequential, Lambda, ReLU, Flatten, Linear, Conv2d, LearnableBernoulliDropout, ConcreteDropout, Dropout,
  lbdStep, splitParameters, sumRegularizers, saveModule, loadModule, encodeModule, decodeModule, trainStep, trainsLbdLogits,
} from '../../layers/index.js';
import { ready } from '../helpers.js';

const test = suite('wiring');
test.before(async () => { await ready; });

const dir = mkdtempSync(join(tmpdir(), 'lbd-wiring-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('a Sequential attaches dropout to the next Linear (axis 0) or Conv2d (axis 1) past activations only', () => {
  const g = new Generator(1);
  const d1 = new LearnableBernoulliDropout({ units: 4, datasetSize: 100 });
  const d2 = new ConcreteDropout({ datasetSize: 100 });
  const d3 = new LearnableBernoulliDropout({ granularity: 'channel', units: 3, datasetSize: 100 });
  const d4 = new LearnableBernoulliDropout({ granularity: 'layer', datasetSize: 100 });
  const l1 = new Linear(4, 5, { generator: g }), l2 = new Linear(5, 2, { generator: g });
  const c1 = new Conv2d(3, 6, 3, { generator: g });
  const mlp = new Sequential(d1, l1, new ReLU(), d2, new Lambda(relu, 'relu'), l2);
  assert.ok(d1.next?.weight === l1.weight && d1.next.unitAxis === 0, 'd1 → l1 [in, out] axis 0');
  assert.ok(d2.next?.weight === l2.weight && d2.next.unitAxis === 0, 'd2 → l2 past ReLU and a relu Lambda');
  const cnn = new Sequential(d3, c1, new Flatten(), d4, new Flatten(), new Linear(6, 2, { generator: g }));
  assert.ok(d3.next?.weight === c1.weight && d3.next.unitAxis === 1, 'd3 → conv [Co, Ci, kh, kw] axis 1');
  assert.is(d4.next, null, 'a Flatten changes what a unit is: not attached');
  assert.not.ok(d4.attached);
  // an explicit attach (or attach(null)) is kept
  const mine = new LearnableBernoulliDropout({ units: 5, datasetSize: 10 }).attach(null);
  new Sequential(mine, new Linear(5, 1, { generator: g }));
  assert.is(mine.next, null);
  assert.ok(mine.attached);
  for (const m of [mlp, cnn]) m.dispose();
  mine.dispose();
});

test('a regularizer with no weight to penalise says what to attach; attach(null) leaves the term out', async () => {
  await scope(async () => {
    const g = new Generator(2);
    const d = new LearnableBernoulliDropout({ units: 4, datasetSize: 50 });
    const model = new Sequential(new Linear(3, 4, { generator: g }), new ReLU(), d, new Flatten());
    assert.throws(() => d.regularizer(), /LearnableBernoulliDropout: its regularizer's weight term needs the weight .*\.attach\(nextLayer\.weight, unitAxis\)/);
    d.attach(null);
    const entropyOnly = await d.regularizer()!.item();
    const w = tensor(new Float32Array(8).fill(1), [4, 2]);
    d.attach(w, 0);
    const withWeights = await d.regularizer()!.item();
    // Eq. 3 / N with keep 0.5 everywhere, s² = 1: Σ_k ‖W_k‖²/(2N p_k) − (1/N) Σ_k H(p_k), ‖W_k‖² = 2
    const N = 50, H = Math.log(2);
    assert.ok(Math.abs(withWeights - (4 * 2 / (2 * N * 0.5) - 4 * H / N)) < 1e-5, `with weights ${withWeights}`);
    assert.ok(Math.abs(entropyOnly - (-4 * H / N)) < 1e-6, `entropy only ${entropyOnly}`);
    model.dispose();
  });
});

/** x → Linear(4, 8) → ReLU → LBD(8, N = 200) → Linear(8, 3), built in a Sequential (no attach by hand). */
function lbdNet(seed: number) {
  const g = new Generator(seed);
  const drop = new LearnableBernoulliDropout({ units: 8, datasetSize: 200, generator: new Generator(seed + 1) });
  const model = new Sequential(new Linear(4, 8, { generator: g }), new ReLU(), drop, new Linear(8, 3, { generator: g }));
  const { weights, logits } = splitParameters(model);
  return { model, drop, wopt: new Adam(weights, { lr: 1e-2 }), lopt: new Adam(logits, { lr: 5e-2 }) };
}
const batch = (): { x: Tensor; y: Tensor } => scope(() => ({
  x: tensor(Float32Array.from({ length: 24 }, (_, i) => Math.sin(i)), [6, 4]).keep(),
  y: tensor([0, 1, 2, 0, 1, 2], [6], 'i32').keep(),
}));

test('lbdStep applies the dropout layers\' regularizers by default; regularizer: null turns them off', async () => {
  const { x, y } = batch();
  const grads = async (reg: 'default' | 'explicit' | 'none'): Promise<number[]> => {
    const n = lbdNet(3);
    const loss = (): Tensor => crossEntropy(n.model.forward(x), y, { reduction: 'none' });
    await scope(async () => {
      const o = reg === 'default' ? {} : reg === 'explicit' ? { regularizer: () => sumRegularizers([n.drop]) } : { regularizer: null };
      lbdStep(loss, { model: n.model, ...o });
    });
    const g = Array.from(await n.drop.alpha.grad!.data());
    n.model.dispose(); n.wopt.dispose(); n.lopt.dispose();
    return g;
  };
  const def = await grads('default'), explicit = await grads('explicit'), none = await grads('none');
  assert.equal(def, explicit, 'the default is the sum of the model\'s dropout regularizers');
  assert.ok(def.some((v, i) => Math.abs(v - none[i]) > 1e-7), 'regularizer: null leaves Eq. 3 out');
  x.dispose(); y.dispose();
});

test('lbdStep in eval mode, a plain backward() through LBD and a loss that skips the LBD layers are errors', async () => {
  const { x, y } = batch();
  const n = lbdNet(4);
  const loss = (): Tensor => crossEntropy(n.model.forward(x), y, { reduction: 'none' });
  n.model.eval();
  await scope(async () => { assert.throws(() => lbdStep(loss, { model: n.model }), /eval mode.*model\.train\(\)/); });
  n.model.train();
  await scope(async () => { assert.throws(() => mean(loss()).backward(), /train the model with lbdStep/); });
  // frozen logits: a plain backward trains the weights alone
  n.drop.alpha.requiresGrad = false;
  await scope(async () => { mean(loss()).backward(); });
  n.drop.alpha.requiresGrad = true;
  const other = new Sequential(new Linear(4, 3, { generator: new Generator(9) }));
  await scope(async () => {
    assert.throws(() => lbdStep(() => crossEntropy(other.forward(x), y, { reduction: 'none' }), { model: n.model }), /none of the model's learnable Bernoulli dropout layers is on the path/);
  });
  assert.throws(() => lbdStep(loss, {} as never), /options\.model is required/);
  for (const p of n.model.parameters()) { p.grad?.dispose(); p.grad = null; }
  n.model.dispose(); n.wopt.dispose(); n.lopt.dispose(); other.dispose();
  x.dispose(); y.dispose();
});

test('trainStep: lbdStep\'s update for a model that trains LBD logits, mean loss + regularizers otherwise', async () => {
  const { x, y } = batch();
  const after = async (how: 'trainStep' | 'lbdStep'): Promise<number[][]> => {
    const n = lbdNet(21);
    const f = (): Tensor => crossEntropy(n.model.forward(x), y, { reduction: 'none' });
    await scope(async () => {
      if (how === 'trainStep') trainStep(f, { model: n.model, optimizers: { weights: n.wopt, logits: n.lopt } });
      else lbdStep(f, { model: n.model, weights: n.wopt, logits: n.lopt });
    });
    const p = await Promise.all(n.model.parameters().map(async (t) => Array.from(await t.data())));
    n.model.dispose(); n.wopt.dispose(); n.lopt.dispose();
    return p;
  };
  assert.ok(trainsLbdLogits(lbdNet(1).model));
  assert.equal(await after('trainStep'), await after('lbdStep'));
  // no LBD: a plain step, with the Concrete regularizer added
  const g = new Generator(22);
  const c = new ConcreteDropout({ datasetSize: 60, seed: 3 });
  const model = new Sequential(new Linear(4, 8, { generator: g }), new ReLU(), c, new Linear(8, 3, { generator: g }));
  assert.not.ok(trainsLbdLogits(model));
  const opt = new Adam(model.parameters(), { lr: 1e-2 });
  const before = Array.from(await c.logit.data());
  const loss = await scope(async () => trainStep(() => crossEntropy(model.forward(x), y, { reduction: 'none' }), { model, optimizers: [opt] }).item());
  assert.ok(Number.isFinite(loss));
  assert.not.equal(Array.from(await c.logit.data()), before, 'the Concrete logit moved: its regularizer and the loss reached it');
  model.dispose(); opt.dispose(); x.dispose(); y.dispose();
});

/** Three LBD steps, optionally a save/reload in between; the fourth step's loss and every parameter after it. */
async function run(reload: 'none' | 'file' | 'bytes'): Promise<{ loss: number; params: number[][]; keep: number[] }> {
  const { x, y } = batch();
  let n = lbdNet(7);
  // a second dropout kind drawing from its own generator: its position must travel too
  const extra = new Dropout(0.3, { generator: new Generator(70) });
  let model = new Sequential(extra, n.model);
  const step = async (): Promise<number> => scope(async () => lbdStep(() => crossEntropy(model.forward(x), y, { reduction: 'none' }), { model, weights: n.wopt, logits: n.lopt }).loss.item());
  for (let s = 0; s < 3; s++) await step();
  if (reload !== 'none') {
    const file = join(dir, `resume-${reload}.safetensors`);
    const bytes = reload === 'file' ? null : await encodeModule(model, { optimizers: { weights: n.wopt, logits: n.lopt } });
    if (reload === 'file') await saveModule(file, model, { optimizers: { weights: n.wopt, logits: n.lopt } });
    model.dispose(); n.wopt.dispose(); n.lopt.dispose();
    // a fresh process would rebuild the model: other initial weights and generators elsewhere
    n = lbdNet(8);
    const fresh = new Dropout(0.3, { generator: new Generator(71) });
    model = new Sequential(fresh, n.model);
    const parts = { optimizers: { weights: n.wopt, logits: n.lopt } };
    if (bytes) {
      const all = new Uint8Array(bytes.reduce((s, c) => s + c.length, 0));
      let at = 0;
      for (const c of bytes) { all.set(c, at); at += c.length; }
      decodeModule(all, model, parts);
    } else await loadModule(file, model, parts);
  }
  const loss = await step();
  const params = await Promise.all(model.parameters().map(async (p) => Array.from(await p.data())));
  const keep = await n.drop.keepProbabilities();
  model.dispose(); n.wopt.dispose(); n.lopt.dispose();
  x.dispose(); y.dispose();
  return { loss, params, keep };
}

test('a module saved with two optimizers and its generators: the next step equals the uninterrupted one', async () => {
  const straight = await run('none');
  for (const how of ['file', 'bytes'] as const) {
    const resumed = await run(how);
    assert.is(resumed.loss, straight.loss, `${how}: the step after the reload has the uninterrupted loss`);
    assert.equal(resumed.params, straight.params, `${how}: every parameter (weights and logits) after that step`);
    assert.equal(resumed.keep, straight.keep);
  }
});

test('a checkpoint of another model, or with another number of generators, is refused whole', async () => {
  const n = lbdNet(11);
  const file = join(dir, 'other.safetensors');
  await saveModule(file, n.model, { optimizers: { weights: n.wopt, logits: n.lopt } });
  const more = new Sequential(new Dropout(0.1, { generator: new Generator(5) }), lbdNet(12).model);
  await assert_rejects(loadModule(file, more), /generator states for the 2 generators/);
  const before = await n.drop.alpha.data();
  const wider = new Sequential(new Linear(4, 9, { generator: new Generator(1) }), new ReLU(), new LearnableBernoulliDropout({ units: 9 }), new Linear(9, 3));
  await assert_rejects(loadModule(file, wider), /does not match the model; nothing was loaded/);
  assert.equal(await n.drop.alpha.data(), before);
  n.model.dispose(); n.wopt.dispose(); n.lopt.dispose(); more.dispose(); wider.dispose();
});

async function assert_rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p; } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected a rejection matching ${re}`);
}

test.run();
