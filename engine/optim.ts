// Optimizers: one fused WGSL pass per parameter (kernels/optim.ts), no read-backs, parameter
// groups with per-group options, and named state for checkpoints. Semantics follow torch.optim.
import { copyBuffer, dispatch, f32 } from './dispatch.js';
import { Tensor, zeros, fmtShape } from './tensor.js';
import { adamKernel, rmspropKernel, sgdKernel, type DecayMode } from '../kernels/optim.js';
import { gridFor } from '../kernels/common.js';

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

  /** The names of the state tensors a group's options call for (e.g. exp_avg, exp_avg_sq). */
  protected abstract stateKeys(options: Required<O>): string[];

  /**
   * Records the update of one parameter. `state(key)` gives its state tensor (zeros on first
   * use); `t` counts the updates this parameter has received, this one included.
   */
  protected abstract update(p: Tensor, g: Tensor, options: Required<O>, state: (key: string) => Tensor, t: number): void;

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
      for (const p of params) {
        const g = p.grad;
        if (!g) continue;
        const st = this.stateOf(p);
        st.step++;
        this.update(p, g, options, (key) => this.stateTensor(p, st, key), st.step);
      }
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

  protected stateKeys(o: Required<SGDOptions>): string[] { return o.momentum ? ['momentum_buffer'] : []; }

  protected update(p: Tensor, g: Tensor, o: Required<SGDOptions>, state: (key: string) => Tensor): void {
    const bufs = [g.buffer, p.buffer];
    if (o.momentum) bufs.push(state('momentum_buffer').buffer);
    dispatch({ kernel: sgdKernel(o.momentum !== 0), buffers: bufs, params: [p.size, f32(o.lr), f32(o.weightDecay), f32(o.momentum)], workgroups: [gridFor(p.size)] });
  }
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

  protected stateKeys(): string[] { return ['exp_avg', 'exp_avg_sq']; }

  protected update(p: Tensor, g: Tensor, o: Required<AdamOptions>, state: (key: string) => Tensor, t: number): void {
    const mode: DecayMode = o.weightDecay === 0 ? 'none' : o.decoupled ? 'decoupled' : 'l2';
    const bc1 = 1 - o.beta1 ** t;
    const bc2 = 1 - o.beta2 ** t;
    dispatch({
      kernel: adamKernel(mode),
      buffers: [g.buffer, p.buffer, state('exp_avg').buffer, state('exp_avg_sq').buffer],
      params: [p.size, f32(o.beta1), f32(1 - o.beta1), f32(o.beta2), f32(1 - o.beta2), f32(o.eps), f32(o.weightDecay),
        f32(1 - o.lr * o.weightDecay), f32(o.lr / bc1), f32(1 / Math.sqrt(bc2))],
      workgroups: [gridFor(p.size)],
    });
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

  protected stateKeys(o: Required<RMSPropOptions>): string[] { return o.momentum ? ['square_avg', 'momentum_buffer'] : ['square_avg']; }

  protected update(p: Tensor, g: Tensor, o: Required<RMSPropOptions>, state: (key: string) => Tensor): void {
    const bufs = [g.buffer, p.buffer, state('square_avg').buffer];
    if (o.momentum) bufs.push(state('momentum_buffer').buffer);
    dispatch({
      kernel: rmspropKernel(o.momentum !== 0, o.weightDecay !== 0),
      buffers: bufs,
      params: [p.size, f32(o.lr), f32(o.rho), f32(1 - o.rho), f32(o.eps), f32(o.weightDecay), f32(o.momentum)],
      workgroups: [gridFor(p.size)],
    });
  }
}
