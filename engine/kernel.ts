// defineKernel: a WGSL compute kernel declared by its signature — its uniform parameters and its
// storage bindings by name and type — for code outside the engine. It is the engine's own
// declaration (kernels/common.ts `kernel`, which every kernel in kernels/ uses) with a body
// written by the user: from the one declaration come the WGSL declarations the body uses
// (`P.<param>`, `<binding>[i]`), the bind-group layout (no parsing of the WGSL), the pipeline
// cache key (the name and the variant's config, so two variants never share a pipeline) and a
// dispatch that takes its buffers by name. A custom differentiable op is then a defineOp whose
// forward and backward dispatch such kernels (docs/custom-kernels.md).
import { defineParams, kernel, kernelHeader, type KernelSource, type ParamBlock, type ParamDecl, type ParamValues, type StorageAccess } from '../kernels/common.js';
import { dispatch } from './dispatch.js';
import { Tensor } from './tensor.js';

/** The element type of a storage binding: `array<type>` in WGSL. */
export type StorageType = 'f32' | 'i32' | 'u32' | 'vec4<f32>' | 'vec4<i32>' | 'vec4<u32>';

export interface BindingDecl {
  /** 'read' (var<storage, read>) or 'read_write'. */
  access: StorageAccess;
  /** Element type (default f32). */
  type?: StorageType;
}

/** A variant's configuration: the values the WGSL text depends on (they name the pipeline). */
export type KernelConfig = Readonly<Record<string, string | number | boolean>>;

export interface KernelDeclaration<P extends ParamDecl, B extends Readonly<Record<string, BindingDecl>>, C extends KernelConfig> {
  /** Names the kernel in the pipeline cache, in GPU error messages and in profiles. */
  name: string;
  /** Uniform parameters by name: 'u32' | 'i32' | 'f32' | 'dims' (up to 8 u32); read as `P.<name>`. */
  params?: P;
  /** Storage bindings by name, in binding order; read as `<name>[i]` in the body. */
  bindings: B;
  /**
   * The rest of the WGSL: helper functions and the entry point `@compute @workgroup_size(...)
   * fn main(...)`. A function of the config for kernels with variants (tile sizes, an unrolled
   * loop): each distinct config is compiled once.
   */
  body: string | ((config: C) => string);
}

/** What a dispatch binds: a tensor (its elements) or a raw GPU buffer. */
export type BindingValue = Tensor | GPUBuffer;

export interface KernelDispatch<P extends ParamDecl, B, C> {
  bindings: { readonly [K in keyof B]: BindingValue };
  /** Workgroup counts [x, y?, z?]. */
  workgroups: [number, number?, number?];
  /** Omitted for a kernel without params. */
  params?: ParamValues<P>;
  /** The variant (required when the body is a function of it). */
  config?: C;
}

export interface Kernel<P extends ParamDecl, B extends Readonly<Record<string, BindingDecl>>, C extends KernelConfig> {
  readonly name: string;
  /** The generated declarations (uniform struct `P`, one `var<storage>` per binding) that precede the body. */
  readonly header: string;
  /** The kernel's source for a config (compiled on first dispatch; for inspection and tests). */
  source(config?: C): KernelSource;
  /** Records one dispatch into the current batch (engine/dispatch.ts). */
  dispatch(d: KernelDispatch<P, B, C>): void;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Declares a kernel (see the file header); checks the names once, here. */
export function defineKernel<P extends ParamDecl, B extends Readonly<Record<string, BindingDecl>>, C extends KernelConfig = Record<string, never>>(
  decl: KernelDeclaration<P, B, C>,
): Kernel<P, B, C> {
  const names = Object.keys(decl.bindings);
  if (!decl.name || /\s/.test(decl.name)) throw new Error(`defineKernel: name must be a non-empty word, got '${decl.name}'`);
  if (!names.length) throw new Error(`defineKernel(${decl.name}): declare at least one binding`);
  for (const n of [...names, ...Object.keys(decl.params ?? {})]) {
    if (!IDENT.test(n) || n === 'P' || n === 'main') throw new Error(`defineKernel(${decl.name}): '${n}' is not usable as a WGSL name`);
  }
  const block: ParamBlock | undefined = decl.params ? defineParams(decl.params) : undefined;
  for (const n of names) {
    const { access, type } = decl.bindings[n];
    if (access !== 'read' && access !== 'read_write') throw new Error(`defineKernel(${decl.name}): access must be 'read' or 'read_write', got '${String(access)}'`);
    if (type !== undefined && !['f32', 'i32', 'u32', 'vec4<f32>', 'vec4<i32>', 'vec4<u32>'].includes(type)) throw new Error(`defineKernel(${decl.name}): binding '${n}': element type '${String(type)}' is not supported`);
  }
  const bindings = decl.bindings;
  const header = kernelHeader({ ...(block ? { params: block } : {}), bindings });
  const source = (config?: C): KernelSource => {
    if (typeof decl.body === 'function' && config === undefined) throw new Error(`defineKernel(${decl.name}): this kernel's body depends on a config; pass one`);
    // keyed by the name and the config's canonical text: the same variant is always the same pipeline
    return kernel(`user.${decl.name}`, (config ?? {}) as KernelConfig, (c) => ({
      ...(block ? { params: block } : {}),
      bindings,
      body: typeof decl.body === 'function' ? decl.body(c as C) : decl.body,
    }));
  };
  return {
    name: decl.name,
    header,
    source,
    dispatch(d) {
      const resources: Record<string, GPUBuffer | { buffer: GPUBuffer; size: number }> = {};
      for (const n of names) {
        const v = (d.bindings as Record<string, BindingValue | undefined>)[n];
        if (v === undefined) throw new Error(`${decl.name}: binding '${n}' is missing (declared: ${names.join(', ')})`);
        resources[n] = v instanceof Tensor ? { buffer: v.buffer, size: v.size * 4 } : v;
      }
      for (const k of Object.keys(d.bindings)) if (!names.includes(k)) throw new Error(`${decl.name}: unknown binding '${k}' (declared: ${names.join(', ')})`);
      if (block && !d.params) throw new Error(`${decl.name}: params are missing (declared: ${Object.keys(decl.params!).join(', ')})`);
      dispatch({ kernel: source(d.config), bindings: resources, ...(block ? { params: d.params as Record<string, number | readonly number[]> } : {}), workgroups: d.workgroups });
    },
  };
}
