// Convolution plans: which 3×3 products run the row kernel instead of an implicit GEMM, how a
// conv GEMM's tile and loaders are chosen, and when the weight gradient pads x. Pure functions of
// the adapter profile, the tuning and the geometry; the measurements behind each rule are in
// docs/benchmarks.md (kernel measurements, 2026-12-02 and -03).
import type { ConvGrid, MatmulConfig, SubgroupMatmulConfig } from '../../kernels/matmul.js';
import type { AdapterProfile } from './profile.js';
import type { Tuning } from './tuning.js';

/** The geometry the plans read (engine/ops/conv.ts ConvGeometry fits). */
export interface ConvShape { N: number; Ci: number; H: number; W: number; Co: number; kh: number; kw: number; Ho: number; Wo: number; stride: number; pad: number }

export interface RowPlan { pixels: number; block: number }

/**
 * The row kernel's plan for a 3×3, stride-1 product whose narrow side has `narrow` channels and
 * whose output has `outC`, or null for the implicit GEMM. `gemm` is the product's GEMM config (the
 * row kernel only replaces the subgroup structure). Measured per product, variants alternating:
 * - rows narrower than 2·lanes stay GEMMs (half a 4·lanes strip or less would be filled);
 * - 2 pixels a lane where that halves the strips' span (VGG19 x1/16's 32-pixel rows at
 *   16 lanes: 4.5 vs 7.4 ms for 4 → 4 channels, 10.0 vs 15.5 for 8 → 8; the GEMM 6.1 and 11.9);
 * - all output channels in one block up to 16 (FC-DenseNet-103's growth 16: 186 vs 215 ms at
 *   480×360, 120 vs 160 at 240×180), and blocks of 4 for 4 channels (3.6 vs 4.9 ms at 8 lanes);
 * - at 16 lanes or more the input gradient of a layer with fewer than 16 maps is a GEMM (the tiny
 *   Tiramisu's 56 → 8 layer at 80×60: 17.4 ms against 24.6 for the row kernel; at 8 lanes the row
 *   kernel wins, 19.2 vs 23.4), and so is one with 400 or more input channels (the row kernel's
 *   K is only 9·16 there, the GEMM's output 400+ wide; FC-DenseNet-103's up path at 16 lanes,
 *   7 alternating runs: 500 ← 16 at 180×240 550 → 454 ms, 600 ← 16 at 90×120 163 → 137,
 *   1000 ← 16 at 45×60 75 → 63; at 300 ← 16 and 180×240 the row kernel still won, 311 vs 355).
 */
export function planRowConv(p: AdapterProfile, t: Tuning, g: ConvShape, narrow: number, outC: number, inputGrad: boolean, gemm: MatmulConfig | null): RowPlan | null {
  const c = t.conv;
  if (c.direct || narrow > c.rowMax || g.kh !== 3 || g.kw !== 3 || g.stride !== 1 || g.pad !== 1) return null;
  const sg = p.subgroupSize;
  if (!sg || g.W < 2 * sg) return null;
  if (gemm?.kind !== 'subgroup') return null;
  if (c.rowForce) return c.rowForce;
  if (inputGrad && sg >= 16 && (narrow < 16 || outC >= 400) && g.W > 2 * sg) return null;
  const filled = (px: number): number => Math.ceil(g.W / (px * sg)) * px * sg; // pixels the strips span
  return { pixels: 2 * filled(2) <= filled(4) ? 2 : 4, block: outC <= 4 ? 4 : outC <= 8 ? 8 : 16 };
}

/**
 * A conv GEMM's subgroup tile: conv GEMMs are narrow (cols = channels), so a 64-wide tile (two
 * strips) only from 8·lanes channels, where it still fills and halves A's computed,
 * bounds-checked loads per FLOP.
 */
export const convStrips = (cfg: SubgroupMatmulConfig, cols: number): number => (cols >= 8 * cfg.lanes ? 2 : cfg.strips);

/** Which conv GEMM convTaps is asked about. */
export interface ConvTapsQuery {
  /** The weight gradient (else a pixel GEMM: forward or input gradient). */
  weightGrad: boolean;
  /** The subgroup config's narrow form. */
  narrow: boolean;
  /** Source and result in NCHW. */
  nchw: boolean;
  /** Channel quads (the source's channels a multiple of 4). */
  vec: boolean;
}

/**
 * Whether a conv GEMM shares its tap loads (3-wide taps, stride 1): the weight gradient's three
 * kx taps a lane (t.conv.wgradTaps); the narrow pixel GEMMs' four neighbouring pixels a lane,
 * quads shifted from tap to tap (t.conv.shiftTaps; NCHW, vec4 channels, rows of a multiple of 4
 * pixels: grid.rW).
 */
export function convTaps(t: Tuning, q: ConvTapsQuery, grid: ConvGrid): boolean {
  if (grid.kw !== 3 || grid.stride !== 1) return false;
  return q.weightGrad ? t.conv.wgradTaps : t.conv.shiftTaps && q.narrow && q.nchw && q.vec && grid.rW % 4 === 0;
}

/**
 * Whether the weight gradient pads x once (a copy) to drop its loads' bounds tests: with Wo % 4
 * == 0, from t.conv.wgradPadMinCo output channels. The copy is paid once per product, the tests
 * once per multiply-add of every output channel (CPU time, lavapipe: 19 vs 27 ms at 4x40 -> 8
 * channels 60x80, 62 vs 99 at 64x16 -> 16 32x32; 141 vs 134 at 64 -> 64 16x16).
 */
export const padForWeightGrad = (t: Tuning, g: ConvShape): boolean => g.Wo % 4 === 0 && t.conv.wgradPadMinCo <= g.Co;
