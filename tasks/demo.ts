// npm start: the engine's self-check and a tiny training run (until the experiment tasks land).
// Prints the adapter, checks a product and a gradient against the CPU, then trains an MLP on
// three interleaved spirals and reports loss, accuracy, step time and leaked bytes.
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  getGpu, tensor, matmul, sum, mul, scope, sync, memoryStats, crossEntropy, SGD, Generator, type Tensor,
} from '../engine/index.js';
import { mlp } from '../models/mlp.js';

const opts = new Command()
  .name('demo')
  .description('lbd-gpu engine self-check and a tiny training run (three spirals, 2-64-64-3 MLP).')
  .option('--steps <n>', 'training steps', '300')
  .option('--lr <x>', 'SGD learning rate', '0.1')
  .option('--seed <n>', 'random seed', '1')
  .option('--points <n>', 'points per spiral', '100')
  .parse()
  .opts<{ steps: string; lr: string; seed: string; points: string }>();

const steps = Number(opts.steps), lr = Number(opts.lr), seed = Number(opts.seed), per = Number(opts.points);
for (const [k, v] of Object.entries({ steps, seed, points: per })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer, got '${(opts as Record<string, string>)[k]}'`);
}
if (!(lr > 0)) throw new Error(`--lr must be > 0, got '${opts.lr}'`);

const gpu = await getGpu();

// 1. self-check: a product and its gradient against plain CPU arithmetic
await scope(async () => {
  const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]).requireGrad();
  const b = tensor([0.5, -1, 2, 0, 1, 1], [3, 2]);
  const c = matmul(a, b);
  sum(mul(c, c)).backward();
  const got = await c.array();
  const ga = await a.grad!.array();
  // c = a·b; d(Σc²)/da = 2c·bᵀ
  const want = [1 * 0.5 + 2 * 2 + 3 * 1, 1 * -1 + 0 + 3 * 1, 4 * 0.5 + 5 * 2 + 6 * 1, 4 * -1 + 0 + 6 * 1];
  const wantGa = [0, 1].flatMap((i) => [0, 1, 2].map((k) => 2 * (want[i * 2] * [0.5, 2, 1][k] + want[i * 2 + 1] * [-1, 0, 1][k])));
  const ok = got.every((v, i) => Math.abs(v - want[i]) < 1e-5) && ga.every((v, i) => Math.abs(v - wantGa[i]) < 1e-4);
  console.log(`self-check: matmul and its gradient ${ok ? 'match' : 'DO NOT match'} the CPU`);
  if (!ok) { console.error({ got, want, ga, wantGa }); process.exit(1); }
  a.dispose();
});

// 2. three spirals
const N = 3 * per;
const xs: number[] = [], ys: number[] = [];
const g = new Generator(seed);
const noise = await scope(() => g.normal([N * 2], 0, 0.15).data());
for (let c = 0; c < 3; c++) {
  for (let i = 0; i < per; i++) {
    const r = i / per, t = (c * 2 * Math.PI) / 3 + 3.5 * r;
    const k = c * per + i;
    xs.push(r * Math.cos(t) * 2 + noise[2 * k] * r, r * Math.sin(t) * 2 + noise[2 * k + 1] * r);
    ys.push(c);
  }
}
const x = tensor(xs, [N, 2]).keep();
const y = tensor(ys, [N], 'i32').keep();
const model = mlp([2, 64, 64, 3], new Generator(seed + 1));
const opt = new SGD(model.parameters(), { lr, momentum: 0.9 });

const accuracy = async (logits: Tensor): Promise<number> => {
  const p = await logits.data();
  let ok = 0;
  for (let i = 0; i < N; i++) {
    const row = [p[3 * i], p[3 * i + 1], p[3 * i + 2]];
    if (row.indexOf(Math.max(...row)) === ys[i]) ok++;
  }
  return ok / N;
};

await sync();
const live0 = memoryStats().liveBytes;
let liveAfterFirst = -1;
const bar = new cliProgress.SingleBar({ format: 'training |{bar}| {value}/{total} steps | loss {loss}', hideCursor: true }, cliProgress.Presets.shades_classic);
bar.start(steps, 0, { loss: '-' });
let first = NaN, last = NaN;
const t0 = performance.now();
for (let s = 0; s < steps; s++) {
  const report = s === 0 || s === steps - 1 || s % 25 === 0;
  const loss = await scope(async () => {
    opt.zeroGrad();
    const l = crossEntropy(model.forward(x), y);
    l.backward();
    opt.step();
    return report ? await l.item() : NaN;
  });
  if (s === 0) { first = loss; await sync(); liveAfterFirst = memoryStats().liveBytes; }
  if (report) { last = loss; bar.update(s + 1, { loss: loss.toFixed(4) }); } else bar.update(s + 1);
}
await sync();
const ms = (performance.now() - t0) / steps;
bar.stop();
const leaked = memoryStats().liveBytes - liveAfterFirst;
const acc = await scope(() => accuracy(model.forward(x)));
console.log(`adapter: ${gpu.info.name} (${gpu.info.backend})`);
console.log(`loss ${first.toFixed(4)} → ${last.toFixed(4)}, training accuracy ${(acc * 100).toFixed(1)}%, ${ms.toFixed(1)} ms/step, ` +
  `live bytes ${live0} before training, ${leaked} leaked over ${steps - 1} steps`);
if (leaked !== 0 || !(last < first)) process.exit(1);
process.exit(0);
