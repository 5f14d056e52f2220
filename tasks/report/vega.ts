// Figures for every task's report: Vega-Lite specifications rendered headlessly to SVG (vega,
// no browser or canvas) and to PNG (@resvg/resvg-js). The three packages are optional peers of
// the published package (18 MB the library does not need): they are loaded on first use, and a
// report without them is written without its figures, saying how to get them.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';

export type Spec = Record<string, unknown>;

export const FIGURE_PACKAGES = 'npm install vega@6.4.0 vega-lite@6.5.0 @resvg/resvg-js@2.6.2';

interface Renderers {
  vega: typeof import('vega');
  compile: typeof import('vega-lite').compile;
  Resvg: typeof import('@resvg/resvg-js').Resvg;
}
let renderers: Promise<Renderers | null> | null = null;

/** The figure packages, or null when one is not installed. */
export function figureRenderers(): Promise<Renderers | null> {
  renderers ??= (async () => {
    try {
      const [vega, vl, resvg] = await Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]);
      return { vega, compile: vl.compile, Resvg: resvg.Resvg };
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return null;
      throw e;
    }
  })();
  return renderers;
}

async function need(): Promise<Renderers> {
  const r = await figureRenderers();
  if (!r) throw new Error(`figures need the optional packages vega, vega-lite and @resvg/resvg-js: ${FIGURE_PACKAGES}`);
  return r;
}

export async function toSvg(spec: Spec): Promise<string> {
  const { vega, compile } = await need();
  const view = new vega.View(vega.parse(compile(spec as unknown as TopLevelSpec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

export async function svgToPng(svg: string, width = 900): Promise<Buffer> {
  const { Resvg } = await need();
  return new Resvg(svg, { fitTo: { mode: 'width', value: width }, background: 'white' }).render().asPng();
}

/** The common top level of a spec: schema, white background, sans-serif. */
export const top = (s: Spec): Spec => ({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', background: 'white', config: { font: 'sans-serif' }, ...s });

/** Escapes text for HTML. */
export const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]!));

/** Renders each named spec to DIR/name.svg and DIR/name.png; returns the PNG file names. */
export async function writeFigures(dir: string, figures: [string, Spec][]): Promise<string[]> {
  const files: string[] = [];
  if (figures.length && !(await figureRenderers())) {
    console.warn(`figures skipped (${figures.map(([n]) => n).join(', ')}): they need the optional packages vega, vega-lite and @resvg/resvg-js — ${FIGURE_PACKAGES}`);
    return files;
  }
  for (const [name, spec] of figures) {
    const svg = await toSvg(spec);
    writeFileSync(join(dir, `${name}.svg`), svg);
    writeFileSync(join(dir, `${name}.png`), await svgToPng(svg));
    files.push(`${name}.png`);
  }
  return files;
}

/** PAvPU (%) against the threshold t, one line per method (the paper's Fig. 2). */
export function pavpuSpec(rows: { method: string; t: number; pavpu: number }[], title: string, xTitle: string): Spec {
  return top({
    title, width: 420, height: 260, data: { values: rows }, mark: { type: 'line', point: true },
    encoding: {
      x: { field: 't', type: 'quantitative', title: xTitle },
      y: { field: 'pavpu', type: 'quantitative', title: 'PAvPU (%)', scale: { zero: false } },
      color: { field: 'method', type: 'nominal', title: 'method' },
    },
  });
}

/** Mean over a method's runs of each threshold's PAvPU, in % (runs share the t grid). */
export function pavpuRows(methods: string[], runs: { method: string; pavpu: { t: number[]; value: number[] } }[], label: (m: string) => string): { method: string; t: number; pavpu: number }[] {
  const rows: { method: string; t: number; pavpu: number }[] = [];
  for (const m of methods) {
    const rs = runs.filter((x) => x.method === m);
    rs[0]?.pavpu.t.forEach((t, i) => rows.push({ method: label(m), t, pavpu: 100 * rs.reduce((a, x) => a + x.pavpu.value[i], 0) / rs.length }));
  }
  return rows;
}
