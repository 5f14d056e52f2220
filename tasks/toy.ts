// node dist/tasks/toy.js --out DIR: the toy gradient study of Boluki et al. (2020) §3.1, Fig. 1,
// as a float64 CPU simulation (no GPU). Two hidden ReLU units with plain Bernoulli masks; exact
// gradients wrt the two dropout logits by enumerating the four masks; ARM, DisARM and Concrete
// (t = 0.1) estimates from the same u draws over a 5×5 grid of keep probabilities; a descent
// trace. Writes DIR/toy.json, DIR/report.json, DIR/index.html and SVG figures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import { makeToyModel } from './toy/model.js';
import { runGrid, KEEPS, type RawEstimates } from './toy/grid.js';
import { runTrace, defaultLr } from './toy/trace.js';
import { concreteExpectedGradient } from './toy/concrete-exact.js';
import { summarizeGrid, REL_FLOOR } from './toy/summary.js';
import { zScores, SE_FLOOR } from './toy/stats.js';
import { logit } from './toy/sigmoid.js';
import { ESTIMATORS } from './toy/toy-estimates.js';
import { toSvg, histogramSpec, gridHeatmapSpec, traceGradientSpec, traceDescentSpec } from './toy/figures.js';
import { indexHtml } from './toy/html.js';
import { surveyRow, type SurveyRow } from './toy/survey.js';

const program = new Command()
  .name('toy')
  .description('Toy gradient study (LBD §3.1, Fig. 1): exact vs ARM / DisARM / Concrete gradients for two dropout logits.')
  .option('--out <dir>', 'output folder', 'docs/results/toy')
  .option('--seed <n>', 'random seed (data, weights, u draws)', '1')
  .option('--estimates <n>', 'estimates per grid point', '200')
  .option('--samples <n>', 'data samples', '3000')
  .option('--noise <x>', 'noise std of the linear data model', '0.1')
  .option('--temperature <x>', 'Concrete temperature', '0.1')
  .option('--trace-steps <n>', 'gradient-descent steps in the trace', '100')
  .option('--trace-mc <n>', 'Monte Carlo draws averaged per trace estimate', '50')
  .option('--trace-start <p1,p2>', 'keep probabilities where the trace starts', '0.2,0.2')
  .option('--trace-lr <x>', 'trace learning rate (default: moves the logits by 0.2 on the first exact step)')
  .option('--survey <n>', 'also run the grid (no trace) for the next n seeds\' weight draws', '7')
  .option('--quick', 'a fast smoke run: 500 samples, 40 estimates, 20 trace steps of 10 draws (unless given), written to $TMPDIR/lbd-toy-quick unless --out is given')
  .parse();
const raw = program.opts<{
  out: string; seed: string; estimates: string; samples: string; noise: string; temperature: string;
  traceSteps: string; traceMc: string; traceStart: string; traceLr?: string; survey: string; quick?: boolean;
}>();
const quick = { samples: '500', estimates: '40', traceSteps: '20', traceMc: '10', survey: '0' } as const;
const opt = (k: keyof typeof quick): string => (raw.quick && program.getOptionValueSource(k) === 'default' ? quick[k] : raw[k]);
const int = (name: string, v: string, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}, got '${v}'`);
  return n;
};
const pos = (name: string, v: string): number => {
  const x = Number(v);
  if (!(x > 0) || !Number.isFinite(x)) throw new Error(`--${name} must be a positive number, got '${v}'`);
  return x;
};
const seed = int('seed', raw.seed, 0);
const samples = int('samples', opt('samples'), 10);
const estimates = int('estimates', opt('estimates'), 2);
const traceSteps = int('trace-steps', opt('traceSteps'), 1);
const traceMc = int('trace-mc', opt('traceMc'), 1);
const surveyCount = int('survey', opt('survey'), 0);
const noise = pos('noise', raw.noise), temperature = pos('temperature', raw.temperature);
const start = raw.traceStart.split(',').map(Number) as [number, number];
if (start.length !== 2 || start.some((p) => !(p > 0 && p < 1))) throw new Error(`--trace-start must be two probabilities in (0, 1), got '${raw.traceStart}'`);
// a smoke run must not overwrite the study's results
const out = raw.quick && program.getOptionValueSource('out') === 'default' ? join(tmpdir(), 'lbd-toy-quick') : raw.out;
mkdirSync(out, { recursive: true });

const t0 = performance.now();
const model = makeToyModel({ samples, seed, noise });
console.log(`toy: ${samples} samples, weights w1 = (${model.weights.w1.map((v) => v.toFixed(3))}), b1 = (${model.weights.b1.map((v) => v.toFixed(3))}), ` +
  `w2 = (${model.weights.w2.map((v) => v.toFixed(3))}), b2 = ${model.weights.b2.toFixed(3)}; units active on ${model.active.map((v) => (100 * v).toFixed(1) + '%').join(' / ')} of samples`);

// 1. the grid
const histKeeps: [number, number][] = [[0.1, 0.1], [0.3, 0.7], [0.5, 0.5], [0.9, 0.9]];
const bar = new cliProgress.SingleBar({ format: '{what} |{bar}| {value}/{total}', hideCursor: true }, cliProgress.Presets.shades_classic);
bar.start(KEEPS.length ** 2, 0, { what: 'grid ' });
const { grid, raw: rawAll } = runGrid(model, { estimates, temperature, seed }, () => true, (done) => bar.update(done));
bar.stop();
const concreteExpected = grid.map((g) => concreteExpectedGradient(model, [logit(g.keep[0]), logit(g.keep[1])], temperature));
const summary = summarizeGrid(grid, concreteExpected);
// the histograms: fixed points plus the point where Concrete's bias is most visible
const worst = grid.reduce((a, g) => (Math.max(...zScores(g.concrete).map(Math.abs)) > Math.max(...zScores(a.concrete).map(Math.abs)) ? g : a));
if (!histKeeps.some((k) => k[0] === worst.keep[0] && k[1] === worst.keep[1])) histKeeps.push(worst.keep);
const isHist = (k: [number, number]): boolean => histKeeps.some((h) => h[0] === k[0] && h[1] === k[1]);
const histRaw = rawAll.filter((r) => isHist(r.keep));

// 2. the trace
const lr = raw.traceLr !== undefined ? pos('trace-lr', raw.traceLr) : defaultLr(model, start);
bar.start(traceSteps, 0, { what: 'trace' });
const trace = runTrace(model, { steps: traceSteps, mc: traceMc, lr, start, temperature, seed }, () => bar.increment());
bar.stop();

// 3. other weight draws
const survey: SurveyRow[] = [];
if (surveyCount > 0) {
  bar.start(surveyCount, 0, { what: 'other seeds' });
  for (let j = 1; j <= surveyCount; j++) { survey.push(surveyRow(seed + j, samples, noise, estimates, temperature)); bar.increment(); }
  bar.stop();
}

// 4. figures
const figures: { file: string; caption: string }[] = [];
const save = async (file: string, spec: Record<string, unknown>, caption: string): Promise<void> => {
  writeFileSync(join(out, file), await toSvg(spec));
  figures.push({ file, caption });
};
for (const r of histRaw) {
  const g = grid.find((q) => q.keep[0] === r.keep[0] && q.keep[1] === r.keep[1])!;
  await save(`hist-${r.keep[0]}-${r.keep[1]}.svg`, histogramSpec(r.keep, g.exact, r.estimates),
    `Histograms of the ${estimates} estimates at keep (${r.keep.join(', ')}), exact gradient in red` +
    (r.keep[0] === worst.keep[0] && r.keep[1] === worst.keep[1] ? ' (the grid point where Concrete\'s bias is most visible)' : ''));
}
await save('grid-z.svg', gridHeatmapSpec(grid, 'z'), 'Bias of the mean estimate in standard errors at every grid point');
await save('grid-std.svg', gridHeatmapSpec(grid, 'std'), 'Standard deviation of one estimate');
await save('grid-mse.svg', gridHeatmapSpec(grid, 'mse'), 'Mean squared error against the exact gradient');
await save('trace-gradients.svg', traceGradientSpec(trace), 'Fig. 1 (g)-(h): gradient estimates along gradient descent with the exact gradient');
await save('trace-descent.svg', traceDescentSpec(trace), 'Keep probabilities and expected loss along descents driven by each gradient');

// 5. JSON and HTML
const settings = {
  samples, estimates, noise, temperature, keeps: KEEPS, x: 'N(0, 1)',
  data: 'y = w2·(w1 x + b1) + b2 + N(0, noise²) (the network without ReLU and masks)',
  weights: 'w1, w2 ~ U(±√2) (Glorot), b1, b2 ~ U(±½); redrawn until |w| ≥ 0.3 and each unit is active on 25-75% of samples',
  loss: 'mean over samples of (y − f(x; z))²', masks: 'plain (no 1/p scaling)', u: 'one per sample and unit, shared by ARM, DisARM and Concrete',
  seFloor: SE_FLOOR, zScore: '(mean − exact) / max(std/√n, seFloor)',
  trace: { steps: traceSteps, mc: traceMc, start, lr },
  survey: { seeds: survey.map((r) => r.seed), note: 'grid only, same settings, other weight and data draws' },
};
const modelInfo = { weights: model.weights, active: model.active, rejectedDraws: model.rejected, maskLoss: Array.from(model.maskLoss), maskLossIndex: 'z1 + 2 z2' };
const arr = (r: RawEstimates): Record<string, number[][]> => Object.fromEntries(ESTIMATORS.map((e) => [e, r[e].map((v) => Array.from(v))]));
const seconds = (performance.now() - t0) / 1000;
const toy = {
  grid,
  seed, settings, model: modelInfo, summary,
  zscores: grid.map((g) => ({ keep: g.keep, ...Object.fromEntries(ESTIMATORS.map((e) => [e, zScores(g[e])])) })),
  concreteExpected: grid.map((g, i) => ({ keep: g.keep, mean: concreteExpected[i], bias: concreteExpected[i].map((v, k) => v - g.exact[k]) })),
  histograms: histRaw.map((r) => ({ keep: r.keep, estimates: arr(r.estimates) })),
  trace,
  survey,
  figures, seconds,
};
writeFileSync(join(out, 'toy.json'), JSON.stringify(toy));
writeFileSync(join(out, 'report.json'), JSON.stringify({ task: 'toy', seed, settings, model: modelInfo, summary, survey, figures, seconds }, null, 2) + '\n');
writeFileSync(join(out, 'index.html'), indexHtml({ seed, settings, weights: model.weights, active: model.active, grid, concreteExpected, summary, survey, figures }));

const s = summary, C = s.components;
for (const e of ESTIMATORS) {
  const q = s.estimators[e];
  console.log(`${e.padEnd(8)} |z| ≤ 3: ${q.within3.components}/${C}, ≤ 4: ${q.within4.components}/${C}, > 6: ${q.visible6.components}/${C} ` +
    `(${q.visible6.points}/${s.points} points), max |z| ${q.maxAbsZ.toFixed(1)}, max |bias| ${q.maxAbsBias.toExponential(1)} (${(100 * q.maxRelBias).toFixed(1)}% of |exact| where |exact| ≥ ${REL_FLOOR} × max)`);
}
console.log(`DisARM MSE ≤ ARM MSE: ${s.disarmVsArm.mseLeq.components}/${C}; variance ratio DisARM/ARM ` +
  s.disarmVsArm.varRatio.map((r) => `(${r.keep.join(',')}): ${r.ratio.map((v) => v.toFixed(3)).join('/')}`).join(', '));
console.log(`MSE ≤ Concrete's: ARM ${s.versusConcrete.armMseLeq.components}/${C}, DisARM ${s.versusConcrete.disarmMseLeq.components}/${C}`);
if (s.concreteExactRelBias) console.log(`Concrete's exact mean vs exact gradient: median ${(100 * s.concreteExactRelBias.median).toFixed(1)}%, max ${(100 * s.concreteExactRelBias.max).toFixed(1)}%`);
for (const r of survey) {
  const c = r.summary.estimators.concrete, a = r.summary.estimators.arm, d = r.summary.estimators.disarm;
  console.log(`seed ${r.seed}: ARM/DisARM |z| ≤ 3 ${a.within3.components}/${d.within3.components} of ${C}; Concrete |z| > 6 at ${c.visible6.points}/${r.summary.points} points, ` +
    `exact-mean bias median ${(100 * r.summary.concreteExactRelBias!.median).toFixed(1)}%, max ${(100 * r.summary.concreteExactRelBias!.max).toFixed(1)}%; DisARM MSE ≤ ARM ${r.summary.disarmVsArm.mseLeq.components}/${C}`);
}
console.log(`wrote ${out}/toy.json, report.json, index.html and ${figures.length} figures in ${seconds.toFixed(1)} s`);
