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

  /** The weight this layer's units feed, for regularizers (set by the model, or `attach`). */
  next: NextWeight | null = null;

  attach(weight: Tensor, unitAxis: number): this {
    this.next = { weight, unitAxis };
    return this;
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
