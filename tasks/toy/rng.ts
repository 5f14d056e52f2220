// A seeded float64 generator for the toy study (CPU only; the engine's Philox lives beside the
// GPU dispatch code, which this study must not load). sfc32 seeded through splitmix32, one
// independent stream per (seed, stream) pair; uniforms carry 53 random bits and lie strictly
// inside (0, 1), so log u and log(1 − u) are always finite.

function splitmix32(state: number): [number, number] {
  const s = (state + 0x9e3779b9) >>> 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [s, (z ^ (z >>> 16)) >>> 0];
}

export class Rng {
  private a: number; private b: number; private c: number; private d: number;
  private spare = NaN;

  constructor(seed: number, stream = 0) {
    let s = (Math.imul(seed >>> 0, 0x2545f491) ^ Math.imul((stream + 1) >>> 0, 0x9e3779b1)) >>> 0;
    const out: number[] = [];
    for (let i = 0; i < 4; i++) { const [n, v] = splitmix32(s); s = n; out.push(v); }
    [this.a, this.b, this.c, this.d] = out;
    this.d |= 1;
    for (let i = 0; i < 16; i++) this.next32();
  }

  /** sfc32: one 32-bit unsigned integer. */
  next32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** U(0, 1) with 53 random bits, never exactly 0 or 1. */
  uniform(): number {
    const hi = this.next32() >>> 5, lo = this.next32() >>> 6;
    return (hi * 67108864 + lo + 0.5) / 9007199254740992;
  }

  /** N(mean, std²) by Box–Muller (the second value of each pair is kept for the next call). */
  normal(mean = 0, std = 1): number {
    if (!Number.isNaN(this.spare)) { const v = this.spare; this.spare = NaN; return mean + std * v; }
    const r = Math.sqrt(-2 * Math.log(this.uniform())), t = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(t);
    return mean + std * r * Math.cos(t);
  }

  /** Fills `out` with U(0, 1) draws (a small function the hot loops call many times). */
  fillUniform(out: Float64Array): Float64Array {
    for (let i = 0; i < out.length; i++) out[i] = this.uniform();
    return out;
  }
}
