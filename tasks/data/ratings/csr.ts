// Compressed sparse rows on the host: building them from interactions (counting sorts, with
// duplicates merged), column counts, and the row batches the recommenders train on.

/** Compressed sparse rows; each row's indices are ascending and distinct. */
export interface Csr {
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  /** Absent for binarised data (every stored entry is 1). */
  values?: Float32Array;
}

// ---- CSR building ----------------------------------------------------------------------------

const STEP = 1 << 16;

/** Runs fn over [0, n) in chunks, so that fn's loop gets compiled (no on-stack replacement). */
export function chunked(n: number, fn: (lo: number, hi: number) => void): void {
  for (let lo = 0; lo < n; lo += STEP) fn(lo, Math.min(n, lo + STEP));
}

function countInto(idx: Int32Array, counts: Int32Array, lo: number, hi: number): void {
  for (let k = lo; k < hi; k++) counts[idx[k]]++;
}

function exclusiveScan(counts: Int32Array): Int32Array {
  const p = new Int32Array(counts.length + 1);
  chunked(counts.length, (lo, hi) => scanPart(counts, p, lo, hi));
  return p;
}

function scanPart(counts: Int32Array, p: Int32Array, lo: number, hi: number): void {
  for (let k = lo; k < hi; k++) p[k + 1] = p[k] + counts[k];
}

/**
 * CSR from coordinate triples (the first n). Rows come out sorted by column (two stable counting
 * sorts, O(nnz)); a repeated (row, col) keeps its last value, so the data stay 0/1 when binarised.
 */
export function toCsr(rows: number, cols: number, r: Int32Array, c: Int32Array, v?: Float32Array, n = r.length): Csr {
  const colCount = new Int32Array(cols), rowCount = new Int32Array(rows);
  chunked(n, (lo, hi) => { countInto(c, colCount, lo, hi); countInto(r, rowCount, lo, hi); });
  const colPos = exclusiveScan(colCount);
  const byCol = new Int32Array(n);
  chunked(n, (lo, hi) => placeByCol(c, colPos, byCol, lo, hi));
  const indptr = exclusiveScan(rowCount);
  const fill = indptr.slice(0, rows);
  const indices = new Int32Array(n);
  const values = v ? new Float32Array(n) : undefined;
  chunked(n, (lo, hi) => placeByRow(byCol, r, c, v, fill, indices, values, lo, hi));
  const csr: Csr = { rows, cols, indptr, indices, values };
  let dups = 0;
  chunked(rows, (lo, hi) => { dups += countDuplicates(csr, lo, hi); });
  return dups ? dedupe(csr) : csr;
}

function placeByCol(c: Int32Array, colPos: Int32Array, byCol: Int32Array, lo: number, hi: number): void {
  for (let k = lo; k < hi; k++) byCol[colPos[c[k]]++] = k;
}

function placeByRow(byCol: Int32Array, r: Int32Array, c: Int32Array, v: Float32Array | undefined, fill: Int32Array,
  indices: Int32Array, values: Float32Array | undefined, lo: number, hi: number): void {
  for (let j = lo; j < hi; j++) {
    const k = byCol[j];
    const p = fill[r[k]]++;
    indices[p] = c[k];
    if (values) values[p] = v![k];
  }
}

function countDuplicates(m: Csr, lo: number, hi: number): number {
  let d = 0;
  for (let row = lo; row < hi; row++) {
    for (let k = m.indptr[row] + 1; k < m.indptr[row + 1]; k++) if (m.indices[k] === m.indices[k - 1]) d++;
  }
  return d;
}

function dedupe(m: Csr): Csr {
  const indptr = new Int32Array(m.rows + 1);
  const indices = new Int32Array(m.indices.length);
  const values = m.values ? new Float32Array(m.indices.length) : undefined;
  let w = 0;
  for (let row = 0; row < m.rows; row++) {
    w = dedupeRow(m, row, w, indices, values);
    indptr[row + 1] = w;
  }
  return { rows: m.rows, cols: m.cols, indptr, indices: indices.slice(0, w), values: values?.slice(0, w) };
}

function dedupeRow(m: Csr, row: number, w: number, indices: Int32Array, values: Float32Array | undefined): number {
  const lo = m.indptr[row], hi = m.indptr[row + 1];
  for (let k = lo; k < hi; k++) {
    if (k + 1 < hi && m.indices[k + 1] === m.indices[k]) continue; // a later copy follows: it wins
    indices[w] = m.indices[k];
    if (values) values[w] = m.values![k];
    w++;
  }
  return w;
}

/** Column counts of a CSR (item popularity when rows are users). */
export function columnCounts(m: Csr): Int32Array {
  const counts = new Int32Array(m.cols);
  chunked(m.indptr[m.rows], (lo, hi) => countInto(m.indices, counts, lo, hi));
  return counts;
}

// ---- batches of rows -------------------------------------------------------------------------

/** Rows [rowStart, rowEnd) as a CSR whose indptr starts at 0; indices / values are views, not copies. */
export function csrBatch(m: Csr, rowStart: number, rowEnd: number): Csr {
  if (!(Number.isInteger(rowStart) && Number.isInteger(rowEnd) && 0 <= rowStart && rowStart <= rowEnd && rowEnd <= m.rows)) {
    throw new Error(`csrBatch: rows ${rowStart}..${rowEnd} are outside 0..${m.rows}`);
  }
  const base = m.indptr[rowStart], end = m.indptr[rowEnd];
  const indptr = new Int32Array(rowEnd - rowStart + 1);
  for (let r = 0; r < indptr.length; r++) indptr[r] = m.indptr[rowStart + r] - base;
  return { rows: rowEnd - rowStart, cols: m.cols, indptr, indices: m.indices.subarray(base, end), values: m.values?.subarray(base, end) };
}

/** Arbitrary rows (a shuffled batch) gathered into a new CSR, in the order given. */
export function gatherRows(m: Csr, rows: ArrayLike<number>): Csr {
  const indptr = new Int32Array(rows.length + 1);
  for (let j = 0; j < rows.length; j++) {
    const r = rows[j];
    if (!(Number.isInteger(r) && r >= 0 && r < m.rows)) throw new Error(`gatherRows: row ${r} (position ${j}) is outside 0..${m.rows - 1}`);
    indptr[j + 1] = indptr[j] + m.indptr[r + 1] - m.indptr[r];
  }
  const indices = new Int32Array(indptr[rows.length]);
  const values = m.values ? new Float32Array(indices.length) : undefined;
  for (let j = 0; j < rows.length; j++) {
    const lo = m.indptr[rows[j]], hi = m.indptr[rows[j] + 1];
    indices.set(m.indices.subarray(lo, hi), indptr[j]);
    if (values) values.set(m.values!.subarray(lo, hi), indptr[j]);
  }
  return { rows: rows.length, cols: m.cols, indptr, indices, values };
}
