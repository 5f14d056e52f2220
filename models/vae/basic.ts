// Mult-VAE and Mult-DAE (Liang et al. 2018) and SIVAE (the paper §2.3, Eq. 6).
import { tanh, concat, slice, reshape, mul, add, affine, logsumexp, neg, sub, gaussianSample, gaussianKl, type RowPattern, type Tensor } from '../../engine/index.js';
import {
  CFModel, l2Normalise, multinomialLogLik, logNormal, logStdNormal, type RecommenderOptions,
} from './common.js';

export interface MultVAEOptions extends RecommenderOptions {
  /** 'analytic' (default, as Liang et al.): closed-form KL(q ‖ N(0, I)); 'sample': the
   *  single-sample estimate log q(z|x) − log p(z) at the z the decoder sees (SIVAE with V = 0). */
  kl?: 'analytic' | 'sample';
}

/** Mult-VAE: −log p(x|z) + β·KL(q(z|x) ‖ N(0, I)), z = μ + σ ⊙ ε (training) or μ (evaluation). */
export class MultVAE extends CFModel {
  readonly kind = 'vae' as const;
  readonly kl: 'analytic' | 'sample';
  constructor(o: MultVAEOptions) {
    if (o?.kl !== undefined && o.kl !== 'analytic' && o.kl !== 'sample') throw new Error(`vae: kl must be 'analytic' or 'sample', got '${String(o.kl)}'`);
    super(o, 'gaussian');
    this.kl = o.kl ?? 'analytic';
  }

  perExampleLoss(x: Tensor, beta: number, rows?: RowPattern | null): Tensor {
    this.check(x, rows);
    if (this.kl === 'analytic') {
      // on the encoder's output [μ | log σ²] directly: the fused sample and KL ops (engine/ops/latent.ts)
      const o = this.encodeRaw(this.input(l2Normalise(x)), rows);
      const z = this.training ? gaussianSample(o, this.epsilonFor(o.shape[0])) : slice(o, [0, 0], [o.shape[0], this.latent]);
      return sub(gaussianKl(o, beta), multinomialLogLik(this.decode(z), x));
    }
    const { mu, logvar } = this.encode(this.input(l2Normalise(x)), rows);
    const z = this.sample(mu, logvar);
    const nll = neg(multinomialLogLik(this.decode(z), x));
    const kl = sub(logNormal(z, mu, logvar), logStdNormal(z));
    return add(nll, mul(kl, beta));
  }
}

/**
 * Mult-DAE: no sampling; [I → hidden → latent] with tanh after every layer but the last
 * (as the Mult-DAE code, so the latent code is tanh'ed too) → decoder; loss −log p(x|·).
 * Weight decay is the task's job; β is ignored.
 */
export class MultDAE extends CFModel {
  readonly kind = 'dae' as const;
  constructor(o: RecommenderOptions) { super(o, 'point'); }

  override encode(h: Tensor): { mu: Tensor; logvar: Tensor } {
    throw new Error(`dae: has no Gaussian encoder (${h}); use code()`);
  }

  /** The latent code tanh(enc2(tanh(enc1(h)))). */
  code(h: Tensor, rows?: RowPattern | null): Tensor { return tanh(this.encodeRaw(h, rows)); }

  protected override latentForScores(h: Tensor, rows?: RowPattern | null): Tensor { return this.code(h, rows); }

  perExampleLoss(x: Tensor, _beta: number, rows?: RowPattern | null): Tensor {
    this.check(x, rows);
    return neg(multinomialLogLik(this.decode(this.code(this.input(l2Normalise(x)), rows)), x));
  }
}

export interface SIVAEOptions extends RecommenderOptions {
  /** V: further masks per example mixed into q(η|x) (default 3, the authors' training value). */
  V?: number;
}

/**
 * SIVAE: the input dropout as the implicit mixing layer. Per example, the primary mask z and V
 * more; η = μ(x, z) + σ(x, z) ⊙ ε; loss
 *   −log p(x|η) − β[log p(η) − log((1/(V+1))(q(η|x, z) + Σ_v q(η|x, z^(v))))].
 * The normalised input is replicated V+1 times along the batch axis in copy-major order (row
 * c·B + b is copy c of example b; copy 0 is the primary) and goes through the dropout slot and
 * the encoder as one batch of (V+1)·B rows; every copy's density is evaluated at η. An LBD slot
 * thus sees (V+1)·B rows while the loss has B entries: lbdStep uses d_b for every row r with
 * r mod B = b (the joint-vector ARM/DisARM of docs/estimators.md §5). ε is a leaf drawn before the
 * forward, so replaying the tape with the other masks reuses the same ε.
 * In eval mode the masks are all at their expectation, the copies coincide and η = μ, so one
 * copy is used (the mixture of V+1 equal densities is that density).
 */
export class SIVAE extends CFModel {
  readonly kind = 'sivae' as const;
  readonly V: number;
  constructor(o: SIVAEOptions) {
    const V = o?.V ?? 3;
    if (!(Number.isSafeInteger(V) && V >= 0)) throw new Error(`sivae: V must be an integer ≥ 0, got ${String(o.V)}`);
    super(o, 'gaussian');
    this.V = V;
  }

  perExampleLoss(x: Tensor, beta: number, rows?: RowPattern | null): Tensor {
    const B = this.check(x, rows);
    const L = this.latent;
    const C = this.training ? this.V + 1 : 1;
    const xn = l2Normalise(x);
    const xr = C > 1 ? concat(new Array<Tensor>(C).fill(xn), 0) : xn;
    const { mu, logvar } = this.encode(this.input(xr), rows?.repeat(C)); // [C·B, L]
    const mu0 = C > 1 ? slice(mu, [0, 0], [B, L]) : mu;
    const lv0 = C > 1 ? slice(logvar, [0, 0], [B, L]) : logvar;
    const eta = this.sample(mu0, lv0);
    const nll = neg(multinomialLogLik(this.decode(eta), x));
    // log q(η | x, z^(c)) for every copy: [C, B]; η [B, L] broadcasts against [C, B, L]
    const lq = logNormal(eta, reshape(mu, [C, B, L]), reshape(logvar, [C, B, L]));
    const lmix = affine(logsumexp(lq, 0), 1, -Math.log(C));
    const kl = sub(lmix, logStdNormal(eta));
    return add(nll, mul(kl, beta));
  }
}
