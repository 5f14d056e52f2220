// What the grid shows, in counts: is each estimator's bias within noise (|z| ≤ 3, ≤ 4)? Where is
// Concrete's bias visible (|z| > 6)? How often is DisARM's MSE at most ARM's? Counts are given
// per component (2 per grid point) and per grid point (both components).
import type { GridPoint } from './grid.js';
import { ESTIMATORS, type EstimatorName } from './toy-estimates.js';
import { zScores } from './stats.js';

export interface EstimatorCounts {
  /** points: grid points where both components pass */
  within3: { components: number; points: number };
  within4: { components: number; points: number };
  /** points: grid points where either component is visibly biased */
  visible6: { components: number; points: number };
  maxAbsZ: number;
  /** max over components of |bias| / |exact|, among components with |exact| ≥ REL_FLOOR × the grid's largest |exact| */
  maxRelBias: number;
  /** max over components of |bias| */
  maxAbsBias: number;
}

export interface ToySummary {
  points: number;
  components: number;
  estimators: Record<EstimatorName, EstimatorCounts>;
  disarmVsArm: {
    mseLeq: { components: number; points: number };
    varLeq: { components: number; points: number };
    /** DisARM variance / ARM variance at keep (½, ½), and the extremes (0.1, 0.1) and (0.9, 0.9). */
    varRatio: { keep: [number, number]; ratio: [number, number] }[];
  };
  /** The paper's claim: LBD (ARM / DisARM) has lower MSE than Concrete. */
  versusConcrete: { armMseLeq: { components: number; points: number }; disarmMseLeq: { components: number; points: number } };
  /** Concrete's exact mean (quadrature) against the exact gradient: |bias| / |exact| (where sizable), and max |bias|. */
  concreteExactRelBias?: { max: number; median: number; maxAbs: number };
}

/** Components passing `test`, and grid points where both (mode 'all') or either ('any') pass. */
export function countBy(grid: GridPoint[], test: (i: number, k: number) => boolean, mode: 'all' | 'any' = 'all'): { components: number; points: number } {
  let components = 0, points = 0;
  grid.forEach((_, i) => {
    const ok = [test(i, 0), test(i, 1)];
    components += ok.filter(Boolean).length;
    if (mode === 'all' ? ok[0] && ok[1] : ok[0] || ok[1]) points++;
  });
  return { components, points };
}

/**
 * Relative biases are taken only where the exact gradient is at least this share of the grid's
 * largest |exact| (a gradient that changes sign inside the grid is near 0 somewhere).
 */
export const REL_FLOOR = 0.1;

export function summarizeGrid(grid: GridPoint[], concreteExact?: [number, number][]): ToySummary {
  const big = Math.max(...grid.flatMap((g) => g.exact.map(Math.abs)));
  const sizable = (v: number): boolean => Math.abs(v) >= REL_FLOOR * big;
  const z = grid.map((g) => Object.fromEntries(ESTIMATORS.map((e) => [e, zScores(g[e])])) as Record<EstimatorName, number[]>);
  const estimators = Object.fromEntries(ESTIMATORS.map((e) => [e, {
    within3: countBy(grid, (i, k) => Math.abs(z[i][e][k]) <= 3),
    within4: countBy(grid, (i, k) => Math.abs(z[i][e][k]) <= 4),
    visible6: countBy(grid, (i, k) => Math.abs(z[i][e][k]) > 6, 'any'),
    maxAbsZ: Math.max(...z.flatMap((r) => r[e].map(Math.abs))),
    maxRelBias: Math.max(...grid.flatMap((g) => g[e].bias.flatMap((b, k) => (sizable(g.exact[k]) ? [Math.abs(b / g.exact[k])] : [])))),
    maxAbsBias: Math.max(...grid.flatMap((g) => g[e].bias.map(Math.abs))),
  }])) as Record<EstimatorName, EstimatorCounts>;
  const varRatio = [[0.5, 0.5], [0.1, 0.1], [0.9, 0.9]].flatMap(([p1, p2]) => {
    const g = grid.find((q) => Math.abs(q.keep[0] - p1) < 1e-9 && Math.abs(q.keep[1] - p2) < 1e-9);
    return g ? [{ keep: g.keep, ratio: g.disarm.std.map((s, k) => (s / g.arm.std[k]) ** 2) as [number, number] }] : [];
  });
  const out: ToySummary = {
    points: grid.length,
    components: 2 * grid.length,
    estimators,
    disarmVsArm: {
      mseLeq: countBy(grid, (i, k) => grid[i].disarm.mse[k] <= grid[i].arm.mse[k]),
      varLeq: countBy(grid, (i, k) => grid[i].disarm.std[k] <= grid[i].arm.std[k]),
      varRatio,
    },
    versusConcrete: {
      armMseLeq: countBy(grid, (i, k) => grid[i].arm.mse[k] <= grid[i].concrete.mse[k]),
      disarmMseLeq: countBy(grid, (i, k) => grid[i].disarm.mse[k] <= grid[i].concrete.mse[k]),
    },
  };
  if (concreteExact) {
    const rel = grid.flatMap((g, i) => [0, 1].flatMap((k) => (sizable(g.exact[k]) ? [Math.abs((concreteExact[i][k] - g.exact[k]) / g.exact[k])] : []))).sort((a, b) => a - b);
    const abs = grid.flatMap((g, i) => [0, 1].map((k) => Math.abs(concreteExact[i][k] - g.exact[k])));
    out.concreteExactRelBias = { max: rel[rel.length - 1], median: rel[Math.floor(rel.length / 2)], maxAbs: Math.max(...abs) };
  }
  return out;
}
