// node dist/tasks/segment.js (npx lbd-gpu segment): the command line of the segmentation
// experiment (tasks/segment/experiment.ts) — options, the grid on the common runner (resume,
// shards, merging: tasks/common/), and the report (report.json, report.html, figures).
import { existsSync } from 'node:fs';
import { join, basename } from 'node:path';
import { Command } from 'commander';
import { parseDropoutNames } from '../layers/dropout/registry.js';
import { positiveOption, renderAndExit, userInput } from './common/cli.js';
import { UserError } from './common/errors.js';
import { runMain } from './common/entry.js';
import { writeJsonAtomic } from './common/files.js';
import { datasetName } from './common/config.js';
import { addRunnerOptions, runnerOptions } from './common/grid.js';
import { runTask, listAndExit } from './common/task-main.js';
import { writeSegmentReport, table1SegMarkdown, segmentClaims, segmentReportClaims, segmentClaimsMarkdown, type SegmentReport, type SegmentRun, type SegmentExamples } from './segment/report.js';
import { familySummary } from './stats/claims.js';
import {
  MODELS, PRESET_NAMES, PRESETS, loadData, dataFingerprint, runConfig, runOne, segmentPlan, segmentReport,
  type SegmentOptions, type SegmentGridRun, type PresetName,
} from './segment/experiment.js';

async function main(): Promise<void> {
  const cli = addRunnerOptions(new Command()
    .name('segment')
    .description('CamVid semantic segmentation with FC-DenseNet and five kinds of dropout in the bottleneck (paper §3.2.2).')
    .option('--data <path>', 'the CamVid folder (train.txt, val.txt, test.txt and the image / annotation folders)', 'data/camvid')
    .option('--model <name>', `FC-DenseNet: ${Object.keys(MODELS).join(' | ')} (preset decides by default)`)
    .option('--dropout <kinds>', 'regular | mc | gaussian | concrete | lbd, or a comma-separated list of them, or all', 'all')
    .option('--preset <name>', `${PRESET_NAMES.join(' | ')} (other options override it)`, 'cpu')
    .option('--estimator <e>', 'arm | disarm (LBD)', 'arm')
    .option('--size <WxH>', 'resize to W×H (e.g. 480x360); preset decides by default')
    .option('--epochs <n>').option('--batch <n>', 'images per batch (the last batch of an epoch may be smaller)')
    .option('--lr <x>', 'RMSProp learning rate (paper 1e-4)').option('--rho <x>', "RMSProp's squared-gradient decay (paper 0.995)")
    .option('--lr-decay <x>', 'learning-rate factor per epoch').option('--logit-lr <x>', 'Adam learning rate of the learnable dropout parameters')
    .option('--seeds <n>').option('--samples <n>', 'stochastic passes at evaluation')
    .option('--rate <p>', 'drop rate of every slot (initial rate of the learnable kinds)', '0.2')
    .option('--train-limit <n>').option('--val-limit <n>').option('--test-limit <n>')
    .option('--class-weights', 'median-frequency class weights in the loss')
    .option('--no-flip', 'no random horizontal flips')
    .option('--memory-efficient [on]', 'recompute BN → ReLU → conv in the backward: less GPU memory, more time (true | false; preset decides by default)')
    .option('--out <dir>', 'where report.json, report.html and the figures go', 'runs/segment')
    .option('--cache <file>', 'decoded, resized CamVid selection: read instead of the PNGs when it holds the same one, else written after decoding')
    .option('--render <report.json>', 'only (re)write the figures and report.html of an existing report'));
  cli.parse();
  const a = cli.opts<Record<string, string | boolean | undefined>>();
  if (a.render) await renderAndExit<SegmentReport>(a.render as string, 'segment', (r) => Array.isArray(r.table) && Array.isArray(r.runs), writeSegmentReport, (r) => `${table1SegMarkdown(r)}\n\n${segmentClaimsMarkdown(r)}`);
  const preset = PRESETS[a.preset as PresetName];
  if (!preset) throw new UserError(`--preset must be one of ${PRESET_NAMES.join(', ')}, got '${a.preset}'`);
  const num = (k: string, fallback: number | undefined, int = false): number => positiveOption(a, k, fallback, int);
  let size = preset.size!;
  if (a.size !== undefined) {
    const mt = /^(\d+)x(\d+)$/.exec(a.size as string);
    if (!mt || Number(mt[1]) < 1 || Number(mt[2]) < 1) throw new UserError(`--size must be WxH in pixels (e.g. 480x360), got '${a.size}'`);
    size = [Number(mt[2]), Number(mt[1])];
  }
  const kinds = userInput(() => parseDropoutNames(a.dropout as string));
  const o: SegmentOptions = {
    data: a.data as string, methods: kinds, model: (a.model as string | undefined) ?? preset.model!, estimator: a.estimator as 'arm' | 'disarm', size,
    epochs: num('epochs', preset.epochs, true), batch: num('batch', preset.batch, true), lr: num('lr', preset.lr), rho: num('rho', preset.rho),
    lrDecay: num('lr-decay', preset.lrDecay), logitLr: num('logit-lr', preset.logitLr), seeds: num('seeds', preset.seeds, true), samples: num('samples', preset.samples, true),
    rate: Number(a.rate), trainLimit: num('train-limit', preset.trainLimit, true), valLimit: num('val-limit', preset.valLimit, true), testLimit: num('test-limit', preset.testLimit, true),
    classWeights: !!a.classWeights, flip: a.flip !== false,
    memoryEfficient: a.memoryEfficient === undefined ? preset.memoryEfficient! : a.memoryEfficient === true || a.memoryEfficient === 'true',
  };
  if (![undefined, true, 'true', 'false'].includes(a.memoryEfficient)) throw new UserError(`--memory-efficient must be true or false, got '${String(a.memoryEfficient)}'`);
  if (!MODELS[o.model]) throw new UserError(`--model must be one of ${Object.keys(MODELS).join(', ')}; got '${o.model}'`);
  if (!['arm', 'disarm'].includes(o.estimator)) throw new UserError(`--estimator must be arm or disarm, got '${o.estimator}'`);
  if (!(o.rho < 1)) throw new UserError(`--rho must be in (0, 1), got '${a.rho}'`);
  if (!(o.rate >= 0 && o.rate < 1)) throw new UserError(`--rate must be in [0, 1), got '${a.rate}'`);
  if (!existsSync(o.data) && !(a.cache && existsSync(a.cache as string))) throw new UserError(`--data: ${o.data} does not exist`);
  const runner = runnerOptions(a);
  const plan = segmentPlan(o);
  listAndExit(plan, runner);
  const data = await loadData(o, a.cache as string | undefined);
  console.log(`CamVid ${o.size[1]}×${o.size[0]}: ${data.train.n} train, ${data.val.n} val, ${data.test.n} test images${data.fromCache ? ` (from ${String(a.cache)})` : ''}; FC-DenseNet ${o.model}`);
  if (o.batch > data.train.n) throw new UserError(`--batch ${o.batch} is larger than the training split (${data.train.n} images)`);
  const fp = dataFingerprint(data);
  await runTask<SegmentGridRun, SegmentRun & { examples?: SegmentExamples }>({
    task: 'segment', runner, plan, epochs: o.epochs,
    config: (r) => runConfig(r.method, r.seed, o), fingerprint: () => fp,
    stepsPerRun: () => Math.ceil(data.train.n / o.batch) * o.epochs, barFields: { loss: 'loss' },
    execute: (r, files, bar) => runOne(r.method, r.seed, o, data, { bar, checkpoint: files.checkpoint, runId: r.id, fingerprint: fp }),
    report: async (records, prov) => {
      // paired claims from the per-image tables the run files keep
      const claims = segmentClaims(records.map((x) => ({ result: x.record.result, commit: x.record.commit })));
      const report = segmentReport(o, data, records.map((x) => x.record.result), {
        options: { ...o, data: datasetName(o.data), dataFingerprint: fp }, preset: a.preset as string, ...(data.fromCache ? { cache: basename(String(a.cache)) } : {}),
        ...prov, date: new Date().toISOString(), ...segmentReportClaims(claims),
      });
      const file = join(runner.out, 'report.json');
      writeJsonAtomic(file, report);
      console.log(table1SegMarkdown(report));
      if (claims) console.log(`${segmentClaimsMarkdown(report)}\n${familySummary(claims.claims)}`);
      const written = await writeSegmentReport(runner.out, report);
      console.log(`report: ${file} (+ ${written.join(', ')})`);
    },
  });
  process.exit(0);
}

if (process.argv[1]?.endsWith('segment.js')) await runMain('segment', main);
