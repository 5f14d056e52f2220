// The study's pictures as Vega-Lite specifications rendered to SVG headlessly (no browser, no
// canvas): histograms of the estimates with the exact gradient marked, heatmaps of the grid,
// and the traces (Fig. 1 g-h).
import { toSvg, top, type Spec } from '../report/vega.js';
import type { GridPoint, RawEstimates } from './grid.js';
import type { Trace } from './trace.js';
import { ESTIMATORS, type EstimatorName } from './toy-estimates.js';
import { histogram, zScores } from './stats.js';


export const LABEL: Record<EstimatorName | 'exact', string> = { exact: 'exact', arm: 'ARM', disarm: 'DisARM', concrete: 'Concrete (t = 0.1)' };
const COLOR: Record<EstimatorName | 'exact', string> = { exact: '#000000', arm: '#1f77b4', disarm: '#2ca02c', concrete: '#ff7f0e' };
const COMPONENTS = ['α1', 'α2'];

export { toSvg };

/** One histogram panel: the estimates' bins, the exact gradient (red) and the estimates' mean (dashed). */
function histogramPanel(title: string, values: Float64Array, exact: number, color: string, domain: [number, number]): Spec {
  const bins = histogram(values, 40, [exact], domain);
  const m = values.reduce((a, b) => a + b, 0) / values.length;
  return {
    title: { text: title, fontSize: 11 },
    width: 220, height: 130,
    layer: [
      {
        data: { values: bins },
        mark: { type: 'rect', color, opacity: 0.8 },
        encoding: {
          x: { field: 'lo', type: 'quantitative', title: 'gradient estimate', scale: { zero: false, nice: false, domain }, axis: { format: '.1e', labelAngle: -30, tickCount: 4 } },
          x2: { field: 'hi' },
          y: { field: 'count', type: 'quantitative', title: 'count' },
        },
      },
      {
        data: { values: [{ v: exact, what: 'exact gradient' }, { v: m, what: 'mean of estimates' }] },
        mark: { type: 'rule', strokeWidth: 2 },
        encoding: {
          x: { field: 'v', type: 'quantitative' },
          color: { field: 'what', type: 'nominal', title: null, scale: { domain: ['exact gradient', 'mean of estimates'], range: ['#d62728', '#555555'] } },
          strokeDash: { field: 'what', type: 'nominal', title: null, scale: { domain: ['exact gradient', 'mean of estimates'], range: [[1, 0], [4, 3]] } },
        },
      },
    ],
  };
}

/** Histograms of every estimator's estimates at one grid point, one row per logit (one x range per row). */
export function histogramSpec(keep: [number, number], exact: [number, number], raw: RawEstimates): Spec {
  return top({
    title: `Gradient estimates at keep (${keep[0]}, ${keep[1]}): ${raw.arm[0].length} estimates each, exact gradient in red`,
    vconcat: [0, 1].map((k) => {
      let lo = exact[k], hi = exact[k];
      for (const e of ESTIMATORS) for (const v of raw[e][k]) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      const pad = 0.02 * (hi - lo || Math.abs(lo) || 1);
      const domain: [number, number] = [lo - pad, hi + pad];
      return { hconcat: ESTIMATORS.map((e) => histogramPanel(`${LABEL[e]}, ∂/∂${COMPONENTS[k]}`, raw[e][k], exact[k], COLOR[e], domain)) };
    }),
  });
}

/** Heatmaps over the grid of one per-component quantity, one row per logit and one column per estimator. */
export function gridHeatmapSpec(grid: GridPoint[], what: 'z' | 'std' | 'mse'): Spec {
  const rows = grid.flatMap((g) => ESTIMATORS.flatMap((e) => {
    const z = zScores(g[e]);
    return [0, 1].map((k) => ({
      estimator: LABEL[e], component: `∂/∂${COMPONENTS[k]}`, p1: g.keep[0], p2: g.keep[1],
      value: what === 'z' ? z[k] : Math.log10(what === 'std' ? g[e].std[k] : g[e].mse[k]),
      label: what === 'z' ? z[k].toFixed(1) : (what === 'std' ? g[e].std[k] : g[e].mse[k]).toExponential(1),
    }));
  }));
  const vals = rows.map((r) => r.value), mid = (Math.min(...vals) + Math.max(...vals)) / 2; // viridis: dark below the middle
  const title = {
    z: 'Bias in standard errors, (mean − exact) / (std/√n): |z| ≤ 3 is within noise',
    std: 'Standard deviation of one estimate (colour: log10)',
    mse: 'Mean squared error against the exact gradient (colour: log10)',
  }[what];
  const color = what === 'z'
    ? { field: 'value', type: 'quantitative', title: 'z', scale: { scheme: 'redblue', domain: [-10, 10], clamp: true, reverse: true } }
    : { field: 'value', type: 'quantitative', title: 'log10', scale: { scheme: 'viridis' } };
  return top({
    title,
    data: { values: rows },
    facet: {
      row: { field: 'component', type: 'nominal', title: null, sort: ['∂/∂α1', '∂/∂α2'] },
      column: { field: 'estimator', type: 'nominal', title: null, sort: ESTIMATORS.map((e) => LABEL[e]) },
    },
    spec: {
      width: 230, height: 180,
      encoding: {
        x: { field: 'p1', type: 'ordinal', title: 'keep p1' },
        y: { field: 'p2', type: 'ordinal', title: 'keep p2', sort: 'descending' },
      },
      layer: [
        { mark: 'rect', encoding: { color } },
        {
          mark: { type: 'text', fontSize: 9 },
          encoding: {
            text: { field: 'label', type: 'nominal' },
            color: what === 'z'
              ? { condition: { test: 'abs(datum.value) > 6', value: 'white' }, value: 'black' }
              : { condition: { test: `datum.value < ${mid}`, value: 'white' }, value: 'black' },
          },
        },
      ],
    },
  });
}

/** Fig. 1 (g)-(h): each estimator's gradient (mean of the trace's Monte Carlo draws) along the exact descent path. */
export function traceGradientSpec(trace: Trace): Spec {
  const names = ['exact', ...ESTIMATORS] as const;
  const rows = trace.path.flatMap((s) => names.flatMap((e) => [0, 1].map((k) => ({ step: s.step, component: k, who: LABEL[e], value: s[e][k] }))));
  return top({
    title: `Gradient estimates (${trace.settings.mc} Monte Carlo draws each) along gradient descent with the exact gradient`,
    vconcat: [0, 1].map((k) => ({
      width: 620, height: 180,
      data: { values: rows.filter((r) => r.component === k) },
      mark: { type: 'line', strokeWidth: 1.2 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'step' },
        y: { field: 'value', type: 'quantitative', title: `∂E/∂${COMPONENTS[k]}`, axis: { format: '.1e' } },
        color: { field: 'who', type: 'nominal', title: null, scale: { domain: names.map((e) => LABEL[e]), range: names.map((e) => COLOR[e]) } },
        strokeWidth: { condition: { test: "datum.who === 'exact'", value: 2.5 }, value: 1.2 },
      },
    })),
  });
}

/** Keep probabilities and the exact expected loss along descents driven by each gradient. */
export function traceDescentSpec(trace: Trace): Spec {
  const names = ['exact', ...ESTIMATORS] as const;
  const rows = names.flatMap((e) => trace.descent[e].loss.map((loss, s) => ({
    step: s, who: LABEL[e], p1: trace.descent[e].keep[s][0], p2: trace.descent[e].keep[s][1], loss,
  })));
  const panel = (field: string, title: string): Spec => ({
    width: 260, height: 200,
    mark: { type: 'line', strokeWidth: 1.5 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field, type: 'quantitative', title, scale: { zero: false } },
      color: { field: 'who', type: 'nominal', title: 'gradient', scale: { domain: names.map((e) => LABEL[e]), range: names.map((e) => COLOR[e]) } },
    },
  });
  return top({
    title: `Gradient descent on (α1, α2) from keep (${trace.settings.start.join(', ')}), lr ${trace.settings.lr.toPrecision(3)}, ${trace.settings.mc} draws per estimate`,
    data: { values: rows },
    hconcat: [panel('p1', 'keep p1 = σ(α1)'), panel('p2', 'keep p2 = σ(α2)'), panel('loss', 'expected loss E_z[L]')],
  });
}
