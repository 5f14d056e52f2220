// Other weight draws: the grid study (no trace, no figures) for further seeds, to show which
// findings hold for any random network and which depend on the weights drawn. Concrete's bias
// in particular scales with how much the two units' contributions cancel in the gradient.
import { makeToyModel, type ToyWeights } from './model.js';
import { runGrid } from './grid.js';
import { summarizeGrid, type ToySummary } from './summary.js';
import { concreteExpectedGradient } from './concrete-exact.js';
import { logit } from './sigmoid.js';

export interface SurveyRow { seed: number; weights: ToyWeights; active: [number, number]; gradientRange: [number, number]; summary: ToySummary }

export function surveyRow(seed: number, samples: number, noise: number, estimates: number, temperature: number): SurveyRow {
  const m = makeToyModel({ samples, seed, noise });
  const { grid } = runGrid(m, { estimates, temperature, seed }, () => false);
  const ce = grid.map((g) => concreteExpectedGradient(m, [logit(g.keep[0]), logit(g.keep[1])], temperature));
  const mags = grid.flatMap((g) => g.exact.map(Math.abs));
  return { seed, weights: m.weights, active: m.active, gradientRange: [Math.min(...mags), Math.max(...mags)], summary: summarizeGrid(grid, ce) };
}
