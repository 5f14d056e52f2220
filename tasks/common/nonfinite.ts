// The checked re-run behind "the loss became NaN": every sub-module's forward is wrapped to
// keep its output, the forward runs once, and the outputs are read back in the order they were
// produced (a container finishes after its children) to name the first layer — and, before it,
// any parameter — holding a non-finite value. Slow (one read-back per layer) and only used after
// a failure.
import { scope, Tensor } from '../../engine/index.js';
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

/** The first parameter or layer output that is non-finite while running `forward`, described; null when none. */
export async function firstNonFinite(model: Module, forward: () => Tensor): Promise<string | null> {
  for (const [n, t] of model.namedParameters('model')) if (!(await finite(t))) return `parameter ${n} is already non-finite (an earlier update diverged)`;
  const outputs: [string, Module, Tensor][] = [];
  const wrapped: [Module, unknown][] = [];
  const seen = new Set<Module>();
  for (const [name, m] of namedModules(model)) {
    if (seen.has(m)) continue;
    seen.add(m);
    const own = Object.prototype.hasOwnProperty.call(m, 'forward') ? (m as unknown as { forward: unknown }).forward : undefined;
    const orig = m.forward.bind(m);
    wrapped.push([m, own]);
    (m as unknown as { forward: (...x: Tensor[]) => Tensor }).forward = (...x: Tensor[]): Tensor => {
      const y = orig(...x);
      if (y instanceof Tensor) outputs.push([name, m, y]);
      return y;
    };
  }
  try {
    return await scope(async () => {
      const out = forward();
      for (const [name, m, y] of outputs) if (!(await finite(y))) return `first non-finite output: ${name} (${m.constructor.name})`;
      if (!(await finite(out))) return 'the layers were finite; the loss op produced the non-finite value';
      return null;
    });
  } finally {
    for (const [m, own] of wrapped) {
      if (own === undefined) delete (m as unknown as { forward?: unknown }).forward;
      else (m as unknown as { forward: unknown }).forward = own;
    }
  }
}
