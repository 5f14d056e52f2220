// DIR/index.html: the settings, the summary, the figures and a results table, self-contained
// apart from the SVG files beside it.
import type { GridPoint } from './grid.js';
import { REL_FLOOR, type ToySummary } from './summary.js';
import type { ToyWeights } from './model.js';
import { ESTIMATORS } from './toy-estimates.js';
import { zScores } from './stats.js';
import { LABEL } from './figures.js';
import type { SurveyRow } from './survey.js';

export interface HtmlInput {
  seed: number;
  settings: Record<string, unknown>;
  weights: ToyWeights;
  active: [number, number];
  grid: GridPoint[];
  concreteExpected: [number, number][];
  summary: ToySummary;
  survey: SurveyRow[];
  figures: { file: string; caption: string }[];
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const e2 = (v: number): string => v.toExponential(2);
const f = (v: number, d = 1): string => v.toFixed(d);

function surveyTable(rows: SurveyRow[]): string {
  const body = rows.map((r) => {
    const s = r.summary, C = s.components, P = s.points, e = s.estimators;
    return `<tr><td>${r.seed}</td><td>${r.weights.w1.map((v) => f(v, 2)).join(', ')}</td><td>${r.weights.w2.map((v) => f(v, 2)).join(', ')}</td>` +
      `<td>${r.active.map((v) => f(100 * v, 0) + '%').join(', ')}</td><td>${e2(r.gradientRange[0])} … ${e2(r.gradientRange[1])}</td>` +
      `<td>${e.arm.within3.components}/${C}</td><td>${e.disarm.within3.components}/${C}</td><td>${e.concrete.visible6.points}/${P}</td>` +
      `<td>${f(100 * s.concreteExactRelBias!.median)}% / ${f(100 * s.concreteExactRelBias!.max)}%</td><td>${s.disarmVsArm.mseLeq.components}/${C}</td>` +
      `<td>${s.disarmVsArm.varRatio[0]?.ratio.map((v) => f(v, 2)).join(' / ') ?? ''}</td></tr>`;
  }).join('\n');
  return `<h2>Other weight draws</h2>
<p>The same grid study (no trace, no figures) with the weights, data and u drawn from other seeds.</p>
<table><tr><th>seed</th><th>w1</th><th>w2</th><th>active</th><th>|exact gradient|</th><th>ARM |z| ≤ 3</th><th>DisARM |z| ≤ 3</th>
<th>Concrete |z| &gt; 6 (points)</th><th>Concrete exact-mean bias, median / max*</th><th>DisARM MSE ≤ ARM</th><th>var ratio at keep ½</th></tr>
${body}</table>`;
}

export function indexHtml(o: HtmlInput): string {
  const s = o.summary, C = s.components, P = s.points;
  const w = o.weights;
  const line = (e: (typeof ESTIMATORS)[number]): string => {
    const q = s.estimators[e];
    return `<tr><td>${LABEL[e]}</td><td>${q.within3.components}/${C}</td><td>${q.within4.components}/${C}</td>` +
      `<td>${q.within3.points}/${P}</td><td>${q.visible6.components}/${C}</td><td>${q.visible6.points}/${P}</td><td>${f(q.maxAbsZ)}</td><td>${e2(q.maxAbsBias)}</td><td>${f(100 * q.maxRelBias)}%</td></tr>`;
  };
  const rows = o.grid.flatMap((g, i) => [0, 1].map((k) => {
    const cells = ESTIMATORS.map((e) => {
      const z = zScores(g[e])[k];
      const cls = Math.abs(z) > 6 ? ' class="bad"' : Math.abs(z) > 3 ? ' class="warn"' : '';
      return `<td>${e2(g[e].mean[k])}</td><td>${e2(g[e].std[k])}</td><td${cls}>${f(z)}</td><td>${e2(g[e].mse[k])}</td>`;
    }).join('');
    return `<tr><td>${g.keep[0]}</td><td>${g.keep[1]}</td><td>α${k + 1}</td><td>${e2(g.exact[k])}</td><td>${e2(o.concreteExpected[i][k])}</td>${cells}</tr>`;
  })).join('\n');
  const ratios = s.disarmVsArm.varRatio.map((r) => `keep (${r.keep.join(', ')}): ${r.ratio.map((v) => f(v, 3)).join(' / ')}`).join('; ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Toy gradient study (LBD §3.1)</title>
<style>
body { font-family: sans-serif; max-width: 1300px; margin: 2em auto; padding: 0 1em; color: #222 }
table { border-collapse: collapse; font-size: 12px; margin: 1em 0 }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: right }
th { background: #f3f3f3 } .bad { background: #f8c4c4 } .warn { background: #fbe8b0 }
figure { margin: 1.5em 0 } figcaption { font-size: 13px; color: #555 } img { max-width: 100% }
code { background: #f3f3f3; padding: 0 3px }
</style></head><body>
<h1>Toy gradient study (Boluki et al. 2020, §3.1, Fig. 1)</h1>
<p>Float64 CPU simulation: 1 input, 2 hidden ReLU units with plain Bernoulli masks z<sub>k</sub> ~ Ber(σ(α<sub>k</sub>)),
squared error averaged over ${o.settings.samples} samples (x ~ N(0, 1), y from the same network without ReLU and masks,
plus N(0, ${o.settings.noise}²) noise). Exact gradients by enumerating the four masks. ${o.settings.estimates} estimates per grid
point; ARM, DisARM and Concrete (t = ${o.settings.temperature}) read the same u draws (one u per sample and unit).
Seed ${o.seed}. Weights: w1 = (${w.w1.map((v) => f(v, 3)).join(', ')}), b1 = (${w.b1.map((v) => f(v, 3)).join(', ')}),
w2 = (${w.w2.map((v) => f(v, 3)).join(', ')}), b2 = ${f(w.b2, 3)}; units active on ${o.active.map((v) => f(100 * v) + '%').join(' and ')} of the samples.
Settings: <code>${esc(JSON.stringify(o.settings))}</code>. Data: <a href="toy.json">toy.json</a>, <a href="report.json">report.json</a>.</p>
<h2>Summary</h2>
<p>z = (mean − exact) / max(std/√n, ${o.settings.seFloor}) per component (${C} components = 2 logits × ${P} grid points).</p>
<table><tr><th>estimator</th><th>|z| ≤ 3 (components)</th><th>|z| ≤ 4 (components)</th><th>both |z| ≤ 3 (points)</th>
<th>|z| &gt; 6 (components)</th><th>|z| &gt; 6 (points, either)</th><th>max |z|</th><th>max |bias|</th><th>max |bias| / |exact|*</th></tr>
${ESTIMATORS.map(line).join('\n')}</table>
<p>* Relative biases only where |exact| ≥ ${REL_FLOOR} × the grid's largest |exact| (a gradient that changes sign is near 0 somewhere).</p>
<p>DisARM MSE ≤ ARM MSE: ${s.disarmVsArm.mseLeq.components}/${C} components (${s.disarmVsArm.mseLeq.points}/${P} points with both);
DisARM std ≤ ARM std: ${s.disarmVsArm.varLeq.components}/${C}.
MSE at most Concrete's: ARM ${s.versusConcrete.armMseLeq.components}/${C}, DisARM ${s.versusConcrete.disarmMseLeq.components}/${C} components. DisARM/ARM variance ratio (α1 / α2): ${ratios}.
${s.concreteExactRelBias ? `Concrete's exact mean (by quadrature) differs from the exact gradient by ${f(100 * s.concreteExactRelBias.median)}% (median) and up to ${f(100 * s.concreteExactRelBias.max)}% of it* (at most ${e2(s.concreteExactRelBias.maxAbs)} in absolute terms).` : ''}</p>
<h2>Notes</h2>
<ul>
<li>DisARM's variance relative to ARM's is not small at keep ½ here: each logit's estimate multiplies the whole per-sample
loss difference, which also moves with the <em>other</em> unit's antithetic masks; DisARM removes only the noise of the unit's own
|u − ½|. (For f(z) = z alone DisARM is exactly constant at keep ½; see <code>test/tasks/toy-estimators.unit.test.ts</code>.)</li>
<li>Concrete's bias is, to first order in t, about −t(1 − 2p<sub>k</sub>) p<sub>k</sub>(1 − p<sub>k</sub>) · mean<sub>i</sub> c<sub>ik</sub>²
(c<sub>ik</sub> = w2<sub>k</sub> relu(w1<sub>k</sub> x<sub>i</sub> + b1<sub>k</sub>)), because E[z̃²] ≈ p − t p(1 − p) while E[z²] = p:
zero at keep ½ and up to about 8% of that one term at keep 0.1 or 0.9. Relative to the whole gradient it is larger when the gradient's
other terms cancel it, which depends on the weights drawn: compare the other seeds below.</li>
</ul>
${o.survey.length ? surveyTable(o.survey) : ''}
<h2>Figures</h2>
${o.figures.map((g) => `<figure><a href="${g.file}"><img src="${g.file}" alt="${esc(g.caption)}"></a><figcaption>${esc(g.caption)}</figcaption></figure>`).join('\n')}
<h2>Results per grid point</h2>
<p>“Concrete E” is the Concrete estimator's exact mean (quadrature), so Concrete's true bias is Concrete E − exact. z cells: amber |z| &gt; 3, red |z| &gt; 6.</p>
<table><tr><th>p1</th><th>p2</th><th>logit</th><th>exact</th><th>Concrete E</th>
${ESTIMATORS.map((e) => `<th>${LABEL[e]} mean</th><th>std</th><th>z</th><th>mse</th>`).join('')}</tr>
${rows}
</table>
</body></html>
`;
}
