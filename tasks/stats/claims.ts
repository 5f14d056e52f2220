// The paper's claims as paired comparisons (issue 29): "A is better than B in metric M", tested
// over seeds (t-interval of per-seed differences) and over test examples (paired bootstrap), with
// a verdict and the effect size the run could have detected (tasks/stats/paired.ts). Each task's
// report builds its claims here from its finished runs and renders them with claimsMarkdown /
// claimsHtml; report.json keeps the claims, not the per-example arrays they came from.
import {
  bootstrapTables, bootstrapStats, pairedReplicates, seedStats, verdict, detectableEffect,
  DEFAULT_B, DEFAULT_BOOTSTRAP_SEED, type Better, type BootstrapOptions, type BootstrapStats, type ExampleTable, type SeedStats, type Verdict,
} from './paired.js';
import { allOnes } from './tables.js';

/** One finished run as the claims see it. */
export interface ClaimRun {
  /** Method (classify, segment) or Table 2 row (recommend). */
  method: string;
  seed: number;
  commit: string;
  /** The metrics the run reported, by name. */
  reported: Record<string, number>;
  /** Its per-example table, or null when its file has no per-example outputs (older runs). */
  table: ExampleTable | null;
}

export interface ClaimMetric { name: string; better: Better }

export interface Claim {
  /** Data set (recommend), absent for single-set tasks. */
  dataset?: string;
  /** The method the paper says is better, and the one it is compared with: differences are a − b. */
  a: string;
  b: string;
  metric: string;
  better: Better;
  /** Per seed with both methods: their reported values and a − b. */
  perSeed: { seed: number; a: number; b: number; diff: number }[];
  seeds: SeedStats;
  /** Paired bootstrap over test examples; null without per-example data. */
  bootstrap: BootstrapStats | null;
  /** The larger of the two minimal detectable effects (80 % power, two-sided 5 %), null if one is missing. */
  mde: number | null;
  verdict: Verdict;
  /** Commits the compared runs were trained at. */
  commits: string[];
  /** Largest |recomputed − reported| over the compared runs, whole test set (0 when the tables reproduce the runs exactly). */
  recomputeError?: number;
}

export interface ClaimsSection {
  claims: Claim[];
  /** Why there is no bootstrap (runs without per-example outputs), when there is none. */
  note?: string;
}

/**
 * Claims "a beats each of bs in each metric" over one set of runs (one data set). All runs' tables
 * are resampled together (the same B resamples for every run), so every comparison is paired.
 */
export function buildClaims(runs: readonly ClaimRun[], a: string, bs: readonly string[], metrics: readonly ClaimMetric[], o: BootstrapOptions & { dataset?: string } = {}): ClaimsSection {
  const involved = runs.filter((r) => r.method === a || bs.includes(r.method));
  const withTables = involved.filter((r) => r.table);
  const haveAll = involved.length > 0 && withTables.length === involved.length;
  const B = o.B ?? DEFAULT_B, rngSeed = o.seed ?? DEFAULT_BOOTSTRAP_SEED;
  // replicates and whole-set values per run and metric
  const boot = new Map<ClaimRun, Map<string, Float64Array>>(), whole = new Map<ClaimRun, Map<string, number>>();
  if (haveAll) {
    const tables = withTables.map((r) => r.table!);
    const reps = bootstrapTables(tables, { B, seed: rngSeed });
    withTables.forEach((r, i) => {
      const t = r.table!, full = t.evaluate(allOnes(t.n));
      boot.set(r, new Map(t.metrics.map((m, k) => [m, reps[i][k]])));
      whole.set(r, new Map(t.metrics.map((m, k) => [m, full[k]])));
    });
  }
  const find = (m: string, seed: number): ClaimRun | undefined => involved.find((r) => r.method === m && r.seed === seed);
  const claims: Claim[] = [];
  for (const b of bs) {
    const seeds = [...new Set(involved.filter((r) => r.method === a).map((r) => r.seed))].filter((s) => find(b, s)).sort((x, y) => x - y);
    if (!seeds.length) continue;
    const pairs = seeds.map((s) => [find(a, s)!, find(b, s)!] as const);
    for (const { name, better } of metrics) {
      const perSeed = pairs.map(([ra, rb], i) => ({ seed: seeds[i], a: ra.reported[name], b: rb.reported[name], diff: ra.reported[name] - rb.reported[name] }));
      const st = seedStats(perSeed.map((p) => p.diff));
      let bs_: BootstrapStats | null = null, recomputeError: number | undefined;
      if (haveAll) {
        const reps = pairedReplicates(pairs.map(([ra]) => boot.get(ra)!.get(name)!), pairs.map(([, rb]) => boot.get(rb)!.get(name)!));
        const estimate = pairs.reduce((acc, [ra, rb]) => acc + whole.get(ra)!.get(name)! - whole.get(rb)!.get(name)!, 0) / pairs.length;
        bs_ = bootstrapStats(reps, estimate, { rngSeed, examples: pairs[0][0].table!.n });
        recomputeError = Math.max(...pairs.flat().map((r) => Math.abs(whole.get(r)!.get(name)! - r.reported[name])));
      }
      claims.push({
        ...(o.dataset !== undefined ? { dataset: o.dataset } : {}), a, b, metric: name, better, perSeed, seeds: st, bootstrap: bs_,
        mde: detectableEffect(st.mde, bs_?.mde ?? null), verdict: verdict(st.ci, bs_?.ci ?? null, better),
        commits: [...new Set(pairs.flat().map((r) => r.commit))],
        ...(recomputeError !== undefined ? { recomputeError } : {}),
      });
    }
  }
  const missing = involved.length - withTables.length;
  return { claims, ...(haveAll ? {} : { note: `no per-example data (${missing} of ${involved.length} runs have none): seed-level statistics only, no bootstrap, every verdict undecided` }) };
}

// ---------------------------------------------------------------------------------------------
// Rendering. Metrics that are fractions print in percentage points; NLL and ECE as they are.

export interface MetricFormat { label: string; scale: number; digits: number; unit: string }

export const METRIC_FORMAT: Record<string, MetricFormat> = {
  accuracy: { label: 'accuracy', scale: 100, digits: 2, unit: ' pp' },
  meanPAvPU: { label: 'Mean PAvPU', scale: 100, digits: 2, unit: ' pp' },
  nll: { label: 'NLL', scale: 1, digits: 4, unit: '' },
  ece: { label: 'ECE', scale: 1, digits: 4, unit: '' },
  pixelAccuracy: { label: 'pixel accuracy', scale: 100, digits: 2, unit: ' pp' },
  meanIoU: { label: 'mean IoU', scale: 100, digits: 2, unit: ' pp' },
  ndcg100: { label: 'NDCG@100', scale: 100, digits: 2, unit: ' pp' },
  recall20: { label: 'Recall@20', scale: 100, digits: 2, unit: ' pp' },
  recall50: { label: 'Recall@50', scale: 100, digits: 2, unit: ' pp' },
};

const fmtOf = (m: string): MetricFormat => METRIC_FORMAT[m] ?? { label: m, scale: 1, digits: 4, unit: '' };

/** A difference in the metric's display unit, signed. */
export function fmtDiff(metric: string, v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  const f = fmtOf(metric), x = f.scale * v, abs = Math.abs(x).toFixed(f.digits);
  return Number(abs) === 0 ? abs : `${x > 0 ? '+' : '−'}${abs}`; // no sign on what rounds to 0
}

const fmtCi = (metric: string, ci: [number, number] | null | undefined): string => (ci ? `[${fmtDiff(metric, ci[0])}, ${fmtDiff(metric, ci[1])}]` : '—');
const fmtP = (p: number | null | undefined): string => (p === null || p === undefined ? '—' : p < 0.001 ? '< 0.001' : p.toFixed(3));
const fmtMde = (metric: string, v: number | null): string => (v === null ? '—' : `${(fmtOf(metric).scale * v).toFixed(fmtOf(metric).digits)}${fmtOf(metric).unit}`);

/** The cells of one claim's line (shared by Markdown and HTML). */
export function claimCells(c: Claim, label: (m: string) => string, showDataset = true): string[] {
  const f = fmtOf(c.metric);
  return [
    `${showDataset && c.dataset ? `${c.dataset}: ` : ''}${label(c.a)} vs ${label(c.b)}`,
    `${f.label} (${c.better} is better${f.unit ? `; ${f.unit.trim()}` : ''})`,
    c.perSeed.map((p) => fmtDiff(c.metric, p.diff)).join(' '),
    `${fmtDiff(c.metric, c.seeds.mean)} ${fmtCi(c.metric, c.seeds.ci)}`,
    c.bootstrap ? `${fmtCi(c.metric, c.bootstrap.ci)}, p ${fmtP(c.bootstrap.p)}` : '—',
    fmtMde(c.metric, c.mde),
    c.verdict,
  ];
}

export const CLAIM_HEADER = ['claim', 'metric', 'A − B per seed', 'mean [95 % t-interval]', 'bootstrap 95 % [interval], p', 'detectable effect', 'verdict'];

/** What a report.json holds of its claims: the list (absent in reports made before it existed) and a note. */
export interface ReportClaims { claims?: Claim[]; claimsNote?: string }

/** The report fields of a ClaimsSection. */
export const reportClaims = (s: ClaimsSection): ReportClaims => ({ claims: s.claims, ...(s.note ? { claimsNote: s.note } : {}) });

/** What a report without claims says in their place. */
export const NO_CLAIMS = 'No claims: no per-example data in this report (made before run files kept per-example outputs), or no LBD run with a baseline to compare.';

/** The claims as a Markdown table, one line per claim (for the README and the console). */
export function claimsMarkdown(r: ReportClaims, label: (m: string) => string = (m) => m): string {
  if (!r.claims) return NO_CLAIMS;
  const lines = [`| ${CLAIM_HEADER.join(' | ')} |`, `|${CLAIM_HEADER.map(() => ' --- |').join('')}`];
  for (const c of r.claims) lines.push(`| ${claimCells(c, label).join(' | ')} |`);
  return [lines.join('\n'), ...(r.claimsNote ? [`\n(${r.claimsNote})`] : [])].join('\n');
}

/**
 * The claims as a compact matrix for the README: one row per baseline B (per data set), one
 * column per metric, each cell A − B's mean over seeds with its bootstrap interval and the
 * verdict (`supported` / `contradicted` / `undecided`). With `datasetColumns` the data sets go
 * into the columns (one row per baseline, a column per data set and metric). The full lines are
 * in the report.
 */
export function claimsMatrixMarkdown(r: ReportClaims, label: (m: string) => string = (m) => m, o: { datasetColumns?: boolean } = {}): string {
  const claims = r.claims;
  if (!claims?.length) return NO_CLAIMS;
  const ds = (c: Claim): string => c.dataset ?? '';
  const colKey = (c: Claim): string => `${o.datasetColumns ? ds(c) : ''}\u0000${c.metric}`;
  const rowKey = (c: Claim): string => `${o.datasetColumns ? '' : ds(c)}\u0000${c.b}`;
  const cols = [...new Set(claims.map(colKey))], rows = [...new Set(claims.map(rowKey))];
  const head = [`${label(claims[0]!.a)} − B`, ...cols.map((key) => {
    const [set, m] = key.split('\u0000') as [string, string];
    const unit = fmtOf(m).unit;
    return `${set ? `${set}: ` : ''}${fmtOf(m).label} (${claims.find((c) => colKey(c) === key)!.better} is better${unit ? `;${unit}` : ''})`;
  })];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => ' --- |').join('')}`];
  for (const key of rows) {
    const [set, b] = key.split('\u0000') as [string, string];
    const cells = cols.map((ck) => {
      const c = claims.find((x) => rowKey(x) === key && colKey(x) === ck);
      if (!c) return '—';
      return `${fmtDiff(c.metric, c.seeds.mean)} ${fmtCi(c.metric, c.bootstrap?.ci ?? c.seeds.ci)} ${c.verdict}`;
    });
    lines.push(`| ${set ? `${set}: ` : ''}B = ${label(b)} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

/** Counts of each verdict, e.g. "2 supported, 0 contradicted, 14 undecided". */
export function verdictCounts(claims: readonly { verdict: Verdict }[]): string {
  const n = (v: Verdict): number => claims.filter((c) => c.verdict === v).length;
  return `${n('supported')} supported, ${n('contradicted')} contradicted, ${n('undecided')} undecided`;
}

/**
 * The verdicts that survive Holm's step-down correction over the whole family of claims, so that
 * the chance of calling any claim wrongly is at most `alpha` however many there are. A verdict
 * needs both tests, so a claim's p is the larger of its two (an intersection-union test, valid at
 * the level of each); claims are taken in increasing p, the k-th of m (from 0) passing while
 * p ≤ alpha / (m − k). A claim that passes keeps its verdict; one that does not, or has no p,
 * becomes undecided.
 */
export function holmVerdicts(claims: readonly Claim[], alpha = 0.05): Verdict[] {
  const p = claims.map((c) => (c.seeds.p === null || !c.bootstrap ? Infinity : Math.max(c.seeds.p, c.bootstrap.p)));
  const order = claims.map((_, i) => i).sort((i, j) => p[i] - p[j]);
  const out: Verdict[] = claims.map(() => 'undecided');
  for (let k = 0; k < order.length && p[order[k]] <= alpha / (order.length - k); k++) out[order[k]] = claims[order[k]].verdict;
  return out;
}

/**
 * What the family of claims says as a whole: how many verdicts chance alone would give if no
 * difference were real (each is a one-sided 2.5 % call), and the counts after Holm's correction.
 */
export function familySummary(claims: readonly Claim[]): string {
  const m = claims.length;
  return `${m} claims: ${verdictCounts(claims)}; with no real difference anywhere, chance alone would call at most about ${(0.025 * m).toFixed(1)} supported and as many contradicted. `
    + `After Holm's correction over all ${m} (family-wise error ≤ 5 %; a claim's p is the larger of its two tests'): ${verdictCounts(holmVerdicts(claims).map((verdict) => ({ verdict })))}.`;
}

const escHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** How many test examples the bootstrap resampled: one count, or one per data set ("60 (ml-latest-small), 94 (ml-100k)"). */
function examplesText(claims: readonly Claim[]): string {
  const per = new Map<string, number>();
  for (const c of claims) if (c.bootstrap) per.set(c.dataset ?? '', c.bootstrap.examples);
  const counts = new Set(per.values());
  return counts.size <= 1 ? `${[...counts][0] ?? 0}` : [...per].map(([ds, n]) => `${n} (${ds})`).join(', ');
}

/** The claims section of a report page: the method, then a table (or a line saying there is no per-example data). */
export function claimsHtml(r: ReportClaims, label: (m: string) => string = (m) => m): string {
  const head = '<h2>Claims: paired comparisons</h2>';
  if (!r.claims) return `${head}\n<p>${NO_CLAIMS}</p>`;
  const colour: Record<Verdict, string> = { supported: '#d9f2d9', contradicted: '#f7d4d4', undecided: '#f2f2f2' };
  const b = r.claims.find((c) => c.bootstrap)?.bootstrap;
  const groups = new Map<string, Claim[]>();
  for (const c of r.claims) groups.set(c.dataset ?? '', [...(groups.get(c.dataset ?? '') ?? []), c]);
  const tables = [...groups].map(([ds, cs]) => `${ds ? `<h3>${escHtml(ds)}</h3>` : ''}<p>${verdictCounts(cs)}.</p>
<table><tr>${CLAIM_HEADER.map((h) => `<th>${escHtml(h)}</th>`).join('')}</tr>
${cs.map((c) => `<tr style="background:${colour[c.verdict]}">${claimCells(c, label, false).map((x) => `<td>${escHtml(x)}</td>`).join('')}</tr>`).join('\n')}</table>`).join('\n');
  // how well the per-example outputs reproduce the runs' own numbers (classify keeps float32 entropies)
  const worst = r.claims.reduce<Claim | null>((w, c) => ((c.recomputeError ?? 0) > (w?.recomputeError ?? 0) ? c : w), null);
  const gap = worst && worst.recomputeError! > 1e-9
    ? `<p>The metrics recomputed from the per-example outputs differ from those the runs reported by up to ${fmtMde(worst.metric, worst.recomputeError!)} (${escHtml(fmtOf(worst.metric).label)}): an entropy stored as float32 can fall on the other side of a PAvPU threshold than the run's float64 value did (only when entropies crowd within ~1e-7 of each other, as an untrained network's do).</p>`
    : '';
  const commits = [...new Set(r.claims.flatMap((c) => c.commits))];
  return `${head}
<p>Each line compares the paper's better method A with B on the same seeds. Per seed: A − B of the run's reported metric;
then their mean with a 95 % Student-t interval over seeds (training randomness), and a paired bootstrap over test examples
(${b ? `${b.B} resamples of the ${examplesText(r.claims)} test examples, generator seed ${b.rngSeed}` : 'not computed'}: each resample recomputes every seed's
metric for A and B from the runs' per-example outputs and averages A − B over seeds; 95 % percentile interval and two-sided p).
<b>supported</b>: both intervals exclude 0 on the paper's side; <b>contradicted</b>: both exclude 0 on the other side;
<b>undecided</b>: otherwise. Detectable effect: the larger of the two minimal detectable effects (80 % power, two-sided 5 %:
(t<sub>.975,n−1</sub> + t<sub>.8,n−1</sub>)·sd/√n over seeds, 2.80 × the bootstrap SE): a true effect smaller than this had less than an
80 % chance of being called by this run. The verdict reads the intervals, uncorrected for the number of claims; the family's line below corrects it.
The compared runs were trained at commit${commits.length > 1 ? 's' : ''} ${commits.map((c) => `<code>${escHtml(c.slice(0, 12))}</code>`).join(', ')}.${r.claimsNote ? ` <em>${escHtml(r.claimsNote)}</em>` : ''}</p>
<p>${escHtml(familySummary(r.claims))}</p>
${gap}${tables}`;
}
