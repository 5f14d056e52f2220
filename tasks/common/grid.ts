// A task's grid (methods × seeds × data sets) as a list of runs with deterministic ids, split
// over the shards of a job array: `--shard i/n`, or Slurm's SLURM_ARRAY_TASK_ID /
// SLURM_ARRAY_TASK_COUNT (minus SLURM_ARRAY_TASK_MIN), or Kubernetes' JOB_COMPLETION_INDEX with
// `--shard-count` (an Indexed Job says its completions nowhere in the pod's environment). Run k
// of the plan belongs to shard k mod n. Each finished run is one file `runs/<id>.json` holding its
// result, the options it was trained with, its data fingerprint and epochs; with --resume a
// finished run is reused (idempotent shards), an unfinished one continues from its checkpoint,
// and any difference in options or data is refused with the list of differences. `--merge`
// collects the run files of any set of folders into the one report, listing missing runs.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UserError } from './errors.js';
import { readJson, writeJsonAtomic, removeStaleTemps } from './files.js';
import { configDifferences } from './config.js';
import { gitCommit } from './run-state.js';
import { environment } from './environment.js';

export interface Shard { index: number; count: number; source: string }

/** The shard this process runs (see the file's comment); 0/1 when nothing says otherwise. */
export function resolveShard(opt: string | undefined, countOpt: string | undefined, env: NodeJS.ProcessEnv = environment()): Shard {
  const int = (v: string | undefined, what: string, min: number): number => {
    const n = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isInteger(n) || n < min) throw new UserError(`${what} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };
  let s: Shard;
  if (opt !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(opt.trim());
    if (!m) throw new UserError(`--shard must be i/n with 0 ≤ i < n (e.g. 0/3), got '${opt}'`);
    s = { index: Number(m[1]), count: Number(m[2]), source: '--shard' };
  } else if (env.SLURM_ARRAY_TASK_ID !== undefined) {
    const id = int(env.SLURM_ARRAY_TASK_ID, 'SLURM_ARRAY_TASK_ID', 0), min = env.SLURM_ARRAY_TASK_MIN === undefined ? 0 : int(env.SLURM_ARRAY_TASK_MIN, 'SLURM_ARRAY_TASK_MIN', 0);
    const count = countOpt !== undefined ? int(countOpt, '--shard-count', 1) : int(env.SLURM_ARRAY_TASK_COUNT, 'SLURM_ARRAY_TASK_COUNT (or --shard-count)', 1);
    s = { index: id - min, count, source: 'SLURM_ARRAY_TASK_ID' };
  } else if (env.JOB_COMPLETION_INDEX !== undefined) {
    if (countOpt === undefined && env.LBD_SHARD_COUNT === undefined) throw new UserError('JOB_COMPLETION_INDEX is set but not the shard count: pass --shard-count (the Job\'s completions) or set LBD_SHARD_COUNT');
    s = { index: int(env.JOB_COMPLETION_INDEX, 'JOB_COMPLETION_INDEX', 0), count: int(countOpt ?? env.LBD_SHARD_COUNT, '--shard-count', 1), source: 'JOB_COMPLETION_INDEX' };
  } else {
    s = { index: 0, count: countOpt !== undefined ? int(countOpt, '--shard-count', 1) : 1, source: 'default' };
  }
  if (s.count < 1 || s.index < 0 || s.index >= s.count) throw new UserError(`shard ${s.index}/${s.count} (from ${s.source}) is not in 0..${s.count - 1}`);
  return s;
}

/** The runner's options, shared by every task's command line. */
export function addRunnerOptions(c: Command): Command {
  return c
    .option('--resume', 'reuse finished runs and continue unfinished ones from their checkpoints in --out (refused if options or data differ)')
    .option('--shard <i/n>', 'run only runs k with k mod n = i (default: SLURM_ARRAY_TASK_ID/COUNT or JOB_COMPLETION_INDEX)')
    .option('--shard-count <n>', 'the number of shards when the index comes from JOB_COMPLETION_INDEX (Kubernetes Indexed Job)')
    .option('--merge <dirs>', 'build the report in --out from the finished runs of these comma-separated shard folders (no training)')
    .option('--list', 'print the plan (run ids, shard, state in --out) and exit');
}

export interface RunnerOptions { out: string; resume: boolean; shard: Shard; merge: string[] | null; list: boolean }

export function runnerOptions(a: Record<string, unknown>): RunnerOptions {
  const merge = a.merge === undefined ? null : String(a.merge).split(',').map((s) => s.trim()).filter(Boolean);
  if (merge) for (const d of merge) if (!existsSync(d)) throw new UserError(`--merge: folder ${d} does not exist`);
  const shard = resolveShard(a.shard as string | undefined, a.shardCount as string | undefined);
  if (merge && a.shard !== undefined) throw new UserError('--merge builds the whole report: drop --shard');
  return { out: String(a.out), resume: !!a.resume, shard: merge ? { index: 0, count: 1, source: 'merge' } : shard, merge, list: !!a.list };
}

/** One run of a grid. */
export interface GridRun { id: string; seed: number; label: string }

export const runPaths = (out: string, id: string): { checkpoint: string; result: string } => ({
  checkpoint: join(out, 'checkpoints', `${id}.safetensors`),
  result: join(out, 'runs', `${id}.json`),
});

export const RECORD_FORMAT = 'lbd-run-result/1';

/** A finished run's file. */
export interface RunRecord<R> {
  format: typeof RECORD_FORMAT;
  task: string;
  runId: string;
  config: Record<string, unknown>;
  fingerprint: string;
  epochs: number;
  /** Epoch counts the run had finished before --resume extended it (raised --epochs). */
  extendedFrom?: number[];
  adapter: string;
  commit: string;
  result: R;
}

export interface GridSpec<G extends GridRun, R> {
  task: string;
  runner: RunnerOptions;
  plan: G[];
  epochs: number;
  /** The adapter's name, asked for when a run's record is written (a refusal needs no device). */
  adapter: () => Promise<string>;
  /** The options that shape this run (epochs excluded: raising them may extend a finished run). */
  config(run: G): Record<string, unknown>;
  fingerprint(run: G): string;
  /** Why a finished run cannot be extended to more epochs (e.g. a schedule that depends on them), or null. */
  extendBlocked?(run: G): string | null;
  /** Trains (resuming from files.checkpoint when it exists) and evaluates one run. */
  execute(run: G, files: { checkpoint: string; result: string }): Promise<R>;
  /** A run that is skipped (finished already): for progress bars. */
  skipped?(run: G): void;
}

export interface GridResult<G extends GridRun, R> {
  /** Records of the runs of this shard (or, merging, of the whole plan) in plan order. */
  records: { run: G; record: RunRecord<R> }[];
  /** Runs of the plan with no record (other shards, or missing when merging). */
  missing: G[];
  complete: boolean;
}

/** The plan as lines: id, shard (for `count` shards) and state in `out`. */
export function planLines(plan: GridRun[], count: number, out: string): string[] {
  return plan.map((r, k) => {
    const p = runPaths(out, r.id);
    const state = existsSync(p.result) ? 'finished' : existsSync(p.checkpoint) ? 'started' : 'pending';
    return `${r.id.padEnd(36)} shard ${k % count}/${count}  ${state}`;
  });
}

function checkRecord<G extends GridRun, R>(g: GridSpec<G, R>, run: G, file: string, rec: RunRecord<R>): void {
  if (rec?.format !== RECORD_FORMAT || rec.runId !== run.id || typeof rec.result !== 'object') throw new UserError(`run file ${file} is not this version's record of run ${run.id}; delete it to redo the run`);
  const diff = configDifferences(rec.config, g.config(run), 'finished run');
  if (rec.fingerprint !== g.fingerprint(run)) diff.push(`data: finished run's fingerprint ${rec.fingerprint}, now ${g.fingerprint(run)}`);
  if (diff.length) throw new UserError(`run file ${file} was made with other settings: ${diff.join('; ')}`);
}

export async function runGrid<G extends GridRun, R>(g: GridSpec<G, R>): Promise<GridResult<G, R>> {
  const { runner } = g;
  const ids = new Set<string>();
  for (const r of g.plan) { if (ids.has(r.id)) throw new Error(`${g.task}: run id ${r.id} is planned twice`); ids.add(r.id); }
  const records: { run: G; record: RunRecord<R> }[] = [], missing: G[] = [];
  if (runner.merge) {
    const dirs = [...runner.merge, runner.out];
    for (const run of g.plan) {
      const file = dirs.map((d) => runPaths(d, run.id).result).find(existsSync);
      if (!file) { missing.push(run); continue; }
      const rec = readJson<RunRecord<R>>(file, 'run file');
      checkRecord(g, run, file, rec);
      if (rec.epochs !== g.epochs) throw new UserError(`run file ${file} trained ${rec.epochs} epochs, not --epochs ${g.epochs}`);
      records.push({ run, record: rec });
    }
    if (missing.length) throw new UserError(`--merge: ${missing.length} of ${g.plan.length} runs have no finished run file in ${dirs.join(', ')}: ${missing.map((r) => r.id).join(', ')}`);
    return { records, missing, complete: true };
  }
  g.plan.forEach((run, k) => { if (k % runner.shard.count !== runner.shard.index) missing.push(run); });
  const mine = g.plan.filter((_, k) => k % runner.shard.count === runner.shard.index);
  for (const run of mine) {
    const files = runPaths(runner.out, run.id);
    removeStaleTemps(join(runner.out, 'checkpoints'), [`${run.id}.`]);
    removeStaleTemps(join(runner.out, 'runs'), [`${run.id}.`]);
    let extendedFrom: number[] | undefined;
    if (existsSync(files.result) && runner.resume) {
      const rec = readJson<RunRecord<R>>(files.result, 'run file');
      checkRecord(g, run, files.result, rec);
      if (rec.epochs === g.epochs) { records.push({ run, record: rec }); g.skipped?.(run); continue; }
      if (rec.epochs > g.epochs) throw new UserError(`run file ${files.result}: ${run.id} finished ${rec.epochs} epochs; --epochs ${g.epochs} asks for fewer (results are never cut back)`);
      const blocked = g.extendBlocked?.(run);
      if (blocked) throw new UserError(`run file ${files.result}: ${run.id} finished ${rec.epochs} epochs and cannot be extended to ${g.epochs}: ${blocked}`);
      if (!existsSync(files.checkpoint)) throw new UserError(`run file ${files.result}: ${run.id} finished ${rec.epochs} epochs but its checkpoint ${files.checkpoint} is gone, so it cannot be extended to ${g.epochs}`);
      extendedFrom = [...(rec.extendedFrom ?? []), rec.epochs];
    } else if (!runner.resume) {
      for (const f of [files.result, files.checkpoint]) if (existsSync(f)) rmSync(f);
    }
    const result = await g.execute(run, files);
    const record: RunRecord<R> = {
      format: RECORD_FORMAT, task: g.task, runId: run.id, config: g.config(run), fingerprint: g.fingerprint(run), epochs: g.epochs,
      ...(extendedFrom ? { extendedFrom } : {}), adapter: await g.adapter(), commit: gitCommit(), result,
    };
    writeJsonAtomic(files.result, record);
    records.push({ run, record });
  }
  return { records, missing, complete: missing.length === 0 };
}

/** What a report says about how its runs were made (adapters, commits, extended runs). */
export function provenance<R>(records: { record: RunRecord<R> }[]): { adapter: string; commit: string; extended?: { run: string; from: number[]; to: number }[] } {
  const uniq = (v: string[]): string => [...new Set(v)].join(' + ');
  const extended = records.filter((r) => r.record.extendedFrom).map((r) => ({ run: r.record.runId, from: r.record.extendedFrom!, to: r.record.epochs }));
  return { adapter: uniq(records.map((r) => r.record.adapter)), commit: uniq(records.map((r) => r.record.commit)), ...(extended.length ? { extended } : {}) };
}
