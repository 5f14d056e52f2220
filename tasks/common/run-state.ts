// What every training task keeps between epochs and reports: the LBD logits as a module of their
// own (so their optimizer's state is checkpointed beside the weights'), the dropout layers' noise
// generators (their positions are saved, so a resumed run draws the masks an uninterrupted one
// would), mean ± std over seeds, and the git commit a report was made at.
import { execSync } from 'node:child_process';
import type { Generator, Tensor } from '../../engine/index.js';
import { Module } from '../../layers/module.js';
import type { DropoutLayer } from '../../layers/dropout/base.js';

/** The LBD logits as a module of their own, so their optimizer's state can be checkpointed. */
export class LogitHolder extends Module {
  constructor(readonly logits: Tensor[]) { super(); }
  forward(x: Tensor): Tensor { return x; }
}

/** A dropout layer's noise generator (every kind here holds one as `generator`). */
export const generatorOf = (d: DropoutLayer): Generator | undefined => (d as unknown as { generator?: Generator }).generator;

/** Mean and sample standard deviation (0 for a single value). */
export function meanStd(v: number[]): { mean: number; std: number } {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean: m, std: v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0 };
}

/** HEAD's commit, or 'unknown' outside a git checkout. */
export function gitCommit(): string {
  // LBD_COMMIT: for copies without .git (the device bundle), set by whoever packed them.
  try { return execSync('git rev-parse HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { return process.env.LBD_COMMIT ?? 'unknown'; }
}
