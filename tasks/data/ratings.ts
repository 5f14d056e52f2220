// Implicit-feedback data for collaborative filtering (Mult-VAE / SIVAE): streaming readers for
// MovieLens (ratings.csv, u.data), Netflix Prize and the MSD Taste Profile, Liang et al.'s (2018)
// preprocessing (binarise, count filters, held-out users, 80/20 fold-in split), and CSR rows.
//
// Everything stays sparse on the host: the dense user × item matrix is only ever built on the
// GPU, one batch at a time (densifyRows / densifyBatch; modelInput adds the rows' nonzero pattern). Files are read in fixed-size chunks
// (ML-20M's ratings.csv is 500 MB) and numbers are parsed straight from the bytes. Hot loops sit
// in small functions called per line / per chunk / per row: node runs with --no-use-osr, where
// one long loop in a function called once would stay interpreted.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { mixSeed, mulberry32 } from './rng.js';
import { densifyCsrHost, RowPattern } from '../../engine/ops/sparse.js';
import type { Tensor } from '../../engine/tensor.js';

export type RatingsFormat = 'ml-csv' | 'ml-100k' | 'netflix' | 'msd';
export const ratingsFormats: readonly RatingsFormat[] = ['ml-csv', 'ml-100k', 'netflix', 'msd'];

/** A user's or item's id as written in the file: numbers for MovieLens / Netflix, strings for MSD. */
export type RawId = number | string;

/** Parallel arrays of read interactions; user / item indices follow first appearance in the file. */
export interface Interactions {
  n: number;
  users: Int32Array;
  items: Int32Array;
  /** The rating (MovieLens, Netflix) or play count (MSD). */
  values: Float32Array;
  userIds: RawId[];
  itemIds: RawId[];
  userIndex: Map<RawId, number>;
  itemIndex: Map<RawId, number>;
  /** Data lines read, before the rating filter. */
  rows: number;
  files: string[];
}

/** Compressed sparse rows; each row's indices are ascending and distinct. */
export interface Csr {
  rows: number;
  cols: number;
  indptr: Int32Array;
  indices: Int32Array;
  /** Absent for binarised data (every stored entry is 1). */
  values?: Float32Array;
}

// ---- chunked line reading ------------------------------------------------------------------

const CHUNK = 1 << 20;
const NL = 10, CR = 13;

type LineFn = (buf: Buffer, s: number, e: number, line: number) => void;

interface LineState { line: number }

let lineBuffer = Buffer.allocUnsafe(CHUNK);

/** Calls onLine for each complete line in buf[0, end); returns where the unfinished tail starts. */
function scanLines(buf: Buffer, end: number, onLine: LineFn, st: LineState): number {
  let s = 0;
  for (;;) {
    const nl = buf.indexOf(NL, s);
    if (nl < 0 || nl >= end) return s;
    st.line++;
    const e = nl > s && buf[nl - 1] === CR ? nl - 1 : nl;
    if (e > s) onLine(buf, s, e, st.line);
    s = nl + 1;
  }
}

/** Streams a text file line by line (1-based line numbers; blank lines skipped). */
export function forEachLine(file: string, onLine: LineFn): number {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new Error(`${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const st: LineState = { line: 0 };
  try {
    // one buffer for every call: Netflix's training_set is 17,770 small files
    let buf = lineBuffer;
    let carry = 0;
    for (;;) {
      if (carry === buf.length) {
        // a line longer than the buffer: grow rather than split it
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, carry);
        buf = lineBuffer = bigger;
      }
      const got = readSync(fd, buf, carry, buf.length - carry, null);
      const end = carry + got;
      if (got === 0) {
        if (end > 0) {
          st.line++;
          const e = buf[end - 1] === CR ? end - 1 : end;
          if (e > 0) onLine(buf, 0, e, st.line);
        }
        return st.line;
      }
      const s = scanLines(buf, end, onLine, st);
      buf.copy(buf, 0, s, end);
      carry = end - s;
    }
  } finally {
    closeSync(fd);
  }
}

// ---- field parsing ---------------------------------------------------------------------------

const MAXF = 8;

/** Field bounds into f as [start0, end0, start1, end1, …]; returns the field count. */
function splitFields(buf: Buffer, s: number, e: number, delim: number, f: Int32Array): number {
  let n = 0, start = s;
  for (let i = s; i < e; i++) {
    if (buf[i] === delim) {
      if (n < MAXF) { f[2 * n] = start; f[2 * n + 1] = i; }
      n++;
      start = i + 1;
    }
  }
  if (n < MAXF) { f[2 * n] = start; f[2 * n + 1] = e; }
  return n + 1;
}

/** A decimal number from bytes (fast path digits[.digits]); NaN when empty or not a number. */
function parseNumber(buf: Buffer, s: number, e: number): number {
  if (s >= e) return NaN;
  let v = 0, i = s;
  for (; i < e; i++) {
    const c = buf[i] - 48;
    if (c < 0 || c > 9) break;
    v = v * 10 + c;
  }
  if (i === e) return v;
  if (buf[i] === 46 && i > s && i + 1 < e) {
    let frac = 0, scale = 1, j = i + 1;
    for (; j < e; j++) {
      const c = buf[j] - 48;
      if (c < 0 || c > 9) break;
      frac = frac * 10 + c;
      scale *= 10;
    }
    // (v·scale + frac) / scale is one correctly rounded division, so "3.5" → 3.5 exactly
    if (j === e && scale < 1e15) return (v * scale + frac) / scale;
  }
  const str = buf.toString('latin1', s, e).trim();
  return str === '' ? NaN : Number(str);
}

const fieldText = (buf: Buffer, f: Int32Array, k: number): string => buf.toString('latin1', f[2 * k], f[2 * k + 1]);

/** Index of each distinct id, in order of first appearance; small non-negative integers use a table. */
class IdIndex {
  readonly ids: RawId[] = [];
  private table = new Int32Array(0);
  private map = new Map<RawId, number>();

  num(id: number): number {
    if (id >= 0 && id < 1 << 25 && Number.isInteger(id)) {
      if (id >= this.table.length) this.growTable(id);
      const k = this.table[id];
      if (k >= 0) return k;
      this.table[id] = this.ids.length;
      this.ids.push(id);
      return this.ids.length - 1;
    }
    return this.str(id);
  }

  str(id: RawId): number {
    const k = this.map.get(id);
    if (k !== undefined) return k;
    this.map.set(id, this.ids.length);
    this.ids.push(id);
    return this.ids.length - 1;
  }

  private growTable(id: number): void {
    let n = Math.max(1024, this.table.length);
    while (n <= id) n *= 2;
    const t = new Int32Array(n).fill(-1);
    t.set(this.table);
    this.table = t;
  }

  toMap(): Map<RawId, number> {
    const m = new Map<RawId, number>();
    this.ids.forEach((id, k) => m.set(id, k));
    return m;
  }
}

class Triples {
  n = 0;
  users = new Int32Array(1 << 16);
  items = new Int32Array(1 << 16);
  values = new Float32Array(1 << 16);

  push(u: number, i: number, v: number): void {
    if (this.n === this.users.length) this.grow();
    this.users[this.n] = u;
    this.items[this.n] = i;
    this.values[this.n] = v;
    this.n++;
  }

  private grow(): void {
    const m = this.users.length * 2;
    const u = new Int32Array(m); u.set(this.users); this.users = u;
    const i = new Int32Array(m); i.set(this.items); this.items = i;
    const v = new Float32Array(m); v.set(this.values); this.values = v;
  }
}

// ---- readers ---------------------------------------------------------------------------------

export interface ReadOptions {
  /** Keep interactions whose rating / play count is ≥ this (null or undefined: keep all). */
  minRating?: number | null;
}

interface Sink { users: IdIndex; items: IdIndex; out: Triples; minRating: number; rows: number }

function add(sink: Sink, u: number, i: number, v: number): void {
  sink.rows++;
  if (v >= sink.minRating) sink.out.push(u, i, v);
}

function checkNumber(file: string, line: number, what: string, v: number, text: string, integer: boolean): void {
  if (Number.isNaN(v) || (integer && (!Number.isInteger(v) || v < 0))) {
    throw new Error(`${file}:${line}: ${what} ${JSON.stringify(text)} is not ${integer ? 'a non-negative integer' : 'a number'}`);
  }
}

/** MovieLens ratings.csv (header userId,movieId,rating,timestamp) or u.data (4 tab-separated fields). */
function readMovieLens(file: string, sink: Sink, csv: boolean): void {
  const f = new Int32Array(2 * MAXF);
  const delim = csv ? 44 : 9;
  const cols = csv ? 'userId,movieId,rating,timestamp (comma-separated)' : 'user, item, rating, timestamp (tab-separated)';
  forEachLine(file, (buf, s, e, line) => {
    const n = splitFields(buf, s, e, delim, f);
    if (n !== 4) {
      throw new Error(`${file}:${line}: expected 4 fields ${cols}, got ${n}: ${JSON.stringify(buf.toString('latin1', s, Math.min(e, s + 80)))}`);
    }
    const u = parseNumber(buf, f[0], f[1]);
    if (line === 1 && csv && Number.isNaN(u)) return; // the header line
    const i = parseNumber(buf, f[2], f[3]);
    const r = parseNumber(buf, f[4], f[5]);
    if (!(u >= 0 && Number.isInteger(u))) checkNumber(file, line, 'user id', u, fieldText(buf, f, 0), true);
    if (!(i >= 0 && Number.isInteger(i))) checkNumber(file, line, 'item id', i, fieldText(buf, f, 1), true);
    if (Number.isNaN(r)) checkNumber(file, line, 'rating', r, fieldText(buf, f, 2), false);
    add(sink, sink.users.num(u), sink.items.num(i), r);
  });
}

/** Netflix: 'MovieID:' lines, each followed by CustomerID,Rating,Date lines (mv_*.txt or combined_data_*.txt). */
function readNetflixFile(file: string, sink: Sink): void {
  const f = new Int32Array(2 * MAXF);
  let movie = -1;
  forEachLine(file, (buf, s, e, line) => {
    if (buf[e - 1] === 58) { // ':'
      const id = parseNumber(buf, s, e - 1);
      if (!(id >= 0 && Number.isInteger(id))) checkNumber(file, line, 'movie id', id, buf.toString('latin1', s, e - 1), true);
      movie = sink.items.num(id);
      return;
    }
    const n = splitFields(buf, s, e, 44, f);
    if (n !== 3) throw new Error(`${file}:${line}: expected 3 fields CustomerID,Rating,Date, got ${n}: ${JSON.stringify(buf.toString('latin1', s, Math.min(e, s + 80)))}`);
    if (movie < 0) throw new Error(`${file}:${line}: a rating line before any 'MovieID:' line`);
    const u = parseNumber(buf, f[0], f[1]);
    const r = parseNumber(buf, f[2], f[3]);
    if (!(u >= 0 && Number.isInteger(u))) checkNumber(file, line, 'customer id', u, fieldText(buf, f, 0), true);
    if (Number.isNaN(r)) checkNumber(file, line, 'rating', r, fieldText(buf, f, 1), false);
    if (f[4] === f[5]) throw new Error(`${file}:${line}: empty date`);
    add(sink, sink.users.num(u), movie, r);
  });
}

/** MSD Taste Profile train_triplets.txt: user \t song \t play count, string ids. */
function readMsd(file: string, sink: Sink): void {
  const f = new Int32Array(2 * MAXF);
  forEachLine(file, (buf, s, e, line) => {
    const n = splitFields(buf, s, e, 9, f);
    if (n !== 3) throw new Error(`${file}:${line}: expected 3 tab-separated fields user, song, play count, got ${n}: ${JSON.stringify(buf.toString('latin1', s, Math.min(e, s + 80)))}`);
    if (f[0] === f[1]) throw new Error(`${file}:${line}: empty user id`);
    if (f[2] === f[3]) throw new Error(`${file}:${line}: empty song id`);
    const c = parseNumber(buf, f[4], f[5]);
    if (Number.isNaN(c)) checkNumber(file, line, 'play count', c, fieldText(buf, f, 2), false);
    add(sink, sink.users.str(fieldText(buf, f, 0)), sink.items.str(fieldText(buf, f, 1)), c);
  });
}

const numbered = (re: RegExp) => (names: string[]): string[] =>
  names.filter((n) => re.test(n)).sort((a, b) => Number(re.exec(a)![1]) - Number(re.exec(b)![1]));

/**
 * The Netflix files under path: a single file; or a directory holding combined_data_N.txt
 * (preferred: they repackage the same ratings as the mv_ files, so reading both would double
 * them), or mv_NNNNNNN.txt, directly or in a training_set/ subdirectory.
 */
function netflixFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  const names = readdirSync(path);
  const combined = numbered(/^combined_data_(\d+)\.txt$/)(names);
  if (combined.length) return combined.map((n) => join(path, n));
  const mv = numbered(/^mv_(\d+)\.txt$/)(names);
  if (mv.length) return mv.map((n) => join(path, n));
  if (names.includes('training_set') && statSync(join(path, 'training_set')).isDirectory()) return netflixFiles(join(path, 'training_set'));
  throw new Error(`${path}: no Netflix combined_data_N.txt or mv_NNNNNNN.txt files (nor a training_set/ directory holding them)`);
}

function checkFormat(format: string): asserts format is RatingsFormat {
  if (!ratingsFormats.includes(format as RatingsFormat)) {
    throw new Error(`unknown ratings format '${format}'; expected one of ${ratingsFormats.join(', ')}`);
  }
}

/** Reads every interaction of a file (or Netflix directory) in the given format. */
export function readRatings(path: string, format: RatingsFormat, opts: ReadOptions = {}): Interactions {
  checkFormat(format);
  if (!existsSync(path)) throw new Error(`${path}: no such file or directory (${format} ratings expected)`);
  const sink: Sink = { users: new IdIndex(), items: new IdIndex(), out: new Triples(), minRating: opts.minRating ?? -Infinity, rows: 0 };
  let files = [path];
  if (format === 'netflix') files = netflixFiles(path);
  else if (statSync(path).isDirectory()) throw new Error(`${path}: is a directory; expected the ${format === 'msd' ? 'train_triplets.txt' : format === 'ml-100k' ? 'u.data' : 'ratings.csv'} file`);
  for (const file of files) {
    if (format === 'ml-csv') readMovieLens(file, sink, true);
    else if (format === 'ml-100k') readMovieLens(file, sink, false);
    else if (format === 'netflix') readNetflixFile(file, sink);
    else readMsd(file, sink);
  }
  const { out } = sink;
  return {
    n: out.n,
    users: out.users.slice(0, out.n),
    items: out.items.slice(0, out.n),
    values: out.values.slice(0, out.n),
    userIds: sink.users.ids,
    itemIds: sink.items.ids,
    userIndex: sink.users.toMap(),
    itemIndex: sink.items.toMap(),
    rows: sink.rows,
    files,
  };
}

// ---- CSR building ----------------------------------------------------------------------------

const STEP = 1 << 16;

/** Runs fn over [0, n) in chunks, so that fn's loop gets compiled (no on-stack replacement). */
function chunked(n: number, fn: (lo: number, hi: number) => void): void {
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

// ---- preprocessing and the user split ----------------------------------------------------------

export interface LoadOptions {
  /** Keep interactions with rating ≥ this; default 4 for MovieLens / Netflix (the same set as
   *  Liang's "> 3.5" on their half- and whole-star scales), none for MSD. null keeps all. */
  minRating?: number | null;
  /** Users with at least this many interactions (after the item filter): default 5, MSD 20. */
  minUserCount?: number;
  /** Items with at least this many users (applied first, as in Liang's code): default 0, MSD 200. */
  minItemCount?: number;
  /** Users in each of validation and test: a count ≥ 1, or a fraction in (0, 1) of the filtered
   *  users. Default: the paper's count (ML 10k, Netflix 40k, MSD 50k) when there are at least ten
   *  times that many users (the full data sets), else 10%. */
  heldOutUsers?: number;
  /** Share of a held-out user's items held out for scoring (default 0.2). */
  heldOutFraction?: number;
  /** Held-out users with fewer items keep them all as fold-in (default 5, as in Liang's code). */
  minItemsToSplit?: number;
  /** Seeds the user permutation and the fold-in / held-out choices (default 98765, Liang's). */
  seed?: number;
  /** Keep ratings / play counts as CSR values instead of binarising (default false). */
  keepValues?: boolean;
}

/** Validation or test users: fold-in rows (the model's input) and held-out rows (to rank), row-aligned. */
export interface HeldOutUsers {
  userIds: RawId[];
  foldIn: Csr;
  heldOut: Csr;
}

export interface RatingsSummary {
  format: RatingsFormat;
  /** Data lines read, interactions passing the rating filter, distinct users / items seen. */
  rows: number;
  rated: number;
  rawUsers: number;
  rawItems: number;
  /** After the rating and count filters (before the split). */
  interactions: number;
  users: number;
  filteredItems: number;
  /** users × filteredItems cells that are empty. */
  sparsity: number;
  trainUsers: number;
  validationUsers: number;
  testUsers: number;
  /** Held-out users left with no training item, dropped. */
  droppedUsers: number;
  /** Items seen by training users: the model's input / output width. */
  items: number;
  trainInteractions: number;
  validationFoldIn: number;
  validationHeldOut: number;
  testFoldIn: number;
  testHeldOut: number;
  ms: number;
}

export interface RatingsData {
  path: string;
  format: RatingsFormat;
  /** Column j's item id in the file. */
  itemIds: RawId[];
  /** Training users per item (a report plots keep probability against it). */
  itemPopularity: Int32Array;
  train: Csr;
  trainUserIds: RawId[];
  validation: HeldOutUsers;
  test: HeldOutUsers;
  summary: RatingsSummary;
}

const DEFAULTS: Record<RatingsFormat, { minRating: number | null; minUserCount: number; minItemCount: number; paperHeldOut: number }> = {
  'ml-csv': { minRating: 4, minUserCount: 5, minItemCount: 0, paperHeldOut: 10000 },
  'ml-100k': { minRating: 4, minUserCount: 5, minItemCount: 0, paperHeldOut: 10000 },
  netflix: { minRating: 4, minUserCount: 5, minItemCount: 0, paperHeldOut: 40000 },
  msd: { minRating: null, minUserCount: 20, minItemCount: 200, paperHeldOut: 50000 },
};

function checkCount(name: string, v: number): number {
  if (!(Number.isInteger(v) && v >= 0)) throw new Error(`${name}: expected a non-negative integer, got ${v}`);
  return v;
}

/** Users in each of validation and test for `users` filtered users (see LoadOptions.heldOutUsers). */
export function heldOutUserCount(format: RatingsFormat, users: number, opt?: number): number {
  checkFormat(format);
  return heldOutCount(opt, users, DEFAULTS[format].paperHeldOut);
}

function heldOutCount(opt: number | undefined, users: number, paper: number): number {
  if (opt === undefined) return users >= 10 * paper ? paper : Math.round(0.1 * users);
  if (opt > 0 && opt < 1) return Math.round(opt * users);
  if (Number.isInteger(opt) && opt >= 0) return opt;
  throw new Error(`heldOutUsers: expected a user count or a fraction in (0, 1), got ${opt}`);
}

/** Entries of `row` whose column maps to ≥ 0 in colMap, re-indexed, written from w (counted only when out is null). */
function mapRow(m: Csr, row: number, colMap: Int32Array, out: Int32Array | null, outV: Float32Array | undefined, w: number): number {
  for (let k = m.indptr[row]; k < m.indptr[row + 1]; k++) {
    const c = colMap[m.indices[k]];
    if (c < 0) continue;
    if (out) { out[w] = c; if (outV) outV[w] = m.values![k]; }
    w++;
  }
  return w;
}

/** Rows `users` of m restricted / re-indexed through colMap (−1 drops a column). */
function selectRows(m: Csr, users: Int32Array, colMap: Int32Array, cols: number, values: boolean): Csr {
  const indptr = new Int32Array(users.length + 1);
  for (let j = 0; j < users.length; j++) indptr[j + 1] = mapRow(m, users[j], colMap, null, undefined, indptr[j]);
  const indices = new Int32Array(indptr[users.length]);
  const vals = values && m.values ? new Float32Array(indices.length) : undefined;
  for (let j = 0; j < users.length; j++) mapRow(m, users[j], colMap, indices, vals, indptr[j]);
  return { rows: users.length, cols, indptr, indices, values: vals };
}

/**
 * Splits each row into fold-in and held-out: rows with ≥ minItems entries hold out
 * floor(frac · n) of them chosen at random (Liang: int(0.2 · n_items_u)), others keep all.
 */
function splitRows(m: Csr, frac: number, minItems: number, rnd: () => number): { foldIn: Csr; heldOut: Csr } {
  const held = new Uint8Array(m.indices.length);
  const pos = new Int32Array(64);
  let scratch = pos;
  const heldCount = new Int32Array(m.rows);
  for (let row = 0; row < m.rows; row++) {
    const n = m.indptr[row + 1] - m.indptr[row];
    if (n < minItems) continue;
    if (scratch.length < n) scratch = new Int32Array(Math.max(n, 2 * scratch.length));
    heldCount[row] = pickHeld(m.indptr[row], n, Math.floor(frac * n), held, scratch, rnd);
  }
  const part = (want: number): Csr => {
    const indptr = new Int32Array(m.rows + 1);
    for (let row = 0; row < m.rows; row++) {
      const n = m.indptr[row + 1] - m.indptr[row];
      indptr[row + 1] = indptr[row] + (want ? heldCount[row] : n - heldCount[row]);
    }
    const indices = new Int32Array(indptr[m.rows]);
    const values = m.values ? new Float32Array(indices.length) : undefined;
    chunked(m.rows, (lo, hi) => copyMarked(m, held, want, indptr, indices, values, lo, hi));
    return { rows: m.rows, cols: m.cols, indptr, indices, values };
  };
  return { foldIn: part(0), heldOut: part(1) };
}

/** Marks k of the n entries from `start` as held out (partial Fisher–Yates); returns k. */
function pickHeld(start: number, n: number, k: number, held: Uint8Array, pos: Int32Array, rnd: () => number): number {
  for (let i = 0; i < n; i++) pos[i] = i;
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rnd() * (n - i));
    const t = pos[i]; pos[i] = pos[j]; pos[j] = t;
    held[start + pos[i]] = 1;
  }
  return k;
}

function copyMarked(m: Csr, held: Uint8Array, want: number, indptr: Int32Array, indices: Int32Array, values: Float32Array | undefined, lo: number, hi: number): void {
  for (let row = lo; row < hi; row++) {
    let w = indptr[row];
    for (let k = m.indptr[row]; k < m.indptr[row + 1]; k++) {
      if (held[k] !== want) continue;
      indices[w] = m.indices[k];
      if (values) values[w] = m.values![k];
      w++;
    }
  }
}

/** seen[c] = 1 for every kept column c in rows list[lo..hi). */
function markCols(m: Csr, list: Int32Array, colKeep: Uint8Array, seen: Uint8Array, lo: number, hi: number): void {
  for (let j = lo; j < hi; j++) {
    const u = list[j];
    for (let k = m.indptr[u]; k < m.indptr[u + 1]; k++) if (colKeep[m.indices[k]]) seen[m.indices[k]] = 1;
  }
}

function rowLengths(m: Csr, colKeep: Uint8Array, lo: number, hi: number, out: Int32Array): void {
  for (let row = lo; row < hi; row++) {
    let n = 0;
    for (let k = m.indptr[row]; k < m.indptr[row + 1]; k++) n += colKeep[m.indices[k]];
    out[row] = n;
  }
}

/**
 * Reads, filters and splits a ratings data set (REFERENCE §6, Liang et al. 2018): binarise by
 * rating, drop items then users below the count thresholds, permute the users (seeded) into
 * train / validation / test, keep only the items training users have seen, and split each
 * validation / test user's items into fold-in and held-out.
 */
export function loadRatings(path: string, format: RatingsFormat, opts: LoadOptions = {}): RatingsData {
  const t0 = performance.now();
  checkFormat(format);
  const d = DEFAULTS[format];
  const minRating = opts.minRating === undefined ? d.minRating : opts.minRating;
  const minUser = checkCount('minUserCount', opts.minUserCount ?? d.minUserCount);
  const minItem = checkCount('minItemCount', opts.minItemCount ?? d.minItemCount);
  const frac = opts.heldOutFraction ?? 0.2;
  if (!(frac >= 0 && frac < 1)) throw new Error(`heldOutFraction: expected a fraction in [0, 1), got ${frac}`);
  const minSplit = checkCount('minItemsToSplit', opts.minItemsToSplit ?? 5);
  const seed = opts.seed ?? 98765;
  const keepValues = opts.keepValues ?? false;

  const raw = readRatings(path, format, { minRating });
  const all = toCsr(raw.userIds.length, raw.itemIds.length, raw.users, raw.items, keepValues ? raw.values : undefined, raw.n);

  // items by popularity first, then users by their remaining activity (Liang's filter_triplets)
  const itemCount = columnCounts(all);
  const itemKeep = new Uint8Array(all.cols);
  for (let i = 0; i < all.cols; i++) itemKeep[i] = itemCount[i] >= minItem ? 1 : 0;
  const userLen = new Int32Array(all.rows);
  chunked(all.rows, (lo, hi) => rowLengths(all, itemKeep, lo, hi, userLen));
  const kept: number[] = [];
  let interactions = 0;
  for (let u = 0; u < all.rows; u++) if (userLen[u] >= Math.max(1, minUser)) { kept.push(u); interactions += userLen[u]; }
  const users = kept.length;
  const filteredItemSeen = new Uint8Array(all.cols);
  const keptRows = Int32Array.from(kept);
  chunked(keptRows.length, (lo, hi) => markCols(all, keptRows, itemKeep, filteredItemSeen, lo, hi));
  const filteredItems = filteredItemSeen.reduce((s, v) => s + v, 0);

  const h = heldOutCount(opts.heldOutUsers, users, d.paperHeldOut);
  if (users - 2 * h < 1) {
    throw new Error(`heldOutUsers: ${h} validation + ${h} test users leave no training users among the ${users} users left after filtering (${path})`);
  }
  const perm = Int32Array.from(kept);
  const rnd = mulberry32(mixSeed(seed, 1));
  for (let i = perm.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    const t = perm[i]; perm[i] = perm[j]; perm[j] = t;
  }
  const nTrain = users - 2 * h;
  const trainRaw = perm.subarray(0, nTrain), valRaw = perm.subarray(nTrain, nTrain + h), testRaw = perm.subarray(nTrain + h);

  // the model's items: those training users interacted with, in first-appearance order of the file
  const inTrain = new Uint8Array(all.cols);
  chunked(trainRaw.length, (lo, hi) => markCols(all, trainRaw, itemKeep, inTrain, lo, hi));
  const itemMap = new Int32Array(all.cols).fill(-1);
  const itemIds: RawId[] = [];
  for (let i = 0; i < all.cols; i++) if (inTrain[i]) { itemMap[i] = itemIds.length; itemIds.push(raw.itemIds[i]); }
  const I = itemIds.length;
  const train = selectRows(all, trainRaw, itemMap, I, keepValues);
  const itemPopularity = columnCounts(train);

  let droppedUsers = 0;
  const heldOutSet = (rawUsers: Int32Array, stream: number): HeldOutUsers => {
    const rows = selectRows(all, rawUsers, itemMap, I, keepValues);
    const keep: number[] = [];
    for (let j = 0; j < rows.rows; j++) if (rows.indptr[j + 1] > rows.indptr[j]) keep.push(j);
    droppedUsers += rows.rows - keep.length;
    const nonEmpty = keep.length === rows.rows ? rows : gatherRows(rows, keep);
    return {
      userIds: keep.map((j) => raw.userIds[rawUsers[j]]),
      ...splitRows(nonEmpty, frac, minSplit, mulberry32(mixSeed(seed, stream))),
    };
  };
  const validation = heldOutSet(valRaw, 2);
  const test = heldOutSet(testRaw, 3);
  const nnz = (m: Csr): number => m.indptr[m.rows];
  return {
    path,
    format,
    itemIds,
    itemPopularity,
    train,
    trainUserIds: Array.from(trainRaw, (u) => raw.userIds[u]),
    validation,
    test,
    summary: {
      format,
      rows: raw.rows,
      rated: raw.n,
      rawUsers: raw.userIds.length,
      rawItems: raw.itemIds.length,
      interactions,
      users,
      filteredItems,
      sparsity: users && filteredItems ? 1 - interactions / (users * filteredItems) : 1,
      trainUsers: nTrain,
      validationUsers: validation.foldIn.rows,
      testUsers: test.foldIn.rows,
      droppedUsers,
      items: I,
      trainInteractions: nnz(train),
      validationFoldIn: nnz(validation.foldIn),
      validationHeldOut: nnz(validation.heldOut),
      testFoldIn: nnz(test.foldIn),
      testHeldOut: nnz(test.heldOut),
      ms: performance.now() - t0,
    },
  };
}

/** One line for logs. */
export function describeRatings(s: RatingsSummary): string {
  return `${s.format}: ${s.rows} ratings → ${s.interactions} kept from ${s.users} users × ${s.filteredItems} items ` +
    `(sparsity ${(100 * s.sparsity).toFixed(2)}%); users ${s.trainUsers} train / ${s.validationUsers} validation / ${s.testUsers} test` +
    `${s.droppedUsers ? ` (${s.droppedUsers} held-out users had no training item)` : ''}; ${s.items} items; ` +
    `train ${s.trainInteractions}, validation ${s.validationFoldIn}+${s.validationHeldOut}, test ${s.testFoldIn}+${s.testHeldOut} interactions; ${s.ms.toFixed(0)} ms`;
}
