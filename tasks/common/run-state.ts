// What every training task reports and keeps: the dropout layers' noise generators (their
// positions are saved, so a resumed run draws the masks an uninterrupted one would), mean ± std
// over seeds, and the git commit a report was made at.
import { execSync } from 'node:child_process';
import type { Generator } from '../../engine/index.js';
import type { DropoutLayer } from '../../layers/dropout/base.js';
import { commitFromEnvironment } from './environment.js';

/** The layers' noise generators, each once (every kind holds one as `generator`; layers may share one). */
export function generatorsOf(drops: readonly DropoutLayer[]): Generator[] {
  const gens = drops.map((d) => (d as unknown as { generator?: Generator }).generator);
  if (gens.some((g) => !g)) throw new Error('generatorsOf: a dropout layer without a generator');
  return [...new Set(gens as Generator[])];
}

/** Mean and sample standard deviation (0 for a single value). */
export function meanStd(v: number[]): { mean: number; std: number } {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean: m, std: v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0 };
}

/** HEAD's commit, or 'unknown' outside a git checkout. */
export function gitCommit(): string {
  // LBD_COMMIT: for copies without .git (the device bundle), set by whoever packed them.
  try { return execSync('git rev-parse HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { return commitFromEnvironment() ?? 'unknown'; }
}
