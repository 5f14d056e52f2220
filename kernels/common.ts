// Shared pieces of WGSL generation. Kernels are plain text built from small config objects;
// nothing here touches the GPU.

/** WGSL source plus the cache key naming everything the text depends on. */
export interface KernelSource {
  key: string;
  code: string;
  /** The kernel's uniform block (binding 0), declared once; dispatch packs values by name. */
  params?: ParamBlock;
  /**
   * Storage bindings 1..n as declared (engine/kernel.ts defineKernel): the bind-group layout is
   * built from this instead of being read back from the WGSL text.
   */
  bindings?: readonly StorageAccess[];
}

/** How a kernel uses a storage buffer. */
export type StorageAccess = 'read' | 'read_write';

// ---- uniform parameters, declared once --------------------------------------------------
//
// A kernel names its parameters and their types in one object; the WGSL struct (with the
// alignment WGSL's uniform layout rules need) and the packing of a dispatch's values both come
// from it, so nothing has to line up by position across files.

/** u32 / i32 / f32 scalars, or `dims`: MAX_DIMS u32 values (an array<vec4<u32>, 2>, 16-aligned). */
export type ParamType = 'u32' | 'i32' | 'f32' | 'dims';
export type ParamDecl = Readonly<Record<string, ParamType>>;
/** Values for a declaration: numbers for scalars, up to MAX_DIMS numbers for `dims` (padded with 1). */
export type ParamValues<D extends ParamDecl> = { [K in keyof D]: D[K] extends 'dims' ? readonly number[] : number };

export interface ParamBlock<D extends ParamDecl = ParamDecl> {
  decl: D;
  /** `struct Params {...}` and its `@group(0) @binding(0) var<uniform> P: Params;` */
  wgsl: string;
  /** 32-bit words of the block (a multiple of 4). */
  words: number;
  /** Writes the values into `out` (u32 view of the same bytes as `f32out`) at word `at`. */
  pack(values: ParamValues<D>, out: Uint32Array, f32out: Float32Array, at: number, kernel: string): void;
}


const MAX_DIMS_WORDS = (): number => MAX_DIMS;

export function defineParams<D extends ParamDecl>(decl: D): ParamBlock<D> {
  const fields: string[] = [];
  const layout: { name: string; type: ParamType; word: number }[] = [];
  let w = 0;
  let padN = 0;
  for (const [name, type] of Object.entries(decl)) {
    if (type === 'dims') {
      while (w % 4) { fields.push(`_p${padN++}: u32`); w++; }
      fields.push(`${name}: array<vec4<u32>, ${MAX_DIMS_WORDS() / 4}>`);
      layout.push({ name, type, word: w });
      w += MAX_DIMS_WORDS();
    } else {
      fields.push(`${name}: ${type}`);
      layout.push({ name, type, word: w });
      w++;
    }
  }
  while (w % 4 || w === 0) { fields.push(`_p${padN++}: u32`); w++; }
  const names = new Set(Object.keys(decl));
  return {
    decl,
    wgsl: `struct Params { ${fields.join(', ')} }\n@group(0) @binding(0) var<uniform> P: Params;`,
    words: w,
    pack(values, out, f32out, at, kernel) {
      for (const k of Object.keys(values)) if (!names.has(k)) throw new Error(`${kernel}: unknown parameter '${k}' (declared: ${[...names].join(', ')})`);
      for (const f of layout) {
        const v = (values as Record<string, number | readonly number[]>)[f.name];
        if (v === undefined) throw new Error(`${kernel}: parameter '${f.name}' is missing`);
        if (f.type === 'dims') {
          const d = dimsParam(v as readonly number[]);
          for (let i = 0; i < MAX_DIMS_WORDS(); i++) out[at + f.word + i] = d[i];
        } else if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new Error(`${kernel}: parameter '${f.name}' must be a finite number, got ${String(v)}`);
        } else if (f.type === 'f32') f32out[at + f.word] = v;
        else if (f.type === 'u32') {
          if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new Error(`${kernel}: parameter '${f.name}' (u32) must be an integer in [0, 2^32), got ${v}`);
          out[at + f.word] = v;
        } else {
          if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new Error(`${kernel}: parameter '${f.name}' (i32) must be an integer in [-2^31, 2^31), got ${v}`);
          out[at + f.word] = v >>> 0;
        }
      }
    },
  };
}

// ---- kernel sources, generated once --------------------------------------------------------

const sources = new Map<string, KernelSource>();

/**
 * The kernel for `key`, generating its WGSL only the first time: `key` must name everything
 * `build` depends on. Keeps text generation off the per-dispatch path.
 */
export function kernelSource(key: string, build: () => { code: string; params?: ParamBlock }): KernelSource {
  let s = sources.get(key);
  if (!s) {
    s = { key, ...build() };
    if (!key.startsWith('user.')) refuseShortCircuit(key, s.code);
    sources.set(key, s);
  }
  return s;
}

/**
 * The engine's kernels combine conditions with `&` and `|` (both sides evaluated), never `&&` or
 * `||`. Tint turns each short-circuit operator into a branch and a phi, and SwiftShader's compile
 * time grows exponentially with the number of such merges in a loop body: five 6-term `&&`
 * chains in a loop took 15 s and six ran out of 4 GB, against 60 ms with `&`; the 4-lane conv
 * input-gradient GEMM (eight chains) grew to 24 GB (docs/kernels.md §8). Refused here, where
 * every kernel is generated, so a new one fails its first test on any adapter. Users' own kernels
 * (defineKernel, keys `user.*`) are not checked.
 */
function refuseShortCircuit(key: string, code: string): void {
  const m = /&&|\|\|/.exec(code.replace(/\/\/[^\n]*/g, ''));
  if (m) throw new Error(`${key}: the WGSL uses '${m[0]}'; engine kernels use '${m[0][0]}' on parenthesised conditions (kernels/common.ts, refuseShortCircuit)`);
}

export type ScalarType = 'f32' | 'i32' | 'u32';

/** Most dimensions a strided kernel handles; uniforms carry shape/stride arrays of this length. */
export const MAX_DIMS = 8;

/** Threads per workgroup for 1-D elementwise-style kernels. */
export const WG = 64;

let gridCap = 4096;
/**
 * The most workgroups a grid-stride kernel launches. A real GPU wants many resident threads;
 * on a CPU rasterizer (lavapipe) each workgroup costs scheduling, and a few hundred already fill
 * the cores. The engine's tuning sets it (engine/plans/tuning.ts gridCap, LBD_GRID_CAP, 4096 on
 * every adapter by default: no per-adapter value was picked, measurements under load being too
 * noisy, docs/NOTES.md 2026-11-26); kernels/ cannot import the engine, so this is its copy.
 */
export function setGridCap(n: number): void { gridCap = n; }
export const gridCapNow = (): number => gridCap;

/** Grid-stride launch: workgroups to dispatch for n items (capped so one dimension suffices). */
export function gridFor(n: number, perWorkgroup = WG, cap = gridCap): number {
  return Math.max(1, Math.min(cap, Math.ceil(n / perWorkgroup)));
}

/** One workgroup per row, rows spread over x and y (a grid dimension holds at most 65,535). */
export function rowGrid(rows: number): [number, number] {
  const wx = Math.max(1, Math.min(rows, 65535));
  return [wx, Math.ceil(rows / wx)];
}

/**
 * WGSL for strided addressing over `ndim` dimensions, unrolled. Uniform reads are slow on
 * llvmpipe (docs/kernels.md §2), so `loadDims` (placed at the top of main) copies the shape and the
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

/**
 * WGSL: tree-sums `arrays` (workgroup arrays of WG floats, each lane's value stored at [li])
 * into element 0 for every lane to read; starts and ends with a barrier.
 */
export function treeSum(arrays: string[]): string {
  return `
    workgroupBarrier();
    for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
      if (li < w) { ${arrays.map((a) => `${a}[li] = ${a}[li] + ${a}[li + w];`).join(' ')} }
      workgroupBarrier();
    }`;
}

// ---- activations applied in a producer's epilogue --------------------------------------------

/** An activation a GEMM-like kernel can apply to its output before the store. */
export type Activation = 'relu' | 'tanh';
export const ACTIVATIONS: readonly Activation[] = ['relu', 'tanh'];

/**
 * WGSL applying `act` to the f32 or vec4<f32> expression v (of WGSL type `type`). tanh is the
 * engine's overflow-safe form (the elementwise op's: exp of −2|v| never overflows).
 */
export function activationWgsl(act: Activation | undefined, v: string, type = 'vec4<f32>'): string {
  if (!act) return v;
  if (act === 'relu') return `max(${v}, ${type}(0.0))`;
  return `tanh_safe(${v})`;
}

/** Helper functions `activationWgsl` needs (declare once per shader; empty for none). */
export function activationDecls(act: Activation | undefined, type = 'vec4<f32>'): string {
  if (act !== 'tanh') return '';
  return `fn tanh_safe(v: ${type}) -> ${type} {
  let e = exp(${type}(-2.0) * abs(v));
  return sign(v) * (${type}(1.0) - e) / (${type}(1.0) + e);
}`;
}

/** WGSL of the activation's derivative from its OUTPUT y (relu: y > 0; tanh: 1 − y²), times g. */
export function activationGradWgsl(act: Activation, g: string, y: string, type = 'f32'): string {
  return act === 'relu' ? `select(${type}(0.0), ${g}, ${y} > ${type}(0.0))` : `${g} * (${type}(1.0) - ${y} * ${y})`;
}
