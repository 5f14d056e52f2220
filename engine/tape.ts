// The tape: each op applied to a tensor that needs a gradient leaves a Node on its output;
// backward() walks those nodes in reverse topological order. Backward rules are written with
// other ops and run with recording off.
import type { Tensor } from './tensor.js';
import type { OpDef } from './op.js';

/** One op applied on the tape; A and S are the op's attribute and saved-value types (OpDef). */
export interface Node<A extends Record<string, unknown> = Record<string, unknown>, S extends Record<string, unknown> = Record<string, unknown>> {
  op: OpDef<A, S>;
  inputs: Tensor[];
  attrs: A;
  /** Whatever the forward chose to keep for its backward (tensors or plain values). */
  saved: S;
  output: Tensor;
}

let enabled = true;

export function isGradEnabled(): boolean { return enabled; }

/** Runs fn with recording set to `on`, restored afterwards (for async fn: once it settles). */
function withRecording<T>(on: boolean, fn: () => T): T {
  const prev = enabled;
  enabled = on;
  try {
    const r = fn();
    if (r instanceof Promise) {
      // keep the mode until the async function finishes
      return r.finally(() => { enabled = prev; }) as T;
    }
    enabled = prev;
    return r;
  } catch (e) {
    enabled = prev;
    throw e;
  }
}

/** Runs fn with recording off: nothing it computes gets a gradient. */
export function noGrad<T>(fn: () => T): T { return withRecording(false, fn); }

/** Runs fn with recording on (inside a noGrad, e.g. a backward rule that differentiates a recomputation). */
export function enableGrad<T>(fn: () => T): T { return withRecording(true, fn); }

let sideEffects = true;

/** False while a forward runs a second time (recompute's backward, replay): ops skip their side effects (running statistics). */
export function sideEffectsEnabled(): boolean { return sideEffects; }

/** Runs fn (synchronous) with side effects off; see sideEffectsEnabled. */
export function withoutSideEffects<T>(fn: () => T): T {
  const prev = sideEffects;
  sideEffects = false;
  try {
    return fn();
  } finally {
    sideEffects = prev;
  }
}

/** Nodes reachable from `root`, inputs before outputs. */
export function topoOrder(root: Tensor): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  // iterative DFS: deep graphs (DenseNet) would overflow a recursive one
  const stack: [Node, boolean][] = root.node ? [[root.node, false]] : [];
  while (stack.length) {
    const [n, done] = stack.pop()!;
    if (done) { order.push(n); continue; }
    if (seen.has(n)) continue;
    seen.add(n);
    stack.push([n, true]);
    for (const t of n.inputs) if (t.node && !seen.has(t.node)) stack.push([t.node, false]);
  }
  return order;
}

/**
 * Re-runs the recorded graph of `root` with some nodes' attributes changed (`change` returns the
 * new attributes, or null to keep a node as it is), recomputing only those nodes and the ones
 * downstream of them; every other activation is reused. Nothing is recorded, side effects are
 * stripped (OpDef.replayAttrs), and the graph stays intact for a later backward().
 * LBD uses it to evaluate E(z1) after recording E(z2): only the layers after the first learnable
 * dropout run again, for any model shape. `order`: topoOrder(root), when the caller has it already.
 */
export function replay(root: Tensor, change: (n: Node) => Record<string, unknown> | null, order: Node[] = topoOrder(root)): Tensor {
  const swapped = new Map<Tensor, Tensor>();
  noGrad(() => {
    for (const n of order) {
      const changed = change(n);
      if (!changed && !n.inputs.some((t) => swapped.has(t))) continue;
      const inputs = n.inputs.map((t) => swapped.get(t) ?? t);
      const base = changed ?? n.attrs;
      const attrs = n.op.replayAttrs ? n.op.replayAttrs(base) : base;
      swapped.set(n.output, n.op.forward(inputs, attrs, {}));
    }
  });
  return swapped.get(root) ?? root;
}
