// Optimizers against float64 references (3 steps, fixed per-step gradients), parameter groups,
// state round trips for checkpoints, clear errors, and no growth of live bytes per step.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { tensor, type Tensor } from '../../engine/tensor.js';
import { memoryStats } from '../../engine/memory.js';
import { sync, pipelineCount, dispatchTotal } from '../../engine/dispatch.js';
import { gpu } from '../../engine/device.js';
import { SGD, Adam, AdamW, RMSProp, type Optimizer } from '../../engine/optim.js';
import { ready, rng, assertClose, noLeak } from '../helpers.js';

const test = suite('optim');
test.before(async () => { await ready; });

const TOL = 1e-5;
const numel = (s: number[]): number => s.reduce((a, b) => a * b, 1);

// ---- float64 references (one small function per element: --no-use-osr keeps long loops slow) ----

interface SgdO { lr: number; momentum: number; weightDecay: number }
function sgdElem(p: Float64Array, g: Float64Array, v: Float64Array, i: number, o: SgdO): void {
  let d = g[i] + o.weightDecay * p[i];
  if (o.momentum) { d = o.momentum * v[i] + d; v[i] = d; }
  p[i] -= o.lr * d;
}

interface AdamO { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean }
function adamElem(p: Float64Array, g: Float64Array, m: Float64Array, v: Float64Array, i: number, o: AdamO, t: number): void {
  let gi = g[i];
  if (o.decoupled) p[i] *= 1 - o.lr * o.weightDecay;
  else gi += o.weightDecay * p[i];
  m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
  v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
  const mHat = m[i] / (1 - o.beta1 ** t);
  const vHat = v[i] / (1 - o.beta2 ** t);
  p[i] -= o.lr * mHat / (Math.sqrt(vHat) + o.eps);
}

interface RmsO { lr: number; rho: number; eps: number; momentum: number; weightDecay: number }
function rmsElem(p: Float64Array, g: Float64Array, v: Float64Array, b: Float64Array, i: number, o: RmsO): void {
  const gi = g[i] + o.weightDecay * p[i];
  v[i] = o.rho * v[i] + (1 - o.rho) * gi * gi;
  const d = gi / (Math.sqrt(v[i]) + o.eps);
  if (o.momentum) { b[i] = o.momentum * b[i] + d; p[i] -= o.lr * b[i]; } else p[i] -= o.lr * d;
}

/** One reference update of a whole parameter; `st` holds its state arrays by torch name. */
type RefUpdate = (p: Float64Array, g: Float64Array, st: Record<string, Float64Array>, t: number) => void;

const sgdRef = (o: SgdO): RefUpdate => (p, g, st) => {
  const v = st.momentum_buffer;
  for (let i = 0; i < p.length; i++) sgdElem(p, g, v, i, o);
};
const adamRef = (o: AdamO): RefUpdate => (p, g, st, t) => {
  const { exp_avg: m, exp_avg_sq: v } = st;
  for (let i = 0; i < p.length; i++) adamElem(p, g, m, v, i, o, t);
};
const rmsRef = (o: RmsO): RefUpdate => (p, g, st) => {
  const { square_avg: v, momentum_buffer: b } = st;
  for (let i = 0; i < p.length; i++) rmsElem(p, g, v, b, i, o);
}

// ---- fixtures -----------------------------------------------------------------------------

/** f32-rounded random values in [-2, 2]. */
function values(n: number, r: () => number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.fround(-2 + 4 * r());
  return a;
}

interface Fixture {
  params: Tensor[];
  ref: Float64Array[];
  /** grads[step][param]: GPU tensors (kept) and their values. */
  grads: { t: Tensor; v: Float64Array }[][];
  dispose(): void;
}

function fixture(shapes: number[][], steps: number, seed: number): Fixture {
  const r = rng(seed);
  const ref = shapes.map((s) => values(numel(s), r));
  const params = shapes.map((s, i) => tensor(ref[i], s).requireGrad().keep());
  const grads = Array.from({ length: steps }, () => shapes.map((s) => {
    const v = values(numel(s), r);
    return { t: tensor(v, s).keep(), v };
  }));
  return {
    params, ref, grads,
    dispose() {
      for (const p of params) { p.grad = null; p.dispose(); }
      for (const row of grads) for (const g of row) g.t.dispose();
    },
  };
}

/** Runs `steps` optimizer steps and the reference side by side, then compares parameters and state. */
async function checkAgainstRef(what: string, shapes: number[][], make: (ps: Tensor[]) => Optimizer<{ lr?: number }>, ref: RefUpdate, keys: string[], seed: number, steps = 3): Promise<void> {
  await noLeak(what, async () => {
    const f = fixture(shapes, steps, seed);
    const opt = make(f.params);
    const st = shapes.map((s) => Object.fromEntries(keys.map((k) => [k, new Float64Array(numel(s))])));
    for (let s = 0; s < steps; s++) {
      f.params.forEach((p, i) => { p.grad = f.grads[s][i].t; });
      opt.step();
      f.params.forEach((_, i) => ref(f.ref[i], f.grads[s][i].v, st[i], s + 1));
    }
    for (let i = 0; i < shapes.length; i++) assertClose(await f.params[i].data(), f.ref[i], TOL, `${what}: param ${i} ${JSON.stringify(shapes[i])}`);
    const state = new Map(opt.stateTensors());
    assert.equal([...state.keys()].sort(), shapes.flatMap((_, i) => keys.map((k) => `group0.param${i}.${k}`)).sort(), `${what}: state names`);
    for (let i = 0; i < shapes.length; i++) {
      for (const k of keys) assertClose(await state.get(`group0.param${i}.${k}`)!.data(), st[i][k], TOL, `${what}: param ${i} ${k}`);
    }
    const sc = opt.stateScalars();
    assert.is(sc.step, steps);
    for (let i = 0; i < shapes.length; i++) assert.is(sc[`group0.param${i}.step`], steps);
    opt.dispose();
    f.dispose();
  });
}

// Awkward sizes: 1, 0, not a multiple of the workgroup, a matrix.
const SHAPES = [[3, 5], [1], [70], [0], [2, 3, 4]];

// ---- each optimizer against its reference ------------------------------------------------

test('SGD: plain, momentum, weight decay, both', async () => {
  const cases: SgdO[] = [
    { lr: 0.1, momentum: 0, weightDecay: 0 },
    { lr: 0.05, momentum: 0.9, weightDecay: 0 },
    { lr: 0.1, momentum: 0, weightDecay: 0.01 },
    { lr: 0.05, momentum: 0.8, weightDecay: 0.1 },
  ];
  for (const [k, o] of cases.entries()) {
    await checkAgainstRef(`SGD ${JSON.stringify(o)}`, SHAPES, (ps) => new SGD(ps, o), sgdRef(o), o.momentum ? ['momentum_buffer'] : [], 100 + k);
  }
});

test('Adam: plain and with L2 weight decay', async () => {
  const base: AdamO = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
  await checkAgainstRef('Adam', SHAPES, (ps) => new Adam(ps, { lr: 0.1 }), adamRef(base), ['exp_avg', 'exp_avg_sq'], 200);
  const l2 = { ...base, lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 };
  await checkAgainstRef('Adam L2', SHAPES, (ps) => new Adam(ps, { lr: 0.05, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 }), adamRef(l2), ['exp_avg', 'exp_avg_sq'], 201);
});

test('AdamW (decoupled weight decay), via AdamW and via Adam { decoupled: true }', async () => {
  const o: AdamO = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: true };
  await checkAgainstRef('AdamW', SHAPES, (ps) => new AdamW(ps, { lr: 0.1 }), adamRef(o), ['exp_avg', 'exp_avg_sq'], 300);
  const o2 = { ...o, weightDecay: 0.2 };
  await checkAgainstRef('Adam decoupled', SHAPES, (ps) => new Adam(ps, { lr: 0.1, weightDecay: 0.2, decoupled: true }), adamRef(o2), ['exp_avg', 'exp_avg_sq'], 301);
});

test('Adam on a parameter larger than one grid (grid-stride loop)', async () => {
  const o: AdamO = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, decoupled: false };
  await checkAgainstRef('Adam big', [[4096 * 64 + 333]], (ps) => new Adam(ps, o), adamRef(o), ['exp_avg', 'exp_avg_sq'], 400, 2);
});

test('RMSProp with rho = 0.995: plain, momentum, weight decay', async () => {
  const cases: RmsO[] = [
    { lr: 0.01, rho: 0.995, eps: 1e-8, momentum: 0, weightDecay: 0 },
    { lr: 0.01, rho: 0.995, eps: 1e-8, momentum: 0.9, weightDecay: 0 },
    { lr: 0.02, rho: 0.995, eps: 1e-6, momentum: 0.5, weightDecay: 0.1 },
    { lr: 0.02, rho: 0.9, eps: 1e-6, momentum: 0, weightDecay: 0.1 },
  ];
  for (const [k, o] of cases.entries()) {
    await checkAgainstRef(`RMSProp ${JSON.stringify(o)}`, SHAPES, (ps) => new RMSProp(ps, o), rmsRef(o),
      o.momentum ? ['square_avg', 'momentum_buffer'] : ['square_avg'], 500 + k);
  }
});

// ---- several parameters per dispatch -------------------------------------------------------

// 19 parameters: more than one dispatch holds at any adapter limit up to 64 storage buffers, sizes
// with every n % 4, 0 and 1, and one of several thousand vec4s.
const MANY = [[1], [2], [3], [4], [5], [0], [6, 7], [13], [4, 4], [31], [2, 3, 5], [9], [64 * 257 + 6], [17], [1], [2, 2], [3, 3], [10], [11]];

test('many parameters per dispatch: Adam, AdamW, RMSProp and SGD with momentum against their references', async () => {
  const adam: AdamO = { lr: 0.02, beta1: 0.9, beta2: 0.99, eps: 1e-7, weightDecay: 0.05, decoupled: false };
  await checkAgainstRef('Adam many', MANY, (ps) => new Adam(ps, adam), adamRef(adam), ['exp_avg', 'exp_avg_sq'], 900, 2);
  const adamw: AdamO = { ...adam, decoupled: true };
  await checkAgainstRef('AdamW many', MANY, (ps) => new AdamW(ps, { lr: 0.02, beta1: 0.9, beta2: 0.99, eps: 1e-7, weightDecay: 0.05 }), adamRef(adamw), ['exp_avg', 'exp_avg_sq'], 901, 2);
  const rms: RmsO = { lr: 0.01, rho: 0.9, eps: 1e-6, momentum: 0.5, weightDecay: 0.1 };
  await checkAgainstRef('RMSProp many', MANY, (ps) => new RMSProp(ps, rms), rmsRef(rms), ['square_avg', 'momentum_buffer'], 902, 2);
  const sgd: SgdO = { lr: 0.1, momentum: 0.9, weightDecay: 0.01 };
  await checkAgainstRef('SGD many', MANY, (ps) => new SGD(ps, sgd), sgdRef(sgd), ['momentum_buffer'], 903, 2);
});

test('a group update takes ceil(params / per-dispatch) dispatches; a skipped parameter in a chunk keeps its values', async () => {
  await noLeak('dispatches', async () => {
    const f = fixture(MANY, 1, 950);
    const o: AdamO = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
    const opt = new Adam(f.params, { lr: 0.1 });
    const skipped = 3;
    f.params.forEach((p, i) => { p.grad = i === skipped ? null : f.grads[0][i].t; });
    const per = Math.min(16, Math.floor(gpu().limits.maxStorageBuffersPerShaderStage / 4));
    await sync();
    const d0 = dispatchTotal();
    opt.step();
    assert.is(dispatchTotal() - d0, Math.ceil((MANY.length - 1) / per), `dispatches for ${MANY.length - 1} parameters at ${per} per dispatch`);
    const st = MANY.map((s) => ({ exp_avg: new Float64Array(numel(s)), exp_avg_sq: new Float64Array(numel(s)) }));
    f.params.forEach((_, i) => { if (i !== skipped) adamRef(o)(f.ref[i], f.grads[0][i].v, st[i], 1); });
    for (let i = 0; i < MANY.length; i++) assertClose(await f.params[i].data(), f.ref[i], TOL, `param ${i}`);
    assert.is(opt.stateScalars()[`group0.param${skipped}.step`], undefined, 'the skipped parameter has no updates');
    opt.dispose();
    f.dispose();
  });
});

// ---- groups, skipped parameters, learning rates -------------------------------------------

test('parameter groups: per-group lr and options; setLr; no pipeline compiled after the first step', async () => {
  await noLeak('groups', async () => {
    const shapes = [[7], [4, 3], [65]];
    const f = fixture(shapes, 3, 600);
    const opt = new SGD([{ params: [f.params[0], f.params[1]] }, { params: [f.params[2]], lr: 0.01, momentum: 0.5 }], { lr: 0.1, weightDecay: 0.01 });
    assert.is(opt.getLr(0), 0.1);
    assert.is(opt.getLr(1), 0.01);
    const o: SgdO[] = [{ lr: 0.1, momentum: 0, weightDecay: 0.01 }, { lr: 0.1, momentum: 0, weightDecay: 0.01 }, { lr: 0.01, momentum: 0.5, weightDecay: 0.01 }];
    const st = shapes.map((s) => ({ momentum_buffer: new Float64Array(numel(s)) }));
    let compiled = 0;
    for (let s = 0; s < 3; s++) {
      if (s === 2) { opt.setLr(0.03, 1); o[2].lr = 0.03; opt.setLr(0.2); o[0].lr = o[1].lr = o[2].lr = 0.2; }
      f.params.forEach((p, i) => { p.grad = f.grads[s][i].t; });
      opt.step();
      if (s === 0) compiled = pipelineCount();
      f.params.forEach((_, i) => sgdRef(o[i])(f.ref[i], f.grads[s][i].v, st[i], s + 1));
    }
    assert.is(pipelineCount(), compiled, 'pipelines compiled after the first step');
    for (let i = 0; i < shapes.length; i++) assertClose(await f.params[i].data(), f.ref[i], TOL, `group param ${i}`);
    assert.equal(opt.stateTensors().map(([n]) => n), ['group1.param0.momentum_buffer']);
    assert.equal(opt.stateScalars()['group1.lr'], 0.2);
    opt.dispose();
    f.dispose();
  });
});

test('a parameter without a gradient is skipped, and its bias correction counts its own updates', async () => {
  await noLeak('skip', async () => {
    const shapes = [[5], [9]];
    const f = fixture(shapes, 2, 700);
    const o: AdamO = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
    const opt = new Adam(f.params, { lr: 0.1 });
    const st = shapes.map((s) => ({ exp_avg: new Float64Array(numel(s)), exp_avg_sq: new Float64Array(numel(s)) }));
    f.params[0].grad = f.grads[0][0].t; // step 1: only param 0
    opt.step();
    adamRef(o)(f.ref[0], f.grads[0][0].v, st[0], 1);
    f.params.forEach((p, i) => { p.grad = f.grads[1][i].t; }); // step 2: both
    opt.step();
    adamRef(o)(f.ref[0], f.grads[1][0].v, st[0], 2);
    adamRef(o)(f.ref[1], f.grads[1][1].v, st[1], 1);
    for (let i = 0; i < 2; i++) assertClose(await f.params[i].data(), f.ref[i], TOL, `param ${i}`);
    const sc = opt.stateScalars();
    assert.equal([sc.step, sc['group0.param0.step'], sc['group0.param1.step']], [2, 2, 1]);
    opt.dispose();
    f.dispose();
  });
});

// ---- checkpoint state ---------------------------------------------------------------------

/** Optimizer A runs 2 steps; B (fresh, on copied parameters) loads A's state; one more step each must agree exactly. */
async function roundTrip(what: string, make: (ps: Tensor[] | { params: Tensor[]; lr?: number }[]) => Optimizer<{ lr?: number }>, grouped: boolean): Promise<void> {
  await noLeak(what, async () => {
    const shapes = [[6], [3, 4], [1]];
    const f = fixture(shapes, 3, 800);
    const split = (ps: Tensor[]) => (grouped ? [{ params: [ps[0], ps[1]] }, { params: [ps[2]], lr: 0.003 }] : ps);
    const a = make(split(f.params));
    for (let s = 0; s < 2; s++) { f.params.forEach((p, i) => { p.grad = f.grads[s][i].t; }); a.step(); }
    const pb = await Promise.all(f.params.map(async (p) => tensor(await p.data(), p.shape).requireGrad().keep()));
    const b = make(split(pb));
    const saved = await Promise.all(a.stateTensors().map(async ([n, t]) => [n, tensor(await t.data(), t.shape).keep()] as [string, Tensor]));
    b.loadStateTensors(saved);
    b.loadStateScalars(a.stateScalars());
    assert.ok(saved.every(([, t]) => t.disposed), `${what}: loadStateTensors takes ownership`);
    assert.equal(b.stateScalars(), a.stateScalars(), `${what}: scalars`);
    const sa = a.stateTensors(), sb = b.stateTensors();
    assert.equal(sb.map(([n]) => n), sa.map(([n]) => n), `${what}: names`);
    for (let k = 0; k < sa.length; k++) assert.equal(await sb[k][1].array(), await sa[k][1].array(), `${what}: ${sa[k][0]}`);
    f.params.forEach((p, i) => { p.grad = f.grads[2][i].t; });
    pb.forEach((p, i) => { p.grad = f.grads[2][i].t; });
    a.step();
    b.step();
    for (let i = 0; i < shapes.length; i++) assert.equal(await pb[i].array(), await f.params[i].array(), `${what}: param ${i} after the resumed step`);
    a.dispose();
    b.dispose();
    for (const p of pb) { p.grad = null; p.dispose(); }
    f.dispose();
  });
}

test('state round trip through stateTensors / loadStateTensors and the scalars', async () => {
  await roundTrip('Adam', (ps) => new Adam(ps, { lr: 0.05, weightDecay: 0.01 }), false);
  await roundTrip('AdamW groups', (ps) => new AdamW(ps, { lr: 0.05 }), true);
  await roundTrip('RMSProp momentum', (ps) => new RMSProp(ps, { lr: 0.01, rho: 0.995, momentum: 0.9 }), true);
  await roundTrip('SGD momentum', (ps) => new SGD(ps as Tensor[], { lr: 0.1, momentum: 0.9 }), false);
});

test('state names follow group<g>.param<i>.<key>', async () => {
  const ps = [tensor([1, 2]).requireGrad().keep(), tensor([3]).requireGrad().keep()];
  const opt = new Adam([{ params: [ps[0]] }, { params: [ps[1]], lr: 0.5 }]);
  ps.forEach((p) => { p.grad = tensor(new Float32Array(p.size).fill(1), p.shape); });
  opt.step();
  assert.equal(opt.stateTensors().map(([n]) => n), ['group0.param0.exp_avg', 'group0.param0.exp_avg_sq', 'group1.param0.exp_avg', 'group1.param0.exp_avg_sq']);
  assert.equal(opt.stateScalars(), { step: 1, 'group0.lr': 1e-3, 'group0.param0.step': 1, 'group1.lr': 0.5, 'group1.param0.step': 1 });
  opt.dispose();
  for (const p of ps) p.dispose();
});

// ---- errors ---------------------------------------------------------------------------------

test('clear errors: options, parameters, groups, gradients, state', () => {
  const p = tensor([1, 2, 3]).requireGrad().keep();
  const q = tensor([4]).requireGrad().keep();
  const frozen = tensor([1]).keep();
  const bad = (o: unknown) => o as never;
  assert.throws(() => new SGD([p], { lr: -1 }), /SGD: lr must be > 0 and finite, got -1/);
  assert.throws(() => new SGD([p], bad({ momentum: 0.9 })), /SGD: lr is required/);
  assert.throws(() => new SGD([p], { lr: 0.1, momentum: -0.5 }), /SGD: momentum must be >= 0 and finite, got -0.5/);
  assert.throws(() => new Adam([p], { beta1: 1 }), /Adam: beta1 must be in \[0, 1\), got 1/);
  assert.throws(() => new Adam([p], { beta2: -0.1 }), /Adam: beta2 must be in \[0, 1\), got -0.1/);
  assert.throws(() => new Adam([p], { eps: -1 }), /Adam: eps must be >= 0 and finite, got -1/);
  assert.throws(() => new AdamW([p], { weightDecay: NaN }), /AdamW: weightDecay must be >= 0 and finite, got NaN/);
  assert.throws(() => new Adam([p], bad({ decoupled: 'yes' })), /Adam: decoupled must be a boolean, got yes/);
  assert.throws(() => new Adam([p], bad({ betas: [0.9, 0.99] })), /Adam: unknown option 'betas'/);
  assert.throws(() => new RMSProp([p], { rho: 1.5 }), /RMSProp: rho must be in \[0, 1\), got 1.5/);
  assert.throws(() => new RMSProp([p], { lr: Infinity }), /RMSProp: lr must be > 0 and finite, got Infinity/);
  assert.throws(() => new RMSProp([{ params: [p], lr: 0 }], { lr: 0.1 }), /RMSProp: lr must be > 0 and finite, got 0 in group 0/);
  assert.throws(() => new RMSProp([{ params: [p], alpha: 0.9 } as never]), /unknown option 'alpha' in group 0/);
  assert.throws(() => new Adam([p, frozen]), /Adam: parameter 1 \(Tensor#\d+\(\[1\], f32\)\) does not require grad/);
  assert.throws(() => new Adam([{ params: [p] }, { params: [q, p] }]), /appears in two parameter groups \(0 and 1\)/);
  assert.throws(() => new Adam([p, q, p]), /appears twice/);
  assert.throws(() => new Adam([]), /Adam: got an empty parameter list/);
  assert.throws(() => new Adam([p, { params: [q] }] as never), /mixes tensors and parameter groups/);

  const opt = new Adam([{ params: [p] }, { params: [q] }]);
  assert.throws(() => opt.setLr(-2), /Adam: lr must be > 0 and finite, got -2/);
  assert.throws(() => opt.setLr(0.1, 5), /Adam: no parameter group 5 \(there are 2\)/);
  p.grad = tensor([1, 2]).keep();
  assert.throws(() => opt.step(), /Adam: gradient \[2\] f32 does not match parameter 0 of group 0/);
  p.grad.dispose();
  p.grad = null;
  const s = tensor([1]).keep();
  assert.throws(() => opt.loadStateTensors([['group0.param0.exp_avg', s]]), /state 'group0.param0.exp_avg' is \[1\] f32, parameter is \[3\] f32/);
  assert.throws(() => opt.loadStateTensors([['group1.param0.momentum_buffer', s]]), /unknown key 'momentum_buffer' for group 1 \(expected exp_avg, exp_avg_sq\)/);
  assert.throws(() => opt.loadStateTensors([['group1.param1.exp_avg', s]]), /group 1 has no parameter 1/);
  assert.throws(() => opt.loadStateTensors([['group2.param0.exp_avg', s]]), /no parameter group 2/);
  assert.throws(() => opt.loadStateTensors([['exp_avg', s]]), /state name 'exp_avg' is not of the form/);
  const ok = tensor([1, 2, 3]).keep();
  assert.throws(() => opt.loadStateTensors([['group0.param0.exp_avg', ok], ['group0.param0.exp_avg', ok]]), /'group0.param0.exp_avg' is given twice/);
  assert.throws(() => opt.loadStateTensors([['group0.param0.exp_avg', ok], ['group0.param0.exp_avg_sq', s]]), /is \[1\] f32/);
  assert.ok(!ok.disposed && !s.disposed && opt.stateTensors().length === 0, 'a refused load changes nothing and leaves the tensors to the caller');
  ok.dispose();
  assert.throws(() => opt.loadStateScalars({ step: 4, 'group0.lr': -1 }), /lr must be > 0 and finite, got -1 \(state 'group0.lr'\)/);
  assert.is(opt.stateScalars().step, 0, 'a refused scalar load changes nothing');
  assert.throws(() => opt.loadStateScalars({ 'group0.param0.step': 1.5 }), /'group0.param0.step' must be a non-negative integer, got 1.5/);
  assert.throws(() => opt.loadStateScalars({ foo: 1 }), /unknown state scalar 'foo'/);
  opt.dispose();
  for (const t of [p, q, frozen, s]) t.dispose();
});

test('defaults: Adam (1e-3, 0.9, 0.999, 1e-8), AdamW weight decay 0.01, RMSProp (1e-2, 0.99)', () => {
  const p = tensor([1]).requireGrad().keep();
  assert.equal(new Adam([p]).groups[0].options, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false });
  assert.equal(new AdamW([p]).groups[0].options, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: true });
  assert.equal(new RMSProp([p]).groups[0].options, { lr: 1e-2, rho: 0.99, eps: 1e-8, momentum: 0, weightDecay: 0 });
  assert.equal(new SGD([p], { lr: 0.5 }).groups[0].options, { lr: 0.5, momentum: 0, weightDecay: 0 });
  p.dispose();
});

// ---- memory -------------------------------------------------------------------------------

test('live bytes do not grow across steps after the first; dispose frees the state', async () => {
  await noLeak('steps', async () => {
    const f = fixture([[33, 7], [130]], 1, 900);
    f.params.forEach((p, i) => { p.grad = f.grads[0][i].t; });
    const makers: [string, () => Optimizer<{ lr?: number }>][] = [
      ['SGD', () => new SGD(f.params, { lr: 1e-3, momentum: 0.9, weightDecay: 1e-4 })],
      ['Adam', () => new Adam(f.params, { lr: 1e-3, weightDecay: 1e-4 })],
      ['AdamW', () => new AdamW(f.params, { lr: 1e-3 })],
      ['RMSProp', () => new RMSProp(f.params, { lr: 1e-4, rho: 0.995, momentum: 0.9 })],
    ];
    for (const [name, make] of makers) {
      await sync();
      const before = memoryStats().liveBytes;
      const opt = make();
      opt.step();
      await sync();
      const afterFirst = memoryStats().liveBytes;
      assert.ok(afterFirst > before, `${name}: the first step allocates state`);
      for (let s = 0; s < 20; s++) opt.step();
      await sync();
      assert.is(memoryStats().liveBytes, afterFirst, `${name}: live bytes after 21 steps`);
      opt.dispose();
      assert.is(memoryStats().liveBytes, before, `${name}: dispose frees the state`);
    }
    f.dispose();
  });
});

test.run();
