// The library in a browser: learnable Bernoulli dropout in an MLP, trained on navigator.gpu,
// then MC-dropout predictions. Bundled by a stock bundler with no plugin (the package's
// "imports" conditions keep its Node host out):
//   npx esbuild main.ts --bundle --format=esm --minify --outfile=main.js
import {
  getGpu, tensor, crossEntropy, scope, Generator, mulberry32, Adam, Sequential, Linear, ReLU,
  LearnableBernoulliDropout, lbdStep, splitParameters, mcPredict, NO_WEBGPU_HINT,
} from 'lbd-gpu';

const out = document.querySelector('#out')!;
const show = (line: string): void => { out.textContent += `${line}\n`; };

async function main(): Promise<void> {
  const gpu = await getGpu();
  show(`adapter: ${gpu.info.name}`);
  // two classes: points inside or outside the unit circle
  const rand = mulberry32(7), n = 512;
  const x = Float32Array.from({ length: 2 * n }, () => rand() * 4 - 2);
  const y = Int32Array.from({ length: n }, (_, i) => +(x[2 * i]! ** 2 + x[2 * i + 1]! ** 2 < 1));
  const g = new Generator(8);
  const drop = new LearnableBernoulliDropout({ units: 64, datasetSize: n });
  const model = new Sequential(new Linear(2, 64, { generator: g }), new ReLU(), drop, new Linear(64, 2, { generator: g }));
  const { weights, logits } = splitParameters(model);
  const wopt = new Adam(weights, { lr: 1e-2 }), lopt = new Adam(logits, { lr: 5e-2 });
  const xs = tensor(x, [n, 2]).keep(), ys = tensor(y, [n], 'i32').keep();
  let loss = NaN;
  for (let step = 1; step <= 150; step++) {
    loss = await scope(async () => {
      const l = lbdStep(() => crossEntropy(model.forward(xs), ys, { reduction: 'none' }), { model, weights: wopt, logits: lopt }).loss;
      return step % 50 === 0 ? l.item() : NaN;
    });
    if (step % 50 === 0) show(`step ${step}: loss ${loss.toFixed(3)}`);
  }
  const p = await mcPredict(model, xs, { samples: 20 });
  let correct = 0;
  for (let i = 0; i < n; i++) correct += +((p.probs[2 * i + 1]! > 0.5 ? 1 : 0) === y[i]);
  const keep = await drop.keepProbabilities();
  const result = { accuracy: correct / n, loss, meanKeep: keep.reduce((a, b) => a + b) / keep.length, meanEntropy: p.entropy.reduce((a, b) => a + b) / n };
  show(`MC accuracy ${(100 * result.accuracy).toFixed(1)} %, mean keep probability ${result.meanKeep.toFixed(3)}`);
  document.body.dataset.result = JSON.stringify(result);
  document.body.dataset.state = 'done';
}

main().catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  show(`error: ${message}${/navigator\.gpu|adapter/.test(message) ? `\n${NO_WEBGPU_HINT}` : ''}`);
  document.body.dataset.state = 'error';
});
