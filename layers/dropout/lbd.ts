// LearnableBernoulliDropout (Boluki et al. 2020): dropout whose keep probabilities σ(α) are
// learned with the weights. Forward draws one u per example and unit and applies
// z2 = 1[u < σ(α)]; lbdStep (lbd-step.ts) replays the tape with z1 = 1[u > σ(−α)] from the
// same u and adds the ARM or DisARM term to α's gradient. Trained with a plain backward()
// instead, α would only see the path-wise term — use lbdStep.
import {
  Generator, defaultGenerator, lbdDropout, lbdRegularizer, tensor, sigmoid, mul, reshape,
  type Estimator, type Tensor, type Draw,
} from '../../engine/index.js';
import { DropoutLayer } from './base.js';

export type Granularity = 'unit' | 'channel' | 'layer' | 'shared';

/** One logit shared by several LBD layers (granularity 'shared'); owned by whoever creates it. */
export class SharedLogit {
  readonly alpha: Tensor;
  constructor(initialKeep = 0.5) {
    this.alpha = tensor([logit(initialKeep)], [1]).requireGrad().keep();
  }
}

export interface LBDOptions {
  /** 'unit' (one logit per feature), 'channel' (per channel of [N, C, H, W]; one mask per example
   *  and channel), 'layer' (one logit, a Bernoulli variable per unit), 'shared' (a SharedLogit). */
  granularity?: Granularity;
  /** Features (unit) or channels (channel); required for those granularities and for the regularizer. */
  units?: number;
  shared?: SharedLogit;
  estimator?: Estimator;
  /** y = x ⊙ z / σ(α) (default: evaluation needs no rescaling) or y = x ⊙ z. */
  inverted?: boolean;
  /** Initial keep probability σ(α) (paper: 0.5). */
  initialKeep?: number;
  /** Eq. 3 regularizer: on when datasetSize N is given; prior variance s² (default 1). */
  datasetSize?: number;
  priorVariance?: number;
  generator?: Generator;
  seed?: number;
}

export const logit = (p: number): number => {
  if (!(p > 0 && p < 1)) throw new Error(`LearnableBernoulliDropout: keep probability must be in (0, 1), got ${p}`);
  return Math.log(p / (1 - p));
};

export class LearnableBernoulliDropout extends DropoutLayer {
  readonly kind = 'lbd' as const;
  readonly granularity: Granularity;
  readonly estimator: Estimator;
  readonly inverted: boolean;
  readonly units: number | null;
  /** The logits (a SharedLogit's tensor for granularity 'shared'). */
  readonly alpha: Tensor;
  readonly generator: Generator;
  /** The draw of the last training forward (for checks that redo a pass by hand). */
  lastDraw: Draw | null = null;
  /** When set, the next forwards use this draw and pass instead of a fresh z2 draw. */
  override: { draw: Draw; pass: 1 | 2 } | null = null;
  private readonly datasetSize: number | null;
  private readonly priorVariance: number;

  constructor(o: LBDOptions = {}) {
    super();
    this.granularity = o.granularity ?? 'unit';
    this.estimator = o.estimator ?? 'arm';
    this.inverted = o.inverted ?? true;
    this.units = o.units ?? null;
    if (!['unit', 'channel', 'layer', 'shared'].includes(this.granularity)) {
      throw new Error(`LearnableBernoulliDropout: granularity must be unit, channel, layer or shared; got '${this.granularity}'`);
    }
    if (!['arm', 'disarm'].includes(this.estimator)) throw new Error(`LearnableBernoulliDropout: estimator must be 'arm' or 'disarm', got '${this.estimator}'`);
    if ((this.granularity === 'unit' || this.granularity === 'channel') && !(Number.isInteger(this.units) && this.units! > 0)) {
      throw new Error(`LearnableBernoulliDropout: granularity '${this.granularity}' needs units (the number of ${this.granularity === 'unit' ? 'features' : 'channels'}), got ${o.units}`);
    }
    if (this.granularity === 'shared') {
      if (!o.shared) throw new Error("LearnableBernoulliDropout: granularity 'shared' needs a SharedLogit (option shared)");
      this.alpha = o.shared.alpha;
    } else {
      const L = this.granularity === 'layer' ? 1 : this.units!;
      this.alpha = tensor(new Float32Array(L).fill(logit(o.initialKeep ?? 0.5)), [L]).requireGrad().keep();
    }
    this.datasetSize = o.datasetSize ?? null;
    if (this.datasetSize !== null && !(this.datasetSize > 0)) throw new Error(`LearnableBernoulliDropout: datasetSize must be > 0, got ${o.datasetSize}`);
    this.priorVariance = o.priorVariance ?? 1;
    if (!(this.priorVariance > 0)) throw new Error(`LearnableBernoulliDropout: priorVariance must be > 0, got ${o.priorVariance}`);
    this.generator = o.generator ?? (o.seed !== undefined ? new Generator(o.seed) : defaultGenerator());
  }

  forward(x: Tensor): Tensor {
    if (x.ndim < 2) throw new Error(`LearnableBernoulliDropout: input must be [batch, units, ...], got [${x.shape.join(', ')}]`);
    if (this.units !== null && this.granularity !== 'layer' && this.granularity !== 'shared' && x.shape[1] !== this.units) {
      throw new Error(`LearnableBernoulliDropout: input has ${x.shape[1]} ${this.granularity === 'unit' ? 'features' : 'channels'} (shape [${x.shape.join(', ')}]), the layer was built for ${this.units}`);
    }
    if (this.granularity === 'unit' && x.ndim > 2) throw new Error("LearnableBernoulliDropout: granularity 'unit' takes [batch, features]; use 'channel' for images");
    if (!this.active) return this.inverted ? x : mul(x, this.expandKeep(x));
    const draw = this.override?.draw ?? this.generator.reserve(x.shape[0] * x.shape[1]);
    this.lastDraw = draw;
    return lbdDropout(x, this.alpha, { draw, pass: this.override?.pass ?? 2, scaled: this.inverted, needsEstimator: true });
  }

  /** σ(α) broadcastable against x (plain masks scale by E[z] at evaluation). */
  private expandKeep(x: Tensor): Tensor {
    const p = sigmoid(this.alpha);
    const shape = x.shape.map((d, i) => (i === 1 && this.alpha.size > 1 ? d : 1));
    return reshape(p, shape);
  }

  async keepProbabilities(): Promise<number[]> {
    const a = await this.alpha.data();
    return Array.from(a, (v) => 1 / (1 + Math.exp(-v)));
  }

  /**
   * Eq. 3 divided by N: Σ_k c_w‖W[·,k]‖²/p_k (inverted scaling; p_k‖M[·,k]‖² for plain masks)
   * − (1/N) Σ_units H(p_k), c_w = 1/(2s²N); log-sigmoid forms keep it finite for any α.
   */
  override regularizer(): Tensor | null {
    if (this.datasetSize === null) return null;
    const N = this.datasetSize;
    const next = this.nextWeight();
    const units = this.units ?? (next ? next.weight.shape[next.unitAxis] : null);
    if (units === null) throw new Error('LearnableBernoulliDropout: the regularizer needs units (option) or an attached next weight');
    // one op (engine lbd_regularizer): the entropy and weight terms of every logit in one
    // dispatch, dα and dW in one more on the way back
    const perLogit = this.alpha.size === 1 ? units : 1;
    const c = 1 / (2 * this.priorVariance * N);
    const axis = next ? (next.unitAxis < 0 ? next.unitAxis + next.weight.ndim : next.unitAxis) : 0;
    return lbdRegularizer(this.alpha, next ? next.weight : null, { axis, ent: perLogit / N, c, inverted: this.inverted });
  }
}
