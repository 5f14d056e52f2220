// What the collaborative-filtering VAEs share (the paper §2.3; Liang et al. 2018): the
// Recommender interface the task uses for every Table 2 row, the input pipeline
// (L2 normalisation, then the input-dropout slot, which takes any DropoutLayer), the encoder
// [I → hidden → 2·latent] and decoder [latent → hidden → I] with tanh between (in the first
// product's epilogue), the
// multinomial log-likelihood, and diagonal-Gaussian log densities.
import {
  multinomialLogLik as engineMultinomialLogLik, l2Normalize, Generator, defaultGenerator, sum, mul, add, sub, exp, square, slice, affine, reshape,
  fmtShape, type RowPattern, type Tensor,
} from '../../engine/index.js';
import { Module } from '../../layers/module.js';
import { Linear } from '../../layers/linear.js';
import type { DropoutLayer } from '../../layers/dropout/base.js';

export type RecommenderKind = 'vae' | 'dae' | 'sivae' | 'vampprior' | 'iaf';

/** What the task needs from every model of Table 2. */
export interface Recommender extends Module {
  readonly kind: RecommenderKind;
  readonly items: number;
  /** The input-dropout slot (any kind), or null. Its parameters are among the model's. */
  readonly dropout: DropoutLayer | null;
  /**
   * Per-example objective [B] for binary rows x [B, items] in the current mode (training:
   * sampled masks and ε; eval: dropout at its expectation, z = μ). β weighs the KL term
   * (ignored by the DAE). Use with lbdStep (LBD) or mean + backward (every other kind).
   * `rows`: x's nonzero pattern (the CSR batch x was densified from). With it the first layer
   * reads only those entries — nnz·hidden multiply-adds instead of B·items·hidden, and the same
   * for its weight gradient; entries of x outside the pattern are taken as zero. Exact: L2
   * normalisation and every dropout kind (multiplicative noise) keep zeros zero.
   */
  perExampleLoss(x: Tensor, beta: number, rows?: RowPattern | null): Tensor;
  /** Ranking logits [B, items]: eval mode (dropout at expectation, z = μ), mode restored after. */
  scores(x: Tensor, rows?: RowPattern | null): Tensor;
}

export interface RecommenderOptions {
  items: number;
  /** Hidden width of encoder and decoder (default 600). */
  hidden?: number;
  /** Latent dimension (default 200). */
  latent?: number;
  /** The input-dropout slot: any DropoutLayer over `items` features, or null (default). */
  dropout?: DropoutLayer | null;
  /** Weight initialisation (and, unless `noiseGenerator` is given, ε). Default: the process-wide one. */
  generator?: Generator;
  /** Where ε comes from (default: `generator`). */
  noiseGenerator?: Generator;
}

const LOG_2PI = Math.log(2 * Math.PI);

/** Xavier-uniform weights and N(0, 0.001²) biases, as the Mult-VAE code. */
export function xavierLinear(inF: number, outF: number, g: Generator): Linear {
  const l = new Linear(inF, outF, { init: 'xavier-uniform', generator: g });
  l.bias!.dispose();
  l.bias = g.normal([outF], 0, 0.001).requireGrad().keep();
  return l;
}

/** Rows scaled to unit L2 norm (an all-zero row stays zero): the engine's fused l2_normalize. */
export function l2Normalise(x: Tensor): Tensor {
  return l2Normalize(x);
}

/** Σ_j x_j log softmax(logits)_j per row: [B] (one fused op each way: engine's multinomial_log_lik). */
export function multinomialLogLik(logits: Tensor, x: Tensor): Tensor {
  return engineMultinomialLogLik(logits, x);
}

/** log N(z; μ, diag exp(logvar)) summed over the last axis (broadcasting z against μ). */
export function logNormal(z: Tensor, mu: Tensor, logvar: Tensor): Tensor {
  const d2 = mul(square(sub(z, mu)), exp(mul(logvar, -1)));
  const L = z.shape[z.ndim - 1];
  return affine(sum(add(d2, logvar), -1), -0.5, -0.5 * L * LOG_2PI);
}

/** log N(z; 0, I) summed over the last axis. */
export function logStdNormal(z: Tensor): Tensor {
  const L = z.shape[z.ndim - 1];
  return affine(sum(square(z), -1), -0.5, -0.5 * L * LOG_2PI);
}

function checkSize(what: string, v: unknown, def: number): number {
  if (v === undefined) return def;
  if (!(Number.isSafeInteger(v) && (v as number) >= 1)) throw new Error(`${what} must be an integer ≥ 1, got ${String(v)}`);
  return v as number;
}

/**
 * The shared body: input pipeline, encoder, decoder. Subclasses define the latent model
 * (perExampleLoss) and may change the latent used for ranking (latentForScores).
 */
export abstract class CFModel extends Module implements Recommender {
  abstract readonly kind: RecommenderKind;
  readonly items: number;
  readonly hidden: number;
  readonly latent: number;
  readonly dropout: DropoutLayer | null;
  readonly enc1: Linear;
  readonly enc2: Linear;
  readonly dec1: Linear;
  readonly dec2: Linear;
  readonly noise: Generator;
  /** The generator the weights came from (subclasses draw their extra parameters from it). */
  protected readonly init: Generator;
  // private fields are not walked by Module (not a parameter, not a buffer)
  #fixedEps: Tensor | null = null;

  /** encOut: 2·latent (μ and log σ²), or latent (DAE). */
  protected constructor(o: RecommenderOptions, encOut: 'gaussian' | 'point') {
    super();
    if (typeof o !== 'object' || o === null) throw new Error(`recommender: options must be an object, got ${String(o)}`);
    if (o.items === undefined) throw new Error('recommender: items (the number of items I) is required');
    this.items = checkSize('recommender: items', o.items, 0);
    this.hidden = checkSize('recommender: hidden', o.hidden, 600);
    this.latent = checkSize('recommender: latent', o.latent, 200);
    const g = o.generator ?? defaultGenerator();
    this.init = g;
    this.noise = o.noiseGenerator ?? g;
    this.dropout = o.dropout ?? null;
    this.enc1 = xavierLinear(this.items, this.hidden, g);
    this.enc2 = xavierLinear(this.hidden, encOut === 'gaussian' ? 2 * this.latent : this.latent, g);
    this.dec1 = xavierLinear(this.latent, this.hidden, g);
    this.dec2 = xavierLinear(this.hidden, this.items, g);
    // the dropout's units feed enc1's rows (Linear stores [in, out]): for Eq. 3-style regularizers
    this.dropout?.attach(this.enc1.weight, 0);
  }

  abstract perExampleLoss(x: Tensor, beta: number, rows?: RowPattern | null): Tensor;

  /** Checks x [B, items] (and its row pattern, if given). */
  protected check(x: Tensor, rows?: RowPattern | null): number {
    if (x.ndim !== 2 || x.shape[1] !== this.items) {
      throw new Error(`${this.kind}: input must be [batch, ${this.items}] (binary item rows), got ${fmtShape(x.shape)}`);
    }
    if (rows && (rows.rows !== x.shape[0] || rows.cols !== this.items)) throw new Error(`${this.kind}: ${rows} does not fit the input ${fmtShape(x.shape)}`);
    return x.shape[0];
  }

  /** L2-normalised rows through the dropout slot. */
  protected input(xn: Tensor): Tensor {
    return this.dropout ? this.dropout.forward(xn) : xn;
  }

  /** Encoder output [N, 2·latent] (or [N, latent]) from the (dropped-out) input and its row pattern. */
  protected encodeRaw(h: Tensor, rows?: RowPattern | null): Tensor {
    return this.enc2.forward(rows ? this.enc1.forwardSparse(h, rows, 'tanh') : this.enc1.forwardAct(h, 'tanh'));
  }

  /** μ and log σ² [N, latent] of q(z | input). */
  encode(h: Tensor, rows?: RowPattern | null): { mu: Tensor; logvar: Tensor } {
    const o = this.encodeRaw(h, rows);
    const N = o.shape[0], L = this.latent;
    return { mu: slice(o, [0, 0], [N, L]), logvar: slice(o, [0, L], [N, 2 * L]) };
  }

  /** Decoder logits [N, items]. */
  decode(z: Tensor): Tensor {
    return this.dec2.forward(this.dec1.forwardAct(z, 'tanh'));
  }

  /** ε [B, latent] for this step: a fresh N(0, I) draw, or the fixed one (tests). */
  protected epsilon(B: number): Tensor {
    return this.#fixedEps ?? this.noise.normal([B, this.latent]);
  }

  /** epsilon(B) as gaussian_sample takes it: [B, latent], or one shared row [latent]. */
  protected epsilonFor(B: number): Tensor {
    const e = this.epsilon(B);
    if (e.ndim === 2 && e.shape[0] === B) return e;
    if (e.size === this.latent) return reshape(e, [this.latent]);
    throw new Error(`${this.kind}: ε ${fmtShape(e.shape)} does not fit [${B}, ${this.latent}]`);
  }

  /**
   * For tests: use this ε (broadcastable to [B, latent]) instead of fresh draws; null restores
   * sampling. The caller keeps ownership.
   */
  setEpsilon(eps: Tensor | null): void {
    if (eps && eps.shape[eps.ndim - 1] !== this.latent) throw new Error(`setEpsilon: ε must end in ${this.latent}, got ${fmtShape(eps.shape)}`);
    this.#fixedEps = eps;
  }

  /** z = μ + exp(½ logvar) ⊙ ε in training, μ at evaluation; with ε for the density. */
  protected sample(mu: Tensor, logvar: Tensor): Tensor {
    if (!this.training) return mu;
    return add(mu, mul(exp(mul(logvar, 0.5)), this.epsilon(mu.shape[0])));
  }

  /** The latent used for ranking, from the deterministic input (default: μ). */
  protected latentForScores(h: Tensor, rows?: RowPattern | null): Tensor {
    return this.encode(h, rows).mu;
  }

  /** Logits in the current mode with the latent at its mean (no ε). */
  forward(x: Tensor): Tensor { return this.logits(x, null); }

  /** forward(x), reading x's first layer through its row pattern when given. */
  logits(x: Tensor, rows: RowPattern | null): Tensor {
    this.check(x, rows);
    return this.decode(this.latentForScores(this.input(l2Normalise(x)), rows));
  }

  scores(x: Tensor, rows?: RowPattern | null): Tensor {
    const modes = this.modules().map((m) => m.training);
    this.eval();
    try {
      return this.logits(x, rows ?? null);
    } finally {
      this.modules().forEach((m, i) => { m.training = modes[i]; });
    }
  }
}
