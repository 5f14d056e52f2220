// node dist/tasks/classify.js (npx lbd-gpu classify): the command line of the classification
// experiment (tasks/classify/experiment.ts) — options, the grid on the common runner (resume,
// shards, merging: tasks/common/), and the report (report.json, report.html, figures).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { parseDropoutNames, DROPOUT_NAMES } from '../layers/dropout/registry.js';
import { positiveOption, renderAndExit, userInput } from './common/cli.js';
import { UserError } from './common/errors.js';
import { runMain } from './common/entry.js';
import { writeJsonAtomic } from './common/files.js';
import { datasetName } from './common/config.js';
import { addRunnerOptions, runnerOptions } from './common/grid.js';
import { runTask, listAndExit } from './common/task-main.js';
import { writeClassifyReport, table1Markdown, classifyClaims, classifyReportClaims, classifyClaimsMarkdown, type ClassifyReport } from './classify/report.js';
import { withoutPerExample } from './stats/per-example.js';
import { familySummary } from './stats/claims.js';
import {
  PRESET_NAMES, PRESETS, loadData, dataFingerprint, runConfig, runOne, classifyTable, classifyPlan,
  type ClassifyOptions, type ClassifyRun, type MethodResult, type PresetName,
} from './classify/experiment.js';

async function main(): Promise<void> {
  const cli = addRunnerOptions(new Command()
    .name('classify')
    .description('VGG19 on CIFAR-10 with regular, MC, Gaussian, Concrete and learnable Bernoulli dropout (paper §3.2.1).')
    .option('--data <path>', 'CIFAR-10: an ImageFolder tree (train/, test/) or the binary batches', 'data/cifar10-jpeg')
    .option('--dropout <kinds>', `${DROPOUT_NAMES.join(' | ')}, a comma-separated list of them, or all`, 'all')
    .option('--preset <name>', `${PRESET_NAMES.join(' | ')} (other options override it)`, 'cpu')
    .option('--lbd-granularity <g>', 'layer | unit', 'layer')
    .option('--estimator <e>', 'arm | disarm', 'arm')
    .option('--epochs <n>').option('--batch <n>', 'images per batch (every batch is full: a last partial one is dropped each epoch)').option('--lr <x>').option('--logit-lr <x>').option('--seeds <n>')
    .option('--width <x>', 'channel width multiplier').option('--hidden <n>', 'classifier width')
    .option('--train-per-class <n>').option('--test-per-class <n>')
    .option('--val-fraction <x>', 'held-out share of the training images', '0.1')
    .option('--samples <n>', 'MC samples at evaluation')
    .option('--rate <p>', 'drop rate (initial for learnable kinds)', '0.5')
    .option('--no-augment', 'no random crop + flip')
    .option('--batch-norm <on>', 'batch norm after each conv: true | false (preset decides by default)')
    .option('--init <file>', 'initial weights (safetensors, names as the model\'s namedParameters(), same configuration); no ImageNet weights ship with this project')
    .option('--image-size <px>', 'network input: 32 | 224 (CIFAR upsampled bilinearly per batch; preset decides by default)')
    .option('--out <dir>', 'where report.json, report.html, the figures, runs/ and checkpoints/ go', 'runs/classify')
    .option('--render <report.json>', 'only (re)write the figures and report.html of an existing report'));
  cli.parse();
  const a = cli.opts<Record<string, string | boolean | undefined>>();
  if (a.render) await renderAndExit<ClassifyReport>(a.render as string, 'classify', (r) => Array.isArray(r.table) && Array.isArray(r.results), writeClassifyReport, (r) => `${table1Markdown(r)}\n\n${classifyClaimsMarkdown(r)}`);
  const preset = PRESETS[a.preset as PresetName];
  if (!preset) throw new UserError(`--preset must be one of ${PRESET_NAMES.join(', ')}, got '${a.preset}'`);
  const num = (k: string, fallback: number | undefined, int = false): number => positiveOption(a, k, fallback, int);
  const o: ClassifyOptions = {
    data: a.data as string, methods: userInput(() => parseDropoutNames(a.dropout as string)), granularity: a.lbdGranularity as 'layer' | 'unit', estimator: a.estimator as 'arm' | 'disarm',
    epochs: num('epochs', preset.epochs, true), batch: num('batch', preset.batch, true), lr: num('lr', preset.lr), logitLr: num('logit-lr', preset.logitLr),
    seeds: num('seeds', preset.seeds, true), width: num('width', preset.width), hidden: num('hidden', preset.hidden, true),
    trainPerClass: num('train-per-class', preset.trainPerClass, true), testPerClass: num('test-per-class', preset.testPerClass, true),
    valFraction: Number(a.valFraction), samples: num('samples', preset.samples, true), rate: Number(a.rate), augment: a.augment !== false,
    batchNorm: a.batchNorm === undefined ? !!preset.batchNorm : a.batchNorm === 'true',
    imageSize: num('image-size', preset.imageSize, true) as 32 | 224,
    init: a.init as string | undefined,
  };
  if (o.init && !existsSync(o.init)) throw new UserError(`--init: ${o.init} does not exist`);
  if (o.imageSize !== 32 && o.imageSize !== 224) throw new UserError(`--image-size must be 32 or 224, got '${a.imageSize}'`);
  if (a.batchNorm !== undefined && !['true', 'false'].includes(a.batchNorm as string)) throw new UserError(`--batch-norm must be true or false, got '${a.batchNorm}'`);
  if (!['layer', 'unit'].includes(o.granularity)) throw new UserError(`--lbd-granularity must be layer or unit, got '${o.granularity}'`);
  if (!['arm', 'disarm'].includes(o.estimator)) throw new UserError(`--estimator must be arm or disarm, got '${o.estimator}'`);
  if (!(o.valFraction > 0 && o.valFraction < 1)) throw new UserError(`--val-fraction must be in (0, 1), got '${a.valFraction}'`);
  if (!(o.rate >= 0 && o.rate < 1)) throw new UserError(`--rate must be in [0, 1), got '${a.rate}'`);
  const runner = runnerOptions(a);
  const plan = classifyPlan(o);
  listAndExit(plan, runner);
  if (!existsSync(o.data)) throw new UserError(`--data: ${o.data} does not exist`);
  const data = loadData(o);
  const fp = dataFingerprint(data);
  const trainN = data.train.n - Math.round(data.train.n * o.valFraction);
  if (o.batch > trainN) throw new UserError(`--batch ${o.batch} is larger than the training split (${trainN} images after holding out --val-fraction ${o.valFraction})`);
  await runTask<ClassifyRun, MethodResult>({
    task: 'classify', runner, plan, epochs: o.epochs,
    config: (r) => runConfig(r.method, r.seed, o), fingerprint: () => fp,
    stepsPerRun: () => Math.floor(trainN / o.batch) * o.epochs, barFields: { loss: 'loss', acc: 'train acc %' },
    execute: (r, files, bar) => runOne(r.method, r.seed, o, data, { bar, checkpoint: files.checkpoint, runId: r.id, fingerprint: fp }),
    report: async (records, prov) => {
      const results = records.map((x) => x.record.result);
      const table = classifyTable(o.methods, results);
      for (const t of table) {
        console.log(`${t.method.padEnd(9)} accuracy ${(100 * t.accuracy.mean).toFixed(2)} ± ${(100 * t.accuracy.std).toFixed(2)} %, Mean PAvPU ${t.meanPAvPU.mean.toFixed(3)} ± ${t.meanPAvPU.std.toFixed(3)}, ` +
          `NLL ${t.nll.mean.toFixed(3)}, ECE ${t.ece.mean.toFixed(3)}, ${t.imagesPerSecond.mean.toFixed(1)} images/s`);
      }
      // paired claims from the per-image outputs the run files keep; report.json keeps only the claims
      const claims = classifyClaims(records.map((x) => ({ result: x.record.result, commit: x.record.commit })), data.test.y);
      const file = join(runner.out, 'report.json');
      const report = {
        task: 'classify', options: { ...o, data: datasetName(o.data), dataFingerprint: fp, ...(o.init ? { init: datasetName(o.init) + '/' + o.init.split(/[\\/]/).pop() } : {}) },
        preset: a.preset as string, ...prov, date: new Date().toISOString(), trainSize: data.train.n, testSize: data.test.n, ...(data.classes ? { classes: data.classes } : {}), table,
        results: results.map(withoutPerExample), ...classifyReportClaims(claims),
      };
      if (claims) console.log(`${classifyClaimsMarkdown(report as unknown as ClassifyReport)}\n${familySummary(claims.claims)}`);
      writeJsonAtomic(file, report, 2);
      const written = await writeClassifyReport(runner.out, report as unknown as ClassifyReport);
      console.log(`report: ${file} (+ ${written.join(', ')})`);
    },
  });
  process.exit(0);
}

if (process.argv[1]?.endsWith('classify.js')) await runMain('classify', main);
