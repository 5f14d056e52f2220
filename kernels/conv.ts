// Convolutions as implicit GEMMs on the subgroup matmul kernel (docs/kernels.md §4): A is an
// im2col matrix that is never materialised; these loaders compute its values on the fly.
//
//   forward          rows = output pixels (n, oy, ox), k = (ky, kx, ci) with ci fastest,
//                    A from the input in NHWC;  B = weights as [kh·kw·Ci, Co].
//   backward-input   rows = input pixels (n, y, x), k = (ky, kx, co), A from dY in NHWC,
//   (= transposed    taking only taps where (y + pad − ky) is a multiple of the stride;
//    conv forward)   B = weights as [kh·kw·Co, Ci].
//   backward-weight  rows = (ci, ky, kx), k = output pixels (n, oy, ox), A from x in NCHW;
//                    B = dY in NHWC as [N·Ho·Wo, Co].
//
// Uniform fields (kernels/matmul.ts GEMM_PARAMS): s* = the tensor A is read from, r* = the pixel
// grid of the rows (forward / backward-input) or of dY (backward-weight). The loaders are the
// matmul kernels' typed hooks (kernels/matmul.ts ALoader, TiledALoader): they read the names the
// kernel hands them and keep their own locals to themselves.
import {
  subgroupKernel, tiledKernel, defineLoader, type ALoader, type CLayout, type GemmScope, type SubgroupMatmulConfig, type TiledMatmulConfig, type TiledALoader,
} from './matmul.js';
import { defineParams, kernel, readOnly, readWrite, type KernelSource } from './common.js';

/** The convolution's uniforms, each read once into a loader-owned local of the same name. */
const setup = ({ P }: GemmScope): string[] => [
  `  let sH = ${P.sH}; let sW = ${P.sW}; let sC = ${P.sC}; let rH = ${P.rH}; let rW = ${P.rW};`,
  `  let kh = ${P.kh}; let kw = ${P.kw}; let st = ${P.stride}; let pd = ${P.pad};`,
];

/**
 * Rows are pixels of an [N, rH, rW] grid; A is read from an NHWC [N, sH, sW, sC] tensor.
 * With sC % 4 == 0 (`vec`) the k loop is split into taps (ky, kx) and channel quads: the bounds
 * test and address of a tap are computed once per row, and each channel quad is one vec4 load.
 * With `nchw`, A is read from an NCHW [N, sC, sH, sW] tensor instead (a quad is four scalar
 * loads one channel plane apart; the kernel then writes C as NCHW too: no layout passes). Other
 * channel counts (an RGB input, 11 class maps) take scalar loads, k decoded per element, in
 * either layout. `transposed`: the input gradient's taps (see the header).
 */
const pixelRowLoader = defineLoader('conv.pixels', ({ vec, transposed, nchw }: { vec: boolean; transposed: boolean; nchw: boolean }): Omit<ALoader, 'config'> => {
  // tap (ky, kx) of a row whose origin is (ty, tx): source coordinates and whether it exists
  const tap = (g: string, ky: string, kx: string): string => transposed
    ? `let ny${g} = ty${g} - i32(${ky}); let nx${g} = tx${g} - i32(${kx});
    let sy${g} = ny${g} / i32(st); let sx${g} = nx${g} / i32(st);
    let ok${g} = (ny${g} >= 0) & (nx${g} >= 0) & (ny${g} % i32(st) == 0) & (nx${g} % i32(st) == 0) & (u32(sy${g}) < sH) & (u32(sx${g}) < sW);`
    : `let sy${g} = ty${g} + i32(${ky}); let sx${g} = tx${g} + i32(${kx});
    let ok${g} = (sy${g} >= 0) & (sx${g} >= 0) & (u32(sy${g}) < sH) & (u32(sx${g}) < sW);`;
  const origin = transposed
    ? (g: number) => [`  let ty${g} = i32(oy${g}) + i32(pd); let tx${g} = i32(ox${g}) + i32(pd);`]
    : (g: number) => [`  let ty${g} = i32(oy${g} * st) - i32(pd); let tx${g} = i32(ox${g} * st) - i32(pd);`];
  const name = transposed ? 'convT' : 'conv';
  const tapAddr = (g: number): string => nchw
    ? `nb${g} + u32(max(sy${g}, 0)) * sW + u32(max(sx${g}, 0))`
    : `select(0u, (nb${g} + (u32(max(sy${g}, 0)) * sW + u32(max(sx${g}, 0))) * sC) / 4u, ok${g})`;
  return {
    element: vec && !nchw ? 'vec4<f32>' : 'f32',
    decls: ({ A }) => vec && nchw
      ? `
fn ldq(ok: bool, a: u32, hw: u32) -> vec4<f32> {
  let i = select(0u, a, ok);
  return select(vec4<f32>(0.0), vec4<f32>(${A}[i], ${A}[i + hw], ${A}[i + 2u * hw], ${A}[i + 3u * hw]), ok);
}`
      : vec
      ? ''
      : `
fn ld${name}(nb: u32, ty: i32, tx: i32, k: u32, K: u32, kw: u32, sH: u32, sW: u32, sC: u32, st: u32) -> f32 {
  if (k >= K) { return 0.0; }
  let c = k % sC; let t = k / sC; let kx = t % kw; let ky = t / kw;
  ${tap('', 'ky', 'kx')}
  let idx = ${nchw ? 'nb + c * sH * sW + u32(max(sy, 0)) * sW + u32(max(sx, 0))' : 'nb + (u32(max(sy, 0)) * sW + u32(max(sx, 0))) * sC + c'};
  return select(0.0, ${A}[select(0u, idx, ok)], ok);
}`,
    setup: (s) => [...setup(s), '  let sHW = sH * sW;'],
    rowSetup: ({ M }, g, row) => [
      `  let m${g} = min(${row}, ${M} - 1u);`,
      `  let oy${g} = (m${g} / rW) % rH; let ox${g} = m${g} % rW;`,
      `  let nb${g} = (m${g} / (rH * rW)) * sH * sW * sC;`,
      ...origin(g),
    ],
    load: ({ A, K }, g, k) => vec && nchw
      ? `ldq(ok${g}, ab${g} + c * sHW, sHW)`
      : vec
      ? `select(vec4<f32>(0.0), ${A}[ab${g} + c / 4u], ok${g})`
      : `vec4<f32>(${[0, 1, 2, 3].map((j) => `ld${name}(nb${g}, ty${g}, tx${g}, ${k} + ${j}u, ${K}, kw, sH, sW, sC, st)`).join(', ')})`,
    loop: vec ? (_s, RG) => ({
      open: [
        '  for (var t = 0u; t < kh * kw; t = t + 1u) {',
        '    let ky = t / kw; let kx = t % kw;',
        ...Array.from({ length: RG }, (_, g) => `    ${tap(String(g), 'ky', 'kx')}
    let ab${g} = ${tapAddr(g)};`),
        '  for (var c = 0u; c < sC; c = c + 4u) {',
        '    let k = t * sC + c;',
      ],
      close: ['  }', '  }'],
      k: 'k',
    }) : undefined,
  };
});

/**
 * pixelRowLoader (NCHW, channel quads) for 3-wide taps at stride 1, with `laneRows` and 4 rows a
 * lane: the lane's rows are 4 neighbouring pixels of one output row (rW % 4 == 0), and the k loop
 * runs (ky, channel quad, kx) with kx innermost. Pixel g reads column tx + g + kx (transposed:
 * tx + g − kx), so from one kx to the next three of the lane's four quads are the previous step's,
 * shifted by one pixel: one new quad a step after the first four — 7 quad loads (the last one
 * unused: an unconditional load is cheaper here than a branch) for 12 uses instead of 12. B is
 * addressed by k = (ky·3 + kx)·sC + c, the same k as the plain loader's.
 */
const pixelShiftLoader = defineLoader('conv.pixels.shift', ({ transposed }: { transposed: boolean }): Omit<ALoader, 'config'> => {
  const sign = transposed ? '-' : '+';
  return {
    element: 'f32',
    decls: ({ A }) => `
fn ldc(rowok: bool, cb: u32, x: i32, sW: u32, hw: u32) -> vec4<f32> {
  let ok = rowok & (x >= 0) & (u32(x) < sW);
  let i = select(0u, cb + u32(max(x, 0)), ok);
  return select(vec4<f32>(0.0), vec4<f32>(${A}[i], ${A}[i + hw], ${A}[i + 2u * hw], ${A}[i + 3u * hw]), ok);
}`,
    setup: (s) => [...setup(s), '  let sHW = sH * sW;'],
    // the lane's first pixel (M is a multiple of 4: rows past it load a valid group)
    rowSetup: ({ M }, g, row) => g > 0 ? [] : [
      `  let m0 = min(${row}, ${M} - 4u);`,
      `  let oy0 = (m0 / rW) % rH; let ox0 = m0 % rW;`,
      `  let nb0 = (m0 / (rH * rW)) * sH * sW * sC;`,
      transposed ? `  let ty0 = i32(oy0) + i32(pd); let tx0 = i32(ox0) + i32(pd);` : `  let ty0 = i32(oy0) - i32(pd); let tx0 = i32(ox0) - i32(pd);`,
    ],
    load: (_s, g) => `q${g}`,
    // the new quad after stepping to kx + 1: forward pixel 3's column, transposed pixel 0's
    advance: () => transposed
      ? ['q3 = q2; q2 = q1; q1 = q0;', 'q0 = ldc(rowok, cb, tx0 - i32(kx + 1u), sW, sHW);']
      : ['q0 = q1; q1 = q2; q2 = q3;', 'q3 = ldc(rowok, cb, tx0 + 3i + i32(kx + 1u), sW, sHW);'],
    loop: () => ({
      open: [
        '  for (var ky = 0u; ky < kh; ky = ky + 1u) {',
        `    let sy = ty0 ${sign} i32(ky);`,
        '    let rowok = (sy >= 0) & (u32(sy) < sH);',
        '    let rb = nb0 + u32(max(sy, 0)) * sW;',
        '  for (var c = 0u; c < sC; c = c + 4u) {',
        '    let cb = rb + c * sHW;',
        `    ${[0, 1, 2, 3].map((g) => `var q${g} = ldc(rowok, cb, tx0 + ${g}i, sW, sHW);`).join(' ')}`,
        '  for (var kx = 0u; kx < 3u; kx = kx + 1u) {',
        '    let k = (ky * 3u + kx) * sC + c;',
      ],
      close: ['  }', '  }', '  }'],
      k: 'k',
    }),
  };
});

/**
 * Rows are (ci, ky, kx); k runs over dY's pixels (n, oy, ox), one output row of Wo pixels at a
 * time in quads (a quad never spans two rows; lanes past the row end read zeros); A is x in
 * NCHW [N, sC, sH, sW]. Needs B's k bounds checked unless rW % 4 == 0.
 * `inside`: every tap is inside x (no padding; the engine pads x beforehand) and every quad is
 * inside its output row (rW % 4 == 0), so loads need no tests at all.
 */
const weightGradLoader = defineLoader('conv.wgrad', ({ inside }: { inside: boolean }): Omit<ALoader, 'config'> => ({
  element: 'f32',
  decls: ({ A }) => `
fn ldw(rowOk: bool, rb: u32, x: i32, inRow: bool, sW: u32) -> f32 {
  ${inside ? `return ${A}[rb + u32(x)];` : `let ok = rowOk & inRow & (x >= 0) & (u32(x) < sW);
  return select(0.0, ${A}[select(0u, rb + u32(max(x, 0)), ok)], ok);`}
}`,
  setup: (s) => [...setup(s), '  let sCHW = sC * sH * sW;'],
  rowSetup: ({ M }, g, row) => [
    `  let kr${g} = min(${row}, ${M} - 1u);`,
    `  let xb${g} = (kr${g} / (kh * kw)) * sH * sW;`,
    `  let oyo${g} = i32((kr${g} / kw) % kh) - i32(pd); let oxo${g} = i32(kr${g} % kw) - i32(pd);`,
  ],
  load: (_s, g) => `vec4<f32>(${[0, 1, 2, 3].map((j) => `ldw(yok${g}, rb${g}, xo${g} + ${j * 1}i * i32(st), ox + ${j}u < rW, sW)`).join(', ')})`,
  loop: ({ K }, RG) => ({
    open: [
      `  for (var row = 0u; row < ${K} / rW; row = row + 1u) {`,
      '    let n = row / rH; let oy = row % rH;',
      ...Array.from({ length: RG }, (_, g) => `    let y${g} = i32(oy * st) + oyo${g};
    let yok${g} = (y${g} >= 0) & (u32(y${g}) < sH);
    let rb${g} = n * sCHW + xb${g} + u32(max(y${g}, 0)) * sW;`),
      '  for (var ox = 0u; ox < rW; ox = ox + 4u) {',
      '    let k = row * rW + ox;',
      ...Array.from({ length: RG }, (_, g) => `    let xo${g} = i32(ox * st) + oxo${g};`),
    ],
    close: ['  }', '  }'],
    k: 'k',
  }),
}));

/**
 * weightGradLoader for stride 1 and kw = 3, with `laneRows` and 3 rows a lane:
 * a lane's rows are the kx = 0, 1, 2 taps of one (ci, ky), whose quads of pixels overlap — row
 * kx reads x[xo + kx … xo + kx + 3] — so the lane loads the six pixels xo … xo + 5 once and
 * builds its three quads from them: 6 loads for 3 rows instead of 12 (loads bound this kernel).
 */
const weightGradTapsLoader = defineLoader('conv.wgrad.taps3', ({ inside }: { inside: boolean }): Omit<ALoader, 'config'> => {
  // pixel j of a quad exists only while ox + j < rW (a quad never spans two output rows)
  const quad = (g: number): string => {
    const v = `vec4<f32>(t${g}, t${g + 1}, t${g + 2}, t${g + 3})`;
    return inside ? v : `select(vec4<f32>(0.0), ${v}, vec4<u32>(ox) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(rW))`;
  };
  return {
    element: 'f32',
    decls: ({ A }) => `
fn ldw(rowOk: bool, rb: u32, x: i32, sW: u32) -> f32 {
  ${inside ? `return ${A}[rb + u32(x)];` : `let ok = rowOk & (x >= 0) & (u32(x) < sW);
  return select(0.0, ${A}[select(0u, rb + u32(max(x, 0)), ok)], ok);`}
}`,
    setup: (s) => [...setup(s), '  let sCHW = sC * sH * sW;'],
    // the lane's first row, rounded down to its group of three (rows past M load a valid group)
    rowSetup: ({ M }, g, row) => g > 0 ? [] : [
      `  let kr0 = (min(${row}, ${M} - 1u) / 3u) * 3u;`,
      `  let xb0 = (kr0 / (kh * kw)) * sH * sW;`,
      `  let oyo0 = i32((kr0 / kw) % kh) - i32(pd); let oxo0 = -i32(pd);`,
    ],
    load: (_s, g) => quad(g),
    loop: ({ K }) => ({
      open: [
        `  for (var row = 0u; row < ${K} / rW; row = row + 1u) {`,
        '    let n = row / rH; let oy = row % rH;',
        `    let y0 = i32(oy) + oyo0;
    let yok0 = (y0 >= 0) & (u32(y0) < sH);
    let rb0 = n * sCHW + xb0 + u32(max(y0, 0)) * sW;`,
        '  for (var ox = 0u; ox < rW; ox = ox + 4u) {',
        '    let k = row * rW + ox;',
        '    let xo0 = i32(ox) + oxo0;',
        `    ${[0, 1, 2, 3, 4, 5].map((j) => `let t${j} = ldw(yok0, rb0, xo0 + ${j}i, sW);`).join(' ')}`,
      ],
      close: ['  }', '  }'],
      k: 'k',
    }),
  };
});

export type ConvMode = 'forward' | 'backward-input' | 'backward-weight';

export const DIRECT_PARAMS = defineParams({
  N: 'u32', Ci: 'u32', H: 'u32', W: 'u32', Co: 'u32', Ho: 'u32', Wo: 'u32', kh: 'u32', kw: 'u32', stride: 'u32', pad: 'u32', total: 'u32',
});

/**
 * The configuration a tap-sharing loader needs (3-wide kernels, stride 1): consecutive rows a
 * lane (`laneRows`), three of them for the weight gradient (weightGradTapsLoader), four for the
 * pixel GEMMs (pixelShiftLoader). The caller sizes its grid from the returned rows.
 */
export function convTapConfig(cfg: SubgroupMatmulConfig, mode: ConvMode): SubgroupMatmulConfig {
  return { ...cfg, laneRows: true, rows: (mode === 'backward-weight' ? 3 : 4) * cfg.lanes };
}

/** Which convolution GEMM (convKernel). */
export interface ConvGemmVariant {
  mode: ConvMode;
  /**
   * Forward and input gradient: the source's channels are a multiple of 4 (channel quads).
   * Weight gradient: every load is inside (see weightGradLoader).
   */
  vec: boolean;
  /** Forward and input gradient: source and result in NCHW (else NHWC, C row-major). */
  nchw?: boolean;
  /** Weight gradient: C written as [N, M], the weight's own layout (else row-major [M, N]). */
  transposedC?: boolean;
  /**
   * The mode's tap-sharing loader (the config from convTapConfig; the pixel GEMMs' needs `vec`,
   * `nchw` and rows a multiple of 4 pixels wide).
   */
  taps?: boolean;
}

/** The GEMM kernel for one convolution on the subgroup structure: the mode's loader, C's layout. */
export function convKernel(cfg: SubgroupMatmulConfig, v: ConvGemmVariant): KernelSource {
  const { mode, vec, nchw = false, taps = false } = v;
  if (taps && (!cfg.laneRows || cfg.rows !== convTapConfig(cfg, mode).rows)) throw new Error(`conv kernel: tap sharing needs convTapConfig's rows (${mode})`);
  if (taps && mode !== 'backward-weight' && !(vec && nchw)) throw new Error('conv kernel: shifted taps read NCHW channel quads');
  const transposed = mode === 'backward-input';
  const a: ALoader = mode === 'backward-weight'
    ? (taps ? weightGradTapsLoader : weightGradLoader)({ inside: vec })
    : taps ? pixelShiftLoader({ transposed }) : pixelRowLoader({ vec, transposed, nchw });
  const c: CLayout = mode === 'backward-weight' ? (v.transposedC ? 'transposed' : 'plain') : nchw ? 'nchw' : 'plain';
  return subgroupKernel(cfg, { a, c });
}

/**
 * Implicit-im2col element loaders for the tiled (shared-memory) structure: element (r, k) of
 * the mode's A matrix, read from an NCHW tensor [N, sC, sH, sW] with zero padding; rows and k as
 * in the subgroup loaders above (channel fastest within a tap).
 */
const tiledConvLoader = defineLoader('conv.elements', ({ mode }: { mode: ConvMode }): Omit<TiledALoader, 'config'> => ({
  element: ({ A, r, k, P }) => ({
    forward: `  let ci = ${k} % ${P.sC}; let t = ${k} / ${P.sC}; let kx = t % ${P.kw}; let ky = t / ${P.kw};
  let ox = ${r} % ${P.rW}; let oy = (${r} / ${P.rW}) % ${P.rH}; let n = ${r} / (${P.rH} * ${P.rW});
  let y = i32(oy * ${P.stride} + ky) - i32(${P.pad}); let x = i32(ox * ${P.stride} + kx) - i32(${P.pad});
  let ok = (${r} < ${P.M}) & (${k} < ${P.K}) & (y >= 0) & (x >= 0) & (u32(y) < ${P.sH}) & (u32(x) < ${P.sW});
  return select(0.0, ${A}[select(0u, ((n * ${P.sC} + ci) * ${P.sH} + u32(y)) * ${P.sW} + u32(x), ok)], ok);`,
    'backward-input': `  let co = ${k} % ${P.sC}; let t = ${k} / ${P.sC}; let kx = t % ${P.kw}; let ky = t / ${P.kw};
  let x = ${r} % ${P.rW}; let y = (${r} / ${P.rW}) % ${P.rH}; let n = ${r} / (${P.rH} * ${P.rW});
  let ny = i32(y + ${P.pad}) - i32(ky); let nx = i32(x + ${P.pad}) - i32(kx);
  let st = i32(${P.stride});
  let ok = (${r} < ${P.M}) & (${k} < ${P.K}) & (ny >= 0) & (nx >= 0) & (ny % st == 0) & (nx % st == 0) & (u32(ny / st) < ${P.sH}) & (u32(nx / st) < ${P.sW});
  return select(0.0, ${A}[select(0u, ((n * ${P.sC} + co) * ${P.sH} + u32(max(ny, 0) / st)) * ${P.sW} + u32(max(nx, 0) / st), ok)], ok);`,
    'backward-weight': `  let kx = ${r} % ${P.kw}; let ky = (${r} / ${P.kw}) % ${P.kh}; let ci = ${r} / (${P.kw} * ${P.kh});
  let ox = ${k} % ${P.rW}; let oy = (${k} / ${P.rW}) % ${P.rH}; let n = ${k} / (${P.rH} * ${P.rW});
  let y = i32(oy * ${P.stride} + ky) - i32(${P.pad}); let x = i32(ox * ${P.stride} + kx) - i32(${P.pad});
  let ok = (${r} < ${P.M}) & (${k} < ${P.K}) & (y >= 0) & (x >= 0) & (u32(y) < ${P.sH}) & (u32(x) < ${P.sW});
  return select(0.0, ${A}[select(0u, ((n * ${P.sC} + ci) * ${P.sH} + u32(y)) * ${P.sW} + u32(x), ok)], ok);`,
  })[mode],
}));

/**
 * The convolution GEMMs on the tiled structure: forward and input gradient write NCHW
 * directly; the weight gradient reads dY in place as its B ([N·Ho·Wo, Co] = NCHW) and writes
 * C transposed, i.e. straight into the weight's [Co, Ci, kh, kw] layout. No layout passes.
 */
export function convTiledKernel(cfg: TiledMatmulConfig, mode: ConvMode): KernelSource {
  const a = tiledConvLoader({ mode });
  return mode === 'backward-weight'
    ? tiledKernel(cfg, { a, b: 'nchw', c: 'transposed' })
    : tiledKernel(cfg, { a, b: 'plain', c: 'nchw' });
}

/**
 * One thread per output element, direct loops, NCHW throughout: the yardstick the implicit
 * GEMMs are measured against (LBD_CONV=direct forces it). Correct everywhere, fast nowhere.
 */
export function convDirectKernel(mode: ConvMode): KernelSource {
  return kernel('conv.direct', { mode }, ({ mode }) => ({
    params: DIRECT_PARAMS,
    bindings: { A: readOnly(), B: readOnly(), C: readWrite() },
    body: directCode(mode),
  }));
}

function directCode(mode: ConvMode): string {
  // shapes: x [N, Ci, H, W], w [Co, Ci, kh, kw], y [N, Co, Ho, Wo]; A/B/C per mode:
  // forward (x, w → y), backward-input (dy, w → dx), backward-weight (x, dy → dw)
  const loops = {
    forward: `
    let ox = o % Wo; let oy = (o / Wo) % Ho; let co = (o / (Wo * Ho)) % Co; let n = o / (Wo * Ho * Co);
    var s = 0.0;
    for (var ci = 0u; ci < Ci; ci = ci + 1u) {
      for (var ky = 0u; ky < kh; ky = ky + 1u) {
        let y = i32(oy * st + ky) - i32(pd);
        if ((y < 0) | (u32(y) >= H)) { continue; }
        for (var kx = 0u; kx < kw; kx = kx + 1u) {
          let x = i32(ox * st + kx) - i32(pd);
          if ((x < 0) | (u32(x) >= W)) { continue; }
          s = s + A[((n * Ci + ci) * H + u32(y)) * W + u32(x)] * B[((co * Ci + ci) * kh + ky) * kw + kx];
        }
      }
    }
    C[o] = s;`,
    'backward-input': `
    let x = o % W; let y = (o / W) % H; let ci = (o / (W * H)) % Ci; let n = o / (W * H * Ci);
    var s = 0.0;
    for (var co = 0u; co < Co; co = co + 1u) {
      for (var ky = 0u; ky < kh; ky = ky + 1u) {
        let ny = i32(y + pd) - i32(ky);
        if ((ny < 0) | (ny % i32(st) != 0) | (u32(ny) / st >= Ho)) { continue; }
        for (var kx = 0u; kx < kw; kx = kx + 1u) {
          let nx = i32(x + pd) - i32(kx);
          if ((nx < 0) | (nx % i32(st) != 0) | (u32(nx) / st >= Wo)) { continue; }
          s = s + A[((n * Co + co) * Ho + u32(ny) / st) * Wo + u32(nx) / st] * B[((co * Ci + ci) * kh + ky) * kw + kx];
        }
      }
    }
    C[o] = s;`,
    'backward-weight': `
    let kx = o % kw; let ky = (o / kw) % kh; let ci = (o / (kw * kh)) % Ci; let co = o / (kw * kh * Ci);
    var s = 0.0;
    for (var n = 0u; n < N; n = n + 1u) {
      for (var oy = 0u; oy < Ho; oy = oy + 1u) {
        let y = i32(oy * st + ky) - i32(pd);
        if ((y < 0) | (u32(y) >= H)) { continue; }
        for (var ox = 0u; ox < Wo; ox = ox + 1u) {
          let x = i32(ox * st + kx) - i32(pd);
          if ((x < 0) | (u32(x) >= W)) { continue; }
          s = s + B[((n * Co + co) * Ho + oy) * Wo + ox] * A[((n * Ci + ci) * H + u32(y)) * W + u32(x)];
        }
      }
    }
    C[o] = s;`,
  }[mode];
  return `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let N = P.N; let Ci = P.Ci; let H = P.H; let W = P.W; let Co = P.Co; let Ho = P.Ho; let Wo = P.Wo;
  let kh = P.kh; let kw = P.kw; let st = P.stride; let pd = P.pad;
  for (var o = gid.x; o < P.total; o = o + nwg.x * 64u) {${loops}
  }
}`;
}

export interface RowConvConfig {
  /** Subgroup width: one subgroup per workgroup, lane l owns pixels P·l..P·l+P−1 of a P·lanes-pixel row strip. */
  lanes: number;
  /** Pixels a lane owns (P): 4, or 2 for rows no wider than 2·lanes (a 4·lanes strip would idle half its lanes). */
  pixels: number;
  /** Output rows per workgroup. */
  rows: number;
  /** Output channels per workgroup. */
  block: number;
  /** Epilogue: + bias[output channel]. */
  bias: boolean;
}

export const ROW_CONV_PARAMS = defineParams({
  Ci: 'u32', Co: 'u32', H: 'u32', W: 'u32', sO: 'u32', sI: 'u32', flip: 'u32', blocks: 'u32',
});

/**
 * A 3×3, stride-1, pad-1 convolution computed directly with the lanes along x (the narrow-output
 * form: Tiramisu's dense layers have 8-16 output channels, where an implicit GEMM loads each
 * input value once per tap and per output pixel and idles most of a wide tile). Each input row
 * is loaded once per input channel as four pixels per lane; the taps' left and right
 * neighbours come from the adjacent lanes by subgroupShuffle (free on llvmpipe), and one row
 * serves up to three output rows. The block's 9·block weights of an input channel are loaded
 * once between the lanes and shared by subgroupBroadcast. So a loaded input value feeds
 * 9·block multiply-adds instead of `block`.
 *
 * Weight element (o, i, tap) sits at o·sO + i·sI + (flip ? 8 − tap : tap): the forward reads
 * w [Co, Ci, 3, 3] as is; the input gradient (dy → dx) reads it with channels swapped and the
 * taps flipped — the same kernel, no weight copy.
 */
export function rowConvKernel(cfg: RowConvConfig): KernelSource {
  if (![2, 4].includes(cfg.pixels)) throw new Error(`rowConvKernel: pixels must be 2 or 4, got ${cfg.pixels}`);
  const config = { lanes: cfg.lanes, pixels: cfg.pixels, rows: cfg.rows, block: cfg.block, bias: !!cfg.bias };
  return kernel('conv.rows', config, (c) => ({
    params: ROW_CONV_PARAMS,
    enable: ['subgroups'],
    bindings: { X: readOnly(), Wt: readOnly(), Y: readWrite(), ...(c.bias ? { bias: readOnly() } : {}) },
    body: rowConvCode(c),
  }));
}

function rowConvCode(c: RowConvConfig): string {
  const { lanes: L, rows: R, block: B, pixels: PX } = c;
  // a lane's P pixels as one vec4 or vec2, and its components
  const vt = `vec${PX}<f32>`;
  const comp = (v: string, j: number): string => `${v}.${'xyzw'[j]}`;
  const vec = (parts: string[]): string => `${vt}(${parts.join(', ')})`;
  const slots = 9 * B, rounds = Math.ceil(slots / L);
  const out: string[] = [];
  out.push(`@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let Ci = P.Ci; let Co = P.Co; let H = P.H; let W = P.W; let sI = P.sI;
  let HW = H * W;
  let x0 = wid.x * ${PX * L}u + ${PX}u * l;
  let xi = i32(x0);
  let y0 = i32(wid.y * ${R}u);
  let n = wid.z / P.blocks;
  let o0 = (wid.z % P.blocks) * ${B}u;
  // the lane's edge pixel: lane 0 needs the strip's left neighbour, the last lane its right one
  let ex = select(xi + ${PX}, xi - 1, l == 0u);
  let up = select(l - 1u, 0u, l == 0u);
  let down = min(l + 1u, ${L - 1}u);`);
  // weight slots: lane l loads slot t·L + l = o·9 + tap of each round t (clamped; unused beyond 9·B)
  for (let t = 0; t < rounds; t++) {
    out.push(`  let sj${t} = min(${t * L}u + l, ${slots - 1}u);
  let so${t} = o0 + sj${t} / 9u;
  let stap${t} = select(sj${t} % 9u, 8u - sj${t} % 9u, P.flip != 0u);
  let wok${t} = so${t} < Co;
  let wb${t} = min(so${t}, Co - 1u) * P.sO + stap${t};`);
  }
  // Addresses and bounds do not depend on the input channel: computed once, outside its loop.
  const xs = [...Array.from({ length: PX }, (_, j) => (j ? `xi + ${j}` : 'xi')), 'ex'];
  xs.forEach((x, j) => out.push(`  let xk${j} = (${x} >= 0) & (${x} < i32(W)); let xo${j} = u32(clamp(${x}, 0, i32(W) - 1));`));
  for (let iy = 0; iy < R + 2; iy++) {
    out.push(`  let rk${iy} = (y0 + ${iy - 1} >= 0) & (y0 + ${iy - 1} < i32(H)); let ro${iy} = u32(clamp(y0 + ${iy - 1}, 0, i32(H) - 1)) * W;`);
    for (let j = 0; j <= PX; j++) out.push(`  let a${iy}_${j} = ro${iy} + xo${j}; let k${iy}_${j} = rk${iy} & xk${j};`);
  }
  for (let r = 0; r < R; r++) for (let o = 0; o < B; o++) out.push(`  var acc${r}_${o} = ${vt}(0.0);`);
  out.push(`  for (var i = 0u; i < Ci; i = i + 1u) {
    let xb = (n * Ci + i) * HW;`);
  for (let t = 0; t < rounds; t++) out.push(`    let wt${t} = select(0.0, Wt[wb${t} + i * sI], wok${t});`);
  const w = (o: number, tap: number): string => {
    const j = o * 9 + tap;
    return `subgroupBroadcast(wt${Math.floor(j / L)}, ${j % L}u)`;
  };
  for (let o = 0; o < B; o++) for (let tap = 0; tap < 9; tap++) out.push(`    let w${o}_${tap} = ${w(o, tap)};`);
  const ld = (iy: number, j: number): string => `select(0.0, X[xb + a${iy}_${j}], k${iy}_${j})`;
  for (let iy = 0; iy < R + 2; iy++) {
    out.push(`    {
      let v = ${vec(Array.from({ length: PX }, (_, j) => ld(iy, j)))};
      let e = ${ld(iy, PX)};
      let left = select(subgroupShuffle(${comp('v', PX - 1)}, up), e, l == 0u);
      let right = select(subgroupShuffle(${comp('v', 0)}, down), e, l == ${L - 1}u);
      let v0 = ${vec(['left', ...Array.from({ length: PX - 1 }, (_, j) => comp('v', j))])};
      let v2 = ${vec([...Array.from({ length: PX - 1 }, (_, j) => comp('v', j + 1)), 'right'])};`);
    for (let r = 0; r < R; r++) {
      const ky = iy - r;
      if (ky < 0 || ky > 2) continue;
      for (let o = 0; o < B; o++) {
        out.push(`      acc${r}_${o} = acc${r}_${o} + w${o}_${3 * ky} * v0 + w${o}_${3 * ky + 1} * v + w${o}_${3 * ky + 2} * v2;`);
      }
    }
    out.push('    }');
  }
  out.push('  }');
  for (let o = 0; o < B; o++) {
    out.push(`  if (o0 + ${o}u < Co) {`);
    if (c.bias) out.push(`    let bo = bias[o0 + ${o}u];`);
    for (let r = 0; r < R; r++) {
      const v = c.bias ? `acc${r}_${o} + ${vt}(bo)` : `acc${r}_${o}`;
      out.push(`    storeP(((n * Co + o0 + ${o}u) * H + u32(y0 + ${r})) * W, x0, u32(y0 + ${r}) < H, W, ${v});`);
    }
    out.push('  }');
  }
  out.push(`}
fn storeP(base: u32, x: u32, rowOk: bool, W: u32, v: ${vt}) {
  if (!rowOk) { return; }
${Array.from({ length: PX }, (_, j) => `  if (x${j ? ` + ${j}u` : ''} < W) { Y[base + x${j ? ` + ${j}u` : ''}] = ${comp('v', j)}; }`).join('\n')}
}`);
  return out.join('\n');
}
