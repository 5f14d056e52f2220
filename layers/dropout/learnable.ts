// What the learnable-rate baselines (GaussianDropout, ConcreteDropout) share: option checks that
// name the option and the value, the rate layout over axis 1, and the unit count K their
// regularizers need.
import { Generator, defaultGenerator, type Tensor } from '../../engine/index.js';
import type { NextWeight } from './base.js';

const fmtShape = (s: readonly number[]): string => `[${s.join(', ')}]`;

export type RateGranularity = 'unit' | 'layer';
/** 'element': one noise value per element; 'channel': per example and channel of [N, C, H, W]. */
export type NoiseShape = 'element' | 'channel';

export interface LearnableCommonOptions {
  /** 'unit': one rate per unit of axis 1 (needs units); 'layer': one rate for the layer. */
  granularity?: RateGranularity;
  /** Features of [N, F] or channels of [N, C, H, W] (required for granularity 'unit'). */
  units?: number;
  /** Initial keep probability 1 − p_drop. */
  initialKeep?: number;
  /** Training-set size N; the regularizer's default coefficients are per N (null without it). */
  datasetSize?: number;
  /** How noise is laid out on [N, C, H, W] inputs (on [N, F] both are per element). */
  noise?: NoiseShape;
  /** Seeds the layer's own generator (stream 0). */
  seed?: number;
  /** A generator to draw from instead (takes precedence over `seed`). */
  generator?: Generator;
}

export class OptionChecker {
  constructor(readonly layer: string, o: object, allowed: readonly string[]) {
    if (typeof o !== 'object' || o === null) throw new Error(`${layer}: options must be an object, got ${String(o)}`);
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) throw new Error(`${layer}: unknown option '${k}' (known: ${allowed.join(', ')})`);
    }
  }

  fail(name: string, want: string, got: unknown): never {
    throw new Error(`${this.layer}: ${name} must be ${want}, got ${typeof got === 'string' ? `'${got}'` : String(got)}`);
  }

  oneOf<T extends string>(name: string, v: unknown, allowed: readonly T[], def: T): T {
    if (v === undefined) return def;
    if (!allowed.includes(v as T)) this.fail(name, allowed.map((a) => `'${a}'`).join(' or '), v);
    return v as T;
  }

  /** A finite number with lo < v < hi (or ≤ hi when hiIncl); undefined gives def. */
  num(name: string, v: unknown, def: number | null, lo: number, hi: number, want: string, hiIncl = false): number | null {
    if (v === undefined) return def;
    const ok = typeof v === 'number' && Number.isFinite(v) && v > lo && (hiIncl ? v <= hi : v < hi);
    if (!ok) this.fail(name, want, v);
    return v as number;
  }

  /** A non-negative finite number (regularizer coefficients). */
  nonNeg(name: string, v: unknown): number | null {
    if (v === undefined) return null;
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) this.fail(name, 'a finite number ≥ 0', v);
    return v as number;
  }

  units(v: unknown, granularity: RateGranularity): number | null {
    if (v === undefined) {
      if (granularity === 'unit') throw new Error(`${this.layer}: granularity 'unit' needs units (the features or channels of axis 1), got undefined; pass units or granularity 'layer'`);
      return null;
    }
    if (!(Number.isSafeInteger(v) && (v as number) >= 1)) this.fail('units', 'an integer ≥ 1', v);
    return v as number;
  }

  generator(o: LearnableCommonOptions): Generator {
    if (o.seed !== undefined && !(Number.isSafeInteger(o.seed) && o.seed >= 0)) this.fail('seed', 'a non-negative safe integer', o.seed);
    if (o.generator !== undefined && !(o.generator instanceof Generator)) this.fail('generator', 'a Generator', o.generator);
    return o.generator ?? (o.seed !== undefined ? new Generator(o.seed) : defaultGenerator());
  }
}

export const COMMON_OPTIONS = ['granularity', 'units', 'initialKeep', 'datasetSize', 'noise', 'seed', 'generator'] as const;

/** Checks x against the layer: [N, C, ...] with C = units when the layer has them. */
export function checkInput(layer: string, x: Tensor, units: number | null): void {
  if (x.ndim < 2) throw new Error(`${layer}: input must be [N, F] or [N, C, H, W] (units on axis 1), got ${fmtShape(x.shape)}`);
  if (units !== null && x.shape[1] !== units) {
    throw new Error(`${layer}: input has ${x.shape[1]} units on axis 1 (shape ${fmtShape(x.shape)}), the layer was built for ${units}`);
  }
}

/** Consecutive elements sharing one noise value for this input. */
export const shareFor = (x: Tensor, noise: NoiseShape): number =>
  (noise === 'channel' ? x.shape.slice(2).reduce((p, d) => p * d, 1) : 1);

/**
 * K, the units the layer's rate covers (a per-layer rate counts every unit): the option, else
 * the attached next weight's unit axis, else axis 1 of the last input; checked for agreement.
 */
export function unitCount(layer: string, units: number | null, next: NextWeight | null, lastUnits: number | null): number {
  const fromNext = next ? next.weight.shape[next.unitAxis] : null;
  if (units !== null && fromNext !== null && fromNext !== units) {
    throw new Error(`${layer}: the attached weight ${fmtShape(next!.weight.shape)} has ${fromNext} units on axis ${next!.unitAxis}, the layer has ${units}`);
  }
  const K = units ?? fromNext ?? lastUnits;
  if (K === null) throw new Error(`${layer}: the regularizer needs the unit count K: pass units, attach the next weight, or run a forward first`);
  return K;
}
