// Shared pieces of WGSL generation. Kernels are plain text built from small config objects;
// nothing here touches the GPU.
//
// A kernel is declared by its signature (`kernel` below): its name, the config its WGSL depends
// on, its uniform parameters (`defineParams`) and its storage bindings by name. The WGSL
// declarations of the parameters and bindings, the bind-group layout (engine/dispatch.ts) and
// the pipeline cache key all come from that one declaration, so no `@binding(n)` is written by
// hand, nothing has to line up by position across files, and no key string is built by hand.

/** A kernel's WGSL and everything the engine needs to compile and bind it. */
export interface KernelSource {
  /** The kernel's name and its config, canonically serialised: names its pipeline, GPU errors and profiles. */
  key: string;
  /** The whole WGSL: generated declarations, then the kernel's body. */
  code: string;
  /** The kernel's uniform block (binding 0), declared once; dispatch packs values by name. */
  params?: ParamBlock;
  /** Storage bindings 1..n in binding order: the bind-group layout is built from these. */
  bindings: readonly KernelBinding[];
}

/** One storage binding of a kernel: its WGSL name and how it is declared. */
export interface KernelBinding { readonly name: string; readonly decl: BindingDecl }

/** How a kernel uses a storage buffer. */
export type StorageAccess = 'read' | 'read_write';
/** The element type of a storage buffer binding: `array<type>` in WGSL. */
export type StorageType = 'f32' | 'i32' | 'u32' | 'vec4<f32>' | 'vec4<i32>' | 'vec4<u32>' | 'atomic<u32>' | 'atomic<i32>';
/** How a kernel uses a storage texture (`texture_storage_2d<format, access>`). */
export type TextureAccess = 'read' | 'write' | 'read_write';

/** A storage buffer (`var<storage, access> name: array<type>`, f32 by default) or a 2-d storage texture. */
export type BindingDecl =
  | { readonly access: StorageAccess; readonly type?: StorageType; readonly texture?: undefined }
  | { readonly texture: 'rgba32float'; readonly access: TextureAccess };

/** A kernel's storage bindings by name, in binding order (binding 1 first). */
export type BindingDecls = Readonly<Record<string, BindingDecl>>;

/** A storage buffer the kernel only reads. */
export const readOnly = (type: StorageType = 'f32'): BindingDecl => ({ access: 'read', type });
/** A storage buffer the kernel writes (and may read). */
export const readWrite = (type: StorageType = 'f32'): BindingDecl => ({ access: 'read_write', type });
/** An rgba32float 2-d storage texture. */
export const storageTexture = (access: TextureAccess): BindingDecl => ({ texture: 'rgba32float', access });

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
  /** `struct Params {...}` (kernelHeader declares the uniform `P` of this type at binding 0). */
  struct: string;
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
    struct: `struct Params { ${fields.join(', ')} }`,
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

// ---- kernels declared by signature ----------------------------------------------------------

/** What a kernel's WGSL is made of, for one config. */
export interface KernelSignature {
  /** The uniform block (binding 0), read as `P.<name>`. */
  params?: ParamBlock;
  /** Storage bindings by name, in binding order (1, 2, …), read by those names in the body. */
  bindings: BindingDecls;
  /** `enable` directives the body needs (they must precede every declaration). */
  enable?: readonly 'subgroups'[];
  /** The rest of the WGSL: helper functions, workgroup variables and the entry point `main`. */
  body: string;
}

/**
 * A config: plain data (strings, finite numbers, booleans, null, arrays and plain objects of
 * them; undefined members count as absent). Functions are refused: a config names a variant.
 */
export type ConfigData<T> = T extends string | number | boolean | null | undefined ? T
  : T extends (...args: never[]) => unknown ? never
  : T extends readonly (infer E)[] ? readonly ConfigData<E>[]
  : { readonly [K in keyof T]: ConfigData<T[K]> };

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const RESERVED = new Set(['P', 'Params', 'main']);

/** Sorted keys, strings quoted: equal configs give equal text whatever order their members were written in. */
function canonical(v: unknown, at: string): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string': return JSON.stringify(v);
    case 'boolean': return v ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(v)) throw new Error(`${at} is ${v}: a kernel config holds finite numbers`);
      return String(v);
    case 'object': {
      if (Array.isArray(v)) return `[${v.map((x, i) => canonical(x, `${at}[${i}]`)).join(',')}]`;
      const proto = Object.getPrototypeOf(v) as unknown;
      if (proto !== Object.prototype && proto !== null) throw new Error(`${at} is not a plain object: a kernel config is plain data`);
      const parts: string[] = [];
      for (const k of Object.keys(v).sort()) {
        const x = (v as Record<string, unknown>)[k];
        if (x !== undefined) parts.push(`${IDENT.test(k) ? k : JSON.stringify(k)}:${canonical(x, `${at}.${k}`)}`);
      }
      return `{${parts.join(',')}}`;
    }
    default: throw new Error(`${at} is a ${typeof v}: a kernel config is plain data`);
  }
}

/** The WGSL declarations of a signature: enables, the uniform block at binding 0, then one declaration per storage binding. */
export function kernelHeader(sig: Omit<KernelSignature, 'body'>): string {
  const lines = (sig.enable ?? []).map((e) => `enable ${e};`);
  if (sig.params) lines.push(sig.params.struct, '@group(0) @binding(0) var<uniform> P: Params;');
  Object.entries(sig.bindings).forEach(([name, d], i) => {
    lines.push(d.texture
      ? `@group(0) @binding(${i + 1}) var ${name}: texture_storage_2d<${d.texture}, ${d.access}>;`
      : `@group(0) @binding(${i + 1}) var<storage, ${d.access}> ${name}: array<${d.type ?? 'f32'}>;`);
  });
  return lines.join('\n');
}

const STORAGE_TYPES = new Set<string>(['f32', 'i32', 'u32', 'vec4<f32>', 'vec4<i32>', 'vec4<u32>', 'atomic<u32>', 'atomic<i32>']);

/** Refuses a binding that WGSL or the layout could not take, naming the kernel and the binding. */
function checkBindings(key: string, bindings: BindingDecls): KernelBinding[] {
  return Object.entries(bindings).map(([name, decl]) => {
    if (!IDENT.test(name) || RESERVED.has(name)) throw new Error(`${key}: binding '${name}' is not usable as a WGSL name`);
    if (decl.texture) {
      if (decl.texture !== 'rgba32float' || !['read', 'write', 'read_write'].includes(decl.access)) throw new Error(`${key}: binding '${name}': texture_storage_2d<${String(decl.texture)}, ${String(decl.access)}> is not supported`);
    } else {
      if (decl.access !== 'read' && decl.access !== 'read_write') throw new Error(`${key}: binding '${name}': access must be 'read' or 'read_write', got '${String(decl.access)}'`);
      const type = decl.type ?? 'f32';
      if (!STORAGE_TYPES.has(type)) throw new Error(`${key}: binding '${name}': element type '${type}' is not supported`);
      if (type.startsWith('atomic') && decl.access !== 'read_write') throw new Error(`${key}: binding '${name}': atomics need read_write access`);
    }
    return { name, decl };
  });
}

// Sources by canonical key, and by the faster insertion-order JSON of the config (an alias found
// again without sorting; JSON.stringify keeps plain data apart, and ConfigData keeps functions out).
const sources = new Map<string, KernelSource>();
const seen = new Map<string, KernelSource>();

/**
 * The kernel `name` in the variant `config`, generating its WGSL only the first time: `build`
 * gets the config it is keyed by and returns the signature (params, bindings by name, body).
 * The key is the name plus the config's canonical serialisation, so the config must hold
 * everything the WGSL depends on — `build` sees nothing else — and two configs that differ
 * are two pipelines. Keeps text generation off the per-dispatch path.
 */
export function kernel<C extends object>(name: string, config: C & ConfigData<C>, build: (config: C) => KernelSignature): KernelSource {
  const fast = `${name}\u0000${JSON.stringify(config)}`;
  let s = seen.get(fast);
  if (s) return s;
  if (!name || /[\s{]/.test(name)) throw new Error(`kernel name must be a word without braces, got '${name}'`);
  const c = canonical(config, `${name}: config`);
  const key = c === '{}' ? name : `${name}${c}`;
  s = sources.get(key);
  if (!s) {
    const sig = build(config);
    const bindings = checkBindings(key, sig.bindings);
    const code = `${kernelHeader(sig)}\n${sig.body}`;
    if (!key.startsWith('user.')) refuseShortCircuit(key, code);
    s = { key, code, bindings, ...(sig.params ? { params: sig.params } : {}) };
    sources.set(key, s);
  }
  seen.set(fast, s);
  return s;
}

/**
 * The engine's kernels combine conditions with `&` and `|` (both sides evaluated), never `&&` or
 * `||`. Tint turns each short-circuit operator into a branch and a phi, and SwiftShader's compile
 * time grows exponentially with the number of such merges in a loop body: five 6-term `&&`
 * chains in a loop took 15 s and six ran out of 4 GB, against 60 ms with `&`; the 4-lane conv
 * input-gradient GEMM (eight chains) grew to 24 GB (docs/kernels.md §8). Refused here, where
 * every kernel is generated, so a new one fails its first test on any adapter. Users' own kernels
 * (defineKernel, names `user.*`) are not checked.
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
