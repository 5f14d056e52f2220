// VAE with the VampPrior (Tomczak & Welling 2018): p(z) = (1/K) Σ_k q(z | u_k) with K learned
// pseudo-inputs u_k [K, I] through the same encoder; KL by one sample: log q(z|x) − log p(z).
//
// The pseudo-inputs go through the input pipeline's L2 normalisation (so they live where real
// inputs do, and their scale cannot push the encoder's tanh around) but NOT through the dropout
// slot. The prior is meant to be a mixture of the variational posteriors as they are used:
// with inverted scaling that is the encoder with dropout at its expectation, i.e. no mask. A
// masked pseudo-input would make the prior itself random (a different mixture every step),
// log p(z) a noisy estimate of a mask-averaged mixture that is never evaluated, and LBD's
// ARM/DisARM would have to count the pseudo-inputs' masks as more Bernoulli variables of every
// example. (With plain, non-inverted masks the expectation would be u ⊙ p; the models here
// use inverted scaling.) As in Tomczak's code for binary data, u is clamped to [0, 1] (hardtanh).
//
// log N(z; μ_k, σ_k²) for all pairs is computed as two matmuls,
//   Σ_l (z_l − μ_kl)²/σ²_kl = z²·(1/σ²_k)ᵀ − 2 z·(μ_k/σ²_k)ᵀ + Σ_l μ²_kl/σ²_kl,
// so the [B, K, L] tensor of the direct form (500·500·200 floats at ml-100k size) is never made;
// the price is f32 cancellation when σ_k is tiny and z ≈ μ_k.
import {
  clamp, matmul, exp, mul, square, sum, add, sub, affine, logsumexp, neg, type RowPattern, type Tensor,
} from '../../engine/index.js';
import { CFModel, l2Normalise, multinomialLogLik, logNormal, type RecommenderOptions } from './common.js';

export interface VampPriorOptions extends RecommenderOptions {
  /** Pseudo-inputs K (default 500, the VampPrior paper's). */
  K?: number;
  /** Initial pseudo-inputs [K, items] (e.g. random training rows); copied. Default N(0.05, 0.01²). */
  pseudoInputs?: Tensor;
}

const LOG_2PI = Math.log(2 * Math.PI);

export class VampPriorVAE extends CFModel {
  readonly kind = 'vampprior' as const;
  readonly K: number;
  /** The pseudo-inputs u [K, items] (trainable). */
  readonly pseudo: Tensor;

  constructor(o: VampPriorOptions) {
    const K = o?.K ?? 500;
    if (!(Number.isSafeInteger(K) && K >= 1)) throw new Error(`vampprior: K must be an integer ≥ 1, got ${String(o.K)}`);
    const p = o?.pseudoInputs;
    if (p && p.shape.join() !== [K, o.items].join()) throw new Error(`vampprior: pseudoInputs must be [${K}, ${o.items}] (K × items), got [${p.shape.join(', ')}]`);
    super(o, 'gaussian');
    this.K = K;
    if (p) {
      this.pseudo = affine(p, 1, 0).requireGrad().keep();
    } else {
      this.pseudo = this.init.normal([K, this.items], 0.05, 0.01).requireGrad().keep();
    }
  }

  /** μ_k and log σ²_k [K, latent] of the prior's components. */
  priorComponents(): { mu: Tensor; logvar: Tensor } {
    return this.encode(l2Normalise(clamp(this.pseudo, 0, 1)));
  }

  /** log p(z) [B] for z [B, latent]. */
  logPrior(z: Tensor): Tensor {
    const { mu, logvar } = this.priorComponents();
    const prec = exp(neg(logvar)); // [K, L]
    const zz = matmul(square(z), prec, { transB: true }); // [B, K]
    const zm = matmul(z, mul(mu, prec), { transB: true }); // [B, K]
    const c = sum(add(mul(square(mu), prec), logvar), -1); // [K]: Σ μ²/σ² + Σ log σ²
    const quad = add(sub(zz, mul(zm, 2)), c);
    const logN = affine(quad, -0.5, -0.5 * this.latent * LOG_2PI);
    return affine(logsumexp(logN, 1), 1, -Math.log(this.K));
  }

  perExampleLoss(x: Tensor, beta: number, rows?: RowPattern | null): Tensor {
    this.check(x, rows);
    const { mu, logvar } = this.encode(this.input(l2Normalise(x)), rows);
    const z = this.sample(mu, logvar);
    const nll = neg(multinomialLogLik(this.decode(z), x));
    const kl = sub(logNormal(z, mu, logvar), this.logPrior(z));
    return add(nll, mul(kl, beta));
  }
}
