// Streaming readers for implicit-feedback data: MovieLens (ratings.csv, u.data), Netflix Prize
// (training_set/mv_*.txt, combined_data_*.txt) and the MSD Taste Profile (train_triplets.txt),
// into parallel arrays of interactions. Files are read in fixed-size chunks (ML-20M's
// ratings.csv is 500 MB) and numbers are parsed straight from the bytes; a malformed row names
// its file and line. Hot loops sit in small functions called per line / per chunk: node runs
// with --no-use-osr, where one long loop in a function called once would stay interpreted.
import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';

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

export function checkFormat(format: string): asserts format is RatingsFormat {
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
