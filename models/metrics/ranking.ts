// Top-R ranking metrics for collaborative filtering (REFERENCE §5, Mult-VAE's definitions):
// Recall@R = |top-R ∩ held-out| / min(R, |held-out|) and NDCG@R = DCG@R / ideal DCG@R.
//
// Ranking: a user's fold-in items are not candidates (the model saw them; Mult-VAE sets their
// scores to −∞). Candidates are ordered by score, higher first; equal scores put the lower item
// index first (a fixed, documented order, so metrics never depend on sort stability); NaN ranks
// as −∞. The top R are kept in a size-R min-heap, O(I log R) per user instead of a full sort.

/** Rows of a CSR batch (the Csr of tasks/data/ratings.ts fits). */
export interface CsrRows {
  rows: number;
  indptr: Int32Array;
  indices: Int32Array;
}

export interface RankingMetrics {
  /** Batch rows that were scored (users with at least one held-out item). */
  users: Int32Array;
  /** Users skipped for having no held-out item. */
  skipped: number;
  /** Per scored user, for each requested R. */
  recall: Record<number, Float64Array>;
  ndcg: Record<number, Float64Array>;
}

/** Candidates better first: higher score, then lower index. */
function better(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa > sb || (sa === sb && ia < ib);
}

/** Restores the min-heap (worst candidate at the root) after replacing the root. */
function siftDown(hs: Float64Array, hi: Int32Array, n: number): void {
  let p = 0;
  const s = hs[0], i = hi[0];
  for (;;) {
    let c = 2 * p + 1;
    if (c >= n) break;
    if (c + 1 < n && better(hs[c], hi[c], hs[c + 1], hi[c + 1])) c++; // the worse child
    if (!better(s, i, hs[c], hi[c])) break;
    hs[p] = hs[c]; hi[p] = hi[c];
    p = c;
  }
  hs[p] = s; hi[p] = i;
}

function siftUp(hs: Float64Array, hi: Int32Array, at: number): void {
  let c = at;
  const s = hs[c], i = hi[c];
  while (c > 0) {
    const p = (c - 1) >> 1;
    if (!better(hs[p], hi[p], s, i)) break;
    hs[c] = hs[p]; hi[c] = hi[p];
    c = p;
  }
  hs[c] = s; hi[c] = i;
}

/**
 * The best R candidate items of one score row (scores[offset .. offset+I)), best first, written
 * to `out`; returns how many (fewer than R when fewer candidates remain). excluded[j] = 1 drops j.
 */
export function topR(scores: ArrayLike<number>, offset: number, I: number, R: number, excluded: Uint8Array | null,
  out: Int32Array, hs = new Float64Array(R), hi = new Int32Array(R)): number {
  let n = 0;
  for (let j = 0; j < I; j++) {
    if (excluded && excluded[j]) continue;
    let s = scores[offset + j];
    if (s !== s) s = -Infinity;
    if (n < R) { hs[n] = s; hi[n] = j; siftUp(hs, hi, n); n++; }
    else if (better(s, j, hs[0], hi[0])) { hs[0] = s; hi[0] = j; siftDown(hs, hi, n); }
  }
  // pop worst-first into the tail of out
  for (let k = n - 1; k >= 0; k--) {
    out[k] = hi[0];
    hs[0] = hs[k]; hi[0] = hi[k];
    siftDown(hs, hi, k);
  }
  return n;
}

function checkRows(name: string, m: CsrRows, B: number, I: number): void {
  if (m.rows !== B || m.indptr.length !== B + 1) throw new Error(`rankingMetrics: ${name} has ${m.rows} rows for a batch of ${B} score rows`);
  const nnz = m.indptr[B];
  for (let k = m.indptr[0]; k < nnz; k++) {
    if (m.indices[k] < 0 || m.indices[k] >= I) throw new Error(`rankingMetrics: ${name} item ${m.indices[k]} is outside 0..${I - 1}`);
  }
}

/**
 * Recall@R and NDCG@R for each R in Rs over a batch: scores [B, I] row-major, foldIn / heldOut
 * row-aligned with the scores. Items in both fold-in and held-out cannot be hits (they are
 * excluded from the ranking).
 */
export function rankingMetrics(scores: ArrayLike<number>, items: number, foldIn: CsrRows, heldOut: CsrRows, Rs: readonly number[]): RankingMetrics {
  const B = heldOut.rows;
  if (scores.length !== B * items) throw new Error(`rankingMetrics: ${scores.length} scores for ${B} users × ${items} items`);
  if (!Rs.length || Rs.some((R) => !(Number.isInteger(R) && R >= 1))) throw new Error(`rankingMetrics: R values must be positive integers, got [${Rs.join(', ')}]`);
  checkRows('foldIn', foldIn, B, items);
  checkRows('heldOut', heldOut, B, items);
  const maxR = Math.max(...Rs);
  const users: number[] = [];
  const perR = Rs.map(() => ({ recall: [] as number[], ndcg: [] as number[] }));
  const excluded = new Uint8Array(items), isHeld = new Uint8Array(items);
  const top = new Int32Array(maxR), hs = new Float64Array(maxR), hi = new Int32Array(maxR);
  // 1/log2(r+1) for ranks r = 1..maxR, and its running sums (ideal DCGs)
  const disc = new Float64Array(maxR), idcg = new Float64Array(maxR + 1);
  for (let r = 0; r < maxR; r++) { disc[r] = 1 / Math.log2(r + 2); idcg[r + 1] = idcg[r] + disc[r]; }
  let skipped = 0;
  for (let b = 0; b < B; b++) {
    const h0 = heldOut.indptr[b], h1 = heldOut.indptr[b + 1];
    if (h1 === h0) { skipped++; continue; }
    setFlags(foldIn, b, excluded, 1);
    setFlags(heldOut, b, isHeld, 1);
    const n = topR(scores, b * items, items, maxR, excluded, top, hs, hi);
    Rs.forEach((R, q) => {
      let hits = 0, dcg = 0;
      for (let r = 0; r < Math.min(R, n); r++) if (isHeld[top[r]]) { hits++; dcg += disc[r]; }
      const m = Math.min(R, h1 - h0);
      perR[q].recall.push(hits / m);
      perR[q].ndcg.push(dcg / idcg[m]);
    });
    setFlags(foldIn, b, excluded, 0);
    setFlags(heldOut, b, isHeld, 0);
    users.push(b);
  }
  const recall: Record<number, Float64Array> = {}, ndcg: Record<number, Float64Array> = {};
  Rs.forEach((R, q) => { recall[R] = Float64Array.from(perR[q].recall); ndcg[R] = Float64Array.from(perR[q].ndcg); });
  return { users: Int32Array.from(users), skipped, recall, ndcg };
}

function setFlags(m: CsrRows, row: number, flags: Uint8Array, v: number): void {
  for (let k = m.indptr[row]; k < m.indptr[row + 1]; k++) flags[m.indices[k]] = v;
}

/** Mean and standard error (sample std / √n); NaN where undefined (n = 0, or n = 1 for the error). */
export function meanAndStdErr(values: ArrayLike<number>): { mean: number; stdErr: number; n: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, stdErr: NaN, n };
  let s = 0;
  for (let i = 0; i < n; i++) s += values[i];
  const mean = s / n;
  if (n === 1) return { mean, stdErr: NaN, n };
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  return { mean, stdErr: Math.sqrt(ss / (n - 1)) / Math.sqrt(n), n };
}
