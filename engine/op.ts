// One op, one declaration: forward (dispatches kernels), backward (written with other ops),
// a float64 reference (plain loops, or the linear algebra of `f64` — mathjs, handed in by the
// checker in engine/testing.ts so that it never reaches a model's bundle), and the test cases
// the registry-walking tests and checkOp use.
import { Tensor, fmtShape, type DType } from './tensor.js';
import { isGradEnabled, noGrad, topoOrder, type Node } from './tape.js';

/** A float64 array with a shape: what references take and return. */
export interface Ref {
  shape: number[];
  data: Float64Array;
}

export interface InputSpec {
  shape: number[];
  dtype?: DType;
  /** Sampling range for f32 inputs (default [-2, 2]). */
  range?: [number, number];
  /** For integer inputs: values drawn from [0, ints). */
  ints?: number;
  /** False for inputs that take no gradient (labels, indices, masks). */
  grad?: boolean;
  /** Keeps |x| away from 0 (log, div, sqrt, pow bases). */
  awayFromZero?: number;
  /** Draws distinct values (max/argmax-style ops: ties make gradients ill-defined). */
  distinct?: boolean;
}

/**
 * Float64 linear algebra for references (engine/testing.ts passes mathjs's): an outside
 * implementation to check ours against, loaded only by the checker and the tests.
 */
export interface Float64Lib {
  multiply(a: number[][], b: number[][]): number[][];
  transpose(a: number[][]): number[][];
}

/** The attributes of an op that takes none. */
export type NoAttrs = Record<string, never>;

/** One checked case of an op with attributes A. */
export interface TestCase<A extends Record<string, unknown> = Record<string, unknown>> {
  inputs: InputSpec[];
  attrs?: A;
  /** Relative tolerance for the forward check (default 1e-4). */
  tol?: number;
  /** Tolerance for the gradient check (default 2e-3). */
  gradTol?: number;
}

/**
 * An op with attributes A (what apply passes to forward, backward and reference) and saved values
 * S (what forward keeps for backward). Both default to plain records, as the registry, the tape
 * walks and checkOp see every op; an op that declares its own gets them typed throughout. Declare
 * them as `type` aliases: an interface has no index signature, so it is no Record.
 * The members are methods so that their parameters compare bivariantly: a typed op is then a
 * plain OpDef for the registry.
 */
export interface OpDef<A extends Record<string, unknown> = Record<string, unknown>, S extends Record<string, unknown> = Record<string, unknown>> {
  name: string;
  /**
   * Runs the op. `saved` starts empty: what backward will read goes into it (a value only some
   * configurations keep is optional in S).
   */
  forward(inputs: Tensor[], attrs: A, saved: Partial<S>): Tensor;
  /**
   * Gradients of each input given the output's gradient; null where an input takes none.
   * `into[k]` (inputs listed in `accumulates` only): the gradient the tape already holds for input
   * k, from its other consumers, owned by the tape alone. The backward may add its own gradient
   * into that tensor and return it as input k's gradient (saving an add pass), or ignore it.
   */
  backward?(grad: Tensor, node: Node<A, S>, into?: readonly (Tensor | undefined)[]): (Tensor | null)[];
  /** Inputs whose gradient `backward` can add into an existing one (see `into`). */
  accumulates?: readonly number[];
  /**
   * The op in float64 on the host: what forward must agree with, and what finite differences
   * differentiate. `f64` is given by engine/testing.ts (referenceOf); the few references that
   * need it throw without it.
   */
  reference(inputs: Ref[], attrs: A, f64?: Float64Lib): Ref;
  cases: TestCase<A>[];
  /** Attributes for a replayed forward (tape.replay): strips side effects such as running stats. */
  replayAttrs?(attrs: A): A;
  /**
   * Whether this node, as configured, combines entries at different positions of `axis` of input
   * `input` into one output entry (batch statistics, a reduction or contraction over that axis).
   * lbdStep asks it about the axis that carries the examples, to find ops that couple one
   * example's loss to another's masks (docs/estimators.md). Absent: never (elementwise, layout).
   */
  mixesBatch?(node: Node<A, S>, input: number, axis: number): boolean;
}

export const registry = new Map<string, OpDef>();

/**
 * Registers an op. Name its attribute and saved-value types to have them checked
 * (`defineOp<{ axis: number }, { y: Tensor }>({ ... })`); they are never inferred from the
 * cases, so an op declared without them keeps plain records.
 */
export function defineOp<A extends Record<string, unknown> = Record<string, unknown>, S extends Record<string, unknown> = Record<string, unknown>>(def: OpDef<NoInfer<A>, NoInfer<S>>): OpDef<A, S> {
  if (registry.has(def.name)) throw new Error(`op '${def.name}' is declared twice`);
  registry.set(def.name, def);
  return def;
}

/**
 * Runs an op: forward without recording, then one tape node if a gradient is needed. `attrs` may
 * be left out when the op's attributes are all optional.
 */
export function apply<A extends Record<string, unknown>, S extends Record<string, unknown>>(def: OpDef<A, S>, inputs: Tensor[], ...attrs: {} extends A ? [attrs?: A] : [attrs: A]): Tensor;
// The body takes every op as the registry holds it, with plain records: the record forward fills
// (Partial<S>) becomes node.saved (S), on the op's word that its backward reads only what it saved.
export function apply(def: OpDef, inputs: Tensor[], attrs: Record<string, unknown> = {}): Tensor {
  for (const t of inputs) {
    if (!(t instanceof Tensor)) throw new Error(`${def.name}: expected tensors as inputs, got ${String(t)}`);
    if (t.disposed) throw new Error(`${def.name}: input ${t} was already disposed`);
  }
  const saved: Record<string, unknown> = {};
  const out = noGrad(() => def.forward(inputs, attrs, saved));
  if (def.backward && isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op: def, inputs, attrs, saved, output: out };
  }
  return out;
}

const opByName = (n: string): OpDef => {
  const d = registry.get(n);
  if (!d) throw new Error(`op '${n}' is not registered`);
  return d;
};

/**
 * Reverse-mode autodiff from `root`. Leaf tensors with requiresGrad accumulate into `.grad`
 * (kept alive until zeroGrad/dispose); intermediate gradients are freed as soon as used.
 * The graph is released afterwards unless `retainGraph`.
 */
export function backward(root: Tensor, grad?: Tensor, opts: { retainGraph?: boolean } = {}): void {
  if (!root.requiresGrad) throw new Error(`backward(): ${root} does not require grad (no trainable input reached it, or it was made under noGrad)`);
  if (!grad && root.size !== 1) throw new Error(`backward(): ${root} is not a scalar; pass the output gradient explicitly`);
  if (grad && grad.shape.join() !== root.shape.join()) {
    throw new Error(`backward(): gradient shape ${fmtShape(grad.shape)} does not match output ${fmtShape(root.shape)}`);
  }
  const add = opByName('add');
  const fill = opByName('fill');
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    const seed = grad ?? apply(fill, [], { shape: root.shape, value: 1 });
    const order = topoOrder(root);
    const accumulate = (t: Tensor, g: Tensor): void => {
      if (g.shape.join() !== t.shape.join()) {
        throw new Error(`internal: gradient ${fmtShape(g.shape)} for input ${fmtShape(t.shape)}`);
      }
      if (t.node) {
        const prev = grads.get(t);
        if (prev) { grads.set(t, apply(add, [prev, g])); prev.dispose(); g.dispose(); } else grads.set(t, g);
      } else if (t.requiresGrad) {
        if (t.grad) {
          const sum = apply(add, [t.grad, g]).keep();
          t.grad.dispose();
          g.dispose();
          t.grad = sum;
        } else t.grad = g.keep();
      } else g.dispose();
    };
    if (root.node) grads.set(root, seed);
    else { accumulate(root, seed); return; }
    for (let i = order.length - 1; i >= 0; i--) {
      const node = order[i];
      const g = grads.get(node.output);
      if (!g) continue;
      grads.delete(node.output);
      // offer the op the gradients held so far for inputs it can accumulate into, when the
      // tape is their only owner (a view shares its storage: adding into it would change both)
      const into: (Tensor | undefined)[] = [];
      for (const k of node.op.accumulates ?? []) {
        const prev = grads.get(node.inputs[k]);
        if (prev && prev !== g && prev.storage.refs === 1) into[k] = prev;
      }
      const gi = node.op.backward!(g, node, into);
      node.inputs.forEach((inp, k) => {
        const gk = gi[k];
        if (!gk) return;
        if (gk === into[k]) return; // added in place: the tape's entry already holds the sum
        if (inp.requiresGrad) accumulate(inp, gk === g ? gk.view(gk.shape) : gk);
        else if (gk !== g) gk.dispose();
      });
      if (g !== seed || !grad) g.dispose();
    }
    if (!opts.retainGraph) for (const n of order) n.output.node = null;
  });
}

declare module './tensor.js' {
  interface Tensor {
    /** Reverse-mode autodiff from this (scalar) tensor; see backward(). */
    backward(grad?: Tensor, opts?: { retainGraph?: boolean }): void;
  }
}
Tensor.prototype.backward = function (this: Tensor, grad?: Tensor, opts?: { retainGraph?: boolean }) {
  backward(this, grad, opts);
};
