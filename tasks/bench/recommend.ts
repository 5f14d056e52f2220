// Benchmark of the recommend task on synthetic interactions of MovieLens-20M's shape (136,677
// users, 20,108 items, ~10 M interactions, popularity skewed like real ratings): training users/s
// and the peak live GPU bytes of a training step, for VAE+Drop and SIVAE+LBD. The dense
// user × item matrix is never built: each batch is densified on the GPU from host CSR rows.
import { scope, sync, flush, gpu, memoryStats, resetPeak } from '../../engine/index.js';
import type { Csr } from '../data/ratings.js';
import { recommendStep, microBatches, buildModel, ROWS, DEFAULTS } from '../recommend/experiment.js';
import { mulberry32 } from '../data/rng.js';

export const ML20M_SHAPE = { users: 136677, items: 20108, interactions: 10_000_000 };

function fillRow(rnd: () => number, items: number, count: number, out: Int32Array, at: number): number {
  const seen = new Set<number>();
  while (seen.size < count) seen.add(Math.min(items - 1, Math.floor(items * rnd() ** 3))); // popular items first
  const row = Int32Array.from(seen).sort();
  out.set(row, at);
  return row.length;
}

/** Users' item sets as CSR with the given totals; per-user counts vary ±50 % around the mean. */
export function syntheticInteractions(users: number, items: number, interactions: number, seed = 1): Csr {
  const rnd = mulberry32(seed);
  const avg = interactions / users;
  const counts = new Int32Array(users);
  let total = 0;
  for (let u = 0; u < users; u++) { counts[u] = Math.max(1, Math.min(items, Math.round(avg * (0.5 + rnd())))); total += counts[u]; }
  const indptr = new Int32Array(users + 1), indices = new Int32Array(total);
  for (let u = 0; u < users; u++) indptr[u + 1] = indptr[u] + fillRow(rnd, items, counts[u], indices, indptr[u]);
  return { rows: users, cols: items, indptr, indices };
}

export interface RecommendBenchRow { model: string; usersPerSecond: number; epochSeconds: number; peakBytes: number; batches: number; microBatches: number }

/** Times `batches` training steps (after one warm-up step) of a Table 2 row on `data`; epoch time is extrapolated unless batches covers it. */
export async function benchRecommendRow(name: 'vae+drop' | 'sivae+lbd', data: Csr, batch: number, batches: number): Promise<RecommendBenchRow> {
  return scope(async () => {
    // the task's row (tasks/recommend/experiment.ts): its model, dropout and optimizers
    const row = ROWS[name]!;
    const { model, dropout, optimizers: { weights: wopt, logits: lopt } } = buildModel(row.kind, row.dropout, DEFAULTS, data.cols, data.rows, 1);
    const kind = row.kind;
    const rnd = mulberry32(7);
    const k = microBatches(batch, data.cols, kind === 'sivae' ? 4 : 1, gpu().device.limits.maxStorageBufferBindingSize);
    const step = (): void => scope(() => {
      const rows = Int32Array.from({ length: batch }, () => Math.floor(rnd() * data.rows));
      recommendStep({ model, wopt, lopt, dropout }, data, rows, 0.2, k);
      flush();
    });
    step(); await sync(); // warm-up: pipelines compiled, optimizer state allocated
    resetPeak();
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) step();
    await sync();
    const s = (performance.now() - t0) / 1000;
    const peakBytes = memoryStats().peakBytes;
    wopt.dispose(); lopt?.dispose(); model.dispose();
    const usersPerSecond = (batches * batch) / s;
    return { model: name, usersPerSecond, epochSeconds: data.rows / usersPerSecond, peakBytes, batches, microBatches: k };
  });
}
