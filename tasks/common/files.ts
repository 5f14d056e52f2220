// Files the tasks write and read: every JSON goes through a temporary file in the same folder,
// fsync and rename (a kill at any instant leaves the old file or the new one, never half of
// one), every read names its file when the content is not what it should be, and temporary
// files of killed saves are removed before a run starts. UserError marks a problem the user can
// fix (an option, a file): the entry points print its one line and exit non-zero, while any
// other error keeps its stack.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, mkdirSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { faultPoint } from '../../engine/checkpoint.js';

/** An error in what the user gave (options, files): shown as one line, no stack. */
export class UserError extends Error {
  constructor(message: string) { super(message); this.name = 'UserError'; }
}

/** engine/checkpoint.ts and writeJsonAtomic both name temporaries `<target>.tmp-<pid>-<hex>`. */
const TEMP = /\.tmp-\d+-[0-9a-f]+$/;

/** Writes `text` to `path` atomically: temp file beside it, fsync, rename, fsync of the folder. */
export function writeTextAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  const fd = openSync(tmp, 'wx');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  faultPoint('save:temp');
  renameSync(tmp, path);
  faultPoint('save:renamed');
  try { const d = openSync(dirname(path), 'r'); try { fsyncSync(d); } finally { closeSync(d); } } catch { /* not every platform fsyncs folders */ }
}

/** JSON.stringify, then writeTextAtomic. */
export function writeJsonAtomic(path: string, value: unknown, space?: number): void {
  writeTextAtomic(path, JSON.stringify(value, null, space));
}

/** Reads a JSON file; any failure is a UserError naming the file and what is wrong with it. */
export function readJson<T>(path: string, what = 'file'): T {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (e) { throw new UserError(`${what} ${path}: cannot read: ${(e as Error).message}`); }
  if (text.trim() === '') throw new UserError(`${what} ${path} is empty (an interrupted write by an older version?); delete it to redo that run`);
  try { return JSON.parse(text) as T; } catch (e) { throw new UserError(`${what} ${path} is not valid JSON (${(e as Error).message}); delete it to redo that run`); }
}

/**
 * Removes temporaries of killed saves in `dir` whose target name starts with one of `stems`
 * (a process removes only its own runs' leftovers: shards may share a folder). Returns them.
 */
export function removeStaleTemps(dir: string, stems: readonly string[]): string[] {
  if (!existsSync(dir)) return [];
  const gone: string[] = [];
  for (const f of readdirSync(dir)) {
    if (!TEMP.test(f) || !stems.some((s) => f.startsWith(s))) continue;
    try { unlinkSync(join(dir, f)); gone.push(join(dir, f)); } catch { /* removed by someone else */ }
  }
  return gone;
}

/**
 * Dawn prints two warnings on every start (it lowers maxDynamicUniformBuffersPerPipelineLayout and
 * maxDynamicStorageBuffersPerPipelineLayout to 16) straight to file descriptor 2 from native code,
 * out of JavaScript's reach; they mean nothing to a user. So an entry point re-runs itself as a
 * child whose stderr passes through this process with those two lines removed
 * (LBD_DAWN_WARNINGS=show turns this off). Signals are passed on and the child's exit code or
 * signal is this process's; a child whose parent dies (kill -9) kills itself within a second.
 * Returns true in the parent, which has nothing else to do.
 */
function filterDawnWarnings(): boolean {
  if (process.env.LBD_DAWN_WARNINGS === 'show') return false;
  const parent = process.env.LBD_FILTERED_CHILD;
  if (parent) {
    setInterval(() => { if (process.ppid !== Number(parent)) process.kill(process.pid, 'SIGKILL'); }, 1000).unref();
    if (process.env.LBD_STDERR_COLUMNS) {
      // the parent's stderr is a terminal: progress bars may draw as on one
      Object.assign(process.stderr, { isTTY: true, columns: Number(process.env.LBD_STDERR_COLUMNS) });
    }
    return false;
  }
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...process.env, LBD_FILTERED_CHILD: String(process.pid), ...(process.stderr.isTTY ? { LBD_STDERR_COLUMNS: String(process.stderr.columns ?? 80) } : {}) },
  });
  const mark = 'Warning: maxDynamic';
  let tail = '';
  child.stderr!.on('data', (d: Buffer) => {
    const text = (tail + d.toString()).replace(DAWN_WARNING, '');
    const cut = text.lastIndexOf('\n') + 1, rest = text.slice(cut);
    // an unfinished last line that is, or may become, one of the warnings waits for its end
    tail = rest && (mark.startsWith(rest) || rest.startsWith(mark)) ? rest : '';
    const out = tail ? text.slice(0, cut) : text;
    if (out) process.stderr.write(out);
  });
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, () => child.kill(sig));
  child.on('close', (code, signal) => {
    if (tail) process.stderr.write(tail);
    if (signal) {
      for (const sig of signals) process.removeAllListeners(sig);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
  return true;
}

const DAWN_WARNING = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced[^\n]*\n/gm;

/**
 * Runs a task's main: a UserError prints `task: message` on one line and exits 2; anything else
 * prints its stack and exits 1.
 */
export async function runMain(task: string, main: () => Promise<void>): Promise<void> {
  if (filterDawnWarnings()) return;
  try {
    await main();
  } catch (e) {
    if (e instanceof UserError) {
      process.stderr.write(`${task}: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${task}: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  }
}
