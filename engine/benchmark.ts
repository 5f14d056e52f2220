// benchmark(fn): times a piece of GPU work the way the project's benchmark does — warm-up runs
// first (pipelines compile, pools fill), then GPU time from timestamp queries (wall time where
// the adapter has none) and the host's wall time per run, each run inside its own scope so the
// tensors it makes are freed. Medians, because a shared host is noisy; profileKernels (per
// kernel) is its companion.
import { gpuTimeMs, dispatchTotal, sync } from './dispatch.js';
import { scope, memoryStats } from './memory.js';
import { gpu } from './device.js';

export interface BenchmarkOptions {
  /** Untimed runs first (default 2). */
  warmup?: number;
  /** Timed runs (default 10). */
  runs?: number;
}

export interface Timing { median: number; min: number; max: number; runs: number[] }

export interface BenchmarkResult {
  /** GPU milliseconds per run, from timestamp queries (`timestamps` false: wall time around a sync). */
  gpuMs: Timing;
  /** Host milliseconds per run: recording the work and waiting for it. */
  wallMs: Timing;
  /** Kernel dispatches per run. */
  dispatches: number;
  /** Live GPU bytes after the timed runs minus before them (0: nothing leaks). */
  leakedBytes: number;
  timestamps: boolean;
}

const timing = (v: number[]): Timing => {
  const s = v.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return { median: s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2, min: s[0], max: s[s.length - 1], runs: v };
};

/**
 * Runs `fn` `warmup` times, then `runs` timed times; `fn` records GPU work (a step, an op) and
 * may return anything (a Promise is awaited outside the GPU timer).
 */
export async function benchmark(fn: () => unknown, o: BenchmarkOptions = {}): Promise<BenchmarkResult> {
  const warmup = o.warmup ?? 2, runs = o.runs ?? 10;
  if (!Number.isInteger(warmup) || warmup < 0) throw new Error(`benchmark: warmup must be an integer ≥ 0, got ${o.warmup}`);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`benchmark: runs must be an integer ≥ 1, got ${o.runs}`);
  for (let i = 0; i < warmup; i++) await scope(async () => { await fn(); });
  await sync();
  const live = memoryStats().liveBytes, d0 = dispatchTotal();
  const g: number[] = [], w: number[] = [];
  for (let i = 0; i < runs; i++) {
    await scope(async () => {
      let pending: unknown;
      const t0 = performance.now();
      g.push(await gpuTimeMs(() => { pending = fn(); }));
      await pending;
      await sync();
      w.push(performance.now() - t0);
    });
  }
  await sync();
  return {
    gpuMs: timing(g), wallMs: timing(w), dispatches: (dispatchTotal() - d0) / runs,
    leakedBytes: memoryStats().liveBytes - live, timestamps: gpu().hasTimestamps,
  };
}
