// Grids beyond one machine: the shard a process runs (--shard, Slurm's array variables,
// Kubernetes' completion index), and the recommend task run as one process versus three shard
// processes (one configured each way) merged, and mnist as one process versus two shards merged:
// the same report, wall-clock fields aside (classify and segment: runner-faults.long.test.ts). A merge
// missing a shard names the missing run; a shard rerun with --resume changes nothing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { resolveShard } from '../../tasks/common/grid.js';
import { UserError } from '../../tasks/common/errors.js';
import { BUILD, recommendReference, tmp, runTaskProcess, tinyRecommend, readReport, errorLines } from './runner-fixture.js';

const test = suite('runner shards');

test('the shard comes from --shard, else Slurm, else Kubernetes with a count; bad values are user errors', () => {
  assert.equal(resolveShard(undefined, undefined, {}), { index: 0, count: 1, source: 'default' });
  assert.equal(resolveShard('2/3', undefined, { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '5' }), { index: 2, count: 3, source: '--shard' });
  assert.equal(resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_COUNT: '3', SLURM_ARRAY_TASK_MIN: '2' }), { index: 2, count: 3, source: 'SLURM_ARRAY_TASK_ID' });
  assert.equal(resolveShard(undefined, '4', { JOB_COMPLETION_INDEX: '3' }), { index: 3, count: 4, source: 'JOB_COMPLETION_INDEX' });
  assert.equal(resolveShard(undefined, undefined, { JOB_COMPLETION_INDEX: '1', LBD_SHARD_COUNT: '2' }), { index: 1, count: 2, source: 'JOB_COMPLETION_INDEX' });
  assert.throws(() => resolveShard(undefined, undefined, { JOB_COMPLETION_INDEX: '1' }), (e: Error) => e instanceof UserError && /--shard-count/.test(e.message));
  assert.throws(() => resolveShard('3/3', undefined, {}), /not in 0\.\.2/);
  assert.throws(() => resolveShard('1-3', undefined, {}), /i\/n/);
  assert.throws(() => resolveShard(undefined, undefined, { SLURM_ARRAY_TASK_ID: '1' }), /SLURM_ARRAY_TASK_COUNT/);
});

test('recommend: three shard processes merged give the one-process report', async () => {
  const { data, out: one } = await recommendReference(); // one process, uninterrupted
  const s = [tmp('lbd-shard-0-'), tmp('lbd-shard-1-'), tmp('lbd-shard-2-')], merged = tmp('lbd-shard-merged-');
  const shards = await Promise.all([
    runTaskProcess('recommend', tinyRecommend(data, s[0], '--shard', '0/3')),
    runTaskProcess('recommend', tinyRecommend(data, s[1]), { SLURM_ARRAY_TASK_ID: '2', SLURM_ARRAY_TASK_MIN: '1', SLURM_ARRAY_TASK_COUNT: '3' }),
    runTaskProcess('recommend', tinyRecommend(data, s[2], '--shard-count', '3'), { JOB_COMPLETION_INDEX: '2' }),
  ]);
  const ids = ['ml-tiny-vae_drop-s1.json', 'ml-tiny-sivae_lbd-s1.json', 'ml-tiny-dae-s1.json'];
  shards.forEach((r, i) => {
    assert.is(r.code, 0, r.stderr);
    assert.equal(readdirSync(join(s[i], 'runs')), [ids[i]], `shard ${i} wrote only its run`);
    assert.not.ok(existsSync(join(s[i], 'report.json')), 'a shard writes no report');
    assert.match(r.stdout, /--merge/);
  });
  const partial = await runTaskProcess('recommend', tinyRecommend(data, tmp('lbd-shard-partial-'), '--merge', `${s[0]},${s[2]}`));
  assert.is(partial.code, 2);
  assert.equal(errorLines(partial).length, 1, partial.stderr);
  assert.match(partial.stderr, /ml-tiny-sivae_lbd-s1/);
  const m = await runTaskProcess('recommend', tinyRecommend(data, merged, '--merge', s.join(',')));
  assert.is(m.code, 0, m.stderr);
  assert.equal(readReport(merged), readReport(one));
  // a shard run again with --resume skips its finished run: the file is untouched
  const file = join(s[1], 'runs', ids[1]), before = readFileSync(file, 'utf8'), mtime = statSync(file).mtimeMs;
  const again = await runTaskProcess('recommend', tinyRecommend(data, s[1], '--shard', '1/3', '--resume'));
  assert.is(again.code, 0, again.stderr);
  assert.is(readFileSync(file, 'utf8'), before);
  assert.is(statSync(file).mtimeMs, mtime);
});

test('mnist: two shard processes merged equal one process', async () => {
  // mnist's grid is one run: shard 0/2 runs it, shard 1/2 finds nothing to do. 8 steps of 1000
  // digits and 2 MC samples keep each process near its start-up cost (classify and segment, whose
  // processes each compile ~10 s of kernels, are compared in runner-faults.long.test.ts)
  const mn = ['--epochs', '1', '--hidden', '8', '--batch', '1000', '--mc-samples', '2', '--dropout', 'lbd'];
  const one = tmp('lbd-mn-1-'), s0 = tmp('lbd-mn-s0-'), s1 = tmp('lbd-mn-s1-'), merged = tmp('lbd-mn-m-');
  const runs = await Promise.all([
    runTaskProcess('mnist', [...mn, '--out', one]),
    runTaskProcess('mnist', [...mn, '--out', s0, '--shard', '0/2']),
    runTaskProcess('mnist', [...mn, '--out', s1, '--shard', '1/2']),
  ]);
  for (const r of runs) assert.is(r.code, 0, r.stderr);
  assert.equal(readdirSync(join(s0, 'runs')), ['lbd-s1.json']);
  assert.not.ok(existsSync(join(s1, 'runs', 'lbd-s1.json')), 'shard 1/2 has no run');
  const m = await runTaskProcess('mnist', [...mn, '--out', merged, '--merge', `${s0},${s1}`]);
  assert.is(m.code, 0, m.stderr);
  // the leak measurement is a difference of live bytes, which the pool's history may change
  const strip = (r: unknown): unknown => { const x = r as { result: Record<string, unknown> }; const { leakedBytesPerStep: _l, ...rest } = x.result; return { ...x, result: rest }; };
  assert.equal(strip(readReport(merged)), strip(readReport(one)));
});

/** A documented command line as [task, args] (`node --no-use-osr dist/tasks/T.js ARGS`). */
function taskOf(argv: string[]): [string, string[]] {
  assert.equal(argv.slice(0, 2), ['node', '--no-use-osr']);
  const m = /^dist\/tasks\/(\w+)\.js$/.exec(argv[2]);
  assert.ok(m, `a task entry point: ${argv[2]}`);
  return [m![1], argv.slice(3)];
}

test('the Slurm and Kubernetes examples run the task command unchanged; each task/pod gets its shard', async () => {
  const docs = join(BUILD, '..', 'docs', 'examples');
  const slurm = readFileSync(join(docs, 'slurm-classify.sh'), 'utf8');
  const array = /^#SBATCH --array=0-(\d+)$/m.exec(slurm), line = /^node --no-use-osr .*$/m.exec(slurm);
  assert.ok(array && line, 'an array directive and one node command');
  const argv = line![0].replace(/"\$DATA"/, '/nonexistent/cifar').replace(/"\$OUT"/, tmp('lbd-slurm-')).split(/\s+/);
  const [task, args] = taskOf(argv);
  const count = Number(array![1]) + 1;
  const r = await runTaskProcess(task, [...args, '--list'], { SLURM_ARRAY_TASK_ID: '3', SLURM_ARRAY_TASK_COUNT: String(count) });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`15 runs; this process is shard 3/${count} \\(SLURM_ARRAY_TASK_ID\\)`));
  const k8s = readFileSync(join(docs, 'k8s-classify-indexed-job.yaml'), 'utf8');
  const completions = Number(/^\s+completions: (\d+)$/m.exec(k8s)?.[1]);
  assert.match(k8s, /completionMode: Indexed/);
  const command = JSON.parse(/command: (\[.*\])$/m.exec(k8s)![1]) as string[];
  assert.is(command[command.indexOf('--shard-count') + 1], String(completions), '--shard-count equals the completions');
  const [task2, args2] = taskOf(command.map((a) => (a === '/results/classify' ? tmp('lbd-k8s-') : a)));
  const r2 = await runTaskProcess(task2, [...args2, '--list'], { JOB_COMPLETION_INDEX: String(completions - 1) });
  assert.is(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, new RegExp(`15 runs; this process is shard ${completions - 1}/${completions} \\(JOB_COMPLETION_INDEX\\)`));
  assert.is(r2.stdout.split('\n').filter((l) => new RegExp(`shard ${completions - 1}/${completions}  pending`).test(l)).length, 3, 'its three runs, pending');
});

test.run();
