// The grid study: at every pair of keep probabilities, `estimates` independent estimates by
// ARM, DisARM and Concrete (all three from the same u draws), summarised against the exact
// gradient.
import type { ToyModel } from './model.js';
import { exactGradient } from './model.js';
import { logit } from './sigmoid.js';
import { Rng } from './rng.js';
import { toyEstimates, ESTIMATORS, type EstimatorName } from './toy-estimates.js';
import { summarize, type EstimateSummary } from './stats.js';

export const KEEPS = [0.1, 0.3, 0.5, 0.7, 0.9];

export interface GridPoint {
  keep: [number, number];
  exact: [number, number];
  arm: EstimateSummary;
  disarm: EstimateSummary;
  concrete: EstimateSummary;
}

/** Raw estimates at one grid point: est[name][k][j] = estimate j of component k. */
export type RawEstimates = Record<EstimatorName, [Float64Array, Float64Array]>;

export interface GridOptions { estimates: number; temperature: number; seed: number; keeps?: number[] }

/** `count` estimates by each estimator at logits alpha, from a fresh u per estimate. */
export function sampleEstimates(m: ToyModel, alpha: [number, number], count: number, t: number, rng: Rng): RawEstimates {
  const raw = Object.fromEntries(ESTIMATORS.map((e) => [e, [new Float64Array(count), new Float64Array(count)]])) as RawEstimates;
  const u = new Float64Array(2 * m.n), out = new Float64Array(6);
  for (let j = 0; j < count; j++) {
    toyEstimates(m, alpha, rng.fillUniform(u), t, out);
    ESTIMATORS.forEach((e, q) => { raw[e][0][j] = out[2 * q]; raw[e][1][j] = out[2 * q + 1]; });
  }
  return raw;
}

/** One grid point: estimates from the point's own random stream, and their summaries. */
export function gridPoint(m: ToyModel, keep: [number, number], o: GridOptions, stream: number): { point: GridPoint; raw: RawEstimates } {
  const alpha: [number, number] = [logit(keep[0]), logit(keep[1])];
  const exact = exactGradient(m, alpha);
  const raw = sampleEstimates(m, alpha, o.estimates, o.temperature, new Rng(o.seed, stream));
  return {
    point: {
      keep, exact,
      arm: summarize(raw.arm, exact), disarm: summarize(raw.disarm, exact), concrete: summarize(raw.concrete, exact),
    },
    raw,
  };
}

/** The whole grid, p1 outer and p2 inner; `keepRaw` chooses the points whose raw estimates are returned. */
export function runGrid(m: ToyModel, o: GridOptions, keepRaw: (keep: [number, number]) => boolean,
  onPoint?: (done: number, total: number) => void): { grid: GridPoint[]; raw: { keep: [number, number]; estimates: RawEstimates }[] } {
  const keeps = o.keeps ?? KEEPS;
  const grid: GridPoint[] = [], raw: { keep: [number, number]; estimates: RawEstimates }[] = [];
  const total = keeps.length ** 2;
  keeps.forEach((p1, a) => keeps.forEach((p2, b) => {
    const keep: [number, number] = [p1, p2];
    const r = gridPoint(m, keep, o, 1000 + a * keeps.length + b);
    grid.push(r.point);
    if (keepRaw(keep)) raw.push({ keep, estimates: r.raw });
    onPoint?.(grid.length, total);
  }));
  return { grid, raw };
}
