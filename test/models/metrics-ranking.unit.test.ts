// Recall@R and NDCG@R on hand-computed rankings (ties, fewer held-out items than R, fold-in
// exclusion, users without held-out items), the heap top-R against a full sort, and mean ± s.e.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { rankingMetrics, meanAndStdErr, topR, type CsrRows } from '../../models/metrics/ranking.js';
import { mulberry32 } from '../../tasks/data/rng.js';

const test = suite('metrics-ranking');

function rows(lists: number[][]): CsrRows {
  const indptr = new Int32Array(lists.length + 1);
  lists.forEach((l, i) => (indptr[i + 1] = indptr[i] + l.length));
  return { rows: lists.length, indptr, indices: Int32Array.from(lists.flat()) };
}

const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);
const L = Math.log2;

// ranking of this row, best first: 0 (0.9), 4 (0.8), 2 (0.5), 3 (0.5: tie, higher index after), 5, 1
const S = [0.9, 0.1, 0.5, 0.5, 0.8, 0.2];

test('hand-computed recall and NDCG, ties broken by lower item index', () => {
  const m = rankingMetrics(Float32Array.from(S), 6, rows([[]]), rows([[2, 3, 5]]), [1, 3, 4]);
  assert.equal(Array.from(m.users), [0]);
  assert.is(m.skipped, 0);
  close(m.recall[1][0], 0, 'R@1');
  close(m.ndcg[1][0], 0, 'N@1');
  const idcg3 = 1 + 1 / L(3) + 1 / L(4);
  close(m.recall[3][0], 1 / 3, 'R@3: item 2 at rank 3');
  close(m.ndcg[3][0], (1 / L(4)) / idcg3, 'N@3');
  close(m.recall[4][0], 2 / 3, 'R@4');
  close(m.ndcg[4][0], (1 / L(4) + 1 / L(5)) / idcg3, 'N@4: ideal DCG over min(4, 3) ranks');

  // the tie alone decides: held-out {3} is 4th, not 3rd
  const t = rankingMetrics(Float32Array.from(S), 6, rows([[]]), rows([[3]]), [3, 4]);
  close(t.recall[3][0], 0, 'item 3 ranks after its tie 2');
  close(t.ndcg[4][0], 1 / L(5), 'item 3 at rank 4');
  // all scores equal: item order is index order
  const z = rankingMetrics(new Float32Array(12), 6, rows([[], []]), rows([[0], [5]]), [1, 5, 6]);
  assert.equal([z.recall[1][0], z.recall[5][1], z.recall[6][1]], [1, 0, 1]);
  close(z.ndcg[6][1], 1 / L(7), 'last item at rank 6');
});

test('fewer held-out items than R: recall divides by |held-out|', () => {
  const m = rankingMetrics(Float32Array.from(S), 6, rows([[]]), rows([[4]]), [3]);
  close(m.recall[3][0], 1, 'one of one found');
  close(m.ndcg[3][0], 1 / L(3), 'found at rank 2, ideal rank 1');
});

test('fold-in items are not ranked: the top-scoring fold-in item does not take a slot', () => {
  const m = rankingMetrics(Float32Array.from(S), 6, rows([[0]]), rows([[2, 3]]), [2]);
  // ranking without item 0: 4, 2, 3, …
  close(m.recall[2][0], 1 / 2, 'item 2 now within the top 2');
  close(m.ndcg[2][0], (1 / L(3)) / (1 + 1 / L(3)), 'N@2');
  // a held-out item that is also fold-in can never be a hit
  const both = rankingMetrics(Float32Array.from(S), 6, rows([[0]]), rows([[0]]), [6]);
  close(both.recall[6][0], 0, 'excluded');
});

test('users without held-out items are skipped and counted', () => {
  const sc = new Float32Array(18);
  sc.set(S, 6);
  const m = rankingMetrics(sc, 6, rows([[1], [], [2]]), rows([[], [0], []]), [1]);
  assert.equal(Array.from(m.users), [1]);
  assert.is(m.skipped, 2);
  assert.equal(Array.from(m.recall[1]), [1]);
  assert.equal(Array.from(m.ndcg[1]), [1]);
});

test('bad arguments are errors', () => {
  assert.throws(() => rankingMetrics(new Float32Array(5), 6, rows([[]]), rows([[1]]), [1]), /5 scores for 1 users × 6 items/);
  assert.throws(() => rankingMetrics(new Float32Array(6), 6, rows([[]]), rows([[1]]), [0]), /positive integers/);
  assert.throws(() => rankingMetrics(new Float32Array(6), 6, rows([[]]), rows([[6]]), [1]), /heldOut item 6 is outside 0\.\.5/);
  assert.throws(() => rankingMetrics(new Float32Array(6), 6, rows([[], []]), rows([[1]]), [1]), /foldIn has 2 rows for a batch of 1/);
});

/** The same metric by a full sort (score desc, index asc, NaN as −∞). */
function bruteForce(s: Float32Array, I: number, fold: number[], held: number[], R: number): [number, number] {
  const cand = Array.from({ length: I }, (_, j) => j).filter((j) => !fold.includes(j));
  const key = (j: number): number => (Number.isNaN(s[j]) ? -Infinity : s[j]);
  cand.sort((a, b) => key(b) - key(a) || a - b);
  let hits = 0, dcg = 0, idcg = 0;
  cand.slice(0, R).forEach((j, r) => { if (held.includes(j)) { hits++; dcg += 1 / Math.log2(r + 2); } });
  for (let r = 0; r < Math.min(R, held.length); r++) idcg += 1 / Math.log2(r + 2);
  return [hits / Math.min(R, held.length), dcg / idcg];
}

test('heap top-R matches a full sort on random rows with many ties and some NaN', () => {
  const rnd = mulberry32(11);
  for (const I of [1, 7, 64, 301]) {
    const B = 9;
    const s = Float32Array.from({ length: B * I }, () => (rnd() < 0.05 ? NaN : rnd() < 0.05 ? -Infinity : Math.floor(rnd() * 8) / 8));
    const fold: number[][] = [], held: number[][] = [];
    for (let b = 0; b < B; b++) {
      const f: number[] = [], h: number[] = [];
      for (let j = 0; j < I; j++) { const x = rnd(); if (x < 0.2) f.push(j); else if (x < 0.35) h.push(j); }
      fold.push(f); held.push(h);
    }
    const Rs = [1, 5, 20, 100, 400];
    const m = rankingMetrics(s, I, rows(fold), rows(held), Rs);
    m.users.forEach((b, q) => {
      for (const R of Rs) {
        const [rc, nd] = bruteForce(s.subarray(b * I, (b + 1) * I), I, fold[b], held[b], R);
        close(m.recall[R][q], rc, `I=${I} user ${b} recall@${R}`);
        close(m.ndcg[R][q], nd, `I=${I} user ${b} ndcg@${R}`);
      }
    });
    assert.is(m.users.length + m.skipped, B);
  }
  const out = new Int32Array(3);
  assert.is(topR([3, 1, 2], 0, 3, 3, Uint8Array.from([0, 0, 1]), out), 2, 'fewer candidates than R');
  assert.equal(Array.from(out.subarray(0, 2)), [0, 1]);
});

test('mean and standard error (sample std / √n)', () => {
  const r = meanAndStdErr([1, 2, 3, 4]);
  assert.is(r.mean, 2.5);
  close(r.stdErr, Math.sqrt(5 / 3) / 2, 'stdErr');
  assert.is(r.n, 4);
  assert.ok(Number.isNaN(meanAndStdErr([]).mean));
  const one = meanAndStdErr(Float64Array.from([7]));
  assert.is(one.mean, 7);
  assert.ok(Number.isNaN(one.stdErr));
});

test.run();
