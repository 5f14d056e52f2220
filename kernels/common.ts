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

/** Grid-stride launch: workgroups to dispatch for n items (capped so one dimension suffices). */
export function gridFor(n: number, perWorkgroup = WG, cap = 4096): number {
  return Math.max(1, Math.min(cap, Math.ceil(n / perWorkgroup)));
}

/** WGSL helper decoding a flat output index into per-dimension coordinates and offsets. */
export function stridedOffsetFn(name: string, shapeField: string, strideField: string): string {
  return `
fn ${name}(flat: u32) -> u32 {
  var i = flat;
  var off = 0u;
  for (var d = i32(P.ndim) - 1; d >= 0; d = d - 1) {
    let n = P.${shapeField}[d / 4][d % 4];
    let c = i % n;
    i = i / n;
    off = off + c * P.${strideField}[d / 4][d % 4];
  }
  return off;
}`;
}

/** Packs a list of up to MAX_DIMS numbers as uniform words, padded with `fill`. */
export function dimsParam(v: readonly number[], fill = 1): number[] {
  if (v.length > MAX_DIMS) throw new Error(`at most ${MAX_DIMS} dimensions are supported; got ${v.length}`);
  const out = v.slice();
  while (out.length < MAX_DIMS) out.push(fill);
  return out;
}
