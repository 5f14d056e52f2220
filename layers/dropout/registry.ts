// The one table of dropout kinds every task builds from: kind → constructor, label, what it
// learns, and one name per kind. Before it, each task carried its own switch and the copies had
// drifted (Gaussian dropout's keep probability was clamped to its a ≤ 1 range in three tasks but
// not in segment; plain dropout was `dropout` in mnist and `regular` elsewhere).
//
// Names: `regular` is plain inverted Bernoulli dropout (the layer class's own `kind` field says
// 'dropout'; `registryName` maps a layer back to its name here). `mc` is the same layer also
// sampling at evaluation.
import type { Generator } from '../../engine/index.js';
import type { DropoutLayer } from './base.js';
import { Dropout, MCDropout } from './dropout.js';
import { GaussianDropout } from './gaussian.js';
import { ConcreteDropout } from './concrete.js';
import { LearnableBernoulliDropout } from './lbd.js';

export const DROPOUT_NAMES = ['regular', 'mc', 'gaussian', 'concrete', 'lbd'] as const;
export type DropoutName = (typeof DROPOUT_NAMES)[number];

/** What every kind may be built from (each kind reads the fields it needs). */
export interface DropoutSpec {
  /** Drop rate (initial drop rate of the learnable kinds). */
  rate: number;
  /** Features of [N, F] or channels of [N, C, H, W] (the learnable kinds' per-unit parameters). */
  units: number;
  /** Training-set size N: sets the learnable kinds' regularizer coefficients (1/N, Eq. 3). */
  datasetSize: number;
  generator: Generator;
  /** Per unit or one parameter per layer (gaussian, concrete, lbd; each kind's default otherwise). */
  granularity?: 'unit' | 'layer';
  /** Noise per element, or per example and channel (gaussian, concrete). */
  noise?: 'element' | 'channel';
  /** LBD's gradient estimator. */
  estimator?: 'arm' | 'disarm';
  /** LBD: false drops the Eq. 3 regularizer on the logits (no datasetSize passed). Default true. */
  lbdRegularizer?: boolean;
}

export interface DropoutEntry {
  /** Tables and figures. */
  label: string;
  /** Whether the kind has parameters of its own (keep probabilities that move). */
  learnable: boolean;
  /** Whether evaluation samples masks (S passes) rather than one deterministic pass. */
  stochasticEval: boolean;
  /** The DropoutSpec fields the constructor reads, beyond rate and generator. */
  options: readonly (keyof DropoutSpec)[];
  create(s: DropoutSpec): DropoutLayer;
}

/**
 * Gaussian dropout's initial keep probability: 1 − rate, clamped to 0.5 because its noise
 * variance a = (1 − keep)/keep is capped at 1 (GaussianDropout refuses keep < 0.5).
 */
export const gaussianInitialKeep = (rate: number): number => Math.max(0.5, 1 - rate);

export const DROPOUT_REGISTRY: Record<DropoutName, DropoutEntry> = {
  regular: { label: 'Regular dropout', learnable: false, stochasticEval: false, options: [], create: (s) => new Dropout(s.rate, { generator: s.generator }) },
  mc: { label: 'MC dropout', learnable: false, stochasticEval: true, options: [], create: (s) => new MCDropout(s.rate, { generator: s.generator }) },
  gaussian: {
    label: 'Gaussian', learnable: true, stochasticEval: true, options: ['units', 'datasetSize', 'granularity', 'noise'],
    create: (s) => new GaussianDropout({ units: s.units, initialKeep: gaussianInitialKeep(s.rate), datasetSize: s.datasetSize, generator: s.generator, ...(s.granularity ? { granularity: s.granularity } : {}), ...(s.noise ? { noise: s.noise } : {}) }),
  },
  concrete: {
    label: 'Concrete', learnable: true, stochasticEval: true, options: ['units', 'datasetSize', 'granularity', 'noise'],
    create: (s) => new ConcreteDropout({ units: s.units, initialKeep: 1 - s.rate, datasetSize: s.datasetSize, generator: s.generator, ...(s.granularity ? { granularity: s.granularity } : {}), ...(s.noise ? { noise: s.noise } : {}) }),
  },
  lbd: {
    label: 'LBD', learnable: true, stochasticEval: true, options: ['units', 'datasetSize', 'granularity', 'estimator', 'lbdRegularizer'],
    create: (s) => new LearnableBernoulliDropout({
      units: s.units, initialKeep: 1 - s.rate, generator: s.generator, granularity: s.granularity ?? 'unit', estimator: s.estimator ?? 'arm',
      ...(s.lbdRegularizer === false ? {} : { datasetSize: s.datasetSize }),
    }),
  },
};

export const isDropoutName = (v: unknown): v is DropoutName => typeof v === 'string' && (DROPOUT_NAMES as readonly string[]).includes(v);

/** Builds a layer of the named kind. */
export function createDropout(name: DropoutName, s: DropoutSpec): DropoutLayer {
  if (!isDropoutName(name)) throw new Error(`unknown dropout kind '${String(name)}' (known: ${DROPOUT_NAMES.join(', ')})`);
  return DROPOUT_REGISTRY[name].create(s);
}

/** The display label of a kind (the name itself for anything not in the registry). */
export const dropoutLabel = (name: string): string => (isDropoutName(name) ? DROPOUT_REGISTRY[name].label : name);

/** A layer's registry name (its class says 'dropout' for plain dropout). */
export const registryName = (d: DropoutLayer): DropoutName => (d.kind === 'dropout' ? 'regular' : d.kind);

/**
 * A user's list of kinds: comma-separated names or `all`; `extra` adds names such as 'none'.
 * Throws one line naming the option and the bad value (and the new name of the old `dropout`).
 */
export function parseDropoutNames<E extends string = never>(text: string, option = '--dropout', extra: readonly E[] = []): (DropoutName | E)[] {
  if (text.trim() === 'all') return [...DROPOUT_NAMES];
  const known = [...DROPOUT_NAMES, ...extra] as string[];
  const out = text.split(',').map((s) => s.trim());
  for (const k of out) {
    if (k === 'dropout' && !known.includes(k)) throw new Error(`${option}: plain dropout is called 'regular' (one name per kind); got 'dropout'`);
    if (!known.includes(k)) throw new Error(`${option} must be one of ${known.join(', ')} (comma-separated) or all; got '${k}'`);
  }
  if (new Set(out).size !== out.length) throw new Error(`${option} lists a kind twice: '${text}'`);
  return out as (DropoutName | E)[];
}
