// Plain (inverted) Bernoulli dropout: active only in training mode; each call reserves a fresh
// Philox draw from the layer's generator, so masks differ between calls and are regenerated
// (never stored) in the backward pass.
import { Generator, defaultGenerator, dropout, type Tensor } from '../../engine/index.js';
import { DropoutLayer } from './base.js';

export interface DropoutOptions {
  /** Seeds the layer's own generator (stream 0). */
  seed?: number;
  /** A generator to draw from instead (takes precedence over `seed`). */
  generator?: Generator;
}

export class Dropout extends DropoutLayer {
  readonly kind: 'dropout' | 'mc' = 'dropout';
  /** Where the masks come from: `generator`, else a new Generator(seed), else the process-wide one. */
  readonly generator: Generator;
  constructor(readonly p = 0.5, o: DropoutOptions = {}) {
    super();
    if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new Error(`Dropout: p must be a number in [0, 1], got ${String(p)}`);
    this.generator = o.generator ?? (o.seed !== undefined ? new Generator(o.seed) : defaultGenerator());
  }

  /** Identity in eval mode (or with p = 0): returns x itself, as torch.nn.Dropout. */
  forward(x: Tensor): Tensor {
    if (!this.active || this.p === 0) return x;
    return dropout(x, this.p, this.generator.reserve(x.size));
  }

  async keepProbabilities(): Promise<number[]> { return [1 - this.p]; }
}

/** MC dropout (Gal & Ghahramani 2016): the same masks, also drawn at evaluation. */
export class MCDropout extends Dropout {
  override readonly kind = 'mc' as const;
  constructor(p = 0.5, o: DropoutOptions = {}) {
    super(p, o);
    this.sampleAtEval = true;
  }
}
