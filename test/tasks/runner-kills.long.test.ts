// The slow part of the fault-injection suite (npm run test:long), part 2: the recommend task
// killed (SIGKILL) at every save's two phases (temporary file complete; renamed) and at random
// instants, then resumed — the report must equal an uninterrupted run's, with no temporary file
// left.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { recommendReference, runTaskProcess, tinyRecommend, readReport, tmp, tempFiles, taskJs } from './runner-fixture.js';

const test = suite('runner kills (long)');

/** 3 runs × (epoch-0, epoch-1, epoch-2 checkpoints, run file) + report.json + report.html. */
const SAVES = 14;

async function killAndResume(point: string): Promise<void> {
  const ref = await recommendReference();
  const out = tmp('lbd-long-kill-');
  const killed = await runTaskProcess('recommend', tinyRecommend(ref.data, out), { LBD_FAULT: point });
  assert.is(killed.signal, 'SIGKILL', `${point}: killed (${killed.stderr.slice(-300)})`);
  const resumed = await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume'));
  assert.is(resumed.code, 0, `${point}: ${resumed.stderr}`);
  assert.equal(tempFiles(out), [], `${point}: no temporary file left`);
  assert.equal(readReport(out), ref.report, `${point}: the resumed report equals the uninterrupted one`);
}

test('killed at every save, before and after its rename: each resumes to the uninterrupted report', async () => {
  for (let k = 1; k <= SAVES; k++) await killAndResume(`save:temp:${k}`);
  for (let k = 1; k <= SAVES; k += 2) await killAndResume(`save:renamed:${k}`);
});

test('killed at random instants (three draws), then resumed: the same report', async () => {
  const ref = await recommendReference();
  for (const fraction of [0.3, 0.55, 0.8]) {
    const out = tmp('lbd-long-random-');
    // the run's wall time under the current load, measured: kill at a fraction of it
    const t0 = Date.now();
    await runTaskProcess('recommend', tinyRecommend(ref.data, tmp('lbd-long-timing-')));
    const ms = (Date.now() - t0) * fraction;
    await new Promise<void>((resolve) => {
      const p = spawn(process.execPath, ['--no-use-osr', taskJs('recommend'), ...tinyRecommend(ref.data, out)], { stdio: 'ignore' });
      const timer = setTimeout(() => p.kill('SIGKILL'), ms);
      p.on('close', () => { clearTimeout(timer); resolve(); });
    });
    const resumed = await runTaskProcess('recommend', tinyRecommend(ref.data, out, '--resume'));
    assert.is(resumed.code, 0, resumed.stderr);
    assert.equal(tempFiles(out), []);
    assert.equal(readReport(out), ref.report, `killed after ${Math.round(ms)} ms`);
  }
});

test.run();
