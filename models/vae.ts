// Collaborative-filtering VAEs (issue 7; the paper §2.3, §3.3, Table 2):
// Mult-VAE, Mult-DAE, SIVAE (the input dropout as the implicit mixing layer), VAE with the
// VampPrior and VAE with inverse autoregressive flow, all behind one Recommender interface and
// one input-dropout slot that takes any dropout kind. The pieces live in models/vae/.
import { MultVAE, MultDAE, SIVAE, type MultVAEOptions, type SIVAEOptions } from './vae/basic.js';
import { VampPriorVAE, type VampPriorOptions } from './vae/vampprior.js';
import { IAFVAE, type IAFOptions } from './vae/iaf.js';
import type { Recommender, RecommenderKind } from './vae/common.js';

export * from './vae/common.js';
export * from './vae/basic.js';
export * from './vae/vampprior.js';
export * from './vae/iaf.js';

/** Every kind's options in one object (each kind reads its own: V sivae, K vampprior, T iaf, kl vae). */
export type AnyRecommenderOptions = MultVAEOptions & SIVAEOptions & VampPriorOptions & IAFOptions;

export const RECOMMENDER_KINDS: readonly RecommenderKind[] = ['vae', 'dae', 'sivae', 'vampprior', 'iaf'];

/** One of the Table 2 models; `dropout` is the input-dropout slot (any kind) or null. */
export function recommender(kind: RecommenderKind, o: AnyRecommenderOptions): Recommender {
  switch (kind) {
    case 'vae': return new MultVAE(o);
    case 'dae': return new MultDAE(o);
    case 'sivae': return new SIVAE(o);
    case 'vampprior': return new VampPriorVAE(o);
    case 'iaf': return new IAFVAE(o);
    default: throw new Error(`recommender: kind must be one of ${RECOMMENDER_KINDS.join(', ')}; got '${String(kind)}'`);
  }
}
