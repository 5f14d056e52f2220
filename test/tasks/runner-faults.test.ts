// Fault injection against the recommend task run as a user would (a separate process): killed
// (SIGKILL) at checkpoint phases and mid-epoch, then resumed — the report equals an
// uninterrupted run's and no temporary file survives; damaged files, changed options, fewer
// epochs and an oversized batch each stop with one line naming the file or option, exit 2.
// Every phase of every save and random instants are in runner-faults.long.test.ts.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, cpSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { recommendReference, runTaskProcess, tinyRecommend, readReport, errorLines, tmp, tempFiles, type Ran } from './runner-fixture.js';

const test = suite('runner faults');

/** A copy of the finished reference folder to damage. */
const copyOf = (out: string): string => { const d = tmp('lbd-fault-copy-'); cpSync(out, d, { recursive: true }); return d; };

const userError = (r: Ran, pattern: RegExp): void => {
  assert.is(r.code, 2, `exit code (stderr: ${r.stderr})`);
  const lines = errorLines(r).filter((l) => !/^recommend \|/.test(l));
  assert.is(lines.length, 1, `one line: ${lines.join(' / ')}`);
  assert.match(lines[0], pattern);
  assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
};

test('killed while a checkpoint\'s temporary file is complete but not renamed, then killed mid-epoch: resumes to the same report', async () => {
  const ref = await recommendReference();
  const out = tmp('lbd-fault-kill-');
  // saves per run: epoch-0 checkpoint, epoch 1, epoch 2, run file; the 3rd save is run 1's epoch-2 checkpoint
  const killed = await runTaskProcess('recommend', tinyRecommend(ref.data, out), { LBD_FAULT: 'save:temp:3' });
  assert.is(killed.signal, 'SIGKILL');
  assert.ok(tempFiles(out).length > 0, 'the killed save left its temporary file');
  const killed2 = await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume'), { LBD_FAULT: 'train:step:4' });
  assert.is(killed2.signal, 'SIGKILL');
  const resumed = await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume'));
  assert.is(resumed.code, 0, resumed.stderr);
  assert.equal(tempFiles(out), [], 'stale temporary files removed');
  assert.equal(readReport(out), ref.report);
});

test('damaged files: flipped tensor bits, garbled and empty run files name the file', async () => {
  const ref = await recommendReference();
  const out = copyOf(ref.out);
  const ck = join(out, 'checkpoints', 'ml-tiny-sivae_lbd-s1.safetensors'), run = join(out, 'runs', 'ml-tiny-sivae_lbd-s1.json');
  writeFileSync(run, readFileSync(run, 'utf8').slice(0, 50)); // garbled (truncated)
  userError(await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume')), /run file .*ml-tiny-sivae_lbd-s1\.json is not valid JSON/);
  writeFileSync(run, '');
  userError(await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume')), /ml-tiny-sivae_lbd-s1\.json is empty/);
  // without its run file the run continues from its checkpoint: flip one bit of the tensor data
  cpSync(join(ref.out, 'runs'), join(out, 'runs'), { recursive: true });
  const { rmSync } = await import('node:fs');
  rmSync(run);
  const b = readFileSync(ck);
  b[b.length - 5] ^= 0x10;
  writeFileSync(ck, b);
  userError(await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume')), /checkpoint .*ml-tiny-sivae_lbd-s1\.safetensors: tensor data fails its checksum/);
});

test('changed options and fewer epochs are refused with the difference; a too-large batch is an error', async () => {
  const ref = await recommendReference();
  userError(await runTaskProcess('recommend', tinyRecommend(ref.data, ref.out, '--resume', '--lr', '0.01')), /ml-tiny-vae_drop-s1\.json was made with other settings: --lr: finished run 0\.001, now 0\.01/);
  userError(await runTaskProcess('recommend', tinyRecommend(ref.data, ref.out, '--resume', '--epochs', '1')), /finished 2 epochs; --epochs 1 asks for fewer/);
  userError(await runTaskProcess('recommend', tinyRecommend(ref.data, tmp('lbd-fault-batch-'), '--batch', '500')), /--batch 500 is larger than ml-tiny's 36 training users/);
  assert.ok(readdirSync(join(ref.out, 'runs')).length === 3, 'nothing was removed');
});

test('raising --epochs on a finished run continues it and the report says so', async () => {
  const ref = await recommendReference();
  const out = copyOf(ref.out);
  const more = await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume', '--epochs', '3'));
  assert.is(more.code, 0, more.stderr);
  const r = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { options: { epochs: number }; extended: { run: string; from: number[]; to: number }[]; datasets: { runs: { valNdcg: number[] }[] }[] };
  const old = JSON.parse(readFileSync(join(ref.out, 'report.json'), 'utf8')) as typeof r;
  assert.is(r.options.epochs, 3);
  assert.equal(r.extended.map((x) => [x.run, x.from, x.to]), [['ml-tiny-vae_drop-s1', [2], 3], ['ml-tiny-sivae_lbd-s1', [2], 3], ['ml-tiny-dae-s1', [2], 3]]);
  r.datasets[0].runs.forEach((x, i) => {
    assert.is(x.valNdcg.length, 3);
    assert.equal(x.valNdcg.slice(0, 2), old.datasets[0].runs[i].valNdcg, 'the first two epochs are the finished run\'s');
  });
});

test.run();
