// VAE with inverse autoregressive flow (Kingma et al. 2016). After the Gaussian encoder,
// z_0 = μ + σ ⊙ ε, then T steps
//   [m_t, s_t] = MADE_t(z_{t−1}),  σ_t = sigmoid(s_t),  z_t = σ_t ⊙ z_{t−1} + (1 − σ_t) ⊙ m_t,
// so log q(z_T|x) = log N(z_0; μ, σ²) − Σ_t Σ_l log σ_t,l, and the KL term is estimated by one
// sample: log q(z_T|x) − log N(z_T; 0, I). The variable order is reversed between steps (MADE t
// uses the reversed order for odd t, which is the same as permuting z and costs nothing).
// No context input from the encoder (the paper's optional h) is used.
import {
  tanh, matmul, add, exp, mul, sub, affine, slice, sum, sigmoid, logSigmoid, neg, tensor, Generator, type RowPattern, type Tensor,
} from '../../engine/index.js';
import { Module } from '../../layers/module.js';
import { initWeight } from '../../layers/init.js';
import { CFModel, l2Normalise, multinomialLogLik, logNormal, logStdNormal, type RecommenderOptions } from './common.js';

export type MadeOrder = 'forward' | 'reverse';

/** Degree of input/output variable i (1..L): its position in the autoregressive order. */
export const madeDegree = (i: number, L: number, order: MadeOrder): number => (order === 'forward' ? i + 1 : L - i);
/** Degree of hidden unit k: 1..L−1 in turn. */
export const madeHiddenDegree = (k: number, L: number): number => (k % (L - 1)) + 1;

/**
 * MADE with one tanh hidden layer: z [B, L] → [B, 2L] (m then s), output j of each half
 * depending only on the inputs that come before j in `order`. The weights are multiplied by
 * fixed 0/1 masks on every forward, so masked entries get zero gradient too.
 */
export class MADE extends Module {
  readonly w1: Tensor;
  readonly b1: Tensor;
  readonly w2: Tensor;
  readonly b2: Tensor;
  /** The masks [L, H] and [H, 2L] (non-trainable buffers). */
  readonly mask1: Tensor;
  readonly mask2: Tensor;

  constructor(readonly L: number, readonly H: number, readonly order: MadeOrder, g: Generator, sBias = 1) {
    super();
    if (!(Number.isSafeInteger(L) && L >= 2)) throw new Error(`MADE: needs at least 2 latent variables, got ${L}`);
    if (!(Number.isSafeInteger(H) && H >= L - 1)) throw new Error(`MADE: hidden width must be ≥ L − 1 = ${L - 1} so every degree is present, got ${H}`);
    const m1 = new Float32Array(L * H), m2 = new Float32Array(H * 2 * L);
    fillMasks(m1, m2, L, H, order);
    this.mask1 = tensor(m1, [L, H]).keep();
    this.mask2 = tensor(m2, [H, 2 * L]).keep();
    this.w1 = initWeight(g, [L, H], 'xavier-uniform', L, H).requireGrad().keep();
    this.b1 = g.normal([H], 0, 0.001).requireGrad().keep();
    this.w2 = initWeight(g, [H, 2 * L], 'xavier-uniform', H, 2 * L).requireGrad().keep();
    // s starts positive (σ_t ≈ sigmoid(sBias)): the flow starts close to the identity (Kingma et al.)
    this.b2 = tensor(Array.from({ length: 2 * L }, (_, j) => (j < L ? 0 : sBias)), [2 * L]).requireGrad().keep();
  }

  forward(z: Tensor): Tensor {
    const h = tanh(add(matmul(z, mul(this.w1, this.mask1)), this.b1));
    return add(matmul(h, mul(this.w2, this.mask2)), this.b2);
  }
}

/** Small loops (kept out of a constructor: --no-use-osr). */
function fillMasks(m1: Float32Array, m2: Float32Array, L: number, H: number, order: MadeOrder): void {
  for (let i = 0; i < L; i++) for (let k = 0; k < H; k++) m1[i * H + k] = +(madeHiddenDegree(k, L) >= madeDegree(i, L, order));
  for (let k = 0; k < H; k++) for (let j = 0; j < 2 * L; j++) m2[k * 2 * L + j] = +(madeDegree(j % L, L, order) > madeHiddenDegree(k, L));
}

export interface IAFOptions extends RecommenderOptions {
  /** Flow steps T (default 2). */
  T?: number;
  /** MADE hidden width (default 2·latent). */
  madeHidden?: number;
}

export class IAFVAE extends CFModel {
  readonly kind = 'iaf' as const;
  readonly T: number;
  readonly made: MADE[];

  constructor(o: IAFOptions) {
    const T = o?.T ?? 2;
    if (!(Number.isSafeInteger(T) && T >= 0)) throw new Error(`iaf: T must be an integer ≥ 0, got ${String(o.T)}`);
    const L = o?.latent ?? 200, H = o?.madeHidden ?? 2 * L;
    if (T > 0 && !(Number.isSafeInteger(L) && L >= 2)) throw new Error(`iaf: the flow needs at least 2 latent variables, got latent ${String(L)}`);
    if (T > 0 && !(Number.isSafeInteger(H) && H >= L - 1)) throw new Error(`iaf: madeHidden must be an integer ≥ latent − 1 = ${L - 1}, got ${String(H)}`);
    super(o, 'gaussian');
    this.T = T;
    this.made = Array.from({ length: T }, (_, t) => new MADE(this.latent, H, t % 2 ? 'reverse' : 'forward', this.init));
  }

  /** z_T and log q(z_T|x) = logq0 − Σ_t Σ log σ_t, from z_0 [B, L] and log q(z_0|x) [B]. */
  flow(z0: Tensor, logq0: Tensor | null): { z: Tensor; logq: Tensor | null } {
    let z = z0, logq = logq0;
    const [B, L] = z0.shape;
    for (const made of this.made) {
      const o = made.forward(z);
      const m = slice(o, [0, 0], [B, L]), s = slice(o, [0, L], [B, 2 * L]);
      const sg = sigmoid(s);
      z = add(mul(sg, z), mul(affine(sg, -1, 1), m));
      if (logq) logq = sub(logq, sum(logSigmoid(s), -1));
    }
    return { z, logq };
  }

  /** z_T and log q(z_T|x) for given μ, log σ² and ε (z_0 = μ + σ ⊙ ε). */
  posterior(mu: Tensor, logvar: Tensor, eps: Tensor | null): { z: Tensor; logq: Tensor } {
    const z0 = eps ? add(mu, mul(eps, exp(affine(logvar, 0.5, 0)))) : mu;
    return this.flow(z0, logNormal(z0, mu, logvar)) as { z: Tensor; logq: Tensor };
  }

  protected override latentForScores(h: Tensor, rows?: RowPattern | null): Tensor {
    return this.flow(this.encode(h, rows).mu, null).z;
  }

  perExampleLoss(x: Tensor, beta: number, rows?: RowPattern | null): Tensor {
    this.check(x, rows);
    const { mu, logvar } = this.encode(this.input(l2Normalise(x)), rows);
    const z0 = this.sample(mu, logvar);
    const { z, logq } = this.flow(z0, logNormal(z0, mu, logvar));
    const nll = neg(multinomialLogLik(this.decode(z), x));
    const kl = sub(logq!, logStdNormal(z));
    return add(nll, mul(kl, beta));
  }
}
