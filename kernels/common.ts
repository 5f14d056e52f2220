// Shared pieces of WGSL generation. Kernels are plain text built from small config objects;
// nothing here touches the GPU.

/** WGSL source plus the cache key naming everything the text depends on. */
export interface KernelSource {
  key: string;
  code: string;
}

export type ScalarType = 'f32' | 'i32' | 'u32';

/** Most dimensions a strided kernel handles; uniforms carry shape/stride arrays of this length. */
export const MAX_DIMS = 8;

/** Threads per workgroup for 1-D elementwise-style kernels. */
export const WG = 64;

let gridCap = Number(process.env.LBD_GRID_CAP ?? 4096);
/**
 * The most workgroups a grid-stride kernel launches. A real GPU wants many resident threads;
 * on a CPU rasterizer (lavapipe) each workgroup costs scheduling, and a few hundred already fill
 * the cores (the engine picks per adapter; LBD_GRID_CAP overrides).
 */
export function setGridCap(n: number): void { gridCap = n; }
export const gridCapNow = (): number => gridCap;

/** Grid-stride launch: workgroups to dispatch for n items (capped so one dimension suffices). */
export function gridFor(n: number, perWorkgroup = WG, cap = gridCap): number {
  return Math.max(1, Math.min(cap, Math.ceil(n / perWorkgroup)));
}

/**
 * WGSL for strided addressing over `ndim` dimensions, unrolled. Uniform reads are slow on
 * llvmpipe (KERNELS.md §2), so `loadDims` (placed at the top of main) copies the shape and the
 * strides into private variables once, and `fn name(flat)` decodes with those.
 */
export function stridedOffsetFn(name: string, shapeField: string, strideField: string, ndim: number): { decl: string; load: string } {
  const at = (f: string, d: number): string => `P.${f}[${d >> 2}][${d & 3}]`;
  const priv = `${name}_st`;
  const sh = `${name}_sh`;
  const lines: string[] = [];
  for (let d = ndim - 1; d >= 0; d--) {
    lines.push(d > 0
      ? `  off = off + (i % ${sh}[${d}]) * ${priv}[${d}]; i = i / ${sh}[${d}];`
      : `  off = off + i * ${priv}[0];`);
  }
  const n = Math.max(ndim, 1);
  return {
    decl: `var<private> ${sh}: array<u32, ${n}>;
var<private> ${priv}: array<u32, ${n}>;
fn ${name}(flat: u32) -> u32 {
  var i = flat;
  var off = 0u;
${lines.join('\n')}
  return off;
}`,
    load: Array.from({ length: ndim }, (_, d) => `  ${sh}[${d}] = ${at(shapeField, d)}; ${priv}[${d}] = ${at(strideField, d)};`).join('\n'),
  };
}

/** Packs a list of up to MAX_DIMS numbers as uniform words, padded with `fill`. */
export function dimsParam(v: readonly number[], fill = 1): number[] {
  if (v.length > MAX_DIMS) throw new Error(`at most ${MAX_DIMS} dimensions are supported; got ${v.length}`);
  const out = v.slice();
  while (out.length < MAX_DIMS) out.push(fill);
  return out;
}
