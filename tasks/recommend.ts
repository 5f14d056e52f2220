// node dist/tasks/recommend.js (npx lbd-gpu recommend): the command line of the
// collaborative-filtering experiment (tasks/recommend/experiment.ts) — options, the grid on the
// common runner (resume, shards, merging: tasks/common/), and the report (report.json,
// report.html, figures).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { renderAndExit } from './common/cli.js';
import { UserError } from './common/errors.js';
import { runMain } from './common/entry.js';
import { writeJsonAtomic } from './common/files.js';
import { datasetName } from './common/config.js';
import { addRunnerOptions, runnerOptions, type GridRun } from './common/grid.js';
import { runTask, listAndExit } from './common/task-main.js';
import { loadRatings, describeRatings, ratingsFormats, type RatingsData, type RatingsFormat } from './data/ratings.js';
import { writeRecommendReport, recommendClaims, recommendReportClaims, type RecommendReport, type RecommendRun, type DatasetReport } from './recommend/report.js';
import { withoutPerExample } from './stats/per-example.js';
import { familySummary } from './stats/claims.js';
import {
  ROWS, ROW_NAMES, DEFAULTS, PRESET_NAMES, PRESETS, runConfig, dataFingerprint, runOne, tableRows, tablesOf,
  type RecommendOptions, type PresetName,
} from './recommend/experiment.js';

async function main(): Promise<void> {
  const cli = addRunnerOptions(new Command()
    .name('recommend')
    .description('Collaborative filtering: SIVAE with learnable Bernoulli dropout and the Table 2 baselines (paper §2.3, §3.3).')
    .option('--data <paths>', 'comma-separated data paths (a ratings file or a folder holding one)', 'data/movielens/ml-latest-small/ratings.csv,data/movielens/ml-100k/u.data')
    .option('--format <formats>', `comma-separated, one per path: ${ratingsFormats.join(' | ')}`, 'ml-csv,ml-100k')
    .option('--model <rows>', `comma-separated Table 2 rows or all: ${ROW_NAMES.join(', ')}`, 'all')
    .option('--estimator <e>', 'arm | disarm (SIVAE+LBD)', DEFAULTS.estimator)
    .option('--preset <name>', `${PRESET_NAMES.join(' | ')}: epochs, batch size and seeds (other options override)`, 'cpu')
    .option('--epochs <n>', 'epochs (cpu 20, study 100, paper 200)')
    .option('--batch <n>', 'users per batch (cpu 100, study 100, paper 500)')
    .option('--lr <x>', 'Adam learning rate', String(DEFAULTS.lr))
    .option('--logit-lr <x>', "Adam learning rate of LBD's logits", String(DEFAULTS.logitLr))
    .option('--anneal-steps <n>', 'β = min(cap, step / N) (0: N = the run\'s steps / cap, so β reaches the cap at the end)', String(DEFAULTS.annealSteps))
    .option('--anneal-cap <x>', 'largest β', String(DEFAULTS.annealCap))
    .option('--V <n>', "SIVAE's further masks per example", String(DEFAULTS.V))
    .option('--K <n>', "VampPrior's pseudo-inputs", String(DEFAULTS.K))
    .option('--T <n>', 'IAF steps', String(DEFAULTS.T))
    .option('--hidden <n>', 'encoder/decoder hidden width', String(DEFAULTS.hidden))
    .option('--latent <n>', 'latent dimension', String(DEFAULTS.latent))
    .option('--lbd-regularizer', 'add Eq. 3 on the LBD input logits (the authors\' protocol, the default, has none)')
    .option('--rate <p>', 'input drop rate (initial for the learnable kinds)', String(DEFAULTS.rate))
    .option('--held-out-users <n>', 'validation and test users each: a count, or a fraction < 1 (default: the paper\'s counts for the full sets, 10 % otherwise)')
    .option('--seeds <n>', 'seeds 1..n (cpu 3, study 3, paper 3)')
    .option('--out <dir>', 'where report.json, report.html and the figures go', 'runs/recommend')
    .option('--render <report.json>', 'only (re)write the figures and report.html of an existing report'));
  cli.parse();
  const a = cli.opts<Record<string, string | boolean | undefined>>();
  if (a.render) await renderAndExit<RecommendReport>(a.render as string, 'recommend', (r) => Array.isArray(r.datasets), writeRecommendReport, tablesOf);
  const preset = PRESETS[a.preset as PresetName];
  if (!preset) throw new UserError(`--preset must be one of ${PRESET_NAMES.join(', ')}, got '${a.preset}'`);
  const num = (k: string, int: boolean, min = 0, openMin = true): number => {
    const raw = a[k.replace(/-([a-zA-Z])/g, (_, c: string) => c.toUpperCase())] as string | undefined;
    const v = raw === undefined && (k === 'epochs' || k === 'batch' || k === 'seeds') ? preset[k] : Number(raw);
    if (!Number.isFinite(v) || (openMin ? v <= min : v < min) || (int && !Number.isInteger(v))) throw new UserError(`--${k} must be ${int ? 'an integer' : 'a number'} ${openMin ? '>' : '≥'} ${min}, got '${raw}'`);
    return v;
  };
  const models = a.model === 'all' ? ROW_NAMES : (a.model as string).split(',').map((s) => s.trim());
  for (const m of models) if (!ROWS[m]) throw new UserError(`--model: unknown '${m}' (known: ${ROW_NAMES.join(', ')}, or all)`);
  const o: RecommendOptions = {
    models, estimator: a.estimator as 'arm' | 'disarm', epochs: num('epochs', true), batch: num('batch', true), lr: num('lr', false), logitLr: num('logit-lr', false),
    annealSteps: num('anneal-steps', true, 0, false), annealCap: num('anneal-cap', false, 0, false), V: num('V', true, 0, false), K: num('K', true), T: num('T', true),
    hidden: num('hidden', true), latent: num('latent', true), rate: num('rate', false, 0, false), daeWeightDecay: DEFAULTS.daeWeightDecay, lbdRegularizer: a.lbdRegularizer === true, seeds: num('seeds', true),
    heldOutUsers: a.heldOutUsers === undefined ? undefined : num('held-out-users', false),
  };
  if (!['arm', 'disarm'].includes(o.estimator)) throw new UserError(`--estimator must be arm or disarm, got '${o.estimator}'`);
  if (!(o.rate < 1)) throw new UserError(`--rate must be in [0, 1), got '${a.rate}'`);
  const paths = (a.data as string).split(',').map((s) => s.trim()), formats = (a.format as string).split(',').map((s) => s.trim());
  if (paths.length !== formats.length) throw new UserError(`--data has ${paths.length} paths but --format ${formats.length} formats: give one format per path`);
  for (const f of formats) if (!ratingsFormats.includes(f as RatingsFormat)) throw new UserError(`--format must be one of ${ratingsFormats.join(', ')}; got '${f}'`);
  for (const p of paths) if (!existsSync(p)) throw new UserError(`--data: ${p} does not exist`);
  const runner = runnerOptions(a);
  const names = paths.map(datasetName);
  if (new Set(names).size !== names.length) throw new UserError(`--data: two data sets have the same name (${names.join(', ')}): run ids and reports name a set by its folder`);
  const plan: RecGridRun[] = names.flatMap((name) => Array.from({ length: o.seeds }, (_, s) => models.map((m) => ({ id: `${name}-${m.replace('+', '_')}-s${s + 1}`, seed: s + 1, model: m, dataset: name, label: `${name} ${m} seed ${s + 1}` }))).flat());
  listAndExit(plan, runner);
  const sets = new Map(paths.map((p, i) => {
    let data: RatingsData;
    try { data = loadRatings(p, formats[i] as RatingsFormat, { heldOutUsers: o.heldOutUsers }); } catch (e) { throw new UserError(`--data: ${(e as Error).message}`); }
    console.log(`${names[i]}: ${describeRatings(data.summary)}`);
    if (o.batch > data.train.rows) throw new UserError(`--batch ${o.batch} is larger than ${names[i]}'s ${data.train.rows} training users`);
    return [names[i], { name: names[i], data, format: formats[i], fp: dataFingerprint(data) }];
  }));
  await runTask<RecGridRun, RecommendRun>({
    task: 'recommend', runner, plan, epochs: o.epochs,
    config: (r) => runConfig(r.model, r.seed, r.dataset, o), fingerprint: (r) => sets.get(r.dataset)!.fp,
    extendBlocked: () => (o.annealSteps === 0 ? 'β is annealed over the planned epochs (--anneal-steps 0); give a fixed --anneal-steps to extend runs' : null),
    stepsPerRun: (r) => Math.ceil(sets.get(r.dataset)!.data.train.rows / o.batch) * o.epochs, barFields: { loss: 'loss' },
    execute: (r, files, bar) => { const s = sets.get(r.dataset)!; return runOne(r.model, r.seed, o, s.data, s.name, { bar, checkpoint: files.checkpoint, runId: r.id, fingerprint: s.fp }); },
    report: async (records, prov) => {
      const datasets: DatasetReport[] = [...sets.values()].map((s) => {
        const runs = records.filter((x) => x.run.dataset === s.name).map((x) => x.record.result);
        const { ms: _ms, format: _f, ...summary } = s.data.summary;
        // the per-user arrays stay in the run files (the claims below are computed from them)
        return { name: s.name, format: s.format, path: s.name, fingerprint: s.fp, summary: summary as unknown as Record<string, number>, table: tableRows(runs, models), runs: runs.map(withoutPerExample) };
      });
      const claims = recommendReportClaims([...sets.values()].map((s) => recommendClaims(s.name, records.filter((x) => x.run.dataset === s.name).map((x) => ({ result: x.record.result, commit: x.record.commit })))));
      const report: RecommendReport = { task: 'recommend', options: { ...o, preset: a.preset, data: names, format: formats }, ...prov, date: new Date().toISOString(), datasets, ...claims };
      if (claims.claims) console.log(familySummary(claims.claims));
      const file = join(runner.out, 'report.json');
      writeJsonAtomic(file, report, 1);
      console.log(tablesOf(report));
      const written = await writeRecommendReport(runner.out, report);
      console.log(`report: ${file} (+ ${written.join(', ')})`);
    },
  });
  process.exit(0);
}

interface RecGridRun extends GridRun { model: string; dataset: string }

if (process.argv[1]?.endsWith('recommend.js')) await runMain('recommend', main);
