// Test entry point: runs every compiled *.test.js suite with uvu (and *.long.test.js under
// LBD_LONG=1), each suite file in its own child process, then prints one "N passed, N failed"
// line. `node dist/test/run.js FILTER` runs the files whose path contains FILTER.
//
// Why one process per file: with every suite in one process, lavapipe crashed (SIGSEGV) in the
// segment suite, reproducibly, after the engine suites had compiled a few thousand pipeline
// variants; the same suite passes alone (docs/NOTES.md, 2026-12-02). A fresh device per file keeps
// each suite's state its own; a crash still fails the run, naming the file.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { getGpu, setQuiet } from '../engine/device.js';

const here = dirname(fileURLToPath(import.meta.url));
const long = process.env.LBD_LONG === '1';
const child = process.env.LBD_TEST_CHILD;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return walk(p);
    return f.endsWith('.test.js') && (long || !f.endsWith('.long.test.js')) ? [p] : [];
  });
}

const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

if (child) {
  // One suite file: start the device quietly, run it with uvu, print uvu's totals.
  setQuiet(true);
  await getGpu();
  const { run } = (await import('uvu/run')) as { run: (s: { name: string; file: string }[], o: { bail?: boolean }) => Promise<void> };
  await run([{ name: child.slice(here.length + 1), file: child }], {});
  process.exit(process.exitCode ?? 0);
}

const filter = process.argv[2];
const files = walk(here).filter((p) => !filter || p.includes(filter)).sort();
setQuiet(true);
const g = await getGpu();
console.log(`device: ${g.info.name} (${g.info.backend}${g.info.subgroupSize ? `, subgroup ${g.info.subgroupSize}` : ''}); ${files.length} suite files, one process each`);

let total = 0, passed = 0;
const crashed: string[] = [];
for (const file of files) {
  const name = file.slice(here.length + 1);
  const r = spawnSync(process.execPath, ['--no-use-osr', fileURLToPath(import.meta.url)], {
    env: { ...process.env, LBD_TEST_CHILD: file }, encoding: 'utf8', maxBuffer: 64 * 2 ** 20,
  });
  // uvu's own report, less the device's start-up warnings
  process.stdout.write((r.stdout ?? '').replace(/^\s*Total:[\s\S]*$/m, ''));
  const err = (r.stderr ?? '').split('\n').filter((l) => l && !/maxDynamic\w+PerPipelineLayout/.test(l)).join('\n');
  if (err) process.stderr.write(`${err}\n`);
  const out = strip(r.stdout ?? '');
  const t = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const p = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  total += t;
  passed += p;
  if (r.status !== 0 && t === p) {
    // the process died (a signal, an exception outside a test): count it as a failure
    crashed.push(`${name} (${r.signal ?? `exit ${r.status}`})`);
    total++;
  }
}
if (crashed.length) console.log(`\nsuite processes that died: ${crashed.join(', ')}`);
console.log(`${passed} passed, ${total - passed} failed`);
process.exit(total === passed ? 0 : 1);
