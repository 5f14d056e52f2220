// Runs tasks/bench/torch_models.py for one row (bench --torch): a fresh Python process per call,
// so PyTorch's threads are gone while our side runs and the two never overlap.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TorchRaw } from './compare.js';

/** The script beside this file's source: dist-x/tasks/bench/torch.js → tasks/bench/torch_models.py (also inside the GPU bundle). */
export function torchScript(): string {
  const candidates = ['../../../tasks/bench/torch_models.py', './torch_models.py'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`--torch: torch_models.py not found (looked at ${candidates.join(', ')})`);
  return found;
}

export interface TorchOptions { python: string; device: string; threads: number; steps: number; warmup: number }

export interface TorchRun { torch: string; device: string; deviceName: string; threads: number; blas?: string; rows: TorchRaw[] }

export function runTorch(row: string, variants: readonly string[], o: TorchOptions): TorchRun {
  const args = [torchScript(), '--rows', row, '--variants', variants.join(','), '--steps', String(o.steps), '--warmup', String(o.warmup),
    '--device', o.device, '--threads', String(o.threads), '--json', '-'];
  const r = spawnSync(o.python, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`--torch: could not run ${o.python}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`--torch: ${o.python} ${args.slice(0, 3).join(' ')} … exited with ${r.status ?? r.signal}`);
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as TorchRun;
  } catch {
    throw new Error(`--torch: expected one JSON line from torch_models.py, got '${last.slice(0, 200)}'`);
  }
}
