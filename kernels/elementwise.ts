// Elementwise kernels: any expression over up to three inputs with numpy broadcasting.
// `expr` is WGSL over a, b, c (typed T), the uniforms s0, s1 (f32) and T(...) splats, so the
// same text serves scalars and the vec4 fast path for contiguous, same-shape operands; it may
// call the accurate exp_acc / log_acc of kernels/math.ts, included for T when it does.
import { MAX_DIMS, WG, defineParams, kernel, readOnly, readWrite, stridedOffsetFn, type BindingDecl, type KernelSource, type ParamType, type ScalarType, type StorageType } from './common.js';
import { mathWgsl } from './math.js';

export interface ElementwiseConfig {
  /** Distinguishes kernels in the cache: the op name. */
  name: string;
  expr: string;
  arity: number;
  /** 'contiguous': every input has the output's shape; 'vec4': same, n % 4 == 0, f32 only. */
  layout: 'strided' | 'contiguous' | 'vec4';
  /** Dimensions of the strided layout (after merging). */
  ndim?: number;
  inType?: ScalarType;
  outType?: ScalarType;
}

const NAMES = ['a', 'b', 'c'];

/**
 * Uniforms: n (threads' items: elements, or vec4s), ndim, s0, s1 (f32 scalars of the expression);
 * strided layouts add the merged output shape and each input's strides (`dims`).
 * Bindings: in_a, in_b, in_c (as many as the arity), out.
 */
export function elementwiseKernel(cfg: ElementwiseConfig): KernelSource {
  const config = {
    name: cfg.name, expr: cfg.expr, arity: cfg.arity, layout: cfg.layout,
    ndim: cfg.layout === 'strided' ? cfg.ndim ?? MAX_DIMS : undefined,
    inType: cfg.inType ?? 'f32', outType: cfg.outType ?? 'f32',
  };
  return kernel('ew', config, (c) => {
    const vec = c.layout === 'vec4';
    const T = (vec ? `vec4<${c.inType}>` : c.inType) as StorageType;
    const OT = (vec ? `vec4<${c.outType}>` : c.outType) as StorageType;
    const decl: Record<string, ParamType> = { n: 'u32', ndim: 'u32', s0: 'f32', s1: 'f32' };
    if (c.layout === 'strided') {
      decl.shape = 'dims';
      for (const n of NAMES.slice(0, c.arity)) decl[`st_${n}`] = 'dims';
    }
    const bindings: Record<string, BindingDecl> = {};
    for (const n of NAMES.slice(0, c.arity)) bindings[`in_${n}`] = readOnly(T);
    bindings.out = readWrite(OT);
    const offFns = c.layout === 'strided'
      ? NAMES.slice(0, c.arity).map((n) => stridedOffsetFn(`off_${n}`, 'shape', `st_${n}`, c.ndim!))
      : [];
    const offs = offFns.map((f) => f.decl).join('\n');
    const loads = NAMES.slice(0, c.arity)
      .map((n) => `    let ${n} = in_${n}[${c.layout === 'strided' ? `off_${n}(i)` : 'i'}];`).join('\n');
    const body = `
alias T = ${T};
${mathWgsl(c.expr, T)}
${offs}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let s0 = P.s0;
  let s1 = P.s1;
  let n = P.n;
${offFns.map((f) => f.load).join('\n')}
  let step = nwg.x * ${WG}u;
  for (var i = gid.x; i < n; i = i + step) {
${loads}
    out[i] = ${OT}(${c.expr});
  }
}`;
    return { params: defineParams(decl), bindings, body };
  });
}
