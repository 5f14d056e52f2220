// Matmul C[b] = A[b] · B[b], row-major, f32. Two kernel structures, picked per adapter:
//
// 'subgroup' — for llvmpipe-like adapters (docs/kernels.md §2-3): one 8-lane subgroup per
//   workgroup, no workgroup memory. Each lane loads its own vec4s of A (rows r0+l, r0+8+l, ...)
//   and of B (columns 4l..4l+3 of each 32-column strip); A values are shared with
//   subgroupBroadcast and accumulated into named vec4 registers.
// 'tiled' — the classic shared-memory tiling that real GPUs prefer. Operands are read through
//   element loaders (a plain or transposed matrix, or an implicit im2col in kernels/conv.ts),
//   so every product and convolution runs on either structure.
//
// Tile sizes are configuration; bounds are handled for any M, N, K (clamped loads, masked stores).
import { defineParams, kernel, readOnly, readWrite, storageTexture, activationWgsl, activationDecls, type Activation, type KernelSource } from './common.js';

export interface SubgroupMatmulConfig {
  kind: 'subgroup';
  /** Subgroup width the kernel is written for (lanes per workgroup). */
  lanes: number;
  /** Output rows per workgroup: a multiple of `lanes`. */
  rows: number;
  /** 4·lanes-column strips per workgroup (tile width = strips · 4 · lanes). */
  strips: number;
  /** A rows are read as vec4 along K (needs K % 4 == 0). */
  vecA: boolean;
  /** B rows are read as vec4 along N (needs N % 4 == 0). */
  vecB: boolean;
  /**
   * B is read from an rgba32float storage texture (width ceil(N/4), height batch·ceil(K/4)·4,
   * zero-padded by `matmulToTextureKernel`), 4 ns per float instead of 7.3 from a buffer.
   */
  textureB: boolean;
  /**
   * Rows of B per texture row (a power of two, 1 = plain): a tall B (K > 8192, the conv weight
   * gradient's pixel dimension) is folded so that texel (x, y) holds row y·fold + x / ⌈N/4⌉.
   */
  textureFold?: number;
  /**
   * 0: one workgroup per output tile. P > 0: P persistent workgroups loop over the tiles.
   * Either way row tiles come fastest (the grid's x), so lavapipe's threads work on neighbouring
   * tiles that read the same B strip while it is in cache: at 500×20108×600 (Mult-VAE's decoder)
   * that ran 1.6× the column-first order (13 → 20 GFLOP/s, 2026-12-03).
   */
  persistent: number;
  /**
   * Q > 0: the narrow-output form for N ≤ 4·Q (dense-layer convolutions have 8-16 output
   * channels): each lane owns its own rows and all 4·Q columns, no broadcast. The wide form
   * gives each lane 4 columns of a 32-column strip, so at N = 8 six of eight lanes idle.
   */
  narrow?: number;
  /**
   * Narrow form only (default true): the lanes load B's quads once between them and broadcast
   * them, instead of each lane loading every quad (measured in docs/NOTES.md, 2026-12-02).
   */
  narrowShared?: boolean;
  /** Epilogue: C += bias[col] (binding 4, one value per output column) before the store. */
  bias?: boolean;
  /** Epilogue: the activation applied last, after the bias (a Linear → tanh / ReLU as one pass). */
  act?: Activation;
  /**
   * Lane l loads (narrow form: owns) rows r0 + l·RG … r0 + l·RG + RG − 1, consecutive, instead
   * of r0 + l, r0 + lanes + l, …, so that a loader can share loads between a lane's rows (the
   * weight gradient's three kx taps of one (ci, ky) read overlapping pixels).
   */
  laneRows?: boolean;
}

export interface TiledMatmulConfig {
  kind: 'tiled';
  /** Output tile (rows × cols) per workgroup and per thread. */
  tileM: number;
  tileN: number;
  threadM: number;
  threadN: number;
  /** K-depth of each shared-memory stage. */
  tileK: number;
  /**
   * Two shared-memory stages: the next stage's global loads are issued into registers before
   * the current stage's FMAs, so a GPU overlaps memory latency with arithmetic (one barrier
   * per stage instead of two).
   */
  double?: boolean;
  /** Epilogue: C += bias[col] (binding 4) before the store. */
  bias?: boolean;
  /** Epilogue: the activation applied last, after the bias. */
  act?: Activation;
}

export type MatmulConfig = SubgroupMatmulConfig | TiledMatmulConfig;

// Uniforms shared by both structures, declared once. The last nine fields describe a
// convolution when A is an implicit im2col (kernels/conv.ts); plain products pass NO_CONV.
export const GEMM_PARAMS = defineParams({
  M: 'u32', N: 'u32', K: 'u32', batch: 'u32', strideA: 'u32', strideB: 'u32', strideC: 'u32',
  sH: 'u32', sW: 'u32', sC: 'u32', rH: 'u32', rW: 'u32', kh: 'u32', kw: 'u32', stride: 'u32', pad: 'u32',
});
export const NO_CONV = { sH: 0, sW: 0, sC: 0, rH: 0, rW: 0, kh: 0, kw: 0, stride: 0, pad: 0 } as const;

/**
 * A convolution as the GEMM uniforms describe it: sH×sW×sC the tensor A is read from, rH×rW the
 * pixel grid of the rows (of dY for the weight gradient), kh×kw taps, the stride and padding.
 */
export type ConvGrid = { -readonly [K in keyof typeof NO_CONV]: number };

/** A GEMM uniform's name. */
export type GemmParam = keyof typeof GEMM_PARAMS.decl;
/** Each GEMM uniform as WGSL reads it: `P.<name>`. */
const GEMM_P = Object.fromEntries(Object.keys(GEMM_PARAMS.decl).map((k) => [k, `P.${k}`])) as { readonly [F in GemmParam]: string };

// ---- A loaders: typed hooks --------------------------------------------------------------------
//
// How a GEMM reads its A operand is a loader: the plain and transposed matrices here, implicit
// im2col matrices in kernels/conv.ts. The kernel hands a loader the WGSL names it may read (a
// scope: its locals, its binding, the uniforms) and gets back statements and expressions; the
// loader hands back the name of the depth index its loop defines. Neither side relies on the
// other's local names. A loader's arguments are plain data, and they — with its factory's
// name — are the loader's `config`, part of the kernel's config and so of its pipeline key.

/** The arguments of a loader: plain data. */
export type LoaderArgs = Readonly<Record<string, string | number | boolean>>;
/** A loader as data: its factory's name and its arguments. */
export type LoaderConfig = Readonly<Record<string, string | number | boolean>> & { readonly loader: string };

/**
 * A loader factory: `make` builds the hooks from the arguments alone, and the loader it returns
 * carries `{ loader: name, ...args }` as its config, so the kernel's key names the hooks it used.
 */
export function defineLoader<A extends LoaderArgs, L>(name: string, make: (args: A) => L): (args: A) => L & { readonly config: LoaderConfig } {
  // A loader is a pure function of its arguments: one instance per argument list, so a kernel
  // looked up per dispatch builds no hooks (building them cost ~3 µs a dispatch)
  const made = new Map<string, L & { readonly config: LoaderConfig }>();
  return (args) => {
    let key = '';
    for (const k in args) key += `${k}=${String(args[k])},`;
    let l = made.get(key);
    if (!l) made.set(key, l = { ...make(args), config: { loader: name, ...args } });
    return l;
  };
}

/** The names the subgroup GEMM gives its A loader (WGSL in scope from the top of `main`). */
export interface GemmScope {
  /** Rows of C, its columns and the depth: u32 locals, read from the uniforms once. */
  readonly M: string;
  readonly N: string;
  readonly K: string;
  /** K / 4 (u32 local). */
  readonly K4: string;
  /** Where this batch entry's A starts in A's binding, in floats (u32 local). */
  readonly aBase: string;
  /** A's binding (its element type is the loader's `element`). */
  readonly A: string;
  /** The uniforms as `P.<field>`: read each once into a local (uniform loads are slow on llvmpipe). */
  readonly P: { readonly [F in GemmParam]: string };
}

const SUBGROUP_SCOPE: GemmScope = { M: 'M', N: 'N', K: 'K', K4: 'K4', aBase: 'aBase', A: 'A', P: GEMM_P };

/**
 * How the subgroup kernel reads its A operand: per row group g (a tile row per lane) a vec4 of
 * A[row, k..k+3] each depth step. The default reads a row-major matrix; conv.ts supplies loaders
 * that compute im2col values on the fly.
 */
export interface ALoader {
  readonly config: LoaderConfig;
  /** A's element type in its binding. */
  readonly element: 'f32' | 'vec4<f32>';
  /** WGSL helper functions (module scope). */
  decls?(s: GemmScope): string;
  /** Statements run once, before any loop (locals read from the uniforms). */
  setup?(s: GemmScope): string[];
  /** Statements once per row group g, whose tile row is the u32 expression `row`. */
  rowSetup(s: GemmScope, g: number, row: string): string[];
  /**
   * The depth loop, replacing the plain `for (var k = 0u; k < K; k = k + 4u) {`: its opening
   * lines (nested loops allowed), its closing braces and the name of the u32 it defines in the
   * innermost body — the first of the four depth indices the step reads from B.
   */
  loop?(s: GemmScope, rowGroups: number): { open: string[]; close: string[]; k: string };
  /** The vec4 A[row of group g, k..k+3] (an expression; `k` the step's depth index). */
  load(s: GemmScope, g: number, k: string): string;
  /** Statements ending each depth step. */
  advance?(s: GemmScope): string[];
}

/** A row-major matrix: vec4 loads along K (K % 4 == 0), else four clamped scalars. */
const matrixLoader = defineLoader('matrix', ({ vecA }: { vecA: boolean }): Omit<ALoader, 'config'> => ({
  element: vecA ? 'vec4<f32>' : 'f32',
  decls: (s) => (vecA ? '' : `
fn ldA(i: u32, k: u32, K: u32) -> f32 { return select(0.0, ${s.A}[i + min(k, K - 1u)], k < K); }`),
  rowSetup: (s, g, row) => [vecA ? `  let ar${g} = ${s.aBase} / 4u + min(${row}, ${s.M} - 1u) * ${s.K4};` : `  let ar${g} = ${s.aBase} + min(${row}, ${s.M} - 1u) * ${s.K};`],
  load: (s, g, k) => vecA
    ? `${s.A}[ar${g} + ${k} / 4u]`
    : `vec4<f32>(ldA(ar${g}, ${k}, ${s.K}), ldA(ar${g}, ${k} + 1u, ${s.K}), ldA(ar${g}, ${k} + 2u, ${s.K}), ldA(ar${g}, ${k} + 3u, ${s.K}))`,
}));

/**
 * A stored transposed ([K, M] per batch): the backward's g·Bᵀ / Aᵀ·g products read it in
 * place instead of after a transpose pass. A quad along k is four scalar loads one row of
 * Aᵀ apart; neighbouring lanes read neighbouring rows, so a lane's loads are all distinct.
 */
const transposedLoader = defineLoader('transposed', ({ kAligned }: { kAligned: boolean }): Omit<ALoader, 'config'> => ({
  element: 'f32',
  decls: (s) => (kAligned ? '' : `
fn ldAt(i: u32, k: u32, K: u32, M: u32) -> f32 { return select(0.0, ${s.A}[i + min(k, K - 1u) * M], k < K); }`),
  rowSetup: (s, g, row) => [`  let ar${g} = ${s.aBase} + min(${row}, ${s.M} - 1u);`],
  load: (s, g, k) => {
    const { A, K, M } = s;
    return kAligned
      ? `vec4<f32>(${A}[ar${g} + ${k} * ${M}], ${A}[ar${g} + (${k} + 1u) * ${M}], ${A}[ar${g} + (${k} + 2u) * ${M}], ${A}[ar${g} + (${k} + 3u) * ${M}])`
      : `vec4<f32>(ldAt(ar${g}, ${k}, ${K}, ${M}), ldAt(ar${g}, ${k} + 1u, ${K}, ${M}), ldAt(ar${g}, ${k} + 2u, ${K}, ${M}), ldAt(ar${g}, ${k} + 3u, ${K}, ${M}))`;
  },
}));

/** The subgroup kernel's A loader for a plain product. */
export function productLoader(kAligned: boolean, transA: boolean): ALoader {
  return transA ? transposedLoader({ kAligned }) : matrixLoader({ vecA: kAligned });
}

export function matmulTile(cfg: MatmulConfig): [number, number] {
  if (cfg.kind !== 'subgroup') return [cfg.tileM, cfg.tileN];
  return [cfg.rows, cfg.narrow ? 4 * cfg.narrow : cfg.strips * 4 * cfg.lanes];
}

/** Workgroups to dispatch for a [batch, M, N] output. */
export function matmulGrid(cfg: MatmulConfig, M: number, N: number, batch: number): [number, number, number] {
  const [tm, tn] = matmulTile(cfg);
  if (cfg.kind === 'subgroup' && cfg.persistent) return [Math.min(cfg.persistent, Math.ceil(M / tm) * Math.ceil(N / tn) * batch), 1, 1];
  if (cfg.kind === 'subgroup') return [Math.ceil(M / tm), Math.ceil(N / tn), batch]; // row tiles fastest
  return [Math.ceil(N / tn), Math.ceil(M / tm), batch];
}

/**
 * The kernel for a plain product C = op(A)·op(B). With the subgroup structure a transposed B
 * is handled by the texture copy (matmulToTextureKernel 'transposed'); the engine passes
 * transB only for the tiled structure or a B in a buffer.
 */
export function matmulKernel(cfg: MatmulConfig, o: { transA?: boolean; transB?: boolean } = {}): KernelSource {
  if (cfg.kind === 'subgroup') {
    if (o.transB) throw new Error('matmul: the subgroup kernel reads a transposed B only through the texture copy');
    return subgroupKernel(cfg, { a: productLoader(cfg.vecA, !!o.transA) });
  }
  return tiledKernel(cfg, { a: o.transA ? TILED_A_T : TILED_A, b: o.transB ? 'transposed' : 'plain' });
}

/**
 * C's layout: 'plain' [M, N]; 'nchw' — rows are the pixels of [n, rH·rW], written to an
 * [n, N, rH·rW] tensor; 'transposed' — [N, M] (the weight gradient lands in weight layout).
 */
export type CLayout = 'plain' | 'nchw' | 'transposed';

/**
 * What a subgroup kernel's WGSL depends on: the config without what the variant ignores (strips
 * of a narrow form, B's vec4 reads and the fold of a buffer B, …), so that configs that give the
 * same WGSL share one pipeline.
 */
function subgroupVariant(c: SubgroupMatmulConfig, a: LoaderConfig, cLayout: CLayout) {
  const narrow = c.narrow || undefined;
  // one literal, no spread: V8 spreads an object of this size in ~4 µs, and the kernel is looked
  // up every dispatch
  return {
    lanes: c.lanes, rows: c.rows, persistent: c.persistent,
    strips: narrow ? undefined : c.strips,
    narrow,
    narrowShared: narrow ? c.narrowShared !== false : undefined,
    vecA: c.vecA,
    textureB: c.textureB,
    textureFold: c.textureB ? c.textureFold ?? 1 : undefined,
    vecB: c.textureB ? undefined : c.vecB,
    bias: !!c.bias,
    act: c.act,
    laneRows: !!c.laneRows,
    a,
    c: cLayout,
  };
}
type SubgroupVariant = ReturnType<typeof subgroupVariant>;

/**
 * The subgroup-broadcast GEMM with an A loader (default: the row-major matrix) and C's layout.
 * `vecA` in the config then only says whether K is a multiple of 4 (B's k bounds checks are
 * skipped when it is). Bindings: A, B (a buffer, or the texture of matmulToTextureKernel), C,
 * [bias].
 */
export function subgroupKernel(cfg: SubgroupMatmulConfig, o: { a?: ALoader; c?: CLayout } = {}): KernelSource {
  const loader = o.a ?? matrixLoader({ vecA: cfg.vecA });
  if (cfg.rows % cfg.lanes !== 0) throw new Error(`matmul config: rows ${cfg.rows} must be a multiple of lanes ${cfg.lanes}`);
  const F = cfg.textureB ? cfg.textureFold ?? 1 : 1;
  if (F & (F - 1)) throw new Error(`matmul config: textureFold ${F} must be a power of two`);
  return kernel('matmul.subgroup', subgroupVariant(cfg, loader.config, o.c ?? 'plain'), (v) => ({
    params: GEMM_PARAMS,
    enable: ['subgroups'],
    bindings: {
      A: readOnly(loader.element),
      B: v.textureB ? storageTexture('read') : readOnly(v.vecB ? 'vec4<f32>' : 'f32'),
      C: readWrite(),
      ...(v.bias ? { bias: readOnly() } : {}),
    },
    body: subgroupCode(v, loader, v.c),
  }));
}

function subgroupCode(c: SubgroupVariant, loader: ALoader, cLayout: CLayout): string {
  const scope = SUBGROUP_SCOPE;
  const L = c.lanes;
  const RG = c.rows / L; // row groups: A vec4s each lane loads per k-step
  const Q = c.narrow ?? 0;
  const S = Q || c.strips!; // column slots: 4-column quads (narrow) or 4·lanes-column strips
  const TN = Q ? 4 * Q : S * 4 * L; // tile width
  const F = c.textureFold ?? 1;
  // Uniform loads are expensive on llvmpipe (docs/kernels.md §2): every size is read once into a
  // local before the loop, and the fast path (K, N multiples of 4) has no bounds checks inside it.
  const lines: string[] = [];
  const sharedB = Q > 0 && c.narrowShared !== false && (c.textureB || c.vecB);
  const sharedRounds = Math.ceil((4 * S) / L);
  lines.push(loader.decls?.(scope) ?? '', activationDecls(c.act),
    c.bias ? `fn bias4(col: u32, N: u32) -> vec4<f32> {
  return vec4<f32>(bias[min(col, N - 1u)], bias[min(col + 1u, N - 1u)], bias[min(col + 2u, N - 1u)], bias[min(col + 3u, N - 1u)]);
}` : '');
  if (c.textureB) { /* padded texture: no bounds checks */ } else if (!c.vecB) lines.push(`
fn ldB(row: u32, k: u32, col: u32, K: u32, N: u32) -> f32 {
  return select(0.0, B[row + min(k, K - 1u) * N + min(col, N - 1u)], (k < K) & (col < N));
}`);
  else if (!c.vecA) lines.push(`
fn ldB4(i: u32, k: u32, K: u32, N4: u32) -> vec4<f32> { return select(vec4<f32>(0.0), B[i + min(k, K - 1u) * N4], k < K); }`);
  lines.push(`
@compute @workgroup_size(${L})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let M = P.M;
  let N = P.N;
  let K = P.K;
  let N4 = N / 4u;
  let K4 = K / 4u;
${[...loader.setup?.(scope) ?? [], ...cLayout === 'nchw' ? ['  let cHW = P.rH * P.rW; // C\'s pixels per image and channel'] : []].join('\n')}
  ${c.persistent ? `let rowTiles = (M + ${c.rows - 1}u) / ${c.rows}u;
  let colTiles = (N + ${TN - 1}u) / ${TN}u;
  let tiles = rowTiles * colTiles * P.batch;
  for (var tile = wid.x; tile < tiles; tile = tile + ${c.persistent}u) {
  let b = tile / (rowTiles * colTiles);
  let r0 = (tile % rowTiles) * ${c.rows}u;
  let c0 = ((tile / rowTiles) % colTiles) * ${TN}u;` : `{
  let b = wid.z;
  let r0 = wid.x * ${c.rows}u;
  let c0 = wid.y * ${TN}u;`}
  let aBase = b * P.strideA;
  let bBase = b * P.strideB;
  let cBase = b * P.strideC;`);
  if (c.textureB) lines.push(`  let by = select(0u, b * ((K + 3u) / 4u) * 4u, P.strideB != 0u); // a shared B has one copy`);
  // the tile row that row group g of this lane holds
  const laneRow = (g: number): string => (c.laneRows ? `r0 + l * ${RG}u + ${g}u` : `r0 + ${g * L}u + l`);
  for (let g = 0; g < RG; g++) lines.push(...loader.rowSetup(scope, g, laneRow(g)));
  for (let s = 0; s < S; s++) {
    lines.push(Q ? `  let col${s} = c0 + ${4 * s}u;` : `  let col${s} = c0 + ${s * 4 * L}u + 4u * l;`);
    if (c.textureB) lines.push(`  let bx${s} = min(col${s} / 4u, (N + 3u) / 4u - 1u);`);
    else if (c.vecB) lines.push(`  let bq${s} = bBase / 4u + min(col${s}, N - 4u) / 4u;`);
  }
  if (sharedB) {
    // the quad this lane loads in round t: slot t·lanes + l = kk·Q + s (clamped: spare lanes
    // load a valid quad nobody uses)
    for (let t = 0; t < sharedRounds; t++) {
      lines.push(`  let sl${t} = min(${t * L}u + l, ${4 * S - 1}u); let skk${t} = sl${t} / ${S}u; let scol${t} = c0 + 4u * (sl${t} % ${S}u);`);
      lines.push(c.textureB ? `  let sbx${t} = min(scol${t} / 4u, (N + 3u) / 4u - 1u);` : `  let sbq${t} = bBase / 4u + min(scol${t}, N - 4u) / 4u;`);
    }
  }
  // accumulators: narrow — this lane's RG rows × Q quads; wide — every tile row × this lane's strips
  for (let i = 0; i < (Q ? RG : c.rows); i++) for (let s = 0; s < S; s++) lines.push(`  var acc${i}_${s} = vec4<f32>(0.0);`);
  const loop = loader.loop?.(scope, RG) ?? { open: [`  for (var k = 0u; k < K; k = k + 4u) {`], close: [`  }`], k: 'k' };
  const k = loop.k;
  lines.push(...loop.open);
  for (let g = 0; g < RG; g++) lines.push(`    let a${g} = ${loader.load(scope, g, k)};`);
  // folded texture with k % 4 == 0 and fold ≥ 4: rows k..k+3 sit side by side in one texel row
  const quadFold = c.textureB && F >= 4 && c.vecA;
  if (quadFold) lines.push(`    let fy = ${k} >> ${Math.log2(F)}u; let fx = (${k} & ${F - 1}u) * ((N + 3u) / 4u);`);
  // B[k + kk, quad s] for a column base (`bx`: texel column, `bq`: vec4 index) and a k offset
  const ldB = (bx: string, bq: string, col: string, kk: string): string => {
    if (quadFold) return `textureLoad(B, vec2<u32>(${bx} + fx + ${kk} * ((N + 3u) / 4u), fy))`;
    if (c.textureB && F > 1) return `textureLoad(B, vec2<u32>(${bx} + ((${k} + ${kk}) & ${F - 1}u) * ((N + 3u) / 4u), (${k} + ${kk}) >> ${Math.log2(F)}u))`;
    if (c.textureB) return `textureLoad(B, vec2<u32>(${bx}, by + ${k} + ${kk}))`;
    if (c.vecB && c.vecA) return `B[${bq} + (${k} + ${kk}) * N4]`;
    if (c.vecB) return `ldB4(${bq}, ${k} + ${kk}, K, N4)`;
    return `vec4<f32>(${[0, 1, 2, 3].map((j) => `ldB(bBase, ${k} + ${kk}, ${col} + ${j}u, K, N)`).join(', ')})`;
  };
  if (sharedB) {
    // narrow form: every lane needs the same 4·Q quads of B per k-step. A load at one address
    // still costs a load per lane on llvmpipe, so lane l loads quad t·lanes + l of them and
    // subgroupBroadcast (free) hands each quad to all lanes: 4·Q/lanes loads a lane, not 4·Q.
    for (let t = 0; t < sharedRounds; t++) lines.push(`    let bt${t} = ${ldB(`sbx${t}`, `sbq${t}`, '', `skk${t}`)};`);
    for (let kk = 0; kk < 4; kk++) for (let q = 0; q < S; q++) {
      const idx = kk * S + q;
      lines.push(`    let b${kk}_${q} = subgroupBroadcast(bt${Math.floor(idx / L)}, ${idx % L}u);`);
    }
  } else {
    for (let q = 0; q < S; q++) for (let kk = 0; kk < 4; kk++) lines.push(`    let b${kk}_${q} = ${ldB(`bx${q}`, `bq${q}`, `col${q}`, `${kk}u`)};`);
  }
  if (Q) {
    for (let g = 0; g < RG; g++) for (let s = 0; s < S; s++) {
      lines.push(`    acc${g}_${s} = acc${g}_${s} + a${g}.x * b0_${s} + a${g}.y * b1_${s} + a${g}.z * b2_${s} + a${g}.w * b3_${s};`);
    }
  } else {
    for (let i = 0; i < c.rows; i++) {
      // tile row i: row group g of lane `from` (see laneRow)
      const [g, from] = c.laneRows ? [i % RG, Math.floor(i / RG)] : [Math.floor(i / L), i % L];
      lines.push(`    let av${i} = subgroupBroadcast(a${g}, ${from}u);`);
      for (let s = 0; s < S; s++) {
        lines.push(`    acc${i}_${s} = acc${i}_${s} + av${i}.x * b0_${s} + av${i}.y * b1_${s} + av${i}.z * b2_${s} + av${i}.w * b3_${s};`);
      }
    }
  }
  lines.push(...(loader.advance?.(scope) ?? []).map((x) => `  ${x}`));
  lines.push(...loop.close);
  // bias epilogue: one vec4 of bias per column slot, added to every row's accumulator
  if (c.bias) for (let s = 0; s < S; s++) lines.push(`  let bias${s} = bias4(col${s}, N);`);
  for (let i = 0; i < (Q ? RG : c.rows); i++) {
    const row = Q ? laneRow(i) : `r0 + ${i}u`;
    lines.push(`  if (${row} < M) {`);
    for (let q = 0; q < S; q++) {
      const v = activationWgsl(c.act, c.bias ? `(acc${i}_${q} + bias${q})` : `acc${i}_${q}`);
      lines.push(`    ${STORES[cLayout].call(row, `col${q}`, v)}`);
    }
    lines.push(`  }`);
  }
  lines.push(`  }
}
${STORES[cLayout].decl}`);
  return lines.join('\n');
}

/**
 * The subgroup kernel's stores of a vec4 of C (row, four columns from col) per layout: the WGSL
 * function and its call. They read main's locals N, M, cBase and, for NCHW, cHW = rH·rW.
 */
const STORES: Record<CLayout, { decl: string; call: (row: string, col: string, v: string) => string }> = {
  plain: {
    decl: `
fn store4(o: u32, col: u32, N: u32, v: vec4<f32>) {
  if (col + 3u < N) {
    C[o + col] = v.x; C[o + col + 1u] = v.y; C[o + col + 2u] = v.z; C[o + col + 3u] = v.w;
  } else {
    if (col < N) { C[o + col] = v.x; }
    if (col + 1u < N) { C[o + col + 1u] = v.y; }
    if (col + 2u < N) { C[o + col + 2u] = v.z; }
  }
}`,
    call: (row, col, v) => `store4(cBase + (${row}) * N, ${col}, N, ${v});`,
  },
  // rows are pixels of [n, rH, rW]: C written as NCHW [n, cols, rH, rW]
  nchw: {
    decl: `
fn storeNCHW(m: u32, col: u32, N: u32, HW: u32, v: vec4<f32>) {
  let base = (m / HW) * N * HW + m % HW + col * HW;
  if (col < N) { C[base] = v.x; }
  if (col + 1u < N) { C[base + HW] = v.y; }
  if (col + 2u < N) { C[base + 2u * HW] = v.z; }
  if (col + 3u < N) { C[base + 3u * HW] = v.w; }
}`,
    call: (row, col, v) => `storeNCHW(${row}, ${col}, N, cHW, ${v});`,
  },
  // C written as [N, M] (the weight gradient lands in the weight's [Co, Ci·kh·kw] layout)
  transposed: {
    decl: `
fn storeT(m: u32, col: u32, N: u32, M: u32, v: vec4<f32>) {
  if (col < N) { C[col * M + m] = v.x; }
  if (col + 1u < N) { C[(col + 1u) * M + m] = v.y; }
  if (col + 2u < N) { C[(col + 2u) * M + m] = v.z; }
  if (col + 3u < N) { C[(col + 3u) * M + m] = v.w; }
}`,
    call: (row, col, v) => `storeT(${row}, ${col}, N, M, ${v});`,
  },
};

/** The names the tiled GEMM gives its A loader: the element function's parameters, A's binding, the uniforms. */
export interface TiledScope {
  /** A's binding (f32 elements). */
  readonly A: string;
  /** The element function's u32 parameters: batch entry, row, depth index. */
  readonly b: string;
  readonly r: string;
  readonly k: string;
  /** The uniforms as `P.<field>`. */
  readonly P: { readonly [F in GemmParam]: string };
}

const TILED_SCOPE: TiledScope = { A: 'A', b: 'b', r: 'r', k: 'k', P: GEMM_P };

/**
 * How the tiled kernel reads A: the body of its element function — element (r, k) of batch b's
 * A, 0 outside the matrix (statements ending in a return). The plain and transposed matrices are
 * here; kernels/conv.ts supplies the implicit-im2col ones.
 */
export interface TiledALoader {
  readonly config: LoaderConfig;
  element(s: TiledScope): string;
}

/** A row-major matrix, or its transpose stored [K, M]: element (r, k), 0 outside. */
const matrixElements = defineLoader('matrix.elements', ({ transposed }: { transposed: boolean }): Omit<TiledALoader, 'config'> => ({
  element: ({ A, b, r, k, P }) => `  let ok = (${r} < ${P.M}) & (${k} < ${P.K});
  return select(0.0, ${A}[select(0u, ${b} * ${P.strideA} + ${transposed ? `${k} * ${P.M} + ${r}` : `${r} * ${P.K} + ${k}`}, ok)], ok);`,
}));

export const TILED_A = matrixElements({ transposed: false });
export const TILED_A_T = matrixElements({ transposed: true });

/**
 * B's layout: 'plain' [K, N]; 'transposed' [N, K]; 'nchw' — B[k, n] is element (k / HW, n,
 * k % HW) of an [·, N, HW] tensor with HW = rH·rW (a convolution's dY, read in place).
 */
export type TiledB = 'plain' | 'transposed' | 'nchw';

/**
 * The shared-memory tiled GEMM with an A loader (default: the row-major matrix), B's layout and
 * C's. Bindings: A, B, C, [bias].
 */
export function tiledKernel(cfg: TiledMatmulConfig, o: { a?: TiledALoader; b?: TiledB; c?: CLayout } = {}): KernelSource {
  const TX = cfg.tileN / cfg.threadN;
  const TY = cfg.tileM / cfg.threadM;
  if (!Number.isInteger(TX) || !Number.isInteger(TY)) throw new Error('matmul config: tile must be a multiple of the per-thread block');
  const a = o.a ?? TILED_A;
  const variant = {
    tileM: cfg.tileM, tileN: cfg.tileN, tileK: cfg.tileK, threadM: cfg.threadM, threadN: cfg.threadN,
    double: !!cfg.double, bias: !!cfg.bias, act: cfg.act, a: a.config, b: o.b ?? 'plain', c: o.c ?? 'plain',
  };
  return kernel('matmul.tiled', variant, (v) => ({
    params: GEMM_PARAMS,
    bindings: { A: readOnly(), B: readOnly(), C: readWrite(), ...(v.bias ? { bias: readOnly() } : {}) },
    body: tiledCode(v, a, v.b, v.c, TX, TY),
  }));
}

function tiledCode(c: Omit<TiledMatmulConfig, 'kind'>, a: TiledALoader, bKind: TiledB, cKind: CLayout, TX: number, TY: number): string {
  const threads = TX * TY;
  const stages = c.double ? 2 : 1;
  const bAt = {
    plain: 'b * P.strideB + k * P.N + n',
    transposed: 'b * P.strideB + n * P.K + k',
    nchw: '(k / (P.rH * P.rW)) * P.N * P.rH * P.rW + n * P.rH * P.rW + k % (P.rH * P.rW)',
  }[bKind];
  const cAt = {
    plain: 'b * P.strideC + r * P.N + n',
    nchw: '(r / (P.rH * P.rW)) * P.N * P.rH * P.rW + n * P.rH * P.rW + r % (P.rH * P.rW)',
    transposed: 'b * P.strideC + n * P.M + r',
  }[cKind];
  const AS = c.tileM * c.tileK, BS = c.tileK * c.tileN;
  return `fn ldA(b: u32, r: u32, k: u32) -> f32 {
${a.element(TILED_SCOPE)}
}
${activationDecls(c.act, 'f32')}
var<workgroup> As: array<f32, ${stages * AS}>;
var<workgroup> Bs: array<f32, ${stages * BS}>;
fn ldB(b: u32, k: u32, n: u32) -> f32 {
  let ok = (k < P.K) & (n < P.N);
  return select(0.0, B[select(0u, ${bAt}, ok)], ok);
}
// Stage s of the shared tiles gets the tiles at depth k0 (threads stride over the elements).
fn fill(s: u32, b: u32, r0: u32, c0: u32, k0: u32, li: u32) {
  for (var e = li; e < ${AS}u; e = e + ${threads}u) {
    As[s * ${AS}u + e] = ldA(b, r0 + e / ${c.tileK}u, k0 + e % ${c.tileK}u);
  }
  for (var e = li; e < ${BS}u; e = e + ${threads}u) {
    Bs[s * ${BS}u + e] = ldB(b, k0 + e / ${c.tileN}u, c0 + e % ${c.tileN}u);
  }
}

@compute @workgroup_size(${TX}, ${TY})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let b = wid.z;
  let r0 = wid.y * ${c.tileM}u;
  let c0 = wid.x * ${c.tileN}u;
  var acc: array<f32, ${c.threadM * c.threadN}>;
  for (var i = 0u; i < ${c.threadM * c.threadN}u; i = i + 1u) { acc[i] = 0.0; }
  let K = P.K;
  ${c.double ? `fill(0u, b, r0, c0, 0u, li);
  workgroupBarrier();
  var s = 0u;
  for (var k0 = 0u; k0 < K; k0 = k0 + ${c.tileK}u) {
    // the other stage was last read before the previous barrier: safe to overwrite
    if (k0 + ${c.tileK}u < K) { fill(1u - s, b, r0, c0, k0 + ${c.tileK}u, li); }` : `let s = 0u;
  for (var k0 = 0u; k0 < K; k0 = k0 + ${c.tileK}u) {
    fill(0u, b, r0, c0, k0, li);
    workgroupBarrier();`}
    for (var kk = 0u; kk < ${c.tileK}u; kk = kk + 1u) {
      var bv: array<f32, ${c.threadN}>;
      for (var j = 0u; j < ${c.threadN}u; j = j + 1u) { bv[j] = Bs[s * ${BS}u + kk * ${c.tileN}u + lid.x + j * ${TX}u]; }
      for (var i = 0u; i < ${c.threadM}u; i = i + 1u) {
        let av = As[s * ${AS}u + (lid.y + i * ${TY}u) * ${c.tileK}u + kk];
        for (var j = 0u; j < ${c.threadN}u; j = j + 1u) { acc[i * ${c.threadN}u + j] = acc[i * ${c.threadN}u + j] + av * bv[j]; }
      }
    }
    workgroupBarrier();${c.double ? `
    s = 1u - s;` : ''}
  }
  for (var i = 0u; i < ${c.threadM}u; i = i + 1u) {
    let r = r0 + lid.y + i * ${TY}u;
    for (var j = 0u; j < ${c.threadN}u; j = j + 1u) {
      let n = c0 + lid.x + j * ${TX}u;
      if ((r < P.M) & (n < P.N)) { C[${cAt}] = ${activationWgsl(c.act, `(acc[i * ${c.threadN}u + j]${c.bias ? ' + bias[n]' : ''})`, 'f32')}; }
    }
  }
}`;
}

const TEXTURE_PARAMS = defineParams({
  K: 'u32', N: 'u32', batch: 'u32', strideB: 'u32', fold: 'u32', kInner: 'u32', sOuter: 'u32', sInner: 'u32', sN: 'u32', rows: 'u32',
});

/**
 * Where element B[b, k, n] of a product's B operand sits in its buffer:
 * b·strideB + (k / kInner)·sOuter + (k % kInner)·sInner + n·sN. One description covers a
 * row-major [K, N] matrix, its transpose, a conv's dY read as [N·Ho·Wo, Co] in place (NCHW),
 * and conv weights [Co, Ci, kh, kw] read as [kh·kw·Ci, Co] or [kh·kw·Co, Ci] — so the texture
 * copy replaces what would otherwise be a permute pass before it.
 */
export interface BLayout { kInner: number; sOuter: number; sInner: number; sN: number }

export const bLayouts = {
  plain: (N: number): BLayout => ({ kInner: 1, sOuter: N, sInner: 0, sN: 1 }),
  transposed: (K: number): BLayout => ({ kInner: 1, sOuter: 1, sInner: 0, sN: K }),
  /** dY [n, C, HW] as [n·HW, C]. */
  nchw: (C: number, HW: number): BLayout => ({ kInner: HW, sOuter: C * HW, sInner: 1, sN: HW }),
  /** w [Co, Ci, T = kh·kw] as [T·Ci, Co] (k = t·Ci + ci): the forward's B. */
  convForward: (Ci: number, T: number): BLayout => ({ kInner: Ci, sOuter: 1, sInner: T, sN: Ci * T }),
  /** w [Co, Ci, T] as [T·Co, Ci] (k = t·Co + co): the input gradient's B. */
  convBackwardInput: (Co: number, Ci: number, T: number): BLayout => ({ kInner: Co, sOuter: 1, sInner: Ci * T, sN: T }),
};

/**
 * Texel columns one workgroup of the texture copy spans (a power of two ≤ 64; the other
 * 64 / that threads take successive texel rows), so narrow operands (conv weights and
 * activations with 4-32 channels: 1-8 texels wide) do not leave most of each workgroup idle.
 */
export function textureCopyWidth(N: number): number {
  return Math.min(64, 2 ** Math.ceil(Math.log2(Math.ceil(N / 4))));
}

/**
 * The texture copy's texel rows per batch (its `rows` parameter: computed here, since an
 * integer divide per thread is what the kernel avoids) and its workgroups: x over texel
 * columns, y over texel rows, z over the fold slots or the batch.
 */
export function matmulToTextureGrid(K: number, N: number, batch: number, fold: number): { rows: number; workgroups: [number, number, number] } {
  const W = Math.ceil(N / 4), Kp = Math.ceil(K / 4) * 4;
  const wx = textureCopyWidth(N), ry = 64 / wx;
  if (fold > 1 && batch > 1) throw new Error('matmul texture copy: a folded B must be shared by the batch');
  const rows = fold > 1 ? Math.ceil(Kp / fold) : Kp;
  return { rows, workgroups: [Math.ceil(W / wx), Math.ceil(rows / ry), fold > 1 ? fold : batch] };
}

/**
 * Copies B [batch, K, N] (any BLayout) into the zero-padded rgba32float texture layout:
 * global row r = b·Kp + k (Kp = K rounded up to 4) lives at texel row r / fold, column
 * (r % fold)·⌈N/4⌉ + n/4. Every coordinate comes from the grid (matmulToTextureGrid)
 * instead of being decoded from a flat index: llvmpipe has no vector integer division (each
 * u32 `/` or `%` is a scalar divide per lane), and with the flat decoding's six divisions per
 * texel the copy took ~1.25-1.4× as long. Workgroups span a narrow operand's few texel columns
 * and several rows (textureCopyWidth). A fold (a power of two) is only used with batch 1.
 * `unitInner`: the layout's kInner is 1 (plain and transposed matrices), so k needs no split.
 */
export function matmulToTextureKernel(o: { unitInner: boolean; width?: number }): KernelSource {
  const width = o.width ?? 64;
  if (!Number.isInteger(Math.log2(width)) || width > 64) throw new Error(`matmul texture copy: width ${width} must be a power of two ≤ 64`);
  return kernel('matmul.to_texture', { unitInner: o.unitInner, width }, ({ unitInner, width }) => {
    const sh = Math.log2(width);
    return {
      params: TEXTURE_PARAMS,
      bindings: { B: readOnly(), T: storageTexture('write') },
      body: `
fn ld(base: u32, n: u32, ok: bool) -> f32 {
  return select(0.0, B[base + min(n, P.N - 1u) * P.sN], ok & (n < P.N));
}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let W = (P.N + 3u) / 4u;
  let Kp = (P.K + 3u) / 4u * 4u;
  // folded (batch 1): z is the row's slot in its texel row; else z is the batch
  let folded = P.fold > 1u;
  let c4 = wid.x * ${width}u + (l & ${width - 1}u);
  let y = wid.y * ${64 >> sh}u + (l >> ${sh}u);
  if ((c4 >= W) | (y >= P.rows)) { return; } // rows: texel rows per batch (matmulToTextureGrid)
  let f = select(0u, wid.z, folded);
  let b = select(wid.z, 0u, folded);
  let k = y * P.fold + f;
  let kk = min(k, P.K - 1u);
  let ko = ${unitInner ? 'kk' : 'kk / P.kInner'}; // one divide per texel (none for kInner 1)
  let base = b * P.strideB + ko * P.sOuter + (kk - ko * P.kInner) * P.sInner;
  let ok = k < P.K;
  let n = 4u * c4;
  let v = vec4<f32>(ld(base, n, ok), ld(base, n + 1u, ok), ld(base, n + 2u, ok), ld(base, n + 3u, ok));
  textureStore(T, vec2<u32>(f * W + c4, select(b * Kp + k, y, folded)), v);
}`,
    };
  });
}

/** One output per thread, straight from buffers: the benchmark's yardstick, not used by ops. */
export function naiveMatmulKernel(): KernelSource {
  return kernel('matmul.naive', {}, () => ({ params: GEMM_PARAMS, bindings: { A: readOnly(), B: readOnly(), C: readWrite() }, body: `@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.y;
  let c = gid.x;
  if ((r >= P.M) | (c >= P.N)) { return; }
  var s = 0.0;
  for (var k = 0u; k < P.K; k = k + 1u) { s = s + A[r * P.K + k] * B[k * P.N + c]; }
  C[r * P.N + c] = s;
}` }));
}
