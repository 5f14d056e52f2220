// The environment accessor: `process.env` under Node, nothing in a browser (no `process` there),
// so the same sources run in both hosts. The engine's one reader is its tuning
// (engine/plans/tuning.ts, TUNING_OPTIONS); lives in kernels/, the lowest layer, with isNode.

type Proc = { env?: Record<string, string | undefined>; versions?: { node?: string } };
const proc = (): Proc | undefined => (globalThis as { process?: Proc }).process;

/** The variable's value under Node; undefined when unset or in a browser. */
export function env(name: string): string | undefined {
  return proc()?.env?.[name];
}

/** Whether this is Node (dawn.node via the `webgpu` package) rather than a browser. */
export const isNode = typeof proc()?.versions?.node === 'string';
