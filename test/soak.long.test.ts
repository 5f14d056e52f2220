// One process that lives long (issue 30, part 2): test/soak.ts runs every suite file in one
// process — every kernel variant the suites use compiled into one device, every task's small
// model trained — then trains every model again for three rounds. It must pass every test, and
// the rounds must compile nothing new and hold the resident memory (a process that trains for
// hours repeats its steps: a pipeline or memory that grows per step would end it).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const test = suite('soak');
const here = dirname(fileURLToPath(import.meta.url));

interface Round { round: number; pipelines: number; rssMiB: number; liveBytes: number; s: number }
interface Soak { total: number; passed: number; files: number; afterSuites: { pipelines: number; rssMiB: number; s: number }; perRound: Round[]; error: string; s: number }

test('every suite in one process, then every model trained for three more rounds: all pass, no new pipelines, flat memory', () => {
  const r = spawnSync(process.execPath, ['--no-use-osr', join(here, 'soak.js'), '3'], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20, timeout: 3 * 3600_000 });
  assert.is(r.status, 0, `the soak process ended with ${r.signal ?? `exit ${r.status}`}: ${(r.stderr ?? '').slice(-2000)}`);
  const line = (r.stdout ?? '').trim().split('\n').pop()!;
  const s = JSON.parse(line) as Soak;
  console.log(`\n  soak: ${s.passed}/${s.total} tests in ${s.files} files, ${s.afterSuites.pipelines} pipelines, ${s.afterSuites.rssMiB} MiB after the suites (${s.afterSuites.s} s); ` +
    s.perRound.map((q) => `round ${q.round}: ${q.pipelines} pipelines, ${q.rssMiB} MiB (${q.s} s)`).join('; '));
  assert.is(s.error, '', 'the model rounds');
  assert.ok(s.total > 400, `only ${s.total} tests ran`);
  assert.is(s.passed, s.total, `${s.total - s.passed} tests failed in one process: ${(r.stdout ?? '').match(/FAIL[^\n]*/g)?.join('; ')}`);
  assert.is(s.perRound.length, 3);
  const [first, ...later] = s.perRound;
  for (const q of later) {
    // the first round may still compile what no suite used; after it nothing is new
    assert.is(q.pipelines, first.pipelines, `round ${q.round} compiled ${q.pipelines - first.pipelines} new pipelines`);
    assert.is(q.liveBytes, first.liveBytes, `round ${q.round}: live GPU bytes`);
    // allocator slack, not growth: a leak of one activation or pipeline per step would be far more
    assert.ok(q.rssMiB - first.rssMiB < 64, `round ${q.round}: resident memory grew ${q.rssMiB - first.rssMiB} MiB`);
  }
});

test.run();
