// The slow part of the fault-injection suite (npm run test:long), part 1: each option changed
// against finished runs and against an unfinished checkpoint — refused with one line naming the
// option; classify and segment as shard processes merged versus one process (mnist's is in
// runner-shards.test.ts: its processes are cheap enough for npm test; these each compile ~10 s of
// kernels, three training processes per task, ~45 s a task on this 2-core machine); classify's
// input checks (class folders that differ between train/ and test/ or outnumber the outputs, a
// batch larger than the split). Kills at every save and at random instants: runner-kills.long.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import {
  recommendReference, referenceRun, writeCamVidCache, runTaskProcess, tinyRecommend, tinyClassify, readReport, errorLines, tmp, type Ran,
} from './runner-fixture.js';

const test = suite('runner faults (long)');

const userError = (r: Ran, pattern: RegExp): void => {
  assert.is(r.code, 2, `exit code (stderr: ${r.stderr})`);
  const lines = errorLines(r).filter((l) => !/^\w+ \|/.test(l));
  assert.is(lines.length, 1, `one line: ${lines.join(' / ')}`);
  assert.match(lines[0], pattern);
};

test('each option that shapes a run, changed on --resume, is refused by name (finished runs and an unfinished checkpoint)', async () => {
  const ref = await recommendReference();
  const changes: [string[], RegExp][] = [
    [['--lr', '0.002'], /--lr: finished run 0\.001, now 0\.002/],
    [['--logit-lr', '0.002'], /--logit-lr/],
    [['--batch', '12'], /--batch: finished run 16, now 12/],
    [['--anneal-steps', '30'], /--anneal-steps/],
    [['--anneal-cap', '0.3'], /--anneal-cap/],
    [['--V', '3'], /--V/],
    [['--K', '5'], /--K/],
    [['--T', '1'], /--T/],
    [['--hidden', '12'], /--hidden/],
    [['--latent', '6'], /--latent/],
    [['--rate', '0.4'], /--rate/],
    [['--estimator', 'disarm'], /--estimator/],
    [['--held-out-users', '0.25'], /--held-out-users|data: finished run's fingerprint/],
    [['--lbd-regularizer'], /--lbd-regularizer/],
  ];
  for (const [args, re] of changes) userError(await runTaskProcess('recommend', tinyRecommend(ref.data, ref.out, '--resume', ...args)), re);
  const out = tmp('lbd-long-opt-');
  const killed = await runTaskProcess('recommend', tinyRecommend(ref.data, out), { LBD_FAULT: 'save:renamed:2' });
  assert.is(killed.signal, 'SIGKILL');
  userError(await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume', '--lr', '0.002')), /checkpoint .*ml-tiny-vae_drop-s1\.safetensors was made with other settings: --lr: checkpoint 0\.001, now 0\.002/);
  userError(await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume', '--anneal-steps', '0')), /--anneal-steps/);
});

test('classify: two shard processes merged equal one process', async () => {
  const ref = await referenceRun();
  const s0 = tmp('lbd-long-cs0-'), s1 = tmp('lbd-long-cs1-'), merged = tmp('lbd-long-cm-');
  const shards = await Promise.all([
    runTaskProcess('classify', tinyClassify(ref.data, s0), { SLURM_ARRAY_TASK_ID: '0', SLURM_ARRAY_TASK_COUNT: '2' }),
    runTaskProcess('classify', tinyClassify(ref.data, s1, '--shard-count', '2'), { JOB_COMPLETION_INDEX: '1' }),
  ]);
  for (const r of shards) assert.is(r.code, 0, r.stderr);
  const m = await runTaskProcess('classify', tinyClassify(ref.data, merged, '--merge', `${s0},${s1}`));
  assert.is(m.code, 0, m.stderr);
  assert.equal(readReport(merged), ref.report);
});

test('segment: two shard processes merged equal one process', async () => {
  const { args } = await writeCamVidCache(tmp('lbd-long-camvid-'));
  const one = tmp('lbd-long-seg1-'), s0 = tmp('lbd-long-seg-s0-'), s1 = tmp('lbd-long-seg-s1-'), merged = tmp('lbd-long-seg-m-');
  const runs = await Promise.all([
    runTaskProcess('segment', [...args, '--out', one]),
    runTaskProcess('segment', [...args, '--out', s0, '--shard', '0/2']),
    runTaskProcess('segment', [...args, '--out', s1, '--shard', '1/2']),
  ]);
  for (const r of runs) assert.is(r.code, 0, r.stderr);
  const m = await runTaskProcess('segment', [...args, '--out', merged, '--merge', `${s0},${s1}`]);
  assert.is(m.code, 0, m.stderr);
  assert.equal(readReport(merged), readReport(one));
});

/** An ImageFolder tree with the given class folders under train/ and test/ (two 32-px PNGs each). */
function imageFolder(train: number, test: number): string {
  const root = tmp('lbd-long-if-');
  const png = (k: number): Buffer => {
    const p = new PNG({ width: 32, height: 32 });
    for (let i = 0; i < p.data.length; i++) p.data[i] = (i * 7 + k * 31) % 256;
    return PNG.sync.write(p);
  };
  for (const [split, n] of [['train', train], ['test', test]] as const) {
    for (let c = 0; c < n; c++) {
      const d = join(root, split, `class${String(c).padStart(2, '0')}`);
      mkdirSync(d, { recursive: true });
      for (let i = 0; i < 2; i++) writeFileSync(join(d, `${i}.png`), png(c * 2 + i));
    }
  }
  return root;
}

test('classify input checks: differing or too many class folders, a batch larger than the split', async () => {
  userError(await runTaskProcess('classify', tinyClassify(imageFolder(10, 9), tmp('lbd-long-o-'))), /train\/ and test\/ hold different class folders \(10 vs 9; not in test\/: class09\)/);
  userError(await runTaskProcess('classify', tinyClassify(imageFolder(11, 11), tmp('lbd-long-o-'))), /has 11 class folders but the model has 10 outputs/);
  const ref = await referenceRun();
  userError(await runTaskProcess('classify', tinyClassify(ref.data, tmp('lbd-long-o-'), '--batch', '64')), /--batch 64 is larger than the training split \(54 images/);
});

test.run();
