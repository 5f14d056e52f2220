// Ratings readers on small files written here in each original format (MovieLens ratings.csv and
// u.data, Netflix mv_*.txt / combined_data_*.txt, MSD triplets), broken ones, Liang's
// preprocessing and seeded user split, CSR batches, and the real ml-100k when present.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import {
  readRatings, loadRatings, heldOutUserCount, toCsr, csrBatch, gatherRows, forEachLine, type Csr, type Interactions, type RatingsData,
} from '../../tasks/data/ratings.js';

const test = suite('data-ratings');

let dir = '';
test.before(() => { dir = mkdtempSync(join(tmpdir(), 'lbd-ratings-')); });
test.after(() => { rmSync(dir, { recursive: true, force: true }); });

function write(name: string, text: string): string {
  const p = join(dir, name);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, text);
  return p;
}

/** The interactions as sorted "user item value" strings in raw ids. */
function triples(d: Interactions): string[] {
  const out: string[] = [];
  for (let k = 0; k < d.n; k++) out.push(`${d.userIds[d.users[k]]} ${d.itemIds[d.items[k]]} ${d.values[k]}`);
  return out.sort();
}

test('MovieLens ratings.csv (header, CRLF, no final newline) and u.data', () => {
  const csv = write('ml/ratings.csv', 'userId,movieId,rating,timestamp\r\n1,31,2.5,1260759144\r\n1,1029,3.0,1260759179\r\n7,31,4.5,851866703\r\n12,5,5.0,1');
  const d = readRatings(csv, 'ml-csv');
  assert.is(d.n, 4);
  assert.is(d.rows, 4);
  assert.equal(triples(d), ['1 1029 3', '1 31 2.5', '12 5 5', '7 31 4.5']);
  assert.equal(d.userIds, [1, 7, 12]);
  assert.equal(d.itemIds, [31, 1029, 5]);
  assert.is(d.userIndex.get(12), 2);
  assert.is(d.itemIndex.get(1029), 1);
  const f = readRatings(csv, 'ml-csv', { minRating: 4 });
  assert.equal(triples(f), ['12 5 5', '7 31 4.5']);
  assert.is(f.rows, 4, 'rows counts lines before the rating filter');

  const udata = write('ml100k/u.data', '196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n196\t377\t4\t878887116\n');
  const u = readRatings(udata, 'ml-100k');
  assert.equal(triples(u), ['186 302 3', '196 242 3', '196 377 4', '22 377 1']);
  assert.equal(u.userIds, [196, 186, 22]);
});

test('a line longer than the read chunk and lines split across chunk borders', () => {
  // 200k lines cross many 1 MiB chunk borders; one 3 MB line forces the buffer to grow
  const lines = Array.from({ length: 200000 }, (_, k) => `${k % 997}\t${k % 1009}\t${(k % 5) + 1}\t${k}`);
  const p = write('big/u.data', lines.join('\n') + '\n');
  const d = readRatings(p, 'ml-100k');
  assert.is(d.n, 200000);
  for (const k of [0, 1, 65535, 123457, 199999]) {
    assert.is(d.userIds[d.users[k]], k % 997);
    assert.is(d.itemIds[d.items[k]], k % 1009);
    assert.is(d.values[k], (k % 5) + 1);
  }
  const long = write('long.txt', `a\n${'x'.repeat(3 << 20)}\nb`);
  const seen: number[] = [];
  assert.is(forEachLine(long, (_b, s, e, line) => seen.push(line, e - s)), 3);
  assert.equal(seen, [1, 1, 2, 3 << 20, 3, 1]);
});

test('Netflix: training_set/ of mv_ files, a combined_data file, a single file', () => {
  write('nf/training_set/mv_0000001.txt', '1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n');
  write('nf/training_set/mv_0000010.txt', '10:\n1488844,4,2005-09-06\n');
  write('nf/training_set/mv_0000002.txt', '2:\n2059652,4,2005-09-05\n');
  const want = ['1488844 1 3', '1488844 10 4', '2059652 2 4', '822109 1 5'];
  const d = readRatings(join(dir, 'nf'), 'netflix');
  assert.equal(triples(d), want);
  assert.equal(d.itemIds, [1, 2, 10], 'files in numeric order');
  assert.is(d.files.length, 3);
  assert.equal(triples(readRatings(join(dir, 'nf/training_set'), 'netflix')), want);

  write('nfc/combined_data_1.txt', '1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n2:\n2059652,4,2005-09-05\n');
  write('nfc/combined_data_2.txt', '10:\n1488844,4,2005-09-06\n');
  const c = readRatings(join(dir, 'nfc'), 'netflix');
  assert.equal(triples(c), want);
  assert.equal(triples(readRatings(join(dir, 'nfc/combined_data_2.txt'), 'netflix')), ['1488844 10 4']);
});

test('MSD triplets: string ids, play counts', () => {
  const p = write('msd/train_triplets.txt',
    'b80344d063b5ccb3212f76538f3d9e43d87dca9e\tSOAKIMP12A8C130995\t1\n' +
    'b80344d063b5ccb3212f76538f3d9e43d87dca9e\tSOAPDEY12A81C210A9\t12\n' +
    '85c1f87fea955d09b4bec2e36aee110927aab915\tSOAKIMP12A8C130995\t3\n');
  const d = readRatings(p, 'msd');
  assert.equal(triples(d), [
    '85c1f87fea955d09b4bec2e36aee110927aab915 SOAKIMP12A8C130995 3',
    'b80344d063b5ccb3212f76538f3d9e43d87dca9e SOAKIMP12A8C130995 1',
    'b80344d063b5ccb3212f76538f3d9e43d87dca9e SOAPDEY12A81C210A9 12',
  ]);
  assert.is(d.userIndex.get('85c1f87fea955d09b4bec2e36aee110927aab915'), 1);
});

test('malformed rows and missing files: errors naming the file and line', () => {
  const cases: [string, string, 'ml-csv' | 'ml-100k' | 'netflix' | 'msd', RegExp][] = [
    ['bad1.csv', 'userId,movieId,rating,timestamp\n1,2,4.0,5\n1,2,4.0\n', 'ml-csv', /bad1\.csv:3: expected 4 fields/],
    ['bad2.csv', 'userId,movieId,rating,timestamp\n1,2,four,5\n', 'ml-csv', /bad2\.csv:2: rating "four" is not a number/],
    ['bad3.csv', '1,2,4,5\n,2,4,5\n', 'ml-csv', /bad3\.csv:2: user id "" is not a non-negative integer/],
    ['bad4.csv', '1,2,4,5\nuserId,movieId,rating,timestamp\n', 'ml-csv', /bad4\.csv:2: user id "userId"/],
    ['bad5.data', '1\t2\t3\t4\n\n1\t2.5\t3\t4\n', 'ml-100k', /bad5\.data:3: item id "2\.5" is not a non-negative integer/],
    ['bad6.data', '1,2,3,4\n', 'ml-100k', /bad6\.data:1: expected 4 fields/],
    ['bad7.txt', '1:\n5,3,2005-01-01\n6,x,2005-01-01\n', 'netflix', /bad7\.txt:3: rating "x" is not a number/],
    ['bad8.txt', '5,3,2005-01-01\n', 'netflix', /bad8\.txt:1: a rating line before any 'MovieID:' line/],
    ['bad9.txt', '1:\n5,3\n', 'netflix', /bad9\.txt:2: expected 3 fields/],
    ['bad10.txt', 'u\ts\t1\n\ts\t2\n', 'msd', /bad10\.txt:2: empty user id/],
    ['bad11.txt', 'u\ts\t1\nu\ts\n', 'msd', /bad11\.txt:2: expected 3 tab-separated fields/],
    ['bad12.txt', 'u\ts\tmany\n', 'msd', /bad12\.txt:1: play count "many" is not a number/],
  ];
  for (const [name, text, fmt, re] of cases) {
    const p = write(name, text);
    assert.throws(() => readRatings(p, fmt), re, name);
  }
  assert.throws(() => readRatings(join(dir, 'nope.csv'), 'ml-csv'), /nope\.csv: no such file or directory/);
  assert.throws(() => loadRatings(join(dir, 'nope.data'), 'ml-100k'), /nope\.data: no such file or directory/);
  mkdirSync(join(dir, 'empty'), { recursive: true });
  assert.throws(() => readRatings(join(dir, 'empty'), 'netflix'), /empty: no Netflix combined_data_N\.txt or mv_NNNNNNN\.txt/);
  assert.throws(() => readRatings(join(dir, 'empty'), 'bogus' as 'msd'), /unknown ratings format 'bogus'/);
});

test('CSR from triples: sorted rows, duplicates keep the last value, batches and gathers', () => {
  const r = Int32Array.from([2, 0, 2, 0, 2, 3]);
  const c = Int32Array.from([4, 1, 0, 3, 4, 1]);
  const v = Float32Array.from([1, 2, 3, 4, 5, 6]);
  const m = toCsr(4, 5, r, c, v);
  assert.equal(Array.from(m.indptr), [0, 2, 2, 4, 5]);
  assert.equal(Array.from(m.indices), [1, 3, 0, 4, 1]);
  assert.equal(Array.from(m.values!), [2, 4, 3, 5, 6], '(2, 4) appears twice: the later 5 wins');
  const b = csrBatch(m, 1, 4);
  assert.equal(Array.from(b.indptr), [0, 0, 2, 3]);
  assert.equal(Array.from(b.indices), [0, 4, 1]);
  assert.equal(Array.from(b.values!), [3, 5, 6]);
  const g = gatherRows(m, [3, 0, 1, 0]);
  assert.equal(Array.from(g.indptr), [0, 1, 3, 3, 5]);
  assert.equal(Array.from(g.indices), [1, 1, 3, 1, 3]);
  assert.throws(() => csrBatch(m, 2, 5), /csrBatch: rows 2\.\.5 are outside 0\.\.4/);
  assert.throws(() => gatherRows(m, [4]), /gatherRows: row 4 \(position 0\)/);
});

/** users × items with user u rating item i (ids 1-based) when keep(u, i); rating 5 or 1. */
function syntheticCsv(name: string, users: number, items: number, keep: (u: number, i: number) => boolean, low: (u: number, i: number) => boolean = () => false): string {
  const lines = ['userId,movieId,rating,timestamp'];
  for (let u = 1; u <= users; u++) for (let i = 1; i <= items; i++) if (keep(u, i)) lines.push(`${u},${i},${low(u, i) ? '3.5' : '4.0'},0`);
  return write(name, lines.join('\n') + '\n');
}

const rowSet = (m: Csr, r: number): number[] => Array.from(m.indices.subarray(m.indptr[r], m.indptr[r + 1]));

test('preprocessing thresholds: rating ≥ 4, then items by count, then users by count', () => {
  // user u rates items 1..u (u = 1..12) ≥ 4, plus item 30 at 3.5 for everyone
  const p = syntheticCsv('thr.csv', 12, 30, (u, i) => i <= u || i === 30, (_u, i) => i === 30);
  const d = loadRatings(p, 'ml-csv', { heldOutUsers: 1 });
  assert.is(d.summary.rows, 12 * 13 / 2 + 12);
  assert.is(d.summary.rated, 12 * 13 / 2, 'the 3.5 ratings are dropped');
  assert.is(d.summary.users, 8, 'users 5..12 have ≥ 5 interactions');
  assert.is(d.summary.interactions, 5 + 6 + 7 + 8 + 9 + 10 + 11 + 12);
  // items rated by ≥ 9 users: items 1..4 (users 5..12 all rate them) → users with ≥ 5 of those: none
  assert.throws(() => loadRatings(p, 'ml-csv', { minItemCount: 9 }), /heldOutUsers: .* among the 0 users/);
  // items with ≥ 5 users are 1..8; users then need ≥ 7 of them: users 7..12
  const e = loadRatings(p, 'ml-csv', { minItemCount: 5, minUserCount: 7, heldOutUsers: 1 });
  assert.is(e.summary.users, 6);
  assert.is(e.summary.interactions, 7 + 8 + 8 + 8 + 8 + 8);
  assert.is(e.summary.filteredItems, 8);
  assert.ok(e.itemIds.every((id) => (id as number) <= 8), `items ${e.itemIds}`);
  const all = loadRatings(p, 'ml-csv', { minRating: null, minUserCount: 0, heldOutUsers: 1 });
  assert.is(all.summary.users, 12);
  assert.is(all.summary.interactions, 12 * 13 / 2 + 12);
  assert.throws(() => loadRatings(p, 'ml-csv', { minUserCount: -1 }), /minUserCount: expected a non-negative integer, got -1/);
  assert.throws(() => loadRatings(p, 'ml-csv', { heldOutUsers: 1.5 }), /heldOutUsers: expected a user count or a fraction/);
  assert.throws(() => loadRatings(p, 'ml-csv', { heldOutUsers: 4 }), /heldOutUsers: 4 validation \+ 4 test users leave no training users among the 8/);
});

function splitOf(d: RatingsData): string {
  return JSON.stringify([d.trainUserIds, d.validation.userIds, d.test.userIds, Array.from(d.validation.heldOut.indices)]);
}

test('seeded user split, items from training users only, 80/20 fold-in / held-out', () => {
  // 60 users with 5..24 items out of 40 drawn by a fixed pattern; item 40 only for user 60
  const keep = (u: number, i: number): boolean => (i === 40 ? u === 60 : ((u * 7 + i * 13) % 40) < 6 + (u % 20));
  const p = syntheticCsv('split.csv', 60, 40, keep);
  const d = loadRatings(p, 'ml-csv', { heldOutUsers: 0.2, seed: 5 });
  const s = d.summary;
  assert.is(s.users, 60);
  assert.is(s.trainUsers + s.validationUsers + s.testUsers + s.droppedUsers, 60);
  assert.is(s.trainUsers, 36);
  assert.equal(splitOf(loadRatings(p, 'ml-csv', { heldOutUsers: 0.2, seed: 5 })), splitOf(d), 'same seed, same split');
  assert.not.equal(splitOf(loadRatings(p, 'ml-csv', { heldOutUsers: 0.2, seed: 6 })), splitOf(d), 'another seed, another split');

  const trainItems = new Set<number>();
  for (let r = 0; r < d.train.rows; r++) rowSet(d.train, r).forEach((i) => trainItems.add(i));
  assert.is(trainItems.size, d.itemIds.length, 'every item column is seen in training');
  assert.is(d.itemPopularity.reduce((a, b) => a + b, 0), s.trainInteractions);

  const byId = new Map<number, Set<number>>(); // raw user id → raw item ids
  for (let u = 1; u <= 60; u++) byId.set(u, new Set(Array.from({ length: 40 }, (_, k) => k + 1).filter((i) => keep(u, i))));
  for (let r = 0; r < d.train.rows; r++) {
    const want = [...byId.get(d.trainUserIds[r] as number)!].sort((a, b) => a - b);
    assert.equal(rowSet(d.train, r).map((j) => d.itemIds[j]).sort((a, b) => (a as number) - (b as number)), want, 'train rows hold the user\'s items');
  }
  for (const set of [d.validation, d.test]) {
    assert.is(set.foldIn.rows, set.heldOut.rows);
    assert.is(set.userIds.length, set.foldIn.rows);
    for (let r = 0; r < set.foldIn.rows; r++) {
      const f = rowSet(set.foldIn, r), h = rowSet(set.heldOut, r);
      const n = f.length + h.length;
      assert.is(h.length, n >= 5 ? Math.floor(0.2 * n) : 0, `held out of ${n}`);
      assert.ok(h.every((i) => !f.includes(i)), 'fold-in and held-out are disjoint');
      for (const i of [...f, ...h]) assert.ok(trainItems.has(i) && i < d.itemIds.length);
      const seen = new Set([...f, ...h].map((j) => d.itemIds[j] as number));
      const all = [...byId.get(set.userIds[r] as number)!].filter((i) => d.itemIds.includes(i));
      assert.equal([...seen].sort((a, b) => a - b), all.sort((a, b) => a - b), 'fold-in ∪ held-out = the user\'s training items');
      assert.ok(f.every((x, k) => k === 0 || x > f[k - 1]) && h.every((x, k) => k === 0 || x > h[k - 1]), 'rows sorted');
    }
  }
  // the held-out choice is random: across users it is not always the first or last 20%
  let firsts = 0, rows = 0;
  for (let r = 0; r < d.validation.heldOut.rows; r++) {
    const h = rowSet(d.validation.heldOut, r), f = rowSet(d.validation.foldIn, r);
    if (!h.length) continue;
    rows++;
    if (Math.max(...h) < Math.min(...f)) firsts++;
  }
  assert.ok(rows > 5 && firsts < rows, `${firsts} of ${rows} rows held out their first items`);
  // item 40 belongs to user 60 only: a column exactly when user 60 trains
  assert.is(d.itemIds.includes(40), d.trainUserIds.includes(60));
  // keepValues keeps ratings
  const v = loadRatings(p, 'ml-csv', { heldOutUsers: 0.2, seed: 5, keepValues: true });
  assert.ok(v.train.values && v.train.values.every((x) => x === 4));
  assert.is(d.train.values, undefined);
});

test('default held-out users: the paper\'s counts on full data sets, 10% of small ones; explicit counts', () => {
  const p = syntheticCsv('small.csv', 30, 6, () => true);
  assert.is(loadRatings(p, 'ml-csv').summary.validationUsers, 3, '10% of 30');
  assert.is(loadRatings(p, 'ml-csv', { heldOutUsers: 5 }).summary.testUsers, 5);
  // ML-20M keeps 136,677 users, Netflix 463,435, MSD 571,355 (Liang et al.): the paper's counts
  assert.is(heldOutUserCount('ml-csv', 136677), 10000);
  assert.is(heldOutUserCount('netflix', 463435), 40000);
  assert.is(heldOutUserCount('msd', 571355), 50000);
  assert.is(heldOutUserCount('ml-csv', 610), 61);
  assert.is(heldOutUserCount('msd', 571355, 0.05), 28568);
});

test('real MovieLens-100K u.data: counts', () => {
  const p = fileURLToPath(new URL('../../../data/movielens/ml-100k/u.data', import.meta.url));
  if (!existsSync(p)) { console.log(`  (skipped: ${p} is missing)`); return; }
  const raw = readRatings(p, 'ml-100k');
  assert.is(raw.n, 100000);
  assert.is(raw.userIds.length, 943);
  assert.is(raw.itemIds.length, 1682);
  const d = loadRatings(p, 'ml-100k');
  const s = d.summary;
  // ≥ 4 stars: 55,375 ratings; 938 users keep ≥ 5 of them (55,361 interactions)
  assert.is(s.rated, 55375);
  assert.is(s.users, 938);
  assert.is(s.interactions, 55361);
  assert.is(s.validationUsers + s.testUsers + s.droppedUsers, 188);
  assert.is(s.trainUsers, 750);
  assert.ok(s.items > 1300 && s.items <= 1447, `${s.items} items`);
  const ratio = s.validationHeldOut / (s.validationFoldIn + s.validationHeldOut);
  assert.ok(ratio > 0.17 && ratio <= 0.2, `held-out share ${ratio}`);
});

test.run();
