// Sparse rows. (1) Densifying a CSR batch of rows on the GPU, so that a user × item matrix is
// never built on the host: callers upload one batch's rowptr / column indices (/ values) and get
// [B, I] (data, not parameters: no backward). (2) sparse_linear: x·W + b for an x that is zero
// outside a known row pattern — the recommenders' first layer, whose input rows (a user's items,
// normalised, through a multiplicative dropout) hold ~0.4 % nonzeros at ML-20M's shape.
import { defineOp, apply, type Ref } from '../op.js';
import { dispatch } from '../dispatch.js';
import { zeros, empty, tensor, fmtShape, Tensor } from '../tensor.js';
import { gridFor, WG } from '../../kernels/common.js';
import { densifyCsrKernel, sparseRowsMatmulKernel, sparseRowsGradWKernel, sparseRowsGradXKernel } from '../../kernels/sparse.js';
import { sumTo } from './reduce.js';
import { activationOf, activationBiasGrad, refActivation } from './matmul.js';
import type { Activation } from '../../kernels/common.js';

function checkInputs(rowptr: Tensor, indices: Tensor, values: Tensor | undefined, cols: number): void {
  if (rowptr.dtype !== 'i32' || rowptr.ndim !== 1 || rowptr.size < 1) throw new Error(`densify_csr: rowptr must be a 1-d i32 tensor of B+1 offsets, got ${rowptr}`);
  if (indices.dtype !== 'i32' || indices.ndim !== 1) throw new Error(`densify_csr: indices must be a 1-d i32 tensor, got ${indices}`);
  if (values && (values.dtype !== 'f32' || values.ndim !== 1 || values.size !== indices.size)) {
    throw new Error(`densify_csr: values must be a 1-d f32 tensor as long as indices (${indices.size}), got ${values}`);
  }
  if (!Number.isInteger(cols) || cols < 0) throw new Error(`densify_csr: cols must be a non-negative integer, got ${cols}`);
}

const densifyDef = defineOp<{ cols: number }>({
  name: 'densify_csr',
  forward([rowptr, indices, values], attrs) {
    const cols = attrs.cols;
    checkInputs(rowptr, indices, values, cols);
    const B = rowptr.size - 1;
    const out = zeros([B, cols]);
    if (B > 0 && cols > 0 && indices.size > 0) {
      dispatch({
        kernel: densifyCsrKernel(!!values),
        bindings: { rowptr: rowptr.buffer, idx: indices.buffer, vals: values?.buffer, y: out.buffer },
        params: { B, I: cols, nnz: indices.size },
        workgroups: [gridFor(B)],
      });
    }
    return out;
  },
  // Same semantics as the kernel, including the clamped ranges and skipped columns that random
  // registry inputs produce (real CSR data never has them).
  reference([rowptr, indices, values], attrs): Ref {
    const cols = attrs.cols;
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

// ---- sparse_linear ------------------------------------------------------------------------------

/**
 * Which entries of a [rows, cols] matrix may be nonzero: a CSR pattern on the host (row r's
 * columns are indices[rowptr[r] .. rowptr[r+1]), strictly increasing). Checked once here; the
 * column-major form the weight gradient walks is built on first use.
 */
export class RowPattern {
  readonly rows: number;
  readonly nnz: number;
  #byColumn: { colptr: Int32Array; rowOf: Int32Array } | null = null;

  constructor(readonly rowptr: Int32Array, readonly indices: Int32Array, readonly cols: number) {
    const nnz = indices.length;
    if (!(rowptr instanceof Int32Array) || !(indices instanceof Int32Array)) throw new Error('RowPattern: rowptr and indices must be Int32Arrays');
    if (!Number.isSafeInteger(cols) || cols < 1) throw new Error(`RowPattern: cols must be a positive integer, got ${String(cols)}`);
    if (rowptr.length < 1 || rowptr[0] !== 0 || rowptr[rowptr.length - 1] !== nnz) {
      throw new Error(`RowPattern: rowptr must run from 0 to indices.length (${nnz}); got ${rowptr[0]}..${rowptr[rowptr.length - 1]}`);
    }
    for (let r = 0; r + 1 < rowptr.length; r++) {
      if (rowptr[r + 1] < rowptr[r]) throw new Error(`RowPattern: rowptr decreases at row ${r} (${rowptr[r]} → ${rowptr[r + 1]})`);
      for (let k = rowptr[r]; k < rowptr[r + 1]; k++) {
        const c = indices[k];
        if (!(c >= 0 && c < cols)) throw new Error(`RowPattern: column ${c} at entry ${k} (row ${r}) is outside [0, ${cols})`);
        // a repeated column would count its entry twice
        if (k > rowptr[r] && c <= indices[k - 1]) throw new Error(`RowPattern: row ${r}'s columns must increase strictly (${indices[k - 1]} then ${c} at entry ${k})`);
      }
    }
    this.rows = rowptr.length - 1;
    this.nnz = nnz;
  }

  /** The pattern of `copies` copies of the batch stacked along rows (copy c is rows c·rows …). */
  repeat(copies: number): RowPattern {
    if (!Number.isSafeInteger(copies) || copies < 1) throw new Error(`RowPattern.repeat: copies must be a positive integer, got ${String(copies)}`);
    if (copies === 1) return this;
    const rowptr = new Int32Array(copies * this.rows + 1);
    const indices = new Int32Array(copies * this.nnz);
    for (let c = 0; c < copies; c++) {
      for (let r = 1; r <= this.rows; r++) rowptr[c * this.rows + r] = c * this.nnz + this.rowptr[r];
      indices.set(this.indices, c * this.nnz);
    }
    return new RowPattern(rowptr, indices, this.cols);
  }

  /** Column-major form (CSC): column i's rows are rowOf[colptr[i] .. colptr[i+1]), increasing. */
  get byColumn(): { colptr: Int32Array; rowOf: Int32Array } {
    if (this.#byColumn) return this.#byColumn;
    const colptr = new Int32Array(this.cols + 1);
    for (let k = 0; k < this.nnz; k++) colptr[this.indices[k] + 1]++;
    for (let i = 0; i < this.cols; i++) colptr[i + 1] += colptr[i];
    const at = colptr.slice(0, this.cols);
    const rowOf = new Int32Array(this.nnz);
    for (let r = 0; r < this.rows; r++) for (let k = this.rowptr[r]; k < this.rowptr[r + 1]; k++) rowOf[at[this.indices[k]]++] = r;
    this.#byColumn = { colptr, rowOf };
    return this.#byColumn;
  }

  toString(): string { return `RowPattern [${this.rows}, ${this.cols}], ${this.nnz} entries`; }
}

/** Rows the 2-d grids below span in y (the rest is walked with a stride). */
const gridRows = (n: number): number => Math.max(1, Math.min(n, 65535));

type SparseLinearAttrs = { pattern: RowPattern; act?: Activation | 'none' };
/** The pattern's rows on the GPU, kept for the input gradient (when x needs one). */
type SparseLinearSaved = { rowptr?: Tensor; idx?: Tensor };

/** attrs.pattern checked (JavaScript callers may pass anything). */
const patternOf = (attrs: SparseLinearAttrs): RowPattern => {
  const p = attrs.pattern;
  if (!(p instanceof RowPattern)) throw new Error(`sparse_linear: attrs.pattern must be a RowPattern, got ${String(p)}`);
  return p;
};

const sparseLinearDef = defineOp<SparseLinearAttrs, SparseLinearSaved>({
  name: 'sparse_linear',
  forward([x, w, b], attrs, saved) {
    const p = patternOf(attrs);
    for (const t of [x, w, b]) if (t && t.dtype !== 'f32') throw new Error(`sparse_linear: operands must be f32, got ${t}`);
    if (x.ndim !== 2 || w.ndim !== 2 || x.shape[1] !== w.shape[0] || (b && (b.ndim !== 1 || b.shape[0] !== w.shape[1]))) {
      throw new Error(`sparse_linear: expects x [B, K], weight [K, N] and bias [N]; got ${fmtShape(x.shape)}, ${fmtShape(w.shape)}${b ? ` and ${fmtShape(b.shape)}` : ''}`);
    }
    if (p.rows !== x.shape[0] || p.cols !== x.shape[1]) throw new Error(`sparse_linear: ${p} does not fit x ${fmtShape(x.shape)}`);
    const [B, I] = x.shape, N = w.shape[1];
    const out = empty([B, N], 'f32', 'sparse_linear');
    if (B === 0 || N === 0) return out;
    const rowptr = tensor(p.rowptr, [B + 1], 'i32');
    const idx = tensor(p.nnz ? p.indices : new Int32Array(1), [Math.max(1, p.nnz)], 'i32');
    const vec = N % 4 === 0;
    dispatch({
      kernel: sparseRowsMatmulKernel({ vec, bias: !!b, act: activationOf('sparse_linear', attrs) }),
      bindings: { ptr: rowptr.buffer, ent: idx.buffer, x: x.buffer, w: w.buffer, y: out.buffer, bias: b?.buffer },
      params: { B, I, N, gridY: gridRows(B) },
      workgroups: [Math.ceil(N / 4 / WG), gridRows(B)],
    });
    // the input gradient walks the rows again (the weight gradient uploads the column form)
    if (x.requiresGrad) { saved.rowptr = rowptr; saved.idx = idx; } else { rowptr.dispose(); idx.dispose(); }
    return out;
  },
  backward(gOut, node) {
    const [x, w, b] = node.inputs;
    const p = patternOf(node.attrs);
    const act = activationOf('sparse_linear', node.attrs);
    // with an activation: the pre-activation gradient (and the bias's, same pass) from the output
    const [g, db] = act ? activationBiasGrad(gOut, node.output, act) : [gOut, null];
    const [B, I] = x.shape, N = w.shape[1];
    const vec = N % 4 === 0;
    const { rowptr, idx } = node.saved;
    let dx: Tensor | null = null, dw: Tensor | null = null;
    if (x.requiresGrad) {
      if (!rowptr || !idx) throw new Error('sparse_linear: x needs a gradient now but did not when the forward ran');
      dx = zeros([B, I]);
      if (p.nnz > 0) {
        dispatch({
          kernel: sparseRowsGradXKernel(vec),
          bindings: { rowptr: rowptr.buffer, idx: idx.buffer, g: g.buffer, w: w.buffer, dx: dx.buffer },
          params: { B, I, N, gridY: gridRows(B) },
          workgroups: [1, gridRows(B)],
        });
      }
    }
    if (w.requiresGrad) {
      const { colptr, rowOf } = p.byColumn;
      const cp = tensor(colptr, [I + 1], 'i32');
      const ro = tensor(p.nnz ? rowOf : new Int32Array(1), [Math.max(1, p.nnz)], 'i32');
      dw = empty([I, N], 'f32', 'sparse_linear.dw');
      dispatch({
        kernel: sparseRowsGradWKernel(vec),
        bindings: { ptr: cp.buffer, ent: ro.buffer, x: x.buffer, g: g.buffer, dw: dw.buffer },
        params: { B, I, N, gridY: gridRows(I) },
        workgroups: [Math.ceil(N / 4 / WG), gridRows(I)],
      });
      cp.dispose(); ro.dispose();
    }
    const dbias = b?.requiresGrad ? db ?? sumTo(g, b.shape) : null;
    if (db && dbias !== db) db.dispose();
    if (g !== gOut) g.dispose();
    return [dx, dw, dbias];
  },
  reference([x, w, b], attrs): Ref {
    const p = patternOf(attrs);
    const [B, I] = x.shape, N = w.shape[1];
    const data = new Float64Array(B * N);
    for (let r = 0; r < B; r++) {
      for (let n = 0; n < N; n++) data[r * N + n] = b ? b.data[n] : 0;
      for (let k = p.rowptr[r]; k < p.rowptr[r + 1]; k++) {
        const c = p.indices[k];
        for (let n = 0; n < N; n++) data[r * N + n] += x.data[r * I + c] * w.data[c * N + n];
      }
    }
    const act = activationOf('sparse_linear', attrs);
    for (let i = 0; i < data.length; i++) data[i] = refActivation(act, data[i]);
    return { shape: [B, N], data };
  },
  // x's rows are independent; its columns and every axis of W are contracted (as matmul)
  mixesBatch: (_node, input, axis) => input === 1 || axis === 1,
  cases: [
    // an empty row (1), a column no row has (3, 6), N a multiple of 4 and not
    { inputs: [{ shape: [4, 7] }, { shape: [7, 8] }, { shape: [8] }], attrs: { pattern: new RowPattern(Int32Array.from([0, 3, 3, 5, 8]), Int32Array.from([0, 2, 5, 1, 4, 0, 2, 5]), 7) } },
    { inputs: [{ shape: [3, 5] }, { shape: [5, 6] }], attrs: { pattern: new RowPattern(Int32Array.from([0, 2, 4, 5]), Int32Array.from([1, 4, 0, 1, 4]), 5) } },
    { inputs: [{ shape: [2, 9] }, { shape: [9, 3] }, { shape: [3] }], attrs: { pattern: new RowPattern(Int32Array.from([0, 9, 12]), Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 2, 6, 7]), 9) } },
    { inputs: [{ shape: [3, 4] }, { shape: [4, 70] }, { shape: [70] }], attrs: { pattern: new RowPattern(Int32Array.from([0, 1, 3, 4]), Int32Array.from([3, 0, 2, 1]), 4) } },
    // the activation epilogue (the recommenders' first layer → tanh), N a multiple of 4 and not
    { inputs: [{ shape: [4, 7] }, { shape: [7, 8] }, { shape: [8] }], attrs: { act: 'tanh', pattern: new RowPattern(Int32Array.from([0, 3, 3, 5, 8]), Int32Array.from([0, 2, 5, 1, 4, 0, 2, 5]), 7) } },
    { inputs: [{ shape: [2, 9] }, { shape: [9, 3] }, { shape: [3] }], attrs: { act: 'relu', pattern: new RowPattern(Int32Array.from([0, 9, 12]), Int32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 2, 6, 7]), 9) } },
  ],
});

/**
 * x·W (+ b) where x [B, K] is taken as zero outside `pattern` (its entries there are never read):
 * nnz·N multiply-adds. dW is dense [K, N] (zero rows for columns no example has); dx is nonzero
 * only at the pattern's entries.
 */
export function sparseLinear(x: Tensor, w: Tensor, b: Tensor | null, pattern: RowPattern, act: Activation | 'none' = 'none'): Tensor {
  return apply(sparseLinearDef, b ? [x, w, b] : [x, w], act === 'none' ? { pattern } : { pattern, act });
}
