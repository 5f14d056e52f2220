// What identifies a run and its data: the options that shape a run's training compared field by
// field (named as the command-line option), a fingerprint of the data arrays a run sees, and
// portable names for data sets (a report never records a machine's absolute path).
import { createHash } from 'node:crypto';
import { basename, dirname, resolve } from 'node:path';
import { statSync } from 'node:fs';

/** camelCase field → --kebab-case option. */
export const optionName = (k: string): string => `--${k.replace(/(?<=[a-z])[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

const show = (v: unknown): string => (v === undefined ? '(unset)' : JSON.stringify(v));

/** `--lr: checkpoint 0.001, now 0.01` for every field that differs (all keys of both). */
export function configDifferences(saved: Record<string, unknown>, now: Record<string, unknown>, what = 'checkpoint'): string[] {
  const keys = [...new Set([...Object.keys(saved ?? {}), ...Object.keys(now)])];
  return keys.filter((k) => JSON.stringify(saved?.[k]) !== JSON.stringify(now[k])).map((k) => `${optionName(k)}: ${what} ${show(saved?.[k])}, now ${show(now[k])}`);
}

/** SHA-256 (first 16 hex digits) over typed arrays and strings, in order. */
export function fingerprint(parts: (ArrayBufferView | string | number)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    if (typeof p === 'string' || typeof p === 'number') h.update(`${typeof p}:${p};`);
    else { h.update(`bytes:${p.byteLength};`); h.update(new Uint8Array(p.buffer, p.byteOffset, p.byteLength)); }
  }
  return h.digest('hex').slice(0, 16);
}

/** A data set's portable name: a folder's own name, a file's folder's name (ml-100k/u.data → ml-100k). */
export function datasetName(path: string): string {
  if (path === '') return 'in-memory';
  try { return statSync(path).isDirectory() ? basename(resolve(path)) : basename(dirname(resolve(path))); } catch { return basename(resolve(path)); }
}
