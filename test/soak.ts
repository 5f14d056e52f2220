// The long-process check behind test/soak.long.test.ts (npm run test:long). In ONE process:
//   1. every suite file (engine, layers, models, tasks; not the long ones, not the browser's) runs
//      with uvu, so every kernel variant the suites use is compiled into one device and every
//      task's small model is trained with every dropout kind;
//   2. then every model trains again, round after round — MLP, tiny VGG19, tiny FC-DenseNet and
//      the five recommenders, with LBD (lbdStep) and with Gaussian dropout — which must compile
//      no new pipeline and leave the resident memory flat, as an hours-long run would.
// Prints one JSON line: the suites' totals, pipelines and resident memory after each phase and
// round, and the time taken. `node dist/test/soak.js [rounds]`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getGpu, setQuiet } from '../engine/device.js';
import { pipelineCount, sync } from '../engine/dispatch.js';
import { memoryStats, scope } from '../engine/memory.js';
import { Generator, crossEntropy, perExample, tensor, mean, type Tensor } from '../engine/index.js';
import { mlp, dropoutLayers, vgg19, tiramisu, tiramisuDropout, recommender, RECOMMENDER_KINDS, type Recommender } from '../models/index.js';
import { GaussianDropout, LearnableBernoulliDropout, type DropoutLayer, type Module } from '../layers/index.js';
import { threeStepsWithoutLeak } from './train-steps.js';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.argv[2] ?? 3);
const t0 = performance.now();
const rssMiB = (): number => Math.round(Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) / 1024);
const secs = (): number => Math.round((performance.now() - t0) / 1000);

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return f === 'web' ? [] : walk(p);
    return f.endsWith('.test.js') && !f.endsWith('.long.test.js') ? [p] : [];
  });
}

setQuiet(true);
await getGpu();

// ---- 1. every suite, in this process ------------------------------------------------------
const files = walk(here).sort();
let captured = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  captured = (captured + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString())).slice(-4096);
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;
const { run } = (await import('uvu/run')) as { run: (s: { name: string; file: string }[], o: { bail?: boolean }) => Promise<void> };
await run(files.map((file) => ({ name: file.slice(here.length + 1), file })), {});
process.stdout.write = write;
const totals = captured.replace(/\x1b\[[0-9;]*m/g, '');
const total = Number(/Total:\s+(\d+)/.exec(totals)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(totals)?.[1] ?? 0);
process.exitCode = 0; // uvu's verdict is in `passed`; the rounds below decide the rest
await sync();
const afterSuites = { pipelines: pipelineCount(), rssMiB: rssMiB(), s: secs() };

// ---- 2. every model, round after round --------------------------------------------------------
const N = 100;
type Kind = 'lbd' | 'gaussian';
const drop = (kind: Kind, units: number, seed: number, granularity?: 'layer'): DropoutLayer => kind === 'lbd'
  ? new LearnableBernoulliDropout({ units, seed, datasetSize: N, granularity })
  : new GaussianDropout({ units, seed, datasetSize: N });

async function train(model: Module, dropouts: DropoutLayer[], perEx: () => Tensor, batch: () => Tensor): Promise<void> {
  await threeStepsWithoutLeak(model, dropouts, { perExample: perEx, batch });
  model.dispose();
}

async function everyModel(kind: Kind): Promise<void> {
  await scope(async () => {
    const g = new Generator(7);
    const net = mlp([12, 16, 16, 3], { dropout: (units, i) => drop(kind, units, 10 + i), generator: g });
    const x = g.normal([8, 12]), y = tensor([0, 1, 2, 0, 1, 2, 0, 1], [8], 'i32');
    await train(net, dropoutLayers(net), () => crossEntropy(net.forward(x), y, { reduction: 'none' }), () => crossEntropy(net.forward(x), y));
  });
  await scope(async () => {
    const g = new Generator(3);
    const { model, dropouts } = vgg19({ width: 1 / 16, imageSize: 32, hidden: 16, classes: 10, dropout: (units, i) => drop(kind, units, 20 + i), generator: g });
    const x = g.normal([4, 3, 32, 32]), y = tensor([1, 3, 5, 7], [4], 'i32');
    await train(model, dropouts, () => crossEntropy(model.forward(x), y, { reduction: 'none' }), () => crossEntropy(model.forward(x), y));
  });
  await scope(async () => {
    const g = new Generator(5);
    const { model, dropouts } = tiramisu({ layersPerBlock: [2, 2, 2], growthRate: 4, firstChannels: 8, classes: 11, generator: g, dropout: tiramisuDropout((units, w) => drop(kind, units, 30 + w.layer, 'layer'), { seed: 5 }) });
    const x = g.normal([2, 3, 16, 16]);
    const y = tensor(new Int32Array(2 * 16 * 16).map((_, i) => (i % 7 === 0 ? 11 : (i * 5) % 11)), [2, 16, 16], 'i32');
    await train(model, dropouts, () => perExample(crossEntropy(model.forward(x), y, { reduction: 'none', ignoreIndex: 11 })),
      () => crossEntropy(model.forward(x), y, { ignoreIndex: 11 }));
  });
  for (const rk of RECOMMENDER_KINDS) {
    await scope(async () => {
      const I = 24, B = 16;
      const x = tensor(Array.from({ length: B * I }, (_, i) => ((i * 7919) % 5 === 0 ? 1 : 0)), [B, I]);
      const d = drop(kind, I, 40);
      const model: Recommender = recommender(rk, { items: I, hidden: 16, latent: 4, V: 2, K: 6, T: 2, dropout: d, generator: new Generator(21) });
      await train(model, [d], () => model.perExampleLoss(x, 0.2), () => mean(model.perExampleLoss(x, 0.2)));
    });
  }
}

const perRound: { round: number; pipelines: number; rssMiB: number; liveBytes: number; s: number }[] = [];
let error = '';
try {
  for (let r = 1; r <= rounds; r++) {
    for (const kind of ['lbd', 'gaussian'] as const) await everyModel(kind);
    await sync();
    perRound.push({ round: r, pipelines: pipelineCount(), rssMiB: rssMiB(), liveBytes: memoryStats().liveBytes, s: secs() });
  }
} catch (e) {
  error = (e as Error).stack ?? String(e);
}
console.log(JSON.stringify({ total, passed, files: files.length, afterSuites, perRound, error, s: secs() }));
process.exit(0);
