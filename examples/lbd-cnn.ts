// Learnable Bernoulli dropout in your own CNN: one logit per channel of the conv features
// (granularity 'channel': a mask per example and channel, shared over the pixels) and one per
// unit before the classifier. The Sequential attaches each LBD layer to the next conv / linear.
import {
  getGpu, destroyGpu, tensor, crossEntropy, scope, Generator, mulberry32, Adam, Sequential, Conv2d, Linear, ReLU,
  MaxPool2d, Flatten, LearnableBernoulliDropout, lbdStep, splitParameters,
} from 'lbd-gpu';

await getGpu();
// 12×12 images of a bright horizontal (class 0) or vertical (class 1) bar, with noise
const rand = mulberry32(2), n = 256, S = 12;
const x = new Float32Array(n * S * S), y = new Int32Array(n);
for (let i = 0; i < n; i++) {
  y[i] = i % 2;
  const at = 2 + Math.floor(rand() * 8);
  for (let p = 0; p < S * S; p++) x[i * S * S + p] = 0.3 * rand() + ((y[i] ? p % S : Math.floor(p / S)) === at ? 1 : 0);
}

const g = new Generator(3), N = n;
const model = new Sequential(
  new Conv2d(1, 8, 3, { padding: 1, generator: g }), new ReLU(), new MaxPool2d(2),
  new LearnableBernoulliDropout({ granularity: 'channel', units: 8, datasetSize: N }),
  new Conv2d(8, 16, 3, { padding: 1, generator: g }), new ReLU(), new MaxPool2d(2), new Flatten(),
  new LearnableBernoulliDropout({ units: 16 * 3 * 3, datasetSize: N }),
  new Linear(16 * 3 * 3, 2, { generator: g }),
);
const { weights, logits } = splitParameters(model);
const wopt = new Adam(weights, { lr: 3e-3 }), lopt = new Adam(logits, { lr: 3e-2 });
const xs = tensor(x, [n, 1, S, S]).keep(), ys = tensor(y, [n], 'i32').keep();
for (let step = 1; step <= 60; step++) {
  const loss = await scope(async () => lbdStep(() => crossEntropy(model.forward(xs), ys, { reduction: 'none' }), { model, weights: wopt, logits: lopt }).loss.item());
  if (step % 20 === 0) console.log(`step ${step}: loss ${loss.toFixed(3)}`);
}
const [conv, fc] = model.modules().filter((m): m is LearnableBernoulliDropout => m instanceof LearnableBernoulliDropout);
console.log('keep per channel:', (await conv!.keepProbabilities()).map((p) => p.toFixed(2)).join(' '));
console.log('mean keep before the classifier:', ((await fc!.keepProbabilities()).reduce((a, b) => a + b) / 144).toFixed(3));
destroyGpu();
