// Liang et al.'s (2018) preprocessing of implicit feedback: binarise (ratings ≥ 4), count
// filters, a seeded split of held-out users (validation and test), and the 80/20 fold-in /
// held-out split of their items; the summary of what was kept.
import { mixSeed, mulberry32 } from '../rng.js';
import { readRatings, checkFormat, type RatingsFormat, type RawId } from './readers.js';
import { toCsr, columnCounts, chunked, gatherRows, type Csr } from './csr.js';

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
