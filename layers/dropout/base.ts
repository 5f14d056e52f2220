// The one interface every dropout kind implements, so models take "a dropout layer" and never
// know which kind they got (docs/architecture.md, adding a dropout kind).
import { add, type Tensor } from '../../engine/index.js';
import { Module } from '../module.js';

export type DropoutKind = 'dropout' | 'mc' | 'gaussian' | 'concrete' | 'lbd';

/**
 * Where a dropout layer's units go: the weight of the layer that consumes its output, and the
 * axis of that weight indexed by the dropout's units (Linear stores [in, out]: axis 0;
 * Conv2d [Co, Ci, kh, kw]: axis 1). Regularizers that penalise ‖W[·, k]‖² need it.
 */
export interface NextWeight { weight: Tensor; unitAxis: number }

/**
 * Every kind is multiplicative noise, y = x ⊙ m (scaled masks, Gaussian or relaxed factors), so
 * zeros stay zeros: the recommenders rely on it to read their sparse input rows through its
 * nonzero pattern (Linear.forwardSparse). A kind that adds noise must not go into that slot.
 */
export abstract class DropoutLayer extends Module {
  abstract readonly kind: DropoutKind;

  /** Whether noise is also applied in eval mode (MC dropout, and every kind with mcSamples). */
  sampleAtEval = false;

  /** The weight this layer's units feed, for regularizers (set by `attach`, or by a Sequential). */
  next: NextWeight | null = null;

  /** Set by `attach(null)`: the units feed no single weight, so regularizers keep only their weight-free terms. */
  private noNextWeight = false;

  /**
   * Names the weight this layer's units feed and the axis of that weight indexed by the units
   * (Linear [in, out]: 0; Conv2d [Co, Ci, kh, kw]: 1), for the weight term of LBD's Eq. 3 and
   * Concrete dropout's regularizer. A Sequential does it for a dropout layer followed (through
   * activations) by a Linear or Conv2d. `attach(null)` says there is no such weight (e.g. the
   * output feeds a concatenation read by several layers): the weight term is then left out.
   */
  attach(weight: Tensor | null, unitAxis = 0): this {
    if (weight === null) { this.next = null; this.noNextWeight = true; return this; }
    const axis = unitAxis < 0 ? unitAxis + weight.ndim : unitAxis;
    if (!(axis >= 0 && axis < weight.ndim)) throw new Error(`${this.constructor.name}.attach: unitAxis ${unitAxis} is not an axis of the weight [${weight.shape.join(', ')}]`);
    this.next = { weight, unitAxis: axis };
    this.noNextWeight = false;
    return this;
  }

  /** Whether attach() was called (with a weight or with null). */
  get attached(): boolean { return this.next !== null || this.noNextWeight; }

  /**
   * The attached weight for a regularizer's weight term; a regularizer that has one calls this,
   * so a layer nobody attached fails with what to do instead of silently dropping the term.
   */
  protected nextWeight(): NextWeight | null {
    if (this.attached) return this.next;
    throw new Error(`${this.constructor.name}: its regularizer's weight term needs the weight this layer's units feed — build the layer in a Sequential right before a Linear or Conv2d (activations may sit between), or call .attach(nextLayer.weight, unitAxis) (Linear: 0, Conv2d: 1); .attach(null) leaves the weight term out`);
  }

  /** True when the forward should draw noise now. */
  protected get active(): boolean { return this.training || this.sampleAtEval; }

  /** Current keep probabilities (one per logit / unit / layer); read back from the GPU. */
  abstract keepProbabilities(): Promise<number[]>;

  /** This layer's regularizer as a scalar tensor (coefficients applied), or null if it has none. */
  regularizer(): Tensor | null { return null; }
}

/** The sum of the layers' regularizers (a scalar tensor), or null when none has one. */
export function sumRegularizers(drops: readonly DropoutLayer[]): Tensor | null {
  let r: Tensor | null = null;
  for (const d of drops) { const t = d.regularizer(); if (t) r = r ? add(r, t) : t; }
  return r;
}
