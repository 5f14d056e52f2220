// Variational Gaussian dropout (Kingma, Salimans & Welling 2015): y = x ⊙ ξ, ξ ~ N(1, a),
// a = p_drop/(1 − p_drop), with a learnable log a per unit of axis 1 or per layer, capped at
// a ≤ 1 (p_drop ≤ 0.5: the cap the LBD paper criticises). The noise is reparameterised,
// ξ = 1 + √a·ε, so log a gets a path-wise gradient; ε is regenerated from the Philox draw in the
// backward pass (engine/ops/noise.ts).
//
// The cap: the forward uses min(log a, 0) (gradient 0 above the cap), and every training
// forward first projects the parameter back onto log a ≤ 0 in place, so a step that crosses
// the cap cannot leave log a stuck where its gradient is 0 (projected gradient descent).
//
// Regularizer (−KL approximation of the paper, valid for a ≤ 1, the constant dropped):
//   KL(a) ≈ −(½ log a + c1·a + c2·a² + c3·a³), c1 = 1.16145124, c2 = −1.50204118, c3 = 0.58629921
//   R = coef · Σ_units KL(a_k)   (a per-layer a counts once per unit: K·KL(a)),
//   coef = klCoefficient, else 1/datasetSize; no coefficient → regularizer() is null.
import { Generator, clamp, exp, mul, add, affine, neg, sum, scope, noGrad, gaussianDropout, tensor, type Tensor } from '../../engine/index.js';
import { copyBuffer } from '../../engine/dispatch.js';
import { DropoutLayer } from './base.js';
import {
  OptionChecker, COMMON_OPTIONS, checkInput, shareFor, unitCount,
  type LearnableCommonOptions, type RateGranularity, type NoiseShape,
} from './learnable.js';

export const KL_C1 = 1.16145124, KL_C2 = -1.50204118, KL_C3 = 0.58629921;
/** Lower clamp of log a (only there to keep the value finite). */
const LOG_ALPHA_MIN = -1e30;

export interface GaussianDropoutOptions extends LearnableCommonOptions {
  /** Default 'unit' (needs units). Noise default 'element' (per element also on [N, C, H, W]).
   *  initialKeep: 1/(1 + a) in [0.5, 1), default 0.5 (a = 1). */
  granularity?: RateGranularity;
  /** The regularizer's coefficient (default 1/datasetSize). */
  klCoefficient?: number;
}

export class GaussianDropout extends DropoutLayer {
  readonly kind = 'gaussian' as const;
  readonly granularity: RateGranularity;
  readonly units: number | null;
  readonly noise: NoiseShape;
  /** log a: one per unit ([units]) or one for the layer ([1]); the forward uses min(log a, 0). */
  readonly logAlpha: Tensor;
  readonly generator: Generator;
  readonly klCoefficient: number | null;
  /** Axis 1 of the last input (the unit count of a per-layer rate when nothing else gives it). */
  private lastUnits: number | null = null;

  constructor(o: GaussianDropoutOptions = {}) {
    super();
    const c = new OptionChecker('GaussianDropout', o, [...COMMON_OPTIONS, 'klCoefficient']);
    this.granularity = c.oneOf('granularity', o.granularity, ['unit', 'layer'] as const, 'unit');
    this.units = c.units(o.units, this.granularity);
    this.noise = c.oneOf('noise', o.noise, ['element', 'channel'] as const, 'element');
    const keep = o.initialKeep ?? 0.5;
    if (!(typeof keep === 'number' && keep >= 0.5 && keep < 1)) c.fail('initialKeep', 'in [0.5, 1) (a = (1 − keep)/keep ≤ 1, i.e. p_drop ≤ 0.5)', keep);
    const N = c.num('datasetSize', o.datasetSize, null, 0, Infinity, 'a finite number > 0');
    this.klCoefficient = c.nonNeg('klCoefficient', o.klCoefficient) ?? (N !== null ? 1 / N : null);
    this.generator = c.generator(o);
    const L = this.granularity === 'layer' ? 1 : this.units!;
    const logA = Math.min(0, Math.log((1 - keep) / keep));
    this.logAlpha = tensor(new Float32Array(L).fill(logA), [L]).requireGrad().keep();
  }

  /** min(log a, 0): the log a the forward and the regularizer use. */
  private cappedLogAlpha(): Tensor { return clamp(this.logAlpha, LOG_ALPHA_MIN, 0); }

  /** Projects the parameter onto log a ≤ 0 in place (done by every training forward). */
  projectLogAlpha(): void {
    noGrad(() => scope(() => {
      const c = this.cappedLogAlpha();
      copyBuffer(c.buffer, 0, this.logAlpha.buffer, 0, this.logAlpha.size * 4);
    }));
  }

  /** Identity (x itself) unless active; then x ⊙ (1 + √a·ε) with a fresh draw. */
  forward(x: Tensor): Tensor {
    checkInput('GaussianDropout', x, this.units);
    this.lastUnits = x.shape[1];
    if (!this.active) return x;
    if (this.training) this.projectLogAlpha();
    const share = shareFor(x, this.noise);
    return gaussianDropout(x, this.cappedLogAlpha(), this.generator.reserve(Math.ceil(x.size / share)), { share });
  }

  /** 1 − p_drop = 1/(1 + a) per log a, with the cap a ≤ 1 applied. */
  async keepProbabilities(): Promise<number[]> {
    return Array.from(await this.logAlpha.data(), (v) => 1 / (1 + Math.exp(Math.min(v, 0))));
  }

  /** coef · Σ_units KL(a_k) (see the file header), or null without a coefficient. */
  override regularizer(): Tensor | null {
    if (this.klCoefficient === null) return null;
    const perLogit = this.granularity === 'layer' ? unitCount('GaussianDropout', this.units, this.next, this.lastUnits) : 1;
    const la = this.cappedLogAlpha();
    const a = exp(la);
    // ½ log a + a·(c1 + a·(c2 + a·c3))
    const poly = add(mul(la, 0.5), mul(a, affine(mul(a, affine(a, KL_C3, KL_C2)), 1, KL_C1)));
    return mul(sum(neg(poly)), this.klCoefficient * perLogit);
  }
}
