// Concrete dropout (Gal, Hron & Kendall 2017): a relaxed Bernoulli drop mask with temperature t,
//   z̃_drop = σ((log p − log(1 − p) + log u − log(1 − u))/t),  y = x ⊙ (1 − z̃_drop)/(1 − p),
// p = σ(logit) learnable per layer (Gal's choice) or per unit of axis 1; u is regenerated from
// the Philox draw in the backward pass, and the logit's gradient flows through z̃ and through
// 1/(1 − p) (engine/ops/noise.ts). On [N, C, H, W] the default draws one u per example and
// channel, shared over H×W (Gal's SpatialConcreteDropout); noise: 'element' draws per element.
//
// Regularizer, with K units on axis 1 and W the attached next weight (base.ts NextWeight):
//   R = weightRegularizer·Σ_k ‖W[k]‖²/(1 − p_k) + dropoutRegularizer·Σ_units (p log p + (1 − p) log(1 − p))
// (per-layer p: ‖W‖²/(1 − p) and K·(p log p + …), as the reference code); without an attached
// weight the weight term is omitted. Defaults as the reference code's examples:
// weightRegularizer = l²/N with lengthScale l = 1e-4, dropoutRegularizer = 2/N (N = datasetSize);
// with neither datasetSize nor both coefficients, regularizer() is null.
// Numerically safe forms: log p = logσ(logit), log(1 − p) = logσ(−logit), 1/(1 − p) = 1 + e^logit.
import {
  Generator, concreteDropout, tensor, sigmoid, logSigmoid, mul, add, exp, neg, sum, square,
  type Tensor,
} from '../../engine/index.js';
import { DropoutLayer } from './base.js';
import {
  OptionChecker, COMMON_OPTIONS, checkInput, shareFor, unitCount,
  type LearnableCommonOptions, type RateGranularity, type NoiseShape,
} from './learnable.js';

export interface ConcreteDropoutOptions extends LearnableCommonOptions {
  /** Default 'layer'. Noise default 'channel'. initialKeep: 1 − p in (0, 1), default 0.9 (p = 0.1). */
  granularity?: RateGranularity;
  /** t > 0, default 0.1. */
  temperature?: number;
  /** Prior length-scale l for the default weightRegularizer l²/N (default 1e-4). */
  lengthScale?: number;
  /** Overrides l²/N. */
  weightRegularizer?: number;
  /** Overrides 2/N. */
  dropoutRegularizer?: number;
}

export class ConcreteDropout extends DropoutLayer {
  readonly kind = 'concrete' as const;
  readonly granularity: RateGranularity;
  readonly units: number | null;
  readonly noise: NoiseShape;
  readonly temperature: number;
  /** The drop-probability logit: p = σ(logit); [units] or [1]. */
  readonly logit: Tensor;
  readonly generator: Generator;
  readonly weightRegularizer: number | null;
  readonly dropoutRegularizer: number | null;
  private lastUnits: number | null = null;

  constructor(o: ConcreteDropoutOptions = {}) {
    super();
    const c = new OptionChecker('ConcreteDropout', o,
      [...COMMON_OPTIONS, 'temperature', 'lengthScale', 'weightRegularizer', 'dropoutRegularizer']);
    this.granularity = c.oneOf('granularity', o.granularity, ['unit', 'layer'] as const, 'layer');
    this.units = c.units(o.units, this.granularity);
    this.noise = c.oneOf('noise', o.noise, ['element', 'channel'] as const, 'channel');
    const keep = c.num('initialKeep', o.initialKeep, 0.9, 0, 1, 'in (0, 1)')!;
    this.temperature = c.num('temperature', o.temperature, 0.1, 0, Infinity, 'a finite number > 0')!;
    const l = c.num('lengthScale', o.lengthScale, 1e-4, 0, Infinity, 'a finite number > 0')!;
    const N = c.num('datasetSize', o.datasetSize, null, 0, Infinity, 'a finite number > 0');
    this.weightRegularizer = c.nonNeg('weightRegularizer', o.weightRegularizer) ?? (N !== null ? (l * l) / N : null);
    this.dropoutRegularizer = c.nonNeg('dropoutRegularizer', o.dropoutRegularizer) ?? (N !== null ? 2 / N : null);
    this.generator = c.generator(o);
    const L = this.granularity === 'layer' ? 1 : this.units!;
    this.logit = tensor(new Float32Array(L).fill(Math.log((1 - keep) / keep)), [L]).requireGrad().keep();
  }

  /** Identity (x itself) unless active; then x ⊙ (1 − z̃)/(1 − p) with a fresh draw. */
  forward(x: Tensor): Tensor {
    checkInput('ConcreteDropout', x, this.units);
    this.lastUnits = x.shape[1];
    if (!this.active) return x;
    const share = shareFor(x, this.noise);
    return concreteDropout(x, this.logit, this.generator.reserve(Math.ceil(x.size / share)), { share, temperature: this.temperature });
  }

  /** 1 − p = σ(−logit) per logit. */
  async keepProbabilities(): Promise<number[]> {
    return Array.from(await this.logit.data(), (v) => 1 / (1 + Math.exp(v)));
  }

  /** See the file header; null when a coefficient is missing. */
  override regularizer(): Tensor | null {
    if (this.weightRegularizer === null || this.dropoutRegularizer === null) return null;
    const next = this.weightRegularizer !== 0 ? this.nextWeight() : this.next;
    const K = unitCount('ConcreteDropout', this.units, next, this.lastUnits);
    const th = this.logit;
    // p log p + (1 − p) log(1 − p) = σ(θ)·logσ(θ) + σ(−θ)·logσ(−θ)
    const negH = add(mul(sigmoid(th), logSigmoid(th)), mul(sigmoid(neg(th)), logSigmoid(neg(th))));
    let r = mul(sum(negH), this.dropoutRegularizer * (this.granularity === 'layer' ? K : 1));
    if (next && this.weightRegularizer !== 0) {
      const { weight, unitAxis } = next;
      const axes = this.granularity === 'layer' ? undefined : [...weight.shape.keys()].filter((a) => a !== unitAxis);
      const norms = sum(square(weight), axes); // [K] per unit, [] per layer
      const invKeep = add(exp(th), 1); // 1/(1 − p)
      r = add(r, mul(sum(mul(norms, invKeep)), this.weightRegularizer));
    }
    return r;
  }
}
