// Reductions over the middle axis of a [A, R, C] view (any set of contiguous axes maps to it),
// or over the outer and inner axes of one, keeping the middle (a conv bias's gradient: NCHW
// summed over N, H, W); other axis sets are permuted first by the engine. sum (with a scale,
// for mean), max, and logsumexp (online max + rescaled sum, so it never overflows).
import { WG, defineParams, kernel, readOnly, readWrite, activationGradWgsl, type Activation, type KernelSource } from './common.js';

export type ReduceKind = 'sum' | 'max' | 'lse';

// (m, s) state for each kind: sum keeps s only, max keeps m only, lse keeps both.
const INIT = { sum: 'var m = 0.0; var s = 0.0;', max: 'var m = -3.402823e38; var s = 0.0;', lse: 'var m = -3.402823e38; var s = 0.0;' };
const STEP = {
  sum: 's = s + x;',
  max: 'm = max(m, x);',
  lse: 'if (x > m) { s = s * exp(m - x) + 1.0; m = x; } else { s = s + exp(x - m); }',
};
const MERGE = {
  sum: 's = s + s2;',
  max: 'm = max(m, m2);',
  lse: 'let mm = max(m, m2); s = s * exp(m - mm) + s2 * exp(m2 - mm); m = mm;',
};
const RESULT = { sum: 's * P.scale', max: 'm', lse: 'm + log(s)' };

const REDUCE_PARAMS = defineParams({ A: 'u32', R: 'u32', C: 'u32', scale: 'f32' });
/** The reductions' bindings: the input x and the result y. */
const XY = { x: readOnly(), y: readWrite() };

/** One thread per output (a, c), looping over r: reads along c are coalesced. */
export function reduceColsKernel(kind: ReduceKind): KernelSource {
  return kernel('reduce.cols', { kind }, ({ kind }) => ({ params: REDUCE_PARAMS, bindings: XY, body: `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let total = P.A * P.C;
  for (var o = gid.x; o < total; o = o + nwg.x * ${WG}u) {
    let a = o / P.C;
    let c = o % P.C;
    let base = a * P.R * P.C + c;
    ${INIT[kind]}
    for (var r = 0u; r < P.R; r = r + 1u) {
      let x = x[base + r * P.C];
      ${STEP[kind]}
    }
    y[o] = ${RESULT[kind]};
  }
}` }));
}

/**
 * The backward of a GEMM with a bias and an activation epilogue, y = act(x·W + b), in one pass:
 * the pre-activation gradient d = g·act'(y) (written out: the products dx and dW read it) and
 * its column sums (b's gradient). One thread per column, as reduceColsKernel. View [1, R, C].
 * Bindings: g, y, d, db.
 */
export function actGradColsKernel(act: Activation): KernelSource {
  return kernel('act_grad.cols', { act }, ({ act }) => ({
    params: REDUCE_PARAMS,
    bindings: { g: readOnly(), y: readOnly(), d: readWrite(), db: readWrite() },
    body: `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  for (var c = gid.x; c < P.C; c = c + nwg.x * ${WG}u) {
    var s = 0.0;
    for (var r = 0u; r < P.R; r = r + 1u) {
      let i = r * P.C + c;
      let v = ${activationGradWgsl(act, 'g[i]', 'y[i]')};
      d[i] = v;
      s = s + v;
    }
    db[c] = s;
  }
}`,
  }));
}

/**
 * One workgroup per output `o` (grid-stride over `outputs`): its threads walk elements
 * 0..`count` of that output at `at` (WGSL of o and i), then a tree in workgroup memory.
 */
function workgroupPerOutput(name: string, kind: ReduceKind, outputs: string, count: string, at: string): KernelSource {
  return kernel(`reduce.${name}`, { kind }, ({ kind }) => ({ params: REDUCE_PARAMS, bindings: XY, body: `var<workgroup> sm: array<f32, ${WG}>;
var<workgroup> ss: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let n = ${count};
  for (var o = wid.x + wid.y * nwg.x; o < ${outputs}; o = o + nwg.x * nwg.y) {
    ${INIT[kind]}
    for (var i = li; i < n; i = i + ${WG}u) {
      let x = x[${at}];
      ${STEP[kind]}
    }
    sm[li] = m;
    ss[li] = s;
    workgroupBarrier();
    for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
      if (li < w) {
        let m2 = sm[li + w];
        let s2 = ss[li + w];
        ${MERGE[kind]}
        sm[li] = m;
        ss[li] = s;
      }
      workgroupBarrier();
    }
    if (li == 0u) { y[o] = ${RESULT[kind]}; }
    workgroupBarrier();
  }
}` }));
}

/** One workgroup per row (C == 1, long R): strided partials, then a tree in workgroup memory. */
export function reduceRowsKernel(kind: ReduceKind): KernelSource {
  return workgroupPerOutput('rows', kind, 'P.A', 'P.R', 'o * P.R + i');
}

/**
 * Keeps the middle axis of an [A, R, C] view and reduces the other two (y[r] over all a, c): one
 * workgroup per r, threads striding over (a, c) so that reads along c are contiguous. Spares the
 * permute pass that the middle-axis kernels would need for NCHW summed over N, H and W.
 */
export function reduceOuterInnerKernel(kind: ReduceKind): KernelSource {
  return workgroupPerOutput('outer_inner', kind, 'P.R', 'P.A * P.C', '(i / P.C) * P.R * P.C + o * P.C + i % P.C');
}
