// The page's live charts: Vega-Lite specifications (as the task reports use) rendered to SVG in
// the page by vega. Each chart is rebuilt on update (they are small).
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { top, type Spec } from '../report/vega.js';

const views = new Map<string, vega.View>();

/** Draws spec into the element with this id, replacing what was there. */
export async function render(id: string, spec: Spec): Promise<void> {
  views.get(id)?.finalize();
  const el = document.getElementById(id);
  if (!el) throw new Error(`render: no element #${id}`);
  const view = new vega.View(vega.parse(compile(top(spec) as unknown as TopLevelSpec).spec), { renderer: 'svg', container: el, hover: false });
  views.set(id, view);
  await view.runAsync();
}

export interface CurvePoint { step: number; value: number }

/** Training loss and test accuracy against the step, one above the other. */
export function curveSpec(loss: CurvePoint[], acc: CurvePoint[]): Spec {
  const line = (values: CurvePoint[], title: string, color: string, domain?: [number, number]): Spec => ({
    width: 480, height: 95, data: { values },
    mark: { type: 'line', color, point: values.length < 40 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title, scale: domain ? { domain } : { zero: false } },
    },
  });
  return { vconcat: [line(loss, 'training loss', '#1f77b4'), line(acc, 'test accuracy', '#2ca02c', [0, 1])] };
}

/** A histogram of keep probabilities per dropout layer (x fixed to [0, 1] so movement shows). */
export function keepSpec(keeps: number[][], step: number): Spec {
  const values = keeps.flatMap((k, l) => k.map((keep) => ({ layer: `layer ${l + 1} (${k.length === 1 ? 'one per layer' : `${k.length} units`})`, keep })));
  return {
    title: { text: `keep probabilities at step ${step}`, fontSize: 12 },
    data: { values },
    facet: { column: { field: 'layer', type: 'nominal', title: null } },
    spec: {
      width: 240, height: 150,
      mark: { type: 'bar', color: '#9467bd' },
      encoding: {
        x: { field: 'keep', type: 'quantitative', bin: { extent: [0, 1], step: 0.02 }, title: 'keep probability σ(α)', scale: { domain: [0, 1] } },
        y: { aggregate: 'count', type: 'quantitative', title: 'units' },
      },
    },
  };
}

/** The predictive distribution over the ten digits. */
export function predictSpec(probs: number[]): Spec {
  return {
    width: 300, height: 140,
    data: { values: probs.map((p, d) => ({ digit: String(d), p })) },
    mark: { type: 'bar', color: '#ff7f0e' },
    encoding: {
      x: { field: 'digit', type: 'ordinal', title: 'digit', axis: { labelAngle: 0 } },
      y: { field: 'p', type: 'quantitative', title: 'predictive probability', scale: { domain: [0, 1] } },
    },
  };
}
