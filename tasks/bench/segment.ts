// Benchmark of the segment task: one training step of FC-DenseNet-103 at 480×360, batch 1 (the
// paper's setting), for its peak live GPU bytes and time; and the training throughput of the
// `cpu` preset with regular dropout and with LBD in the bottleneck.
import { scope, sync, tensor, memoryStats, resetPeak } from '../../engine/index.js';
import { trainStep } from '../../layers/train-step.js';
import { imageLosses, buildModel } from '../segment/experiment.js';
import { mulberry32 } from '../data/rng.js';

export interface SegmentBenchRow { ms: number; peakBytes: number; imagesPerSecond: number }

/** Median over `steps` timed training steps (after one warm-up step) of a Tiramisu on random images. */
export async function benchSegmentStep(model: string, H: number, W: number, batch: number, kind: 'regular' | 'lbd', steps: number, memoryEfficient = false): Promise<SegmentBenchRow> {
  return scope(async () => {
    // the segment task's model and optimizers (tasks/segment/experiment.ts), at the paper's RMSProp settings
    const built = buildModel(kind, { model, rate: 0.2, estimator: 'arm', lr: 1e-4, rho: 0.995, logitLr: 1e-3, memoryEfficient }, 1, 367);
    const { weights: wopt, logits: lopt } = built.optimizers;
    const net = built.model;
    const r = mulberry32(3);
    const x = tensor(Float32Array.from({ length: batch * 3 * H * W }, () => r() - 0.5), [batch, 3, H, W]);
    const y = tensor(Int32Array.from({ length: batch * H * W }, () => Math.floor(r() * 12)), [batch, H, W], 'i32');
    const w = tensor(Float32Array.from([...Array(11).fill(1), 0]), [12]);
    const step = async (): Promise<void> => scope(async () => {
      trainStep(() => imageLosses(net.forward(x), y, w), { model: net, optimizers: { weights: wopt, logits: lopt } });
      await sync();
    });
    await step();
    resetPeak();
    const ts: number[] = [];
    for (let s = 0; s < steps; s++) { const t0 = performance.now(); await step(); ts.push(performance.now() - t0); }
    const peakBytes = memoryStats().peakBytes;
    wopt.dispose(); lopt?.dispose(); net.dispose();
    const ms = [...ts].sort((a, b) => a - b)[Math.floor(ts.length / 2)];
    return { ms, peakBytes, imagesPerSecond: (1000 * batch) / ms };
  });
}
