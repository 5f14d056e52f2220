// The part of every task's main that is not the task's: --list, the progress bar, the grid of
// runs (this shard's share, resumed and validated), and either the report (when every run of
// the plan is finished here or merged) or a line saying what the other shards must add.
import cliProgress from 'cli-progress';
import { getGpu } from '../../engine/index.js';
import { removeStaleTemps } from './files.js';
import { runGrid, planLines, provenance, type GridRun, type GridSpec, type RunnerOptions, type RunRecord } from './grid.js';

export interface Progress { increment(n: number, payload?: Record<string, string>): void }

/** Where one run of an experiment keeps its checkpoint and what it must match to resume from it. */
export interface RunFiles { bar?: Progress; checkpoint?: string; runId?: string; fingerprint?: string }

export interface TaskMain<G extends GridRun, R> extends Omit<GridSpec<G, R>, 'execute' | 'skipped' | 'adapter'> {
  runner: RunnerOptions;
  /** Optimisation steps one run takes (progress). */
  stepsPerRun(run: G): number;
  /** cli-progress format after `task |{bar}| {percentage}% | ETA {eta_formatted} | {run}`. */
  barFields: Record<string, string>;
  execute(run: G, files: { checkpoint: string; result: string }, bar: Progress): Promise<R>;
  /** Builds and writes the report from every run's record. */
  report(records: { run: G; record: RunRecord<R> }[], prov: ReturnType<typeof provenance>): Promise<void>;
}

/** Prints the plan and exits when --list was given. */
export function listAndExit(plan: GridRun[], runner: RunnerOptions): void {
  if (!runner.list) return;
  console.log(planLines(plan, runner.shard.count, runner.out).join('\n'));
  console.log(`${plan.length} runs${runner.shard.count > 1 ? `; this process is shard ${runner.shard.index}/${runner.shard.count} (${runner.shard.source})` : ''}`);
  process.exit(0);
}

export async function runTask<G extends GridRun, R>(t: TaskMain<G, R>): Promise<void> {
  // the device starts with the first run to train: --merge and refusals need none
  const adapter = async (): Promise<string> => (await getGpu()).info.name;
  const fields = Object.keys(t.barFields).map((k) => ` | ${t.barFields[k]} {${k}}`).join('');
  // noTTYOutput: logs (CI, nohup, Slurm) get a progress line every 30 s
  const bar = new cliProgress.SingleBar({ format: `${t.task} |{bar}| {percentage}% | ETA {eta_formatted} | {run}${fields}`, hideCursor: true, noTTYOutput: true, notTTYSchedule: 30000 }, cliProgress.Presets.shades_classic);
  const mine = t.plan.filter((_, k) => k % t.runner.shard.count === t.runner.shard.index);
  const total = mine.reduce((a, r) => a + t.stepsPerRun(r), 0);
  const useBar = !t.runner.merge && total > 0;
  if (useBar) bar.start(total, 0, { run: '-', ...Object.fromEntries(Object.keys(t.barFields).map((k) => [k, '-'])) });
  let res;
  try {
    res = await runGrid<G, R>({ ...t, adapter, execute: async (run, files) => { await getGpu(); return t.execute(run, files, bar); }, skipped: (run) => bar.increment(t.stepsPerRun(run)) });
  } finally {
    if (useBar) bar.stop();
  }
  if (!res.complete) {
    console.log(`${t.task}: shard ${t.runner.shard.index}/${t.runner.shard.count} finished its ${res.records.length} runs in ${t.runner.out}; ` +
      `${res.missing.length} belong to other shards. Build the report with --merge <their --out folders> (same options).`);
    return;
  }
  removeStaleTemps(t.runner.out, ['report.']);
  await t.report(res.records, provenance(res.records));
}
