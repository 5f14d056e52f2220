// Matrix products: [M,K]·[K,N], batched [B,M,K]·[B,K,N] (a 2-d side is shared by the batch),
// either operand transposed. The kernel structure and tile sizes come from a per-adapter config.
import { defineOp, apply, type Ref, type Float64Lib } from '../op.js';
import { dispatch, destroyAfterSubmit } from '../dispatch.js';
import { gpu, adapterProfile } from '../device.js';
import { tuning } from '../plans/tuning.js';
import { planMatmul, planFold, copyTransposedA, textureFold } from '../plans/matmul.js';
import { empty, fmtShape, Tensor } from '../tensor.js';
import { matmulKernel, matmulGrid, matmulToTextureKernel, matmulToTextureGrid, textureCopyWidth, NO_CONV, bLayouts, type BLayout, type MatmulConfig } from '../../kernels/matmul.js';
import { transpose, reshape } from './layout.js';
import { sumTo } from './reduce.js';
import { actGradColsKernel } from '../../kernels/reduce.js';
import { gridFor, ACTIVATIONS, type Activation } from '../../kernels/common.js';

export type { Activation };

export type { MatmulStructure } from '../plans/tuning.js';

/** Whether B operands may go through textures (tuning: matmul.texture, LBD_MATMUL_TEXTURE). */
export const matmulTextureEnabled = (): boolean => tuning().matmul.texture;

/** The config for one product on this device (engine/plans/matmul.ts planMatmul). */
export function matmulConfig(M: number, N: number, K: number, batch = 1): MatmulConfig {
  return planMatmul(adapterProfile(), tuning(), M, N, K, batch);
}

/**
 * C = op(A)·op(B) on contiguous operands: a [B?, M, K] (or [B?, K, M] with transA), b [B?, K, N]
 * (or [B?, N, K] with transB). Transposed operands are read in place by the kernels — no
 * transpose pass: the subgroup kernel's A loader reads Aᵀ directly and the texture copy reads
 * Bᵀ; the tiled kernel indexes both.
 */
function product(a: Tensor, b: Tensor, transA: boolean, transB: boolean, bias: Tensor | null = null, act?: Activation): Tensor {
  const batched = a.ndim === 3 || b.ndim === 3;
  const B = batched ? (a.ndim === 3 ? a.shape[0] : b.shape[0]) : 1;
  const [M, K] = transA ? [a.shape[a.ndim - 1], a.shape[a.ndim - 2]] : a.shape.slice(-2);
  const [K2, N] = transB ? [b.shape[b.ndim - 1], b.shape[b.ndim - 2]] : b.shape.slice(-2);
  if (K !== K2) throw new Error(`matmul: inner dimensions differ: ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} · ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''}`);
  if (a.ndim === 3 && b.ndim === 3 && a.shape[0] !== b.shape[0]) throw new Error(`matmul: batch sizes differ: ${fmtShape(a.shape)} · ${fmtShape(b.shape)}`);
  const out = empty(batched ? [B, M, N] : [M, N], 'f32', 'matmul');
  if (M * N === 0) return out;
  if (K === 0) throw new Error('matmul: K = 0 is not supported');
  const cfg = { ...matmulConfig(M, N, K, b.ndim === 3 ? B : 1), bias: !!bias, act };
  let at: Tensor | null = null;
  if (transA && copyTransposedA(tuning(), cfg, M, N, a.ndim === 2)) {
    at = transpose(a);
    a = at;
    transA = false;
  }
  let bBinding: GPUBuffer | GPUTextureView = b.buffer;
  let bt: Tensor | null = null;
  let kernel;
  if (cfg.kind === 'subgroup') {
    // a B with more rows than a texture has is folded into a wider one when the batch shares it,
    // so it still avoids buffer loads and — transposed — a transpose pass (planFold)
    const folded = planFold(adapterProfile(), tuning(), cfg, M, N, K, b.ndim === 2);
    if (folded) Object.assign(cfg, { textureB: true, textureFold: folded.fold }, folded.rows ? { rows: folded.rows, persistent: folded.persistent } : {});
    const layout = transB ? bLayouts.transposed(K) : bLayouts.plain(N);
    if (cfg.textureB) bBinding = toTexture(b, b.ndim === 3 ? B : 1, K, N, cfg.textureFold ?? 1, layout);
    else if (transB) { bt = transpose(b); bBinding = bt.buffer; } // B too large for a texture: rare
    kernel = matmulKernel(cfg, { transA });
  } else kernel = matmulKernel(cfg, { transA, transB });
  dispatch({
    kernel,
    bindings: { A: a.buffer, B: bBinding, C: out.buffer, bias: bias?.buffer },
    params: { M, N, K, batch: B, strideA: a.ndim === 3 ? M * K : 0, strideB: b.ndim === 3 ? K * N : 0, strideC: M * N, ...NO_CONV },
    workgroups: matmulGrid(cfg, M, N, B),
  });
  bt?.dispose();
  at?.dispose();
  return out;
}

// B operands go through one rgba32float texture per padded size, reused by every product of
// that size (dispatches in a pass are ordered, so reuse is safe). Workspace, not tensor memory:
// it is not counted in live bytes. The cache is bounded by bytes, not by count: a model's
// working set (VGG19: ~30 sizes) must fit, or every step re-creates textures — creating one
// costs far more host time than a dispatch (with 16 entries the full-width VGG19 step spent
// 1-3 s in createTexture). The budget is tuning().matmul.textureCacheBytes (LBD_TEXTURE_CACHE_MB, default 1024 MiB).
const textures = new Map<string, { tex: GPUTexture; view: GPUTextureView; bytes: number }>();
let textureBytes = 0;
let textureCreates = 0;

/** Textures created so far by the B-operand cache (a step that creates none does not thrash). */
export function textureCreateTotal(): number { return textureCreates; }

/** B [batch, K, N] (stored as `layout` says) into a cached texture; returns its view. */
export function toTexture(b: Tensor, batch: number, K: number, N: number, fold = 1, layout: BLayout = bLayouts.plain(N)): GPUTextureView {
  const w = Math.ceil(N / 4) * fold, h = Math.ceil((batch * Math.ceil(K / 4) * 4) / fold);
  const key = `${w}x${h}`; // fold changes the shape's meaning, not its size: reuse is safe
  let t = textures.get(key);
  if (t) textures.delete(key); // re-insert below: most recently used last
  else {
    const bytes = w * h * 16;
    while (textures.size > 0 && textureBytes + bytes > tuning().matmul.textureCacheBytes) {
      const [oldKey, old] = textures.entries().next().value!;
      textures.delete(oldKey);
      textureBytes -= old.bytes;
      destroyAfterSubmit(old.tex); // queued dispatches may still read it
    }
    const tex = gpu().device.createTexture({ size: [w, h], format: 'rgba32float', usage: GPUTextureUsage.STORAGE_BINDING, label: `matmul.B ${key}` });
    t = { tex, view: tex.createView(), bytes };
    textureBytes += bytes;
    textureCreates++;
  }
  textures.set(key, t);
  const grid = matmulToTextureGrid(K, N, batch, fold);
  dispatch({
    kernel: matmulToTextureKernel({ unitInner: layout.kInner === 1, width: textureCopyWidth(N) }),
    bindings: { B: b.buffer, T: t.view },
    params: { K, N, batch, strideB: b.ndim === 3 ? K * N : 0, fold, ...layout, rows: grid.rows },
    workgroups: grid.workgroups,
  });
  return t.view;
}

/** Either operand transposed (default: neither). */
type MatmulAttrs = { transA?: boolean; transB?: boolean };
const transOf = (a: MatmulAttrs): [boolean, boolean] => [!!a.transA, !!a.transB];

/** The product by mathjs's float64 multiply (handed in by the checker: never in a model's bundle). */
function refMatmul([a, b]: Ref[], attrs: MatmulAttrs, math?: Float64Lib): Ref {
  if (!math) throw new Error("matmul's float64 reference uses mathjs: call it through referenceOf from 'lbd-gpu/testing' (engine/testing.ts)");
  const get = (r: Ref, bi: number, t: boolean): number[][] => {
    const [R, C] = r.shape.slice(-2);
    const off = r.shape.length === 3 ? bi * R * C : 0;
    const m: number[][] = [];
    for (let i = 0; i < R; i++) m.push(Array.from(r.data.subarray(off + i * C, off + (i + 1) * C)));
    return t ? math.transpose(m) : m;
  };
  const B = a.shape.length === 3 ? a.shape[0] : b.shape.length === 3 ? b.shape[0] : 1;
  const batched = a.shape.length === 3 || b.shape.length === 3;
  const out: number[] = [];
  let M = 0, N = 0;
  const [transA, transB] = transOf(attrs);
  for (let bi = 0; bi < B; bi++) {
    const c = math.multiply(get(a, bi, transA), get(b, bi, transB));
    M = c.length; N = c[0].length;
    for (const row of c) out.push(...row);
  }
  return { shape: batched ? [B, M, N] : [M, N], data: Float64Array.from(out) };
}

const matmulDef = defineOp<MatmulAttrs>({
  name: 'matmul',
  forward([a, b], attrs) {
    for (const t of [a, b]) {
      if (t.dtype !== 'f32' || t.ndim < 2 || t.ndim > 3) throw new Error(`matmul: operands must be 2-d or 3-d f32, got ${t}`);
    }
    return product(a, b, ...transOf(attrs));
  },
  backward(g, node) {
    const [a, b] = node.inputs;
    const [transA, transB] = transOf(node.attrs);
    // C = op(A)·op(B): dop(A) = g·op(B)ᵀ, dop(B) = op(A)ᵀ·g
    const ga = transA ? matmul(b, g, { transA: transB, transB: true }) : matmul(g, b, { transB: !transB });
    const gb = transB ? matmul(g, a, { transA: true, transB: transA }) : matmul(a, g, { transA: !transA });
    return [sumTo(ga, a.shape), sumTo(gb, b.shape)];
  },
  reference: refMatmul,
  // A's contracted axis; any axis of B (conservative: its rows or columns reach every output row)
  mixesBatch: (node, input, axis) => input === 1 || axis === node.inputs[0].ndim - (transOf(node.attrs)[0] ? 2 : 1),
  cases: [
    { inputs: [{ shape: [7, 5] }, { shape: [5, 3] }] },
    { inputs: [{ shape: [1, 1] }, { shape: [1, 9] }] },
    { inputs: [{ shape: [17, 8] }, { shape: [8, 36] }] },
    { inputs: [{ shape: [5, 7] }, { shape: [5, 3] }], attrs: { transA: true } },
    { inputs: [{ shape: [7, 5] }, { shape: [3, 5] }], attrs: { transB: true } },
    { inputs: [{ shape: [4, 6] }, { shape: [9, 4] }], attrs: { transA: true, transB: true } },
    { inputs: [{ shape: [3, 6, 8] }, { shape: [3, 8, 12] }] },
    { inputs: [{ shape: [6, 4] }, { shape: [2, 4, 5] }] },
    { inputs: [{ shape: [2, 5, 4] }, { shape: [4, 7] }] },
    { inputs: [{ shape: [33, 70] }, { shape: [70, 65] }] },
  ],
});

export interface MatmulOptions { transA?: boolean; transB?: boolean }

/** a·b (optionally with either side transposed). a [..., M, K] with b 2-d folds the leading axes into M. */
export function matmul(a: Tensor, b: Tensor, o: MatmulOptions = {}): Tensor {
  if (a.ndim > 3 && b.ndim === 2 && !o.transA) {
    const lead = a.shape.slice(0, -1);
    const y = apply(matmulDef, [reshape(a, [-1, a.shape[a.ndim - 1]]), b], { transA: false, transB: !!o.transB });
    return reshape(y, [...lead, y.shape[1]]);
  }
  return apply(matmulDef, [a, b], { transA: !!o.transA, transB: !!o.transB });
}

// x·W + b with the bias added in the GEMM's epilogue (one pass instead of a product and a
// broadcast add), and optionally an activation after it (attrs.act: 'relu' | 'tanh'; a Linear
// followed by its nonlinearity as one pass). W is [in, out], as Linear stores it. With an
// activation the backward recovers act' from the output (relu: y > 0, tanh: 1 − y²) and computes
// the pre-activation gradient and the bias gradient in one pass (actGradColsKernel).
/** attrs.act checked (JavaScript callers may pass anything): undefined for none. */
export function activationOf(name: string, attrs: { act?: Activation | 'none' }): Activation | undefined {
  const a = attrs.act;
  if (a === undefined || a === null || a === 'none') return undefined;
  if (!ACTIVATIONS.includes(a)) throw new Error(`${name}: act must be 'none', ${ACTIVATIONS.map((x) => `'${x}'`).join(' or ')}; got ${String(a)}`);
  return a;
}

/** [the pre-activation gradient, the bias gradient] of y = act(z + b) from y's gradient g: one pass. */
export function activationBiasGrad(g: Tensor, y: Tensor, act: Activation): [Tensor, Tensor] {
  const [R, C] = [y.size / y.shape[y.ndim - 1], y.shape[y.ndim - 1]];
  const d = empty(y.shape, 'f32', 'act_grad');
  const db = empty([C], 'f32', 'act_grad.bias');
  if (R * C > 0) dispatch({ kernel: actGradColsKernel(act), bindings: { g: g.buffer, y: y.buffer, d: d.buffer, db: db.buffer }, params: { A: 1, R, C, scale: 1 }, workgroups: [gridFor(C)] });
  return [d, db];
}

/** The float64 activation (references). */
export function refActivation(act: Activation | undefined, v: number): number {
  return act === 'relu' ? Math.max(v, 0) : act === 'tanh' ? Math.tanh(v) : v;
}

const linearDef = defineOp<{ act?: Activation | 'none' }>({
  name: 'linear',
  forward([x, w, b], attrs) {
    for (const t of [x, w, b]) if (t.dtype !== 'f32') throw new Error(`linear: operands must be f32, got ${t}`);
    if (x.ndim !== 2 || w.ndim !== 2 || b.ndim !== 1 || b.shape[0] !== w.shape[1]) {
      throw new Error(`linear: expects x [M, K], weight [K, N] and bias [N]; got ${fmtShape(x.shape)}, ${fmtShape(w.shape)} and ${fmtShape(b.shape)}`);
    }
    return product(x, w, false, false, b, activationOf('linear', attrs));
  },
  backward(g, node) {
    const [x, w, b] = node.inputs;
    const act = activationOf('linear', node.attrs);
    const [d, db] = act ? activationBiasGrad(g, node.output, act) : [g, null];
    const grads = [
      x.requiresGrad ? matmul(d, w, { transB: true }) : null,
      w.requiresGrad ? matmul(x, d, { transA: true }) : null,
      b.requiresGrad ? db ?? sumTo(d, b.shape) : null,
    ];
    if (d !== g) d.dispose();
    if (db && !b.requiresGrad) db.dispose();
    return grads;
  },
  reference([x, w, b], attrs, f64) {
    const y = refMatmul([x, w], {}, f64);
    const N = b.shape[0];
    const act = activationOf('linear', attrs);
    for (let i = 0; i < y.data.length; i++) y.data[i] = refActivation(act, y.data[i] + b.data[i % N]);
    return y;
  },
  cases: [
    { inputs: [{ shape: [7, 5] }, { shape: [5, 3] }, { shape: [3] }] },
    { inputs: [{ shape: [33, 20] }, { shape: [20, 70] }, { shape: [70] }] },
    { inputs: [{ shape: [9, 8] }, { shape: [8, 13] }, { shape: [13] }] },
    { inputs: [{ shape: [1, 3] }, { shape: [3, 1] }, { shape: [1] }] },
    { inputs: [{ shape: [33, 20] }, { shape: [20, 70] }, { shape: [70] }], attrs: { act: 'tanh' } },
    { inputs: [{ shape: [9, 8] }, { shape: [8, 13] }, { shape: [13] }], attrs: { act: 'relu' } },
    { inputs: [{ shape: [5, 6] }, { shape: [6, 3] }, { shape: [3] }], attrs: { act: 'tanh' } },
  ],
});

/** act(x·W + b) (W [in, out]; act 'none' (default), 'relu' or 'tanh'); x [..., in] folds its leading axes into rows. */
export function linear(x: Tensor, w: Tensor, b: Tensor, act: Activation | 'none' = 'none'): Tensor {
  const attrs = act === 'none' ? {} : { act };
  if (x.ndim === 2) return apply(linearDef, [x, w, b], attrs);
  const lead = x.shape.slice(0, -1);
  const y = apply(linearDef, [reshape(x, [-1, x.shape[x.ndim - 1]]), w, b], attrs);
  return reshape(y, [...lead, y.shape[1]]);
}

/** The smallest power-of-two fold that fits a [K, N] operand in this adapter's 2-d textures (0: none does). */
export const textureFoldFor = (K: number, N: number): number => textureFold(adapterProfile(), K, N);
