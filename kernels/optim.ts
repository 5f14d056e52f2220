// Optimizer updates: one fused pass over several parameters of a group at once — each parameter,
// its gradient and its state buffers bound side by side (up to the adapter's storage-buffer
// limit; engine/optim.ts picks how many per dispatch). Every hyperparameter (and Adam's
// per-parameter bias correction) arrives as a uniform, so the WGSL depends only on which terms
// exist and on how many parameters a dispatch holds: a handful of pipelines per run, none per step.
//
// Each parameter is walked as vec4s in a grid-stride loop (one vec4 per lane, docs/kernels.md §5) and
// its last n % 4 values by the first lanes, component by component: nothing beyond n is read or
// written (a pooled buffer's padding may hold anything).
import { WG, defineParams, kernel, readOnly, readWrite, type BindingDecl, type KernelSource, type ParamDecl, type ParamType } from './common.js';

/** How weight decay enters an update: not at all, added to the gradient, or decoupled (AdamW). */
export type DecayMode = 'none' | 'l2' | 'decoupled';

/** Which update, with which optional terms. */
export type OptimRule =
  | { kind: 'sgd'; momentum: boolean }
  | { kind: 'adam'; decay: DecayMode }
  | { kind: 'rmsprop'; momentum: boolean; decay: boolean };

/** Most parameters one dispatch takes (the uniform block holds their sizes and per-parameter scalars). */
export const MAX_PARAMS_PER_DISPATCH = 16;

/** State buffers per parameter, in binding order after (g, p), by torch name (bound as s<j>_<index>). */
export function ruleStateKeys(r: OptimRule): string[] {
  if (r.kind === 'sgd') return r.momentum ? ['momentum_buffer'] : [];
  if (r.kind === 'adam') return ['exp_avg', 'exp_avg_sq'];
  return r.momentum ? ['square_avg', 'momentum_buffer'] : ['square_avg'];
}

/** Storage buffers one parameter binds: its gradient, itself and its state. */
export const bindingsPerParam = (r: OptimRule): number => 2 + ruleStateKeys(r).length;

/** Hyperparameters shared by the group (one value per dispatch). */
const SHARED: Record<OptimRule['kind'], string[]> = {
  sgd: ['lr', 'wd', 'mu'],
  adam: ['b1', 'omb1', 'b2', 'omb2', 'eps', 'wd', 'decay'],
  rmsprop: ['lr', 'rho', 'omrho', 'eps', 'wd', 'mu'],
};
/** Per-parameter scalars besides the size: Adam's bias corrections (each parameter counts its own updates). */
const PER_PARAM: Record<OptimRule['kind'], string[]> = { sgd: [], adam: ['stepSize', 'invSqrtBc2'], rmsprop: [] };

/**
 * The update of one element (f32) or one vec4 of elements, with `G`, `W` (the parameter) and
 * the state accessors `S0`, `S1` substituted by the caller. `j` names the parameter's scalars.
 *   SGD (torch): d = g + wd·p; with momentum v = μ·v + d, d = v; p -= lr·d.
 *   Adam: l2 g' = g + wd·p; decoupled p = p·(1 − lr·wd) first (torch.optim.AdamW);
 *     m = β1·m + (1−β1)·g'; v = β2·v + (1−β2)·g'²; p -= stepSize·m / (√v·invSqrtBc2 + ε),
 *     stepSize = lr / (1 − β1ᵗ), invSqrtBc2 = 1 / √(1 − β2ᵗ).
 *   RMSProp (torch, uncentred): g' = g + wd·p; v = ρ·v + (1−ρ)·g'²; d = g'/(√v + ε);
 *     without momentum p -= lr·d, with momentum b = μ·b + d, p -= lr·b.
 */
function updateBody(r: OptimRule, j: number, acc: { G: string; W: string; S: string[] }): string {
  const { G, W, S } = acc;
  if (r.kind === 'sgd') {
    return `{
      var d = ${G} + wd * ${W};
      ${r.momentum ? `d = mu * ${S[0]} + d;\n      ${S[0]} = d;` : ''}
      ${W} = ${W} - lr * d;
    }`;
  }
  if (r.kind === 'adam') {
    return `{
      var pi = ${W};
      var gi = ${G};
      ${r.decay === 'l2' ? 'gi = gi + wd * pi;' : ''}
      ${r.decay === 'decoupled' ? 'pi = pi * decay;' : ''}
      let mi = b1 * ${S[0]} + omb1 * gi;
      let vi = b2 * ${S[1]} + omb2 * gi * gi;
      ${S[0]} = mi;
      ${S[1]} = vi;
      ${W} = pi - stepSize${j} * mi / (sqrt(vi) * invSqrtBc2${j} + eps);
    }`;
  }
  return `{
      let pi = ${W};
      var gi = ${G};
      ${r.decay ? 'gi = gi + wd * pi;' : ''}
      let vi = rho * ${S[0]} + omrho * gi * gi;
      ${S[0]} = vi;
      let d = gi / (sqrt(vi) + eps);
      ${r.momentum ? `let bi = mu * ${S[1]} + d;\n      ${S[1]} = bi;\n      ${W} = pi - lr * bi;` : `${W} = pi - lr * d;`}
    }`;
}

/** Uniform names: the shared hyperparameters, then per parameter j: n<j> and its scalars. */
function paramsDecl(r: OptimRule, count: number): ParamDecl {
  const d: Record<string, ParamType> = {};
  for (const k of SHARED[r.kind]) d[k] = 'f32';
  for (let j = 0; j < count; j++) {
    d[`n${j}`] = 'u32';
    for (const k of PER_PARAM[r.kind]) d[`${k}${j}`] = 'f32';
  }
  return d;
}

/** The storage binding names of parameter j: its gradient, itself, then its state (ruleStateKeys order). */
export function optimBindingNames(r: OptimRule, j: number): string[] {
  return [`g${j}`, `p${j}`, ...ruleStateKeys(r).map((_, s) => `s${j}_${s}`)];
}

/**
 * The update of `count` parameters in one dispatch. Bindings per parameter j, in order:
 * g<j> (read), p<j>, then its state s<j>_0, … (optimBindingNames). Uniforms: see paramsDecl.
 */
export function optimKernel(r: OptimRule, count: number): KernelSource {
  if (!Number.isInteger(count) || count < 1 || count > MAX_PARAMS_PER_DISPATCH) {
    throw new Error(`optimKernel: parameters per dispatch must be an integer in [1, ${MAX_PARAMS_PER_DISPATCH}], got ${count}`);
  }
  return kernel('optim', { rule: r, count }, ({ rule: r, count }) => {
    const params = defineParams(paramsDecl(r, count));
    const nState = ruleStateKeys(r).length;
    const bindings: Record<string, BindingDecl> = {};
    const blocks: string[] = [];
    for (let j = 0; j < count; j++) {
      optimBindingNames(r, j).forEach((n, i) => { bindings[n] = i === 0 ? readOnly('vec4<f32>') : readWrite('vec4<f32>'); });
      const state = (at: string): string[] => Array.from({ length: nState }, (_, s) => `s${j}_${s}${at}`);
      const perScalars = PER_PARAM[r.kind].map((k) => `  let ${k}${j} = P.${k}${j};`).join('\n');
      blocks.push(`
  { // parameter ${j}
${perScalars}
    let n = P.n${j};
    let nq = n / 4u;
    for (var i = t; i < nq; i = i + stride) ${updateBody(r, j, { G: `g${j}[i]`, W: `p${j}[i]`, S: state('[i]') })}
    if (t < n - nq * 4u) {
      let i = nq;
      let c = t;
      ${updateBody(r, j, { G: `g${j}[i][c]`, W: `p${j}[i][c]`, S: state('[i][c]') })}
    }
  }`);
    }
    const shared = SHARED[r.kind].map((k) => `  let ${k} = P.${k};`).join('\n');
    const body = `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = gid.x;
  let stride = nwg.x * ${WG}u;
  // uniform reads are slow on lavapipe (docs/kernels.md §2): every value once, into a local
${shared}
${blocks.join('\n')}
}`;
    return { params, bindings, body };
  });
}
