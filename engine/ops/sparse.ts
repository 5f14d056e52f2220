// Densifying a CSR batch of rows on the GPU, so that a user × item matrix is never built on
// the host: callers upload one batch's rowptr / column indices (/ values) and get [B, I].
// Data, not parameters: no backward.
import { defineOp, apply, type Ref } from '../op.js';
import { dispatch } from '../dispatch.js';
import { zeros, tensor, Tensor } from '../tensor.js';
import { gridFor } from '../../kernels/common.js';
import { densifyCsrKernel } from '../../kernels/sparse.js';

function checkInputs(rowptr: Tensor, indices: Tensor, values: Tensor | undefined, cols: number): void {
  if (rowptr.dtype !== 'i32' || rowptr.ndim !== 1 || rowptr.size < 1) throw new Error(`densify_csr: rowptr must be a 1-d i32 tensor of B+1 offsets, got ${rowptr}`);
  if (indices.dtype !== 'i32' || indices.ndim !== 1) throw new Error(`densify_csr: indices must be a 1-d i32 tensor, got ${indices}`);
  if (values && (values.dtype !== 'f32' || values.ndim !== 1 || values.size !== indices.size)) {
    throw new Error(`densify_csr: values must be a 1-d f32 tensor as long as indices (${indices.size}), got ${values}`);
  }
  if (!Number.isInteger(cols) || cols < 0) throw new Error(`densify_csr: cols must be a non-negative integer, got ${cols}`);
}

const densifyDef = defineOp({
  name: 'densify_csr',
  forward([rowptr, indices, values], attrs) {
    const cols = attrs.cols as number;
    checkInputs(rowptr, indices, values, cols);
    const B = rowptr.size - 1;
    const out = zeros([B, cols]);
    if (B > 0 && cols > 0 && indices.size > 0) {
      dispatch({
        kernel: densifyCsrKernel(!!values),
        buffers: values ? [rowptr.buffer, indices.buffer, values.buffer, out.buffer] : [rowptr.buffer, indices.buffer, out.buffer],
        params: { B, I: cols, nnz: indices.size },
        workgroups: [gridFor(B)],
      });
    }
    return out;
  },
  // Same semantics as the kernel, including the clamped ranges and skipped columns that random
  // registry inputs produce (real CSR data never has them).
  reference([rowptr, indices, values], attrs): Ref {
    const cols = attrs.cols as number;
    const B = rowptr.data.length - 1;
    const nnz = indices.data.length;
    const data = new Float64Array(B * cols);
    const clampN = (p: number): number => Math.min(Math.max(p, 0), nnz);
    for (let r = 0; r < B; r++) {
      for (let k = clampN(rowptr.data[r]); k < clampN(rowptr.data[r + 1]); k++) {
        const c = indices.data[k];
        if (c >= 0 && c < cols) data[r * cols + c] += values ? values.data[k] : 1;
      }
    }
    return { shape: [B, cols], data };
  },
  cases: [
    // indices drawn from [0, cols] so one in cols+1 is out of range and must be skipped
    { inputs: [{ shape: [6], dtype: 'i32', ints: 21, grad: false }, { shape: [20], dtype: 'i32', ints: 14, grad: false }], attrs: { cols: 13 } },
    {
      inputs: [{ shape: [4], dtype: 'i32', ints: 31, grad: false }, { shape: [30], dtype: 'i32', ints: 71, grad: false }, { shape: [30], grad: false }],
      attrs: { cols: 70 },
    },
    { inputs: [{ shape: [2], dtype: 'i32', ints: 6, grad: false }, { shape: [5], dtype: 'i32', ints: 3, grad: false }, { shape: [5], grad: false }], attrs: { cols: 3 } },
  ],
});

/**
 * Dense [B, cols] f32 from a CSR batch on the GPU: row r holds values[k] (1 without values) at
 * column indices[k] for k in [rowptr[r], rowptr[r+1]); zeros elsewhere; repeated columns sum.
 */
export function densifyCsr(rowptr: Tensor, indices: Tensor, cols: number, values?: Tensor): Tensor {
  return apply(densifyDef, values ? [rowptr, indices, values] : [rowptr, indices], { cols });
}

/**
 * Uploads a host CSR batch (offsets relative to `indices`), densifies it, and frees the
 * uploads. Checks the offsets and columns first: the kernel would silently skip bad ones.
 */
export function densifyCsrHost(rowptr: Int32Array, indices: Int32Array, cols: number, values?: Float32Array): Tensor {
  const nnz = indices.length;
  if (rowptr.length < 1 || rowptr[0] !== 0 || rowptr[rowptr.length - 1] !== nnz) {
    throw new Error(`densifyCsrHost: rowptr must run from 0 to indices.length (${nnz}); got ${rowptr[0]}..${rowptr[rowptr.length - 1]}`);
  }
  if (values && values.length !== nnz) throw new Error(`densifyCsrHost: ${values.length} values for ${nnz} indices`);
  checkHostCsr(rowptr, indices, cols);
  const B = rowptr.length - 1;
  if (nnz === 0) return zeros([B, cols]);
  const tr = tensor(rowptr, [B + 1], 'i32');
  const ti = tensor(indices, [nnz], 'i32');
  const tv = values ? tensor(values, [nnz], 'f32') : undefined;
  try {
    return densifyCsr(tr, ti, cols, tv);
  } finally {
    tr.dispose(); ti.dispose(); tv?.dispose();
  }
}

function checkHostCsr(rowptr: Int32Array, indices: Int32Array, cols: number): void {
  for (let r = 0; r + 1 < rowptr.length; r++) {
    if (rowptr[r + 1] < rowptr[r]) throw new Error(`densifyCsrHost: rowptr decreases at row ${r} (${rowptr[r]} → ${rowptr[r + 1]})`);
  }
  for (let at = 0; at < indices.length; at += 65536) checkCols(indices, at, Math.min(indices.length, at + 65536), cols);
}

function checkCols(indices: Int32Array, lo: number, hi: number, cols: number): void {
  for (let k = lo; k < hi; k++) {
    const c = indices[k];
    if (c < 0 || c >= cols) throw new Error(`densifyCsrHost: column index ${c} at nonzero ${k} is outside [0, ${cols})`);
  }
}
