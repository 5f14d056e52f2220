// A CSR batch on the GPU: its dense rows (the user × item matrix is only ever built here, one
// batch at a time) and their nonzero pattern, through which the first layer reads only the
// nonzeros (Recommender.perExampleLoss).
import { densifyCsrHost, RowPattern } from '../../../engine/ops/sparse.js';
import type { Tensor } from '../../../engine/tensor.js';
import { csrBatch, gatherRows, type Csr } from './csr.js';

/** Dense [rowEnd − rowStart, cols] f32 on the GPU from a contiguous range of rows. */
export function densifyBatch(m: Csr, rowStart: number, rowEnd: number): Tensor {
  const b = csrBatch(m, rowStart, rowEnd);
  return densifyCsrHost(b.indptr, b.indices, b.cols, b.values);
}

/** Dense [rows.length, cols] f32 on the GPU from arbitrary rows (gathered on the host first). */
export function densifyRows(m: Csr, rows: ArrayLike<number>): Tensor {
  const b = gatherRows(m, rows);
  return densifyCsrHost(b.indptr, b.indices, b.cols, b.values);
}

/**
 * A CSR batch as the recommenders take it: its dense rows on the GPU and their nonzero pattern,
 * through which the first layer reads only the nonzeros (Recommender.perExampleLoss).
 */
export function modelInput(b: Csr): { x: Tensor; rows: RowPattern } {
  return { x: densifyCsrHost(b.indptr, b.indices, b.cols, b.values), rows: new RowPattern(b.indptr, b.indices, b.cols) };
}
