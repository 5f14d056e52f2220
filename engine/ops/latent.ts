// The VAEs' diagonal-Gaussian latent as two ops on the encoder's output o = [μ | log σ²]
// ([N, 2L]; kernels/latent.ts has the formulas):
//   gaussian_sample(o, ε) = μ + exp(½ log σ²) ⊙ ε          [N, L]   (ε: [N, L] or [L])
//   gaussian_kl(o; scale) = scale · KL(N(μ, σ²) ‖ N(0, I))   [N]      per row, closed form
// Both backwards can add into the gradient the tape already holds for o, so a step that uses both
// (Mult-VAE's training loss) gets o's gradient in two passes and no add. ε is a draw, not a
// parameter: it takes no gradient (an ε that requires one is refused rather than silently left
// without it).
import { defineOp, apply, type NoAttrs, type Ref } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, fmtShape, type Tensor } from '../tensor.js';
import { gridFor, rowGrid } from '../../kernels/common.js';
import { gaussianSampleKernel, gaussianSampleGradKernel, gaussianKlKernel, gaussianKlGradKernel } from '../../kernels/latent.js';

function checkO(name: string, o: Tensor): [number, number] {
  if (o.dtype !== 'f32' || o.ndim !== 2 || o.shape[1] % 2 !== 0) throw new Error(`${name}: expects the encoder output [N, 2·L] = [μ | log σ²] (f32), got ${o}`);
  return [o.shape[0], o.shape[1] / 2];
}


const sampleDef = defineOp<NoAttrs>({
  name: 'gaussian_sample',
  forward([o, eps]) {
    const [N, L] = checkO('gaussian_sample', o);
    if (eps.dtype !== 'f32' || !((eps.ndim === 2 && eps.shape[0] === N && eps.shape[1] === L) || (eps.ndim === 1 && eps.shape[0] === L))) {
      throw new Error(`gaussian_sample: ε must be [${N}, ${L}] or [${L}], got ${fmtShape(eps.shape)}`);
    }
    if (eps.requiresGrad) throw new Error(`gaussian_sample: ε ${eps} requires a gradient; this op gives none (ε is a draw)`);
    const z = empty([N, L], 'f32', 'gaussian_sample');
    if (N * L) dispatch({ kernel: gaussianSampleKernel(), bindings: { o: o.buffer, eps: eps.buffer, z: z.buffer }, params: { N, L, epsStride: eps.ndim === 2 ? L : 0 }, workgroups: [gridFor(N * L)] });
    return z;
  },
  backward(g, node, into) {
    const [o, eps] = node.inputs;
    const [N, L] = [o.shape[0], o.shape[1] / 2];
    const held = into?.[0];
    const dO = held ?? empty(o.shape, 'f32', 'gaussian_sample.do');
    if (N * L) dispatch({ kernel: gaussianSampleGradKernel(!!held), bindings: { o: o.buffer, eps: eps.buffer, g: g.buffer, dO: dO.buffer }, params: { N, L, epsStride: eps.ndim === 2 ? L : 0 }, workgroups: [gridFor(N * L)] });
    return [dO, null];
  },
  accumulates: [0],
  reference([o, eps]): Ref {
    const [N, L2] = o.shape, L = L2 / 2;
    const data = new Float64Array(N * L);
    for (let r = 0; r < N; r++) {
      for (let j = 0; j < L; j++) data[r * L + j] = o.data[r * L2 + j] + Math.exp(0.5 * o.data[r * L2 + L + j]) * eps.data[(eps.shape.length === 2 ? r * L : 0) + j];
    }
    return { shape: [N, L], data };
  },
  mixesBatch: (_node, _input, axis) => axis === 1, // μ and log σ² of a row meet; rows stay apart
  cases: [
    { inputs: [{ shape: [3, 8] }, { shape: [3, 4], grad: false }] },
    { inputs: [{ shape: [5, 14] }, { shape: [7], grad: false }] },
    { inputs: [{ shape: [1, 2] }, { shape: [1, 1], grad: false }] },
  ],
});

/** z = μ + exp(½ log σ²) ⊙ ε from o = [μ | log σ²] [N, 2L]; ε [N, L] or [L] (shared by the rows), no gradient. */
export function gaussianSample(o: Tensor, eps: Tensor): Tensor {
  return apply(sampleDef, [o, eps]);
}

type KlAttrs = { scale?: number };

function scaleOf(attrs: KlAttrs): number {
  const s = attrs.scale ?? 1;
  if (typeof s !== 'number' || !Number.isFinite(s)) throw new Error(`gaussian_kl: scale must be a finite number, got ${String(s)}`);
  return s;
}

const klDef = defineOp<KlAttrs>({
  name: 'gaussian_kl',
  forward([o], attrs) {
    const [N, L] = checkO('gaussian_kl', o);
    const k = empty([N], 'f32', 'gaussian_kl');
    if (N) dispatch({ kernel: gaussianKlKernel(), bindings: { o: o.buffer, k: k.buffer }, params: { N, L, scale: scaleOf(attrs) }, workgroups: rowGrid(N) });
    return k;
  },
  backward(g, node, into) {
    const [o] = node.inputs;
    const [N, L] = [o.shape[0], o.shape[1] / 2];
    const held = into?.[0];
    const dO = held ?? empty(o.shape, 'f32', 'gaussian_kl.do');
    if (N * L) dispatch({ kernel: gaussianKlGradKernel(!!held), bindings: { o: o.buffer, g: g.buffer, dO: dO.buffer }, params: { N, L, scale: scaleOf(node.attrs) }, workgroups: [gridFor(N * L)] });
    return [dO];
  },
  accumulates: [0],
  reference([o], attrs): Ref {
    const [N, L2] = o.shape, L = L2 / 2;
    const s = scaleOf(attrs);
    const data = new Float64Array(N);
    for (let r = 0; r < N; r++) {
      let t = 0;
      for (let j = 0; j < L; j++) {
        const mu = o.data[r * L2 + j], lv = o.data[r * L2 + L + j];
        t += Math.exp(lv) - lv + mu * mu - 1;
      }
      data[r] = 0.5 * s * t;
    }
    return { shape: [N], data };
  },
  mixesBatch: (_node, _input, axis) => axis === 1, // sums over a row's latent dimensions
  cases: [
    { inputs: [{ shape: [4, 6] }] },
    { inputs: [{ shape: [3, 402] }], attrs: { scale: 0.3 } },
    { inputs: [{ shape: [1, 2] }], attrs: { scale: -1.5 } },
  ],
});

/** scale · KL(N(μ, σ²) ‖ N(0, I)) per row [N], closed form, from o = [μ | log σ²] [N, 2L]. */
export function gaussianKl(o: Tensor, scale = 1): Tensor {
  return apply(klDef, [o], scale === 1 ? {} : { scale });
}
