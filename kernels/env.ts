// The one place the code reads environment variables: `process.env` under Node, nothing in a
// browser (no `process` there), so the same sources run in both hosts. Lives in kernels/ because
// it is the lowest layer (kernels → engine → layers is one-way) and kernels read a variable too.

type Proc = { env?: Record<string, string | undefined>; versions?: { node?: string } };
const proc = (): Proc | undefined => (globalThis as { process?: Proc }).process;

/** The variable's value under Node; undefined when unset or in a browser. */
export function env(name: string): string | undefined {
  return proc()?.env?.[name];
}

/** Whether this is Node (dawn.node via the `webgpu` package) rather than a browser. */
export const isNode = typeof proc()?.versions?.node === 'string';
