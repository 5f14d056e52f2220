// What the task scripts share on the command line: a positive-number option read with a preset
// fallback and an error naming the option, and `--render FILE` (re-draw an existing report).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from './errors.js';

type Opts = Record<string, string | boolean | undefined>;

/** Option --k (kebab-case) as a positive number (integer when `int`), else `fallback`. */
export function positiveOption(a: Opts, k: string, fallback: number | undefined, int = false): number {
  const raw = a[k.replace(/-([a-zA-Z])/g, (_, c: string) => c.toUpperCase())];
  const v = raw === undefined ? fallback : Number(raw);
  if (v === undefined || !Number.isFinite(v) || v <= 0 || (int && !Number.isInteger(v))) throw new UserError(`--${k} must be a positive ${int ? 'integer' : 'number'}, got '${raw}'`);
  return v;
}

/**
 * `--render FILE`: reads a report, checks it is this task's (`valid`), writes its figures and
 * page next to it, prints its tables and exits.
 */
export async function renderAndExit<R>(file: string, task: string, valid: (r: R) => boolean, write: (dir: string, r: R) => Promise<string[]>, tables: (r: R) => string): Promise<never> {
  let report: R;
  try { report = JSON.parse(readFileSync(file, 'utf8')) as R; } catch (e) { throw new UserError(`--render: cannot read ${file}: ${(e as Error).message}`); }
  if (!valid(report)) throw new UserError(`--render: ${file} is not a ${task} report`);
  const written = await write(dirname(file), report);
  console.log(tables(report));
  console.log(`wrote ${written.map((f) => join(dirname(file), f)).join(', ')}`);
  process.exit(0);
}

/** Runs a parser from a lower layer (which throws plain Errors) and turns its complaint into a UserError. */
export function userInput<T>(parse: () => T): T {
  try { return parse(); } catch (e) { throw new UserError((e as Error).message); }
}
