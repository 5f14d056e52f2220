// The checked re-run behind "the loss became NaN" and "the parameters became non-finite": one
// training step (or a forward) runs with everything it produces kept and read back afterwards, in
// the order it was produced, to name the first thing that went non-finite:
//   1. a parameter that already is (an earlier update diverged);
//   2. a layer's output in the forward (a container finishes after its children);
//   3. the loss, when every layer's output was finite;
//   4. a gradient in the backward: the first tape node (in the order backward() visits them,
//      output to input) whose backward rule returned a non-finite input gradient, named by its op
//      and the innermost layer whose forward made that node; and the parameters whose gradients
//      reached an optimizer non-finite;
//   5. a parameter that an update with finite gradients made non-finite.
// Slow (one read-back per kept tensor, every activation and gradient of the step held until then)
// and only used after a failure.
import { scope, empty, registry, noGrad, sum, ScalarLog, Tensor, type Node, type Optimizer, type OpDef } from '../../engine/index.js';
import { Module } from '../../layers/module.js';

/** Every sub-module with its dotted name (as namedParameters names their tensors). */
export function namedModules(m: Module, prefix = 'model'): [string, Module][] {
  const out: [string, Module][] = [[prefix, m]];
  const visit = (v: unknown, name: string): void => {
    if (v instanceof Module) out.push(...namedModules(v, name));
    else if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${name}.${i}`));
  };
  for (const [k, v] of Object.entries(m)) visit(v, `${prefix}.${k}`);
  return out;
}

const finite = async (t: Tensor): Promise<boolean> => t.dtype !== 'f32' || (await t.data() as Float32Array).every(Number.isFinite);

/** The first parameter of `model` holding a non-finite value, by name; null when all are finite. */
export async function firstNonFiniteParameter(model: Module): Promise<string | null> {
  for (const [n, t] of model.namedParameters('model')) if (!(await finite(t))) return n;
  return null;
}

/**
 * Whether every parameter is finite, cheaply: each parameter tensor's sum recorded on the GPU and
 * read back at once (what the training loop does once per epoch). A sum that overflows although
 * its tensor is finite only costs the exact check that follows.
 */
export async function parametersFinite(model: Module): Promise<boolean> {
  const ps = model.parameters();
  if (!ps.length) return true;
  const log = new ScalarLog(ps.length);
  try {
    scope(() => noGrad(() => { for (const p of ps) log.record(sum(p)); }));
    if ((await log.read()).every(Number.isFinite)) return true;
  } finally {
    log.dispose();
  }
  return (await firstNonFiniteParameter(model)) === null;
}

/** A kept alias of `t` (shares its storage, so the values survive the step's disposals). */
const hold = (t: Tensor): Tensor => t.view(t.shape).keep();

/** A tensor id from now: tensors made before it have lower ids, tensors made after it higher. */
const idNow = (): number => { const p = empty([1]); p.dispose(); return p.id; };

/**
 * Runs `run` (a model's forward, or a whole training step that returns its loss) once with its
 * layer outputs, backward gradients and the gradients the optimizers receive kept, and describes
 * the first non-finite value (see the file's comment); null when everything was finite.
 */
export async function firstNonFinite(model: Module, run: () => Tensor, optimizers: readonly (Optimizer<{ lr?: number }> | null)[] = []): Promise<string | null> {
  const already = await firstNonFiniteParameter(model);
  if (already) return `parameter ${already} is already non-finite (an earlier update diverged)`;
  const paramName = new Map<Tensor, string>();
  for (const [n, t] of model.namedParameters('model')) if (!paramName.has(t)) paramName.set(t, n);

  const outputs: { name: string; m: Module; y: Tensor }[] = [];
  const windows: { name: string; m: Module; from: number; to: number }[] = [];
  const grads: { op: string; node: Node; outId: number; g: Tensor[] }[] = [];
  const received: { name: string; g: Tensor }[] = [];
  const undo: (() => void)[] = [];
  const held: Tensor[] = [];
  const keep = (t: Tensor): Tensor => { const h = hold(t); held.push(h); return h; };

  // 2. every module's output, and the range of tensor ids its forward made (to place tape nodes)
  const seen = new Set<Module>();
  for (const [name, m] of namedModules(model)) {
    if (seen.has(m)) continue;
    seen.add(m);
    const own = Object.prototype.hasOwnProperty.call(m, 'forward') ? (m as unknown as { forward: unknown }).forward : undefined;
    const orig = m.forward.bind(m);
    undo.push(() => {
      if (own === undefined) delete (m as unknown as { forward?: unknown }).forward;
      else (m as unknown as { forward: unknown }).forward = own;
    });
    (m as unknown as { forward: (...x: Tensor[]) => Tensor }).forward = (...x: Tensor[]): Tensor => {
      const from = idNow();
      const y = orig(...x);
      if (y instanceof Tensor) { outputs.push({ name, m, y: keep(y) }); windows.push({ name, m, from, to: y.id }); }
      return y;
    };
  }
  // 4. what every backward rule returns (registered ops: every op the engine and layers define)
  for (const def of registry.values()) {
    const orig = def.backward;
    if (!orig) continue;
    const wrapped: OpDef['backward'] = (g, node) => {
      const gi = orig.call(def, g, node);
      grads.push({ op: def.name, node, outId: node.output.id, g: gi.filter((t): t is Tensor => !!t).map(keep) });
      return gi;
    };
    def.backward = wrapped;
    undo.push(() => { def.backward = orig; });
  }
  // ... and the gradients each optimizer is about to apply
  for (const opt of optimizers) {
    if (!opt) continue;
    const step = opt.step;
    (opt as { step: () => void }).step = function (this: typeof opt): void {
      for (const p of opt.params) if (p.grad) received.push({ name: paramName.get(p) ?? `a parameter ${p}`, g: keep(p.grad) });
      step.call(opt);
    };
    undo.push(() => { delete (opt as { step?: unknown }).step; });
  }

  try {
    let out: Tensor;
    try {
      out = scope(() => keep(run()));
    } finally {
      for (const u of undo.reverse()) u();
    }
    for (const { name, m, y } of outputs) if (!(await finite(y))) return `first non-finite output: ${name} (${m.constructor.name})`;
    if (!(await finite(out))) return 'the layers were finite; the loss op produced the non-finite value';
    for (const r of grads) {
      let bad = false;
      for (const g of r.g) if (!(await finite(g))) { bad = true; break; }
      if (!bad) continue;
      const inner = windows.filter((w) => r.outId > w.from && r.outId <= w.to).sort((a, b) => (a.to - a.from) - (b.to - b.from))[0];
      const params = await nonFiniteReceived(received);
      const node = `the backward of op '${r.op}' (output [${r.node.output.shape.join(', ')}])${inner ? ` in ${inner.name} (${inner.m.constructor.name})` : ''}`;
      return `the forward was finite; first non-finite gradient from ${node}${params}`;
    }
    const params = await nonFiniteReceived(received);
    if (params) return `the forward was finite; non-finite gradient${params}`;
    const after = await firstNonFiniteParameter(model);
    if (after) return `the forward and gradients were finite; the update made parameter ${after} non-finite`;
    return null;
  } finally {
    for (const h of held) h.dispose();
  }
}

/** `; parameter(s) with a non-finite gradient: a, b (and n more)`, or '' when none. */
async function nonFiniteReceived(received: { name: string; g: Tensor }[]): Promise<string> {
  const bad: string[] = [];
  for (const r of received) if (!bad.includes(r.name) && !(await finite(r.g))) bad.push(r.name);
  if (!bad.length) return '';
  return `; parameter${bad.length > 1 ? 's' : ''} with a non-finite gradient: ${bad.slice(0, 3).join(', ')}${bad.length > 3 ? ` (and ${bad.length - 3} more)` : ''}`;
}
