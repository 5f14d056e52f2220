// 2-d convolution and transposed convolution (NCHW, square or rectangular kernels, stride,
// zero padding). All three products (forward, input gradient, weight gradient) run as implicit
// GEMMs on whichever matmul structure the adapter uses (kernels/conv.ts): the subgroup one on
// CPU adapters of any subgroup width, the tiled one on GPUs and adapters without subgroups —
// except the narrow 3×3 convolutions on the subgroup structure (Tiramisu's dense layers: 8-16
// output channels), whose forward and input gradient run the row kernel (kernels/conv.ts
// rowConvKernel). The direct kernels are a yardstick only (LBD_CONV=direct).
import { defineOp, apply, type Ref, type TestCase } from '../op.js';
import { dispatch } from '../dispatch.js';
import { gpu, adapterProfile } from '../device.js';
import { tuning } from '../plans/tuning.js';
import { planRowConv, convStrips, convTaps, padForWeightGrad, type RowPlan } from '../plans/conv.js';
import { empty, fmtShape, Tensor } from '../tensor.js';
import { convKernel, convTapConfig, convDirectKernel, convTiledKernel, rowConvKernel, type ConvMode } from '../../kernels/conv.js';
import { matmulGrid, bLayouts, type BLayout, type ConvGrid, type MatmulConfig, type SubgroupMatmulConfig, type TiledMatmulConfig } from '../../kernels/matmul.js';
import { gridFor } from '../../kernels/common.js';
import { pad, permute, reshape } from './layout.js';
import { matmulConfig, matmulTextureEnabled, textureFoldFor, toTexture } from './matmul.js';
import { add } from './elementwise.js';
import { sum } from './reduce.js';

export interface ConvGeometry {
  N: number; Ci: number; H: number; W: number;
  Co: number; kh: number; kw: number; Ho: number; Wo: number;
  stride: number; pad: number;
}

function checkInt(name: string, v: number, min: number): number {
  if (!Number.isInteger(v) || v < min) throw new Error(`conv: ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  return v;
}

/** Geometry of y = conv(x, w): x [N, Ci, H, W], w [Co, Ci, kh, kw]. */
export function convGeometry(x: readonly number[], w: readonly number[], stride: number, pad: number): ConvGeometry {
  if (x.length !== 4 || w.length !== 4) throw new Error(`conv2d: expects x [N, C, H, W] and weight [Co, Ci, kh, kw]; got ${fmtShape(x)} and ${fmtShape(w)}`);
  const [N, Ci, H, W] = x;
  const [Co, Ci2, kh, kw] = w;
  if (Ci !== Ci2) throw new Error(`conv2d: input has ${Ci} channels but the weight ${fmtShape(w)} expects ${Ci2}`);
  checkInt('stride', stride, 1);
  checkInt('padding', pad, 0);
  const Ho = Math.floor((H + 2 * pad - kh) / stride) + 1;
  const Wo = Math.floor((W + 2 * pad - kw) / stride) + 1;
  if (Ho < 1 || Wo < 1) throw new Error(`conv2d: kernel ${kh}x${kw} is larger than the padded input ${H + 2 * pad}x${W + 2 * pad}`);
  return { N, Ci, H, W, Co, kh, kw, Ho, Wo, stride, pad };
}

// ---- the three products ---------------------------------------------------------------

const forceDirect = (): boolean => tuning().conv.direct;

/** The row kernel's plan for this product on this device (engine/plans/conv.ts planRowConv). */
function rowConvPlan(g: ConvGeometry, narrow: number, outC: number, inputGrad: boolean): RowPlan | null {
  const p = adapterProfile(), t = tuning();
  if (t.conv.direct || !p.subgroupSize) return null;
  return planRowConv(p, t, g, narrow, outC, inputGrad, matmulConfig(g.N * g.Ho * g.Wo, narrow, 9 * g.Ci));
}

/**
 * out [N, Co, H, W] = 3×3 conv of src [N, Ci, H, W] (stride 1, pad 1) by the row kernel; weight
 * element (o, i, tap) at o·sO + i·sI + tap, flipped taps for the input gradient.
 */
function rowConvRun(plan: RowPlan, src: Tensor, w: Tensor, Ci: number, Co: number, sO: number, sI: number, flip: boolean, bias: Tensor | null, label: string): Tensor {
  const [N, , H, W] = src.shape;
  const lanes = gpu().info.subgroupSize!;
  const out = empty([N, Co, H, W], 'f32', label);
  const blocks = Math.ceil(Co / plan.block);
  dispatch({
    kernel: rowConvKernel({ lanes, pixels: plan.pixels, rows: tuning().conv.rows, block: plan.block, bias: !!bias }),
    bindings: { X: src.buffer, Wt: w.buffer, Y: out.buffer, bias: bias?.buffer },
    params: { Ci, Co, H, W, sO, sI, flip: flip ? 1 : 0, blocks },
    workgroups: [Math.ceil(W / (plan.pixels * lanes)), Math.ceil(H / tuning().conv.rows), N * blocks],
  });
  return out;
}

function gemmConfig(M: number, Ncols: number, K: number): MatmulConfig | null {
  return forceDirect() ? null : matmulConfig(M, Ncols, K);
}

function direct(mode: ConvMode, a: Tensor, b: Tensor, g: ConvGeometry, outShape: number[]): Tensor {
  const out = empty(outShape, 'f32', `conv.${mode}`);
  const total = out.size;
  dispatch({
    kernel: convDirectKernel(mode),
    bindings: { A: a.buffer, B: b.buffer, C: out.buffer },
    params: { N: g.N, Ci: g.Ci, H: g.H, W: g.W, Co: g.Co, Ho: g.Ho, Wo: g.Wo, kh: g.kh, kw: g.kw, stride: g.stride, pad: g.pad, total },
    workgroups: [gridFor(total)],
  });
  return out;
}

/** One implicit GEMM of a convolution (tiledGemm, gemm). */
interface ConvGemm {
  mode: ConvMode;
  /** The tensor the mode's loader reads A from (x, or dY for the input gradient), NCHW unless `nchw` is false. */
  src: Tensor;
  /** B: a [K, cols] matrix, dY in place for the tiled weight gradient, or read in `bLayout` by the texture copy. */
  b: Tensor;
  /** C's rows, columns and the depth. */
  M: number;
  cols: number;
  K: number;
  /** The source's and the rows' pixel grids, the taps, stride and padding (the GEMM uniforms). */
  grid: ConvGrid;
  /** The result's shape: NCHW, or the weight's layout for the weight gradient. */
  outShape: number[];
  /** An epilogue bias [cols]. */
  bias?: Tensor | null;
}

/** The subgroup structure's further choices (gemm). */
interface SubgroupConvGemm extends ConvGemm {
  cfg: SubgroupMatmulConfig;
  /** Channel quads (forward, input gradient); every load inside (weight gradient, x padded). */
  vec: boolean;
  /** Source and result in NCHW (forward, input gradient). */
  nchw?: boolean;
  /** B read from `b` in this layout by the texture copy (needs B in a texture). */
  bLayout?: BLayout | null;
  /** C written as [cols, M] (the weight gradient, in the weight's layout). */
  transposedC?: boolean;
}

/** The GEMM uniforms of a convolution product (one batch entry). */
const gemmParams = (o: ConvGemm): Record<string, number> => ({ M: o.M, N: o.cols, K: o.K, batch: 1, strideA: 0, strideB: 0, strideC: 0, ...o.grid });

/**
 * One convolution GEMM on the tiled structure: A by the mode's im2col loader straight from
 * NCHW `src`, B a [K, cols] matrix (or dY in place for the weight gradient), C written in its
 * final layout (NCHW, or the weight's layout).
 */
function tiledGemm(o: ConvGemm & { cfg: TiledMatmulConfig }): Tensor {
  const out = empty(o.outShape, 'f32', `conv.${o.mode}`);
  dispatch({
    kernel: convTiledKernel({ ...o.cfg, bias: !!o.bias }, o.mode),
    bindings: { A: o.src.buffer, B: o.b.buffer, C: out.buffer, bias: o.bias?.buffer },
    params: gemmParams(o),
    workgroups: matmulGrid(o.cfg, o.M, o.cols, 1),
  });
  return out;
}

/** Runs one implicit GEMM on the subgroup structure: A read by the mode's loader from `src`, B a [K, cols] matrix. */
function gemm(o: SubgroupConvGemm): Tensor {
  const { mode, M, cols, K, grid } = o;
  // B through a texture (16 ns per texel vs 29 per vec4 from a buffer); the weight gradient's
  // tall B ([N·Ho·Wo, Co]) is folded to fit the 8192-texel limit.
  const fold = matmulTextureEnabled() ? textureFoldFor(K, cols) : 0;
  const texture = fold > 0;
  // vecA tells the kernel whether B rows k..k+3 are always in range (K % 4 == 0; for the
  // weight gradient, quads stop at each row of Wo pixels, so it needs Wo % 4 == 0).
  const kAligned = mode === 'backward-weight' ? grid.rW % 4 === 0 : K % 4 === 0;
  const base: SubgroupMatmulConfig = { ...o.cfg, strips: convStrips(o.cfg, cols), vecA: kAligned, vecB: cols % 4 === 0, textureB: texture, textureFold: fold, bias: !!o.bias };
  const nchw = !!o.nchw;
  const taps = convTaps(tuning(), { weightGrad: mode === 'backward-weight', narrow: !!base.narrow, nchw, vec: o.vec }, grid);
  const c = taps ? convTapConfig(base, mode) : base;
  const out = empty(o.outShape, 'f32', `conv.${mode}`);
  if (o.bLayout && !texture) throw new Error('conv: a B operand in another layout needs the texture path');
  const bBinding = texture ? toTexture(o.b, 1, K, cols, fold, o.bLayout ?? bLayouts.plain(cols)) : o.b.buffer;
  dispatch({
    kernel: convKernel(c, { mode, vec: o.vec, nchw, transposedC: o.transposedC, taps }),
    bindings: { A: o.src.buffer, B: bBinding, C: out.buffer, bias: o.bias?.buffer },
    params: gemmParams(o),
    workgroups: matmulGrid(c, M, cols, 1),
  });
  return out;
}

/**
 * A GEMM whose rows are the pixels of an [N, C_out, rH, rW] result, reading `src` [N, srcC, ...]
 * in NCHW directly and writing C in NCHW (vec4 channel quads when srcC % 4 == 0).
 * `wPerm` arranges the weights as [K, cols].
 */
function pixelGemm(o: {
  mode: 'forward' | 'backward-input'; src: Tensor; w: Tensor; wPerm: number[]; out: [number, number, number, number];
  srcC: number; K: number; grid: ConvGrid; cfg: MatmulConfig; bias?: Tensor | null;
}): Tensor {
  const { mode, w, out, srcC, K, cfg } = o;
  const [N, cols, rH, rW] = out;
  const M = N * rH * rW;
  // The weights as B [K, cols]: read in place by the texture copy (no permute pass) when B
  // goes through a texture, else permuted once.
  const T = w.shape[2] * w.shape[3];
  const layout = mode === 'forward' ? bLayouts.convForward(srcC, T) : bLayouts.convBackwardInput(srcC, cols, T);
  const inTexture = cfg.kind === 'subgroup' && matmulTextureEnabled() && textureFoldFor(K, cols) > 0;
  const wp = inTexture ? null : permute(w, o.wPerm);
  const wm = wp ? wp.view([K, cols]) : w;
  const product: ConvGemm = { mode, src: o.src, b: wm, M, cols, K, grid: o.grid, outShape: out, bias: o.bias };
  let y: Tensor;
  if (cfg.kind === 'tiled') {
    y = tiledGemm({ ...product, cfg });
  } else {
    // NCHW in and out: channel quads when srcC % 4 == 0, else scalar loads (no NHWC copies)
    y = gemm({ ...product, cfg, vec: srcC % 4 === 0, nchw: true, bLayout: inTexture ? layout : null });
  }
  if (wp) { wp.dispose(); wm.dispose(); }
  return y;
}

/** y = conv(x, w) (+ bias [Co], added in the GEMM's epilogue). */
export function convForward(x: Tensor, w: Tensor, g: ConvGeometry, bias: Tensor | null = null): Tensor {
  const plan = rowConvPlan(g, g.Co, g.Co, false);
  if (plan) return rowConvRun(plan, x, w, g.Ci, g.Co, g.Ci * 9, 9, false, bias, 'conv.forward');
  const K = g.kh * g.kw * g.Ci;
  const cfg = gemmConfig(g.N * g.Ho * g.Wo, g.Co, K);
  if (!cfg) {
    const y = direct('forward', x, w, g, [g.N, g.Co, g.Ho, g.Wo]);
    if (!bias) return y;
    const b = reshape(bias, [1, -1, 1, 1]);
    const yb = add(y, b);
    y.dispose(); b.dispose();
    return yb;
  }
  return pixelGemm({
    mode: 'forward', src: x, w, wPerm: [2, 3, 1, 0], out: [g.N, g.Co, g.Ho, g.Wo], srcC: g.Ci, K, cfg, bias,
    grid: { sH: g.H, sW: g.W, sC: g.Ci, rH: g.Ho, rW: g.Wo, kh: g.kh, kw: g.kw, stride: g.stride, pad: g.pad },
  });
}

/** dx = ∂(conv)/∂x applied to dy (also the transposed convolution's forward). */
export function convBackwardInput(dy: Tensor, w: Tensor, g: ConvGeometry): Tensor {
  // dx = dy convolved with the weights' channels swapped and taps flipped
  const plan = rowConvPlan(g, g.Co, g.Ci, true);
  if (plan) return rowConvRun(plan, dy, w, g.Co, g.Ci, 9, g.Ci * 9, true, null, 'conv.backward-input');
  const K = g.kh * g.kw * g.Co;
  const cfg = gemmConfig(g.N * g.H * g.W, g.Ci, K);
  if (!cfg) return direct('backward-input', dy, w, g, [g.N, g.Ci, g.H, g.W]);
  return pixelGemm({
    mode: 'backward-input', src: dy, w, wPerm: [2, 3, 0, 1], out: [g.N, g.Ci, g.H, g.W], srcC: g.Co, K, cfg,
    grid: { sH: g.Ho, sW: g.Wo, sC: g.Co, rH: g.H, rW: g.W, kh: g.kh, kw: g.kw, stride: g.stride, pad: g.pad },
  });
}

/** dw = ∂(conv)/∂w applied to dy. */
export function convBackwardWeight(x: Tensor, dy: Tensor, g: ConvGeometry): Tensor {
  const M = g.Ci * g.kh * g.kw, K = g.N * g.Ho * g.Wo;
  const cfg = gemmConfig(M, g.Co, K);
  if (!cfg) return direct('backward-weight', x, dy, g, [g.Co, g.Ci, g.kh, g.kw]);
  const grid: ConvGrid = { sH: g.H, sW: g.W, sC: g.Ci, rH: g.Ho, rW: g.Wo, kh: g.kh, kw: g.kw, stride: g.stride, pad: g.pad };
  if (cfg.kind === 'tiled') {
    return tiledGemm({ mode: 'backward-weight', src: x, b: dy, M, cols: g.Co, K, grid, cfg, outShape: [g.Co, g.Ci, g.kh, g.kw] });
  }
  // B = dY as [N·Ho·Wo, Co]: read in place (NCHW) by the texture copy when it fits a texture,
  // else through an NHWC copy.
  const inTexture = matmulTextureEnabled() && textureFoldFor(K, g.Co) > 0;
  const ds = inTexture ? null : permute(dy, [0, 2, 3, 1]);
  const dm = ds ? ds.view([K, g.Co]) : dy;
  // padding x once (one copy) lets the kernel drop every bounds test (padForWeightGrad)
  const inside = padForWeightGrad(tuning(), g);
  const xp = inside && g.pad > 0 ? pad(x, [0, 0, g.pad, g.pad], [0, 0, g.pad, g.pad]) : x;
  const H = g.H + (xp !== x ? 2 * g.pad : 0), W = g.W + (xp !== x ? 2 * g.pad : 0);
  // C is stored transposed: [Co, Ci·kh·kw] is the weight's own layout (no transpose pass)
  const out = gemm({
    mode: 'backward-weight', src: xp, b: dm, M, cols: g.Co, K, grid: { ...grid, sH: H, sW: W, pad: xp !== x ? 0 : g.pad },
    outShape: [g.Co, g.Ci, g.kh, g.kw], cfg, vec: inside, bLayout: inTexture ? bLayouts.nchw(g.Co, g.Ho * g.Wo) : null, transposedC: true,
  });
  if (xp !== x) xp.dispose();
  if (ds) { ds.dispose(); dm.dispose(); }
  return out;
}

// ---- float64 references ---------------------------------------------------------------

function refConvRow(x: Float64Array, w: Float64Array, y: Float64Array, g: ConvGeometry, n: number, co: number): void {
  for (let oy = 0; oy < g.Ho; oy++) for (let ox = 0; ox < g.Wo; ox++) {
    let s = 0;
    for (let ci = 0; ci < g.Ci; ci++) for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
      if (iy < 0 || ix < 0 || iy >= g.H || ix >= g.W) continue;
      s += x[((n * g.Ci + ci) * g.H + iy) * g.W + ix] * w[((co * g.Ci + ci) * g.kh + ky) * g.kw + kx];
    }
    y[((n * g.Co + co) * g.Ho + oy) * g.Wo + ox] = s;
  }
}

export function refConv(x: Ref, w: Ref, stride: number, pad: number): Ref {
  const g = convGeometry(x.shape, w.shape, stride, pad);
  const y = new Float64Array(g.N * g.Co * g.Ho * g.Wo);
  for (let n = 0; n < g.N; n++) for (let co = 0; co < g.Co; co++) refConvRow(x.data, w.data, y, g, n, co);
  return { shape: [g.N, g.Co, g.Ho, g.Wo], data: y };
}

/** Transposed convolution by scattering each input through the kernel. */
export function refConvTranspose(x: Ref, w: Ref, stride: number, pad: number, outPad: number): Ref {
  const [N, Cin, H, W] = x.shape;
  const [, Cout, kh, kw] = w.shape;
  const Ho = (H - 1) * stride - 2 * pad + kh + outPad, Wo = (W - 1) * stride - 2 * pad + kw + outPad;
  const y = new Float64Array(N * Cout * Ho * Wo);
  for (let n = 0; n < N; n++) for (let ci = 0; ci < Cin; ci++) for (let iy = 0; iy < H; iy++) for (let ix = 0; ix < W; ix++) {
    const v = x.data[((n * Cin + ci) * H + iy) * W + ix];
    for (let co = 0; co < Cout; co++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
      const oy = iy * stride - pad + ky, ox = ix * stride - pad + kx;
      if (oy < 0 || ox < 0 || oy >= Ho || ox >= Wo) continue;
      y[((n * Cout + co) * Ho + oy) * Wo + ox] += v * w.data[((ci * Cout + co) * kh + ky) * kw + kx];
    }
  }
  return { shape: [N, Cout, Ho, Wo], data: y };
}

// ---- ops ------------------------------------------------------------------------------

type ConvAttrs = { stride: number; padding: number };

const convCases: TestCase<ConvAttrs>[] = [
  { inputs: [{ shape: [2, 3, 7, 5] }, { shape: [4, 3, 3, 3] }], attrs: { stride: 2, padding: 1 } },
  { inputs: [{ shape: [1, 4, 6, 6] }, { shape: [8, 4, 3, 3] }], attrs: { stride: 1, padding: 1 } },
  { inputs: [{ shape: [2, 5, 5, 4] }, { shape: [3, 5, 1, 1] }], attrs: { stride: 1, padding: 0 } },
  { inputs: [{ shape: [1, 8, 5, 7] }, { shape: [5, 8, 3, 2] }], attrs: { stride: 2, padding: 0 } },
  // with a bias (the GEMM epilogue), channels a multiple of 4 (NCHW path) and not (NHWC path)
  { inputs: [{ shape: [2, 4, 6, 5] }, { shape: [6, 4, 3, 3] }, { shape: [6] }], attrs: { stride: 1, padding: 1 } },
  { inputs: [{ shape: [2, 3, 5, 5] }, { shape: [5, 3, 3, 3] }, { shape: [5] }], attrs: { stride: 2, padding: 1 } },
  // narrow 3x3 rows at least 16 pixels wide: the row kernel (forward and input gradient) on CPU adapters
  { inputs: [{ shape: [1, 3, 4, 17] }, { shape: [5, 3, 3, 3] }], attrs: { stride: 1, padding: 1 } },
  { inputs: [{ shape: [2, 4, 3, 18] }, { shape: [6, 4, 3, 3] }, { shape: [6] }], attrs: { stride: 1, padding: 1 } },
];

const conv2dDef = defineOp<ConvAttrs>({
  name: 'conv2d',
  // inputs: x, w and an optional bias [Co]
  forward([x, w, b], attrs) {
    const geo = convGeometry(x.shape, w.shape, attrs.stride, attrs.padding);
    if (b && (b.ndim !== 1 || b.shape[0] !== geo.Co)) throw new Error(`conv2d: bias must be [${geo.Co}], got ${fmtShape(b.shape)}`);
    return convForward(x, w, geo, b ?? null);
  },
  backward(g, node) {
    const [x, w, b] = node.inputs;
    const geo = convGeometry(x.shape, w.shape, node.attrs.stride, node.attrs.padding);
    return [
      x.requiresGrad ? convBackwardInput(g, w, geo) : null,
      w.requiresGrad ? convBackwardWeight(x, g, geo) : null,
      ...(b ? [b.requiresGrad ? sum(g, [0, 2, 3]) : null] : []),
    ];
  },
  reference: ([x, w, b], attrs) => {
    const y = refConv(x, w, attrs.stride, attrs.padding);
    if (b) {
      const [, Co, Ho, Wo] = y.shape;
      for (let i = 0; i < y.data.length; i++) y.data[i] += b.data[Math.floor(i / (Ho * Wo)) % Co];
    }
    return y;
  },
  cases: convCases,
});

/** Geometry of the convolution whose input gradient a transposed convolution computes. */
function transposedGeometry(x: readonly number[], w: readonly number[], stride: number, pad: number, outPad: number): ConvGeometry {
  if (x.length !== 4 || w.length !== 4) throw new Error(`conv_transpose2d: expects x [N, Cin, H, W] and weight [Cin, Cout, kh, kw]; got ${fmtShape(x)} and ${fmtShape(w)}`);
  const [N, Cin, H, W] = x;
  const [Cin2, Cout, kh, kw] = w;
  if (Cin !== Cin2) throw new Error(`conv_transpose2d: input has ${Cin} channels but the weight ${fmtShape(w)} expects ${Cin2}`);
  checkInt('stride', stride, 1);
  checkInt('padding', pad, 0);
  checkInt('output_padding', outPad, 0);
  if (outPad >= stride) throw new Error(`conv_transpose2d: output_padding ${outPad} must be smaller than stride ${stride}`);
  const Ho = (H - 1) * stride - 2 * pad + kh + outPad, Wo = (W - 1) * stride - 2 * pad + kw + outPad;
  // the conv that maps [N, Cout, Ho, Wo] to [N, Cin, H, W] with weight [Cin, Cout, kh, kw]
  return { N, Ci: Cout, H: Ho, W: Wo, Co: Cin, kh, kw, Ho: H, Wo: W, stride, pad };
}

type ConvTransposeAttrs = ConvAttrs & { outputPadding?: number };
const outputPaddingOf = (a: ConvTransposeAttrs): number => a.outputPadding ?? 0;

const convTransposeDef = defineOp<ConvTransposeAttrs>({
  name: 'conv_transpose2d',
  forward([x, w], attrs) {
    const g = transposedGeometry(x.shape, w.shape, attrs.stride, attrs.padding, outputPaddingOf(attrs));
    return convBackwardInput(x, w, g);
  },
  backward(gr, node) {
    const [x, w] = node.inputs;
    const g = transposedGeometry(x.shape, w.shape, node.attrs.stride, node.attrs.padding, outputPaddingOf(node.attrs));
    return [x.requiresGrad ? convForward(gr, w, g) : null, w.requiresGrad ? convBackwardWeight(gr, x, g) : null];
  },
  reference: ([x, w], attrs) => refConvTranspose(x, w, attrs.stride, attrs.padding, outputPaddingOf(attrs)),
  cases: [
    { inputs: [{ shape: [2, 4, 3, 4] }, { shape: [4, 3, 3, 3] }], attrs: { stride: 2, padding: 0, outputPadding: 0 } },
    { inputs: [{ shape: [1, 3, 4, 3] }, { shape: [3, 8, 3, 3] }], attrs: { stride: 2, padding: 1, outputPadding: 1 } },
    { inputs: [{ shape: [1, 5, 3, 3] }, { shape: [5, 2, 2, 2] }], attrs: { stride: 1, padding: 0, outputPadding: 0 } },
  ],
});

export interface ConvOptions { stride?: number; padding?: number }

/** y = conv(x, w) (+ bias [Co]); x [N, Ci, H, W], w [Co, Ci, kh, kw]. */
export function conv2d(x: Tensor, w: Tensor, bias?: Tensor | null, o: ConvOptions = {}): Tensor {
  return apply(conv2dDef, bias ? [x, w, bias] : [x, w], { stride: o.stride ?? 1, padding: o.padding ?? 0 });
}

export interface ConvTransposeOptions extends ConvOptions { outputPadding?: number }

/** Transposed convolution (PyTorch's ConvTranspose2d): x [N, Cin, H, W], w [Cin, Cout, kh, kw]. */
export function convTranspose2d(x: Tensor, w: Tensor, bias?: Tensor | null, o: ConvTransposeOptions = {}): Tensor {
  const y = apply(convTransposeDef, [x, w], { stride: o.stride ?? 1, padding: o.padding ?? 0, outputPadding: o.outputPadding ?? 0 });
  return bias ? add(y, reshape(bias, [1, -1, 1, 1])) : y;
}
