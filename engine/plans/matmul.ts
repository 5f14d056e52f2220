// Matrix-product plans: which kernel structure and tile a product [M, K]·[K, N] takes on an
// adapter, whether B goes through a (folded) texture, and whether a transposed A is copied
// first. Pure functions of the adapter profile, the tuning and the shape (docs/kernels.md has
// the measurements behind each rule).
import type { MatmulConfig } from '../../kernels/matmul.js';
import { cpuKernelPaths, type AdapterProfile } from './profile.js';
import type { Tuning } from './tuning.js';

/**
 * The config of one product. CPU adapters with a fixed subgroup size (lavapipe: 4, 8 or 16 lanes
 * by vector width; SwiftShader: 4) get the subgroup-broadcast kernel; hardware GPUs, adapters
 * without subgroups and `kernels: 'gpu'` the shared-memory tiled one.
 */
export function planMatmul(p: AdapterProfile, t: Tuning, M: number, N: number, K: number, batch = 1): MatmulConfig {
  const m = t.matmul, sg = p.subgroupSize;
  const structure = m.structure ?? (p.hasSubgroups && sg && cpuKernelPaths(p, t) ? 'subgroup' : 'tiled');
  if (structure === 'tiled') return { kind: 'tiled', ...m.tiled };
  if (!p.hasSubgroups || !sg) throw new Error('matmul: the subgroup kernel needs the adapter\'s subgroups feature with a fixed subgroup size');
  // Wide, short outputs (the recommender's 500 x 9724 x 600) prefer 32 rows x one strip and
  // no persistent workgroups (measured at 16 lanes, one process: 28.6 vs 21.6 GFLOP/s);
  // square ones the persistent 16-row, two-strip tile (31.4 vs 27.3 at 1024³).
  const wide = m.shapeRules && N >= 4 * M && N > 64 * sg;
  // 64-wide tiles pay off on wide outputs; narrow ones waste half the lanes.
  const strips = m.strips ?? (wide ? 1 : N >= 64 * 8 && M >= 64 ? 2 : 1);
  const maxTex = p.maxTextureDimension2D;
  const textureB = m.texture && Math.ceil(N / 4) <= maxTex && batch * Math.ceil(K / 4) * 4 <= maxTex;
  // narrow outputs (N ≤ narrowMax): each lane its own rows, all columns (32 rows a workgroup)
  const narrow = N <= m.narrowMax ? Math.ceil(N / 4) : 0;
  // rows must be a multiple of the lane count (each lane loads rows l, l + lanes, ...)
  const rows = Math.ceil((narrow || wide ? 2 * m.rows : m.rows) / sg) * sg;
  return { kind: 'subgroup', lanes: sg, rows, strips, vecA: K % 4 === 0, vecB: N % 4 === 0, textureB, persistent: wide ? 0 : m.persistent, narrow, narrowShared: m.narrowShared };
}

/**
 * How many columns of quads a B [K, N] is folded into so that it fits a texture (K rows of
 * quads over a texture at most maxTextureDimension2D high: a fold f makes it f times wider and
 * 1/f as high); 0 when no fold fits.
 */
export function textureFold(p: AdapterProfile, K: number, N: number): number {
  const max = p.maxTextureDimension2D;
  const w = Math.ceil(N / 4), h = Math.ceil(K / 4) * 4;
  for (let f = 1; w * f <= max; f *= 2) if (Math.ceil(h / f) <= max) return f;
  return 0;
}

/**
 * A subgroup product's B taller than a texture (K > 8192: the recommender's 20108 items as a
 * product's inner dimension) is folded into a wider texture when the batch shares it: the fold
 * (> 1) and the tile it gets, or null. A folded B's texel fetch costs more (its coordinates
 * depend on the fold): tiles of 32 rows halve the fetches per product — 1.25-1.3x at
 * 500x600x20108 (Mult-VAE's dh = dY·W2ᵀ and the dense first layer, plain and transposed), none
 * at unfolded 512x512x8192 (2026-12-03, 16 lanes).
 */
export function planFold(p: AdapterProfile, t: Tuning, cfg: MatmulConfig, M: number, N: number, K: number, sharedB: boolean): { fold: number; rows?: number; persistent?: number } | null {
  if (cfg.kind !== 'subgroup' || cfg.textureB || !t.matmul.texture || !t.matmul.foldTall || !sharedB) return null;
  const fold = textureFold(p, K, N);
  if (fold <= 1) return null;
  return t.matmul.shapeRules && !cfg.narrow && M >= 32 ? { fold, rows: Math.ceil(32 / cfg.lanes) * cfg.lanes, persistent: 0 } : { fold };
}

/**
 * Whether a transposed A is copied once instead of read in place: Aᵀ read in place costs four
 * scalar loads a quad, a copy of A one pass over M·K; with A no larger than B's side (M ≤ N) the
 * copy wins (CPU time, 8 lanes: 140 vs 170 ms at 1024³, 1124 vs 1193 at 600x20108x500; it loses
 * at 20108x600x500, 1218 vs 1009).
 */
export const copyTransposedA = (t: Tuning, cfg: MatmulConfig, M: number, N: number, twoD: boolean): boolean =>
  cfg.kind === 'subgroup' && twoD && M <= N && t.matmul.copySmallTransposedA;
