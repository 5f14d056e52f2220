// Files the tasks write and read: every JSON goes through a temporary file in the same folder,
// fsync and rename (a kill at any instant leaves the old file or the new one, never half of
// one), every read names its file when the content is not what it should be, and temporary
// files of killed saves are removed before a run starts.
import { openSync, writeSync, fsyncSync, closeSync, renameSync, unlinkSync, mkdirSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { faultPoint } from '../../engine/checkpoint.js';
import { UserError } from './errors.js';

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
