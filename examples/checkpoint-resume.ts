// Checkpoint and resume: save the model, BOTH optimizers (weights and LBD logits) and the
// dropout generators' positions in one file; a fresh process that builds the same model and
// loads it takes exactly the step the uninterrupted run would have taken.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  getGpu, destroyGpu, tensor, crossEntropy, scope, Generator, Adam, Sequential, Linear, ReLU,
  LearnableBernoulliDropout, lbdStep, splitParameters, saveModule, loadModule, type Tensor,
} from 'lbd-gpu';

await getGpu();
const xs = tensor(Float32Array.from({ length: 64 * 4 }, (_, i) => Math.sin(i * 1.3)), [64, 4]).keep();
const ys = tensor(Int32Array.from({ length: 64 }, (_, i) => i % 3), [64], 'i32').keep();

/** The training script's set-up: the same code (and seeds) in every process. */
function setUp() {
  const g = new Generator(5);
  const model = new Sequential(new Linear(4, 32, { generator: g }), new ReLU(),
    new LearnableBernoulliDropout({ units: 32, datasetSize: 64, generator: new Generator(6) }), new Linear(32, 3, { generator: g }));
  const { weights, logits } = splitParameters(model);
  return { model, optimizers: { weights: new Adam(weights, { lr: 1e-2 }), logits: new Adam(logits, { lr: 5e-2 }) } };
}
const step = (r: ReturnType<typeof setUp>): Promise<number> => scope(async () =>
  lbdStep((): Tensor => crossEntropy(r.model.forward(xs), ys, { reduction: 'none' }), { model: r.model, ...r.optimizers }).loss.item());

const file = join(mkdtempSync(join(tmpdir(), 'lbd-')), 'run.safetensors');
const a = setUp();
for (let i = 0; i < 20; i++) await step(a);
await saveModule(file, a.model, { optimizers: a.optimizers, metadata: { step: '20' } });
const uninterrupted = await step(a);

const b = setUp(); // as a new process would
const { metadata } = await loadModule(file, b.model, { optimizers: b.optimizers });
const resumed = await step(b);
console.log(`resumed at step ${metadata.step}: loss ${resumed} (uninterrupted: ${uninterrupted}) — ${resumed === uninterrupted ? 'identical' : 'DIFFERENT'}`);
if (resumed !== uninterrupted) process.exitCode = 1;
destroyGpu();
