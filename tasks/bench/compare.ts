// Pure helpers of the bench: medians, the rows' JSON shape, merging PyTorch's timings into ours,
// and `--compare A.json B.json` (per-row ratios of two bench files; no GPU needed).

export const median = (v: readonly number[]): number => {
  if (v.length === 0) throw new Error('median: no values');
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** PyTorch's figures for one row and variant (tasks/bench/torch_models.py). */
export interface TorchSide {
  stepsMs: number[];
  stepMs: number;
  /** images or users per second (model rows). */
  perSecond?: number;
  /** GFLOP/s at the median wall time (op rows). */
  gflops?: number;
  gpuMs?: number | null;
  params?: number;
  logits?: number;
}

/** A `models` row of the JSON: ours, and PyTorch's when run with --torch. */
export interface ModelRecord {
  section: 'models';
  name: string;
  variant: string;
  desc: string;
  unit: 'images' | 'users';
  batch: number;
  params: number;
  logits: number;
  ours: {
    stepsMs: number[]; stepMs: number; perSecond: number; dispatches: number; hostMs: number; gpuMs: number | null;
    liveDelta: number; peakBytes: number; topKernels?: { key: string; ms: number; count: number }[];
  };
  torch?: TorchSide;
  /** PyTorch's step ms / ours: > 1 when we are faster (the "ratio" column). */
  ratio?: number;
  /** This variant's step ms / the regular variant's (LBD rows). */
  overRegular?: number;
}

/** An `ops` row: a matmul product or the VGG conv layer. */
export interface OpRecord {
  section: 'ops';
  name: string;
  variant: string;
  desc: string;
  flops: number;
  ours: { wallMs: number[]; gpuMs: number[]; wallMsMedian: number; gpuMsMedian: number | null; wallGflops: number; gpuGflops: number | null };
  torch?: TorchSide;
  ratio?: number;
}

export type CompareRecord = ModelRecord | OpRecord;

/** One row of the older sections (op, shape, variant, ms). */
export interface LegacyRecord { op: string; shape: string; size?: number; variant?: string; key?: string; ms: number; gflops?: number; note?: string }

export interface BenchFile {
  adapter?: string;
  date?: string;
  records?: LegacyRecord[];
  /** Several calls merged into one file (docs/results/bench/h100.json): their records in order. */
  runs?: { records?: LegacyRecord[] }[];
  rows?: CompareRecord[];
}

/**
 * A row of the older sections across files and adapters: its own key, else op · shape · variant
 * with what was measured left out (decimals in the shape, e.g. "built in 3.4 s"; the variant
 * after its first colon, e.g. "regular dropout: 134.1 images/s"), and the kernel the matmul
 * picked ("subgroup 16x64", "tiled 64x64") read as "auto".
 */
export function legacyKey(r: LegacyRecord): string {
  if (r.key) return r.key;
  let v = (r.variant ?? r.note ?? '').split(':')[0].trim();
  if (r.op === 'matmul' && /^(subgroup|tiled) \d+x\d+$/.test(v)) v = 'auto';
  return `${r.op} · ${r.shape.replace(/\d+\.\d+/g, '#')} · ${v}`;
}

/** What `--compare` lines up: a key and the figures it can take ratios of. */
interface Figures { key: string; ms: number; extra: Record<string, number | null | undefined> }

function figures(f: BenchFile): Figures[] {
  const out: Figures[] = [];
  for (const r of f.rows ?? []) {
    if (r.section === 'models') {
      out.push({ key: `${r.name} ${r.variant}`, ms: r.ours.stepMs, extra: { dispatches: r.ours.dispatches, hostMs: r.ours.hostMs, gpuMs: r.ours.gpuMs, torchMs: r.torch?.stepMs } });
    } else {
      out.push({ key: `${r.name} ${r.variant}`, ms: r.ours.wallMsMedian, extra: { gpuMs: r.ours.gpuMsMedian, torchMs: r.torch?.stepMs } });
    }
  }
  const seen = new Map<string, Figures>();
  for (const r of [...(f.runs ?? []).flatMap((x) => x.records ?? []), ...(f.records ?? [])]) {
    const k = legacyKey(r), prev = seen.get(k);
    if (prev) prev.ms = r.ms; // a later call's figure replaces an earlier one's
    else { const g = { key: k, ms: r.ms, extra: {} }; seen.set(k, g); out.push(g); }
  }
  return out;
}

export interface CompareRow {
  key: string;
  aMs: number;
  bMs: number;
  /** bMs / aMs: below 1 when B is faster. */
  timeRatio: number;
  /** The other figures both files have, as [A, B, B/A]. */
  more: Record<string, [number, number, number]>;
}

/** Rows present in both files (A's order), with B/A ratios; and the keys only one file has. */
export function compareBench(a: BenchFile, b: BenchFile): { rows: CompareRow[]; onlyA: string[]; onlyB: string[] } {
  const fa = figures(a), fb = new Map(figures(b).map((r) => [r.key, r]));
  const rows: CompareRow[] = [];
  const onlyA: string[] = [];
  for (const r of fa) {
    const s = fb.get(r.key);
    if (!s) { onlyA.push(r.key); continue; }
    const more: CompareRow['more'] = {};
    for (const [k, v] of Object.entries(r.extra)) {
      const w = s.extra[k];
      if (typeof v === 'number' && typeof w === 'number' && v > 0) more[k] = [v, w, w / v];
    }
    rows.push({ key: r.key, aMs: r.ms, bMs: s.ms, timeRatio: s.ms / r.ms, more });
  }
  const inA = new Set(fa.map((r) => r.key));
  return { rows, onlyA, onlyB: [...fb.keys()].filter((k) => !inA.has(k)) };
}

const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toPrecision(3));
const fmtRatio = (x: number): string => (x >= 0.1 ? x.toFixed(2) : x.toPrecision(2));

/** The comparison as a Markdown table. */
export function compareMarkdown(c: ReturnType<typeof compareBench>, nameA: string, nameB: string): string {
  const lines = [`A = ${nameA}, B = ${nameB}; ratio = B / A (below 1: B is faster)`, '',
    '| row | A ms | B ms | B/A time | A/B speed | other figures (A → B, B/A) |', '| --- | --- | --- | --- | --- | --- |'];
  for (const r of c.rows) {
    const more = Object.entries(r.more).map(([k, [x, y, q]]) => `${k} ${fmt(x)} → ${fmt(y)} (${fmtRatio(q)})`).join('; ');
    lines.push(`| ${r.key.replace(/\|/g, '\\|')} | ${fmt(r.aMs)} | ${fmt(r.bMs)} | ${fmtRatio(r.timeRatio)} | ${fmtRatio(1 / r.timeRatio)} | ${more} |`);
  }
  if (c.onlyA.length) lines.push('', `only in A: ${c.onlyA.join(', ')}`);
  if (c.onlyB.length) lines.push('', `only in B: ${c.onlyB.join(', ')}`);
  return lines.join('\n');
}

/** torch_models.py's output for one row and variant. */
export interface TorchRaw { name: string; variant: string; wallMs: number[]; gpuMs: number[]; params?: number; logits?: number; items?: number; flops?: number }

/**
 * Adds PyTorch's timings (all rounds' steps of the row and variant) to a record, checks that
 * both sides built the same model (equal parameter counts), and sets the ratio.
 */
export function mergeTorch<R extends CompareRecord>(r: R, raws: readonly TorchRaw[]): R {
  const mine = raws.filter((t) => t.name === r.name && t.variant === r.variant);
  if (mine.length === 0) throw new Error(`--torch: PyTorch gave no timings for ${r.name} ${r.variant}`);
  const stepsMs = mine.flatMap((t) => t.wallMs);
  const gpu = mine.flatMap((t) => t.gpuMs);
  const stepMs = median(stepsMs);
  const side: TorchSide = { stepsMs, stepMs, gpuMs: gpu.length ? median(gpu) : null };
  if (r.section === 'models') {
    for (const t of mine) {
      if (t.params !== r.params || t.logits !== r.logits) {
        throw new Error(`--torch: ${r.name} ${r.variant} is not the same model: lbd-gpu has ${r.params} weights + ${r.logits} logits, PyTorch ${t.params} + ${t.logits}`);
      }
    }
    side.params = mine[0].params; side.logits = mine[0].logits;
    side.perSecond = (1000 * r.batch) / stepMs;
    r.torch = side;
    r.ratio = stepMs / r.ours.stepMs;
  } else {
    for (const t of mine) if (t.flops !== r.flops) throw new Error(`--torch: ${r.name} ${r.variant} is not the same product: lbd-gpu counts ${r.flops} FLOPs, PyTorch ${t.flops}`);
    side.gflops = r.flops / (stepMs * 1e6);
    r.torch = side;
    r.ratio = stepMs / r.ours.wallMsMedian;
  }
  return r;
}

/** The `models` and `ops` rows as Markdown tables (the README's benchmark tables). */
export function rowsMarkdown(rows: readonly CompareRecord[]): string {
  const models = rows.filter((r): r is ModelRecord => r.section === 'models');
  const ops = rows.filter((r): r is OpRecord => r.section === 'ops');
  const out: string[] = [];
  const withTorch = rows.some((r) => r.torch);
  if (models.length) {
    out.push(`| training step | variant | ms | per s | dispatches | host ms | GPU ms | live Δ B | LBD / regular${withTorch ? ' | PyTorch ms | PyTorch per s | ratio' : ''} |`);
    out.push(`| --- | --- | --- | --- | --- | --- | --- | --- | ---${withTorch ? ' | --- | --- | ---' : ''} |`);
    for (const r of models) {
      const o = r.ours;
      const t = r.torch ? ` | ${fmt(r.torch.stepMs)} | ${fmt(r.torch.perSecond!)} ${r.unit} | ${r.ratio!.toFixed(2)}` : withTorch ? ' | | |' : '';
      out.push(`| ${r.desc} | ${r.variant} | ${fmt(o.stepMs)} | ${fmt(o.perSecond)} ${r.unit} | ${o.dispatches} | ${fmt(o.hostMs)} | ${o.gpuMs === null ? '' : fmt(o.gpuMs)} | ${o.liveDelta} | ${r.overRegular === undefined ? '' : r.overRegular.toFixed(2)}${t} |`);
    }
  }
  if (ops.length) {
    if (out.length) out.push('');
    out.push(`| op | variant | wall ms | wall GFLOP/s | GPU ms | GPU GFLOP/s${withTorch ? ' | PyTorch ms | PyTorch GFLOP/s | ratio' : ''} |`);
    out.push(`| --- | --- | --- | --- | --- | ---${withTorch ? ' | --- | --- | ---' : ''} |`);
    for (const r of ops) {
      const o = r.ours;
      const t = r.torch ? ` | ${fmt(r.torch.stepMs)} | ${fmt(r.torch.gflops!)} | ${r.ratio!.toFixed(2)}` : withTorch ? ' | | |' : '';
      out.push(`| ${r.desc} | ${r.variant} | ${fmt(o.wallMsMedian)} | ${fmt(o.wallGflops)} | ${o.gpuMsMedian === null ? '' : fmt(o.gpuMsMedian)} | ${o.gpuGflops === null ? '' : fmt(o.gpuGflops)}${t} |`);
    }
  }
  return out.join('\n');
}
