// Test entry point: runs every compiled *.test.js suite with uvu (and *.long.test.js under
// LBD_LONG=1), then prints one "N passed, N failed" line. Two tiers: the *.unit.test.js files
// first, in a child process that starts no device (plans, statistics, parsers, reports: seconds,
// and they fail the same on a machine without WebGPU), then the rest in one child process with
// the device. `node dist/test/run.js FILTER...` runs the files whose path contains one of the FILTERs.
//
// One process for every file: each kernel variant is compiled once (SwiftShader spends most of a
// suite compiling: 583 compiles of 259 distinct pipelines across six suites, 196 of their 237 s
// repeats). From 2026-12-02 to 2026-12-06 each file had its own process, after lavapipe crashed
// in the segment suite with every suite in one; on 2026-12-06 the whole suite passed in one
// process again, and the soak (test/soak.long.test.ts) runs it and then trains every model for
// more rounds in that process (docs/testing.md). A process that dies still fails the run, naming
// the file it was in, and the files after it run in a fresh process. LBD_TEST_PROCESSES=file
// gives each file its own process again (a suite's state then cannot leak into the next).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { deviceRequested, getGpu, setQuiet } from '../engine/device.js';
import { env } from '../kernels/env.js';

const here = dirname(fileURLToPath(import.meta.url));
const long = process.env.LBD_LONG === '1';
const child = process.env.LBD_TEST_CHILD;
/** The device-free tier: suites that must pass without a device (and fail if they start one). */
const isUnit = (f: string): boolean => f.endsWith('.unit.test.js');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return walk(p);
    return f.endsWith('.test.js') && (long || !f.endsWith('.long.test.js')) ? [p] : [];
  });
}

const strip = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');
const SEP = '\n';

if (child) {
  // Suite files (one path a line): start the device quietly (unless they are the device-free
  // tier), run them with uvu, print uvu's totals.
  const list = child.split(SEP);
  const unit = list.every(isUnit);
  setQuiet(true);
  if (!unit) await getGpu();
  const { run } = (await import('uvu/run')) as { run: (s: { name: string; file: string }[], o: { bail?: boolean }) => Promise<void> };
  await run(list.map((file) => ({ name: file.slice(here.length + 1), file })), {});
  if (unit && deviceRequested()) {
    console.error('test run: a *.unit.test file started the device; the device-free tier must not (rename it *.test.ts)');
    process.exit(1);
  }
  process.exit(process.exitCode ?? 0);
}

const filters = process.argv.slice(2);
const picked = walk(here).filter((p) => !filters.length || filters.some((f) => p.includes(f))).sort();
if (!picked.length) {
  console.error(`test run: no suite file matches ${filters.map((f) => `'${f}'`).join(', ')}${long ? '' : ' (long suites run under LBD_LONG=1)'}`);
  process.exit(1);
}
const unitFiles = picked.filter(isUnit);
const files = picked.filter((f) => !isUnit(f));
const perFile = env('LBD_TEST_PROCESSES') === 'file';
if (!['file', 'one', undefined].includes(env('LBD_TEST_PROCESSES'))) throw new Error(`LBD_TEST_PROCESSES must be one or file; got '${env('LBD_TEST_PROCESSES')}'`);

/** Runs suite files in a child process, passing its output through as it comes; resolves with its output and how it ended. */
function runChild(list: string[]): Promise<{ out: string; status: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['--no-use-osr', fileURLToPath(import.meta.url)], {
      env: { ...process.env, LBD_TEST_CHILD: list.join(SEP) }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    c.stdout.on('data', (d: Buffer) => {
      const s = d.toString();
      out += s;
      // uvu's closing totals give way to the run's own line (uvu writes each in one piece)
      process.stdout.write(s.replace(/(\x1b\[[0-9;]*m)?\n *(Total|Passed|Skipped|Duration): [^\n]*/g, ''));
    });
    let err = '';
    c.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    c.on('close', (status, signal) => {
      // less the device's start-up warnings
      const e = err.split('\n').filter((l) => l && !/maxDynamic\w+PerPipelineLayout/.test(l)).join('\n');
      if (e) process.stderr.write(`${e}\n`);
      resolve({ out: strip(out), status, signal });
    });
  });
}

let total = 0, passed = 0;
const crashed: string[] = [];

/**
 * Runs a tier's files: in one process (every variant compiled once: SwiftShader spends most of a
 * suite compiling), or one per file (LBD_TEST_PROCESSES=file). Either way a process that dies
 * fails the run naming the file it was in, and the files after it run in a fresh process.
 */
async function runTier(files: string[]): Promise<void> {
  let pending = perFile ? [] : files.slice();
  const queue = perFile ? files.map((f) => [f]) : [];
  while (pending.length || queue.length) {
    const list = pending.length ? pending : queue.shift()!;
    pending = [];
    const r = await runChild(list);
    const t = /Total:\s+(\d+)/.exec(r.out), p = /Passed:\s+(\d+)/.exec(r.out);
    if (t && p) {
      total += Number(t[1]);
      passed += Number(p[1]);
    } else {
      // no totals: count the suites that finished from their "(passed / run)" lines
      for (const m of r.out.matchAll(/\((\d+) \/ (\d+)\)/g)) { passed += Number(m[1]); total += Number(m[2]); }
    }
    if (r.status !== 0 && (!t || t[1] === p?.[1])) {
      // the process died (a signal, an exception outside a test): a failure, named by the file uvu
      // had started last; the files after it get a new process
      const names = [...r.out.matchAll(/^(\S+\.test\.js)\s*$/gm)].map((m) => m[1]);
      const last = names.length ? list.findIndex((f) => f.endsWith(names[names.length - 1])) : 0;
      crashed.push(`${list[Math.max(last, 0)].slice(here.length + 1)} (${r.signal ?? `exit ${r.status}`})`);
      process.stdout.write(`\n(the process died: ${r.signal ?? `exit ${r.status}`})\n`);
      total++;
      if (!perFile) pending = list.slice(Math.max(last, 0) + 1);
    }
  }
}

setQuiet(true);
if (unitFiles.length) {
  console.log(`device-free tier: ${unitFiles.length} suite files, no device`);
  await runTier(unitFiles);
}
if (files.length) {
  const g = await getGpu();
  // LBD_EXPECT_ADAPTER (a pattern for the adapter's name): a run meant for one driver (test:swiftshader)
  // fails at once when another answered, rather than passing on the wrong one
  const expect = env('LBD_EXPECT_ADAPTER');
  if (expect && !new RegExp(expect, 'i').test(g.info.name)) {
    console.error(`test run: the adapter is '${g.info.name}', not ${expect} (LBD_EXPECT_ADAPTER)`);
    process.exit(1);
  }
  console.log(`\ndevice: ${g.info.name} (${g.info.backend}${g.info.subgroupSize ? `, subgroup ${g.info.subgroupSize}` : ''}); ` +
    `${files.length} suite files, ${perFile ? 'one process each' : 'in one process'}`);
  await runTier(files);
}
if (crashed.length) console.log(`\nsuite processes that died: ${crashed.join(', ')}`);
console.log(`${passed} passed, ${total - passed} failed`);
process.exit(total === passed ? 0 : 1);
