// Optimizers: fused WGSL passes that update many parameters of a group per dispatch
// (kernels/optim.ts), no read-backs, parameter groups with per-group options, and named state for
// checkpoints. Semantics follow torch.optim.
//
// Why several parameters are bound side by side rather than kept in one arena buffer per group:
// a Tensor owns a whole pooled buffer from offset 0 and every kernel binds `t.buffer` whole, and
// gradients are written by whichever kernel produced them into buffers of their own; an arena
// would need offset-aware bindings in every op (and copies of the gradients in), while binding
// parameters, gradients and state as they are needs nothing elsewhere and keeps the state tensors
// (checkpoints) as they were. The adapter's maxStorageBuffersPerShaderStage bounds how many fit
// (lavapipe: 16, so 4 Adam parameters of 4 buffers each, 8 plain-SGD ones); a group of 70 Adam
// parameters (VGG19 + BN) takes 18 dispatches instead of 70.
import { copyBuffer, dispatch } from './dispatch.js';
import { gpu } from './device.js';
import { Tensor, zeros, fmtShape } from './tensor.js';
import { optimKernel, optimBindingNames, bindingsPerParam, ruleStateKeys, MAX_PARAMS_PER_DISPATCH, type DecayMode, type OptimRule } from '../kernels/optim.js';
import { gridFor, WG } from '../kernels/common.js';

type OptionValue = number | boolean;

/** A parameter group: its tensors plus any options that override the optimizer's defaults. */
export type ParamGroup<O> = { params: Tensor[] } & Partial<O>;

/** How one option is defaulted and validated. */
interface OptionSpec {
  def?: OptionValue;
  valid: (v: unknown) => boolean;
  want: string;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const positive: OptionSpec = { valid: (v) => isNum(v) && v > 0, want: '> 0 and finite' };
const nonNeg = (def: number): OptionSpec => ({ def, valid: (v) => isNum(v) && v >= 0, want: '>= 0 and finite' });
const unit = (def: number): OptionSpec => ({ def, valid: (v) => isNum(v) && v >= 0 && v < 1, want: 'in [0, 1)' });
const flag = (def: boolean): OptionSpec => ({ def, valid: (v) => typeof v === 'boolean', want: 'a boolean' });

/** A group after defaults were applied: every option has a value. */
export interface ResolvedGroup<O> { params: Tensor[]; options: Required<O> }

interface ParamState { tensors: Map<string, Tensor>; step: number }

const STATE_NAME = /^group(\d+)\.param(\d+)\.([A-Za-z_][A-Za-z0-9_]*)$/;
const GROUP_LR = /^group(\d+)\.lr$/;

/**
 * The common part of every optimizer: parameter groups, lazily created state tensors (kept, so
 * scopes never free them), step counters on the CPU, and the named state a checkpoint saves.
 */
export abstract class Optimizer<O extends { lr?: number }> {
  readonly groups: ResolvedGroup<O>[] = [];
  /** Every parameter, in group order. */
  readonly params: Tensor[] = [];
  private readonly state = new Map<Tensor, ParamState>();
  private steps = 0;
  private readonly kind: string;

  protected constructor(params: Tensor[] | ParamGroup<O>[], defaults: Partial<O> | undefined, private readonly spec: Record<string, OptionSpec>) {
    this.kind = new.target.name;
    defaults ??= {};
    if (typeof defaults !== 'object') throw new Error(`${this.kind}: options must be an object, got ${String(defaults)}`);
    this.checkKeys(defaults as Record<string, unknown>, 'options');
    for (const [k, v] of Object.entries(defaults)) if (v !== undefined) this.checkValue(k, v, '');
    if (!Array.isArray(params)) throw new Error(`${this.kind}: params must be an array of tensors or of parameter groups, got ${String(params)}`);
    if (params.length === 0) throw new Error(`${this.kind}: got an empty parameter list`);
    const asGroups = !params.every((p) => p instanceof Tensor);
    if (asGroups && params.some((p) => p instanceof Tensor)) throw new Error(`${this.kind}: params mixes tensors and parameter groups`);
    const groups = (asGroups ? params : [{ params }]) as ParamGroup<O>[];
    const seen = new Map<Tensor, number>();
    groups.forEach((g, gi) => {
      const where = asGroups ? ` in group ${gi}` : '';
      if (typeof g !== 'object' || g === null || !Array.isArray(g.params)) {
        throw new Error(`${this.kind}: group ${gi} must be an object { params: Tensor[], ...options }`);
      }
      this.checkKeys(g as Record<string, unknown>, `group ${gi}`, ['params']);
      const options: Record<string, OptionValue> = {};
      for (const [k, s] of Object.entries(this.spec)) {
        const v = (g as Record<string, unknown>)[k] ?? (defaults as Record<string, unknown>)[k] ?? s.def;
        if (v === undefined) throw new Error(`${this.kind}: ${k} is required (no default)${where}`);
        this.checkValue(k, v, where);
        options[k] = v as OptionValue;
      }
      g.params.forEach((p, pi) => {
        const what = `parameter ${pi}${where}`;
        if (!(p instanceof Tensor)) throw new Error(`${this.kind}: ${what} is not a Tensor (got ${String(p)})`);
        if (p.disposed) throw new Error(`${this.kind}: ${what} (${p}) is already disposed`);
        if (!p.requiresGrad) throw new Error(`${this.kind}: ${what} (${p}) does not require grad; call .requireGrad() on it`);
        if (p.dtype !== 'f32') throw new Error(`${this.kind}: ${what} (${p}) must be f32, got ${p.dtype}`);
        const prev = seen.get(p);
        if (prev !== undefined) {
          throw new Error(prev === gi
            ? `${this.kind}: ${p} appears twice${where}`
            : `${this.kind}: ${p} appears in two parameter groups (${prev} and ${gi})`);
        }
        seen.set(p, gi);
        this.params.push(p);
      });
      this.groups.push({ params: g.params.slice(), options: options as Required<O> });
    });
  }

  private checkKeys(o: Record<string, unknown>, what: string, extra: string[] = []): void {
    for (const k of Object.keys(o)) {
      if (!(k in this.spec) && !extra.includes(k)) {
        throw new Error(`${this.kind}: unknown option '${k}' in ${what} (known: ${Object.keys(this.spec).join(', ')})`);
      }
    }
  }

  private checkValue(k: string, v: unknown, where: string): void {
    const s = this.spec[k];
    if (!s.valid(v)) throw new Error(`${this.kind}: ${k} must be ${s.want}, got ${String(v)}${where}`);
  }

  /** The update a group's options call for (which terms exist). */
  protected abstract rule(options: Required<O>): OptimRule;

  /** The group's hyperparameters as the kernel's shared uniforms. */
  protected abstract shared(options: Required<O>): Record<string, number>;

  /** Per-parameter uniforms (besides the size); `t` counts this parameter's updates, this one included. */
  protected perParam(_options: Required<O>, _t: number): Record<string, number> { return {}; }

  /** The names of the state tensors a group's options call for (e.g. exp_avg, exp_avg_sq). */
  protected stateKeys(options: Required<O>): string[] { return ruleStateKeys(this.rule(options)); }

  /** Parameters per dispatch for a rule: as many as the adapter's storage-buffer limit allows. */
  private perDispatch(rule: OptimRule): number {
    const limit = gpu().limits.maxStorageBuffersPerShaderStage;
    const k = Math.min(MAX_PARAMS_PER_DISPATCH, Math.floor(limit / bindingsPerParam(rule)));
    if (k < 1) throw new Error(`${this.kind}: the adapter allows ${limit} storage buffers per shader stage; one parameter's update needs ${bindingsPerParam(rule)}`);
    return k;
  }

  /** Records the updates of a group's parameters that have gradients, several per dispatch. */
  private updateGroup(items: { p: Tensor; g: Tensor; t: number; st: ParamState }[], options: Required<O>): void {
    if (!items.length) return;
    const rule = this.rule(options);
    const keys = ruleStateKeys(rule);
    const shared = this.shared(options);
    const k = this.perDispatch(rule);
    for (let at = 0; at < items.length; at += k) {
      const chunk = items.slice(at, at + k);
      const values: Record<string, number> = { ...shared };
      const bindings: Record<string, GPUBuffer> = {};
      let quads = 0;
      chunk.forEach(({ p, g, t, st }, j) => {
        values[`n${j}`] = p.size;
        for (const [name, v] of Object.entries(this.perParam(options, t))) values[`${name}${j}`] = v;
        const names = optimBindingNames(rule, j);
        [g.buffer, p.buffer, ...keys.map((key) => this.stateTensor(p, st, key).buffer)].forEach((b, i) => { bindings[names[i]] = b; });
        quads = Math.max(quads, Math.ceil(p.size / 4));
      });
      dispatch({ kernel: optimKernel(rule, chunk.length), bindings, params: values, workgroups: [gridFor(quads, WG)] });
    }
  }

  /** Applies one update to every parameter that has a gradient. Records GPU work only; checks every gradient first. */
  step(): void {
    this.groups.forEach(({ params }, gi) => params.forEach((p, pi) => {
      const g = p.grad;
      if (g && (g.size !== p.size || g.dtype !== 'f32')) {
        throw new Error(`${this.kind}: gradient ${fmtShape(g.shape)} ${g.dtype} does not match parameter ${pi} of group ${gi} (${p})`);
      }
    }));
    this.steps++;
    for (const { params, options } of this.groups) {
      const items: { p: Tensor; g: Tensor; t: number; st: ParamState }[] = [];
      for (const p of params) {
        const g = p.grad;
        if (!g) continue;
        const st = this.stateOf(p);
        st.step++;
        items.push({ p, g, t: st.step, st });
      }
      this.updateGroup(items, options);
    }
  }

  /** Drops (and frees) every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.params) { p.grad?.dispose(); p.grad = null; }
  }

  /** Frees every state tensor and resets the step counters (a later step starts afresh). */
  dispose(): void {
    for (const st of this.state.values()) for (const t of st.tensors.values()) t.dispose();
    this.state.clear();
    this.steps = 0;
  }

  /** Sets the learning rate of one group, or of every group when `group` is omitted. */
  setLr(lr: number, group?: number): void {
    this.checkValue('lr', lr, group === undefined ? '' : ` in group ${group}`);
    if (group === undefined) for (const g of this.groups) g.options.lr = lr;
    else this.group(group).options.lr = lr;
  }

  /** The learning rate of a group. */
  getLr(group = 0): number { return this.group(group).options.lr as number; }

  /** How many times step() was called. */
  get stepCount(): number { return this.steps; }

  private group(i: number): ResolvedGroup<O> {
    const g = this.groups[i];
    if (!Number.isInteger(i) || !g) throw new Error(`${this.kind}: no parameter group ${i} (there are ${this.groups.length})`);
    return g;
  }

  private stateOf(p: Tensor): ParamState {
    let st = this.state.get(p);
    if (!st) this.state.set(p, (st = { tensors: new Map(), step: 0 }));
    return st;
  }

  private stateTensor(p: Tensor, st: ParamState, key: string): Tensor {
    let t = st.tensors.get(key);
    if (!t) {
      t = zeros(p.shape).keep();
      t.name = `${this.kind}.${key}`;
      st.tensors.set(key, t);
    }
    return t;
  }

  /**
   * The state tensors, named `group<g>.param<i>.<key>` (e.g. `group0.param3.exp_avg`). They are
   * the optimizer's own (not copies): read them, do not dispose them.
   */
  stateTensors(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    this.groups.forEach(({ params, options }, gi) => {
      params.forEach((p, pi) => {
        const st = this.state.get(p);
        if (!st) return;
        for (const key of this.stateKeys(options)) {
          const t = st.tensors.get(key);
          if (t) out.push([`group${gi}.param${pi}.${key}`, t]);
        }
      });
    });
    return out;
  }

  /**
   * Loads saved state (names as stateTensors() gives them; shapes must match the parameters).
   * Takes ownership: on success every given tensor has been copied (on the GPU) and disposed.
   * Checks every entry first: when it throws, nothing was loaded and the tensors are the caller's.
   */
  loadStateTensors(entries: Iterable<[string, Tensor]>): void {
    const plan: [Tensor, string, Tensor][] = [];
    const names = new Set<string>();
    for (const [name, src] of entries) {
      const m = STATE_NAME.exec(name);
      if (!m) throw new Error(`${this.kind}: state name '${name}' is not of the form group<g>.param<i>.<key>`);
      if (names.has(name)) throw new Error(`${this.kind}: state '${name}' is given twice`);
      names.add(name);
      const [gi, pi, key] = [Number(m[1]), Number(m[2]), m[3]];
      const { params, options } = this.group(gi);
      const p = params[pi];
      if (!p) throw new Error(`${this.kind}: state '${name}': group ${gi} has no parameter ${pi} (it has ${params.length})`);
      const keys = this.stateKeys(options);
      if (!keys.includes(key)) throw new Error(`${this.kind}: state '${name}': unknown key '${key}' for group ${gi} (expected ${keys.join(', ') || 'no state'})`);
      if (!(src instanceof Tensor)) throw new Error(`${this.kind}: state '${name}' is not a Tensor`);
      if (src.disposed) throw new Error(`${this.kind}: state '${name}' (${src}) is already disposed`);
      if (src.dtype !== 'f32' || src.shape.length !== p.shape.length || src.shape.some((d, i) => d !== p.shape[i])) {
        throw new Error(`${this.kind}: state '${name}' is ${fmtShape(src.shape)} ${src.dtype}, parameter is ${fmtShape(p.shape)} f32`);
      }
      plan.push([p, key, src]);
    }
    for (const [p, key, src] of plan) {
      const dst = this.stateTensor(p, this.stateOf(p), key);
      if (dst !== src) {
        copyBuffer(src.buffer, 0, dst.buffer, 0, p.size * 4);
        src.dispose();
      }
    }
  }

  /**
   * The CPU-side state: `step` (calls to step()), `group<g>.lr`, and `group<g>.param<i>.step`
   * (updates that parameter received: Adam's bias correction uses it).
   */
  stateScalars(): Record<string, number> {
    const out: Record<string, number> = { step: this.steps };
    this.groups.forEach(({ params, options }, gi) => {
      out[`group${gi}.lr`] = options.lr as number;
      params.forEach((p, pi) => {
        const st = this.state.get(p);
        if (st && st.step > 0) out[`group${gi}.param${pi}.step`] = st.step;
      });
    });
    return out;
  }

  /** Restores stateScalars() output. Checks every entry first: when it throws, nothing changed. */
  loadStateScalars(scalars: Record<string, number>): void {
    const count = (name: string, v: unknown): number => {
      if (!Number.isInteger(v) || (v as number) < 0) throw new Error(`${this.kind}: state '${name}' must be a non-negative integer, got ${String(v)}`);
      return v as number;
    };
    const apply: (() => void)[] = [];
    for (const [name, v] of Object.entries(scalars)) {
      if (name === 'step') { const n = count(name, v); apply.push(() => { this.steps = n; }); continue; }
      const lr = GROUP_LR.exec(name);
      if (lr) {
        const g = this.group(Number(lr[1]));
        this.checkValue('lr', v, ` (state '${name}')`);
        apply.push(() => { g.options.lr = v; });
        continue;
      }
      const m = STATE_NAME.exec(name);
      if (!m || m[3] !== 'step') throw new Error(`${this.kind}: unknown state scalar '${name}'`);
      const [gi, pi] = [Number(m[1]), Number(m[2])];
      const p = this.group(gi).params[pi];
      if (!p) throw new Error(`${this.kind}: state '${name}': group ${gi} has no parameter ${pi}`);
      const n = count(name, v);
      apply.push(() => { this.stateOf(p).step = n; });
    }
    for (const f of apply) f();
  }
}

// ---- SGD ----------------------------------------------------------------------------------

export interface SGDOptions { lr: number; momentum?: number; weightDecay?: number }
export type SGDGroup = ParamGroup<SGDOptions>;

const SGD_SPEC = { lr: positive, momentum: nonNeg(0), weightDecay: nonNeg(0) };

/** SGD with optional momentum and L2 weight decay (torch.optim.SGD, no dampening/Nesterov). */
export class SGD extends Optimizer<SGDOptions> {
  constructor(params: Tensor[], opts: SGDOptions);
  constructor(groups: SGDGroup[], opts?: Partial<SGDOptions>);
  constructor(params: Tensor[] | SGDGroup[], opts?: Partial<SGDOptions>) {
    super(params, opts, SGD_SPEC);
  }

  protected rule(o: Required<SGDOptions>): OptimRule { return { kind: 'sgd', momentum: o.momentum !== 0 }; }

  protected shared(o: Required<SGDOptions>): Record<string, number> { return { lr: o.lr, wd: o.weightDecay, mu: o.momentum }; }
}

// ---- Adam / AdamW -------------------------------------------------------------------------

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Decoupled weight decay (AdamW): p ← p·(1 − lr·wd) instead of adding wd·p to the gradient. */
  decoupled?: boolean;
}
export type AdamGroup = ParamGroup<AdamOptions>;

const ADAM_SPEC = { lr: { ...positive, def: 1e-3 }, beta1: unit(0.9), beta2: unit(0.999), eps: nonNeg(1e-8), weightDecay: nonNeg(0), decoupled: flag(false) };

/** Adam (torch.optim.Adam; `decoupled: true` gives AdamW). Bias correction is per parameter. */
export class Adam extends Optimizer<AdamOptions> {
  constructor(params: Tensor[] | AdamGroup[], opts: AdamOptions = {}) {
    super(params, opts, ADAM_SPEC);
  }

  protected rule(o: Required<AdamOptions>): OptimRule {
    const decay: DecayMode = o.weightDecay === 0 ? 'none' : o.decoupled ? 'decoupled' : 'l2';
    return { kind: 'adam', decay };
  }

  protected shared(o: Required<AdamOptions>): Record<string, number> {
    return { b1: o.beta1, omb1: 1 - o.beta1, b2: o.beta2, omb2: 1 - o.beta2, eps: o.eps, wd: o.weightDecay, decay: 1 - o.lr * o.weightDecay };
  }

  // bias correction folded into two per-parameter scalars (each parameter counts its own updates)
  protected override perParam(o: Required<AdamOptions>, t: number): Record<string, number> {
    return { stepSize: o.lr / (1 - o.beta1 ** t), invSqrtBc2: 1 / Math.sqrt(1 - o.beta2 ** t) };
  }
}

/** AdamW: Adam with decoupled weight decay, default weightDecay 0.01 (torch.optim.AdamW). */
export class AdamW extends Adam {
  constructor(params: Tensor[] | AdamGroup[], opts: AdamOptions = {}) {
    super(params, { weightDecay: 0.01, ...opts, decoupled: true });
  }
}

// ---- RMSProp ------------------------------------------------------------------------------

export interface RMSPropOptions {
  lr?: number;
  /** Smoothing constant of the squared-gradient average (torch's `alpha`). */
  rho?: number;
  eps?: number;
  momentum?: number;
  weightDecay?: number;
}
export type RMSPropGroup = ParamGroup<RMSPropOptions>;

const RMSPROP_SPEC = { lr: { ...positive, def: 1e-2 }, rho: unit(0.99), eps: nonNeg(1e-8), momentum: nonNeg(0), weightDecay: nonNeg(0) };

/** RMSProp (torch.optim.RMSprop, uncentred): v = ρv + (1−ρ)g², p −= lr·g/(√v + ε), optional momentum. */
export class RMSProp extends Optimizer<RMSPropOptions> {
  constructor(params: Tensor[] | RMSPropGroup[], opts: RMSPropOptions = {}) {
    super(params, opts, RMSPROP_SPEC);
  }

  protected rule(o: Required<RMSPropOptions>): OptimRule { return { kind: 'rmsprop', momentum: o.momentum !== 0, decay: o.weightDecay !== 0 }; }

  protected shared(o: Required<RMSPropOptions>): Record<string, number> {
    return { lr: o.lr, rho: o.rho, omrho: 1 - o.rho, eps: o.eps, wd: o.weightDecay, mu: o.momentum };
  }
}
