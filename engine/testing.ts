/**
 * lbd-gpu/testing: the checks the engine's own tests run, for a user's functions and ops.
 *
 * - checkGradients(fn, inputs): the backward of any function built from the engine's ops
 *   against central finite differences — of a float64 reference when one is given (the
 *   registry's check), else of the function itself evaluated on the GPU (float32: looser).
 * - checkOp(def): an op declared with defineOp (a user's custom op too) on its declared cases:
 *   forward against its float64 reference, backward against finite differences of it.
 *
 * A separate entry point so that mathjs — the outside float64 linear algebra references use
 * (Float64Lib) — loads with the checker and never with a model.
 *
 * @module lbd-gpu/testing
 */
import * as math from 'mathjs';
import { apply, backward, registry, type Float64Lib, type InputSpec, type OpDef, type Ref, type TestCase } from './op.js';
import { tensor, numel, type Tensor } from './tensor.js';
import { scope } from './memory.js';
import { noGrad } from './tape.js';
import { mulberry32 } from './random.js';

/** mathjs's float64 multiply and transpose, as the references take them. */
export const float64: Float64Lib = {
  multiply: (a, b) => math.multiply(a, b) as number[][],
  transpose: (a) => math.transpose(a) as number[][],
};

/** An op's float64 reference on host arrays. */
export function referenceOf(def: OpDef, inputs: Ref[], attrs: Record<string, unknown> = {}): Ref {
  return def.reference(inputs, attrs, float64);
}

/** A random input following its spec, as a float64 reference (f32-rounded) and a GPU tensor. */
export function sampleInput(spec: InputSpec, r: () => number): { ref: Ref; t: Tensor } {
  const n = numel(spec.shape);
  const data = new Float64Array(n);
  const [lo, hi] = spec.range ?? [-2, 2];
  for (let i = 0; i < n; i++) {
    if (spec.ints !== undefined) { data[i] = Math.floor(r() * spec.ints); continue; }
    let v = lo + (hi - lo) * r();
    const away = spec.awayFromZero ?? 0;
    if (away && Math.abs(v) < away) v = v < 0 ? v - away : v + away;
    data[i] = Math.fround(v);
  }
  if (spec.distinct) for (let i = 0; i < n; i++) data[i] = Math.fround(data[i] + i * 1e-3);
  const dt = spec.dtype ?? 'f32';
  return { ref: { shape: spec.shape.slice(), data }, t: tensor(data, spec.shape, dt) };
}

/** The largest |got − want| / max(1, |want|), where, and whether NaNs disagree somewhere. */
export function worstError(got: ArrayLike<number>, want: ArrayLike<number>): { error: number; at: number } {
  if (got.length !== want.length) throw new Error(`worstError: ${got.length} values against ${want.length}`);
  let error = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    if (Number.isNaN(got[i]) !== Number.isNaN(want[i])) return { error: Infinity, at: i };
    const e = Number.isNaN(want[i]) ? 0 : Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(e <= error)) { error = e; at = i; }
  }
  return { error, at };
}

/**
 * ∂(Σ R ⊙ f(x))/∂x_k by central differences of a float64 function: step h = rel·max(1, |x_i|)
 * (default rel 1e-6, right for float64).
 */
export function numericGradient(f: (inputs: Ref[]) => Ref, inputs: Ref[], k: number, R: ArrayLike<number>, rel = 1e-6): Float64Array {
  const x = inputs[k];
  const g = new Float64Array(x.data.length);
  const L = (): number => f(inputs).data.reduce((s, v, i) => s + v * R[i], 0);
  for (let i = 0; i < x.data.length; i++) {
    const v = x.data[i];
    const h = rel * Math.max(1, Math.abs(v));
    x.data[i] = v + h; const up = L();
    x.data[i] = v - h; const dn = L();
    x.data[i] = v;
    g[i] = (up - dn) / (2 * h);
  }
  return g;
}

export interface GradCheckOptions {
  /**
   * The function in float64 on host arrays (inputs in the same order): finite differences are
   * taken of it, as the op registry does. Without it they are taken of `fn` itself on the GPU,
   * in float32, with a larger step and tolerance.
   */
  reference?: (inputs: Ref[]) => Ref;
  /** Relative finite-difference step (default 1e-6 with a reference, 1e-2 without). */
  step?: number;
  /** Largest accepted |analytic − numeric| / max(1, |numeric|) (default 2e-3 with a reference, 2e-2 without). */
  tolerance?: number;
  /** Inputs to differentiate (default: every f32 input). */
  wrt?: readonly number[];
  /** Seed of the random output weights R (the check differentiates Σ R ⊙ fn(x)). */
  seed?: number;
  /** Throw an Error describing the worst mismatch (default true); false: only report it. */
  throwOnFailure?: boolean;
}

export interface GradCheckResult {
  ok: boolean;
  /** Per checked input: the worst error, where, and the two values there. */
  inputs: { index: number; error: number; at: number; analytic: number; numeric: number }[];
  /** One line per input. */
  summary: string;
}

/**
 * Checks the gradients of `fn` at `inputs` (their values are read; the tensors are not changed):
 * the engine's backward of Σ R ⊙ fn(x) for fixed random R against central finite differences.
 * Like torch.autograd.gradcheck, it throws on a mismatch unless `throwOnFailure` is false.
 * Without a `reference`, fn must be deterministic (seed its dropout generators).
 */
export async function checkGradients(fn: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], o: GradCheckOptions = {}): Promise<GradCheckResult> {
  const rel = o.step ?? (o.reference ? 1e-6 : 1e-2);
  const tol = o.tolerance ?? (o.reference ? 2e-3 : 2e-2);
  const wrt = o.wrt ?? inputs.flatMap((t, k) => (t.dtype === 'f32' ? [k] : []));
  for (const k of wrt) if (!(k >= 0 && k < inputs.length) || inputs[k].dtype !== 'f32') throw new Error(`checkGradients: wrt ${k} is not an f32 input (there are ${inputs.length} inputs)`);
  const host = await Promise.all(inputs.map(async (t) => ({ shape: t.shape.slice(), data: Float64Array.from(await t.data()), dtype: t.dtype })));
  const r = mulberry32(o.seed ?? 1);
  const results: GradCheckResult['inputs'] = [];
  await scope(async () => {
    const leaves = host.map((h, k) => { const t = tensor(h.data, h.shape, h.dtype); if (wrt.includes(k)) t.requireGrad(); return t; });
    const out = fn(...leaves);
    if (!out.requiresGrad) throw new Error('checkGradients: the output does not depend on any checked input (made under noGrad?)');
    const R = new Float64Array(out.size).map(() => Math.fround(r() * 2 - 1));
    backward(out, tensor(R, out.shape));
    // numeric: of the reference in float64, or of fn on the GPU (each evaluation read back)
    const refs: Ref[] = host.map((h) => ({ shape: h.shape, data: Float64Array.from(h.data) }));
    const gpuF = async (xs: Ref[]): Promise<number> => scope(async () => {
      const y = await noGrad(() => fn(...xs.map((x, k) => tensor(x.data, x.shape, host[k].dtype)))).data();
      let s = 0;
      for (let i = 0; i < y.length; i++) s += y[i] * R[i];
      return s;
    });
    for (const k of wrt) {
      let numeric: Float64Array;
      if (o.reference) numeric = numericGradient(o.reference, refs, k, R, rel);
      else {
        numeric = new Float64Array(refs[k].data.length);
        for (let i = 0; i < numeric.length; i++) {
          const v = refs[k].data[i], h = rel * Math.max(1, Math.abs(v));
          refs[k].data[i] = v + h; const up = await gpuF(refs);
          refs[k].data[i] = v - h; const dn = await gpuF(refs);
          refs[k].data[i] = v;
          // the step actually taken in float32
          numeric[i] = (up - dn) / (Math.fround(v + h) - Math.fround(v - h));
        }
      }
      const g = leaves[k].grad;
      const analytic = g ? await g.data() : new Float32Array(numeric.length);
      const w = worstError(analytic, numeric);
      results.push({ index: k, error: w.error, at: w.at, analytic: analytic[w.at] ?? NaN, numeric: numeric[w.at] ?? NaN });
    }
    for (const t of leaves) { t.grad?.dispose(); t.grad = null; }
  });
  const ok = results.every((x) => x.error <= tol);
  const summary = results.map((x) => `input ${x.index}: worst error ${x.error.toExponential(2)} (tolerance ${tol})${x.at >= 0 ? ` at ${x.at}: analytic ${x.analytic}, numeric ${x.numeric}` : ''}`).join('\n');
  if (!ok && (o.throwOnFailure ?? true)) throw new Error(`checkGradients: gradient mismatch\n${summary}`);
  return { ok, inputs: results, summary };
}

export interface OpCheckOptions {
  /** Cases to check instead of the op's own. */
  cases?: readonly TestCase[];
  seed?: number;
  throwOnFailure?: boolean;
}

export interface OpCheckResult { ok: boolean; failures: string[]; checked: number }

const caseName = (def: OpDef, c: TestCase): string =>
  `${def.name}(${c.inputs.map((i) => `[${i.shape.join('x')}]`).join(', ')}${c.attrs ? ` ${JSON.stringify(c.attrs)}` : ''})`;

/**
 * An op (by definition or registered name) on each case: forward against its float64 reference
 * (tolerance `tol`, default 1e-4, relative to max(1, |value|)), and — when it has a backward —
 * every differentiable input's gradient of Σ R ⊙ op(x) against central differences of the
 * reference (`gradTol`, default 2e-3). Throws listing every failure unless `throwOnFailure` is false.
 */
export async function checkOp(op: OpDef | string, o: OpCheckOptions = {}): Promise<OpCheckResult> {
  const def = typeof op === 'string' ? registry.get(op) : op;
  if (!def) throw new Error(`checkOp: no op named '${String(op)}' is registered`);
  const r = mulberry32(o.seed ?? 1);
  const failures: string[] = [];
  const cases = o.cases ?? def.cases;
  for (const c of cases) {
    const name = caseName(def, c), attrs = c.attrs ?? {};
    await scope(async () => {
      const ins = c.inputs.map((s) => sampleInput(s, r));
      const want = referenceOf(def, ins.map((i) => i.ref), attrs);
      const out = noGrad(() => apply(def, ins.map((i) => i.t), attrs));
      if (out.shape.join() !== want.shape.join()) { failures.push(`${name}: shape [${out.shape}] against the reference's [${want.shape}]`); return; }
      const f = worstError(await out.data(), want.data);
      if (f.error > (c.tol ?? 1e-4)) failures.push(`${name}: forward error ${f.error.toExponential(2)} > ${c.tol ?? 1e-4} at ${f.at}`);
      if (!def.backward) return;
      ins.forEach((inp, k) => { if (c.inputs[k].grad !== false) inp.t.requireGrad(); });
      const y = apply(def, ins.map((i) => i.t), attrs);
      const R = new Float64Array(y.size).map(() => Math.fround(r() * 2 - 1));
      backward(y, tensor(R, y.shape));
      for (let k = 0; k < ins.length; k++) {
        if (c.inputs[k].grad === false) continue;
        const g = ins[k].t.grad;
        if (!g) { failures.push(`${name}: input ${k} got no gradient`); continue; }
        const num = numericGradient((xs) => referenceOf(def, xs, attrs), ins.map((i) => i.ref), k, R);
        const e = worstError(await g.data(), num);
        if (e.error > (c.gradTol ?? 2e-3)) failures.push(`${name}: d/dx${k} error ${e.error.toExponential(2)} > ${c.gradTol ?? 2e-3} at ${e.at}`);
        g.dispose();
        ins[k].t.grad = null;
      }
    });
  }
  if (failures.length && (o.throwOnFailure ?? true)) throw new Error(`checkOp(${def.name}): ${failures.length} failure(s)\n${failures.join('\n')}`);
  return { ok: failures.length === 0, failures, checked: cases.length };
}
