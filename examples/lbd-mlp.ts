// Learnable Bernoulli dropout in your own MLP: build it in a Sequential (the LBD layer finds the
// weight its Eq. 3 regularizer penalises), train weights and keep-probability logits with their
// own optimizers through lbdStep, read the learnt keep probabilities.
import {
  getGpu, destroyGpu, tensor, crossEntropy, scope, Generator, mulberry32, Adam, Sequential, Linear, ReLU,
  LearnableBernoulliDropout, lbdStep, splitParameters, argmaxRows, accuracy,
} from 'lbd-gpu';

await getGpu();
// a toy problem: the class is which of 3 directions a noisy 8-d point is closest to
const rand = mulberry32(1), n = 600, d = 8;
const x = Float32Array.from({ length: n * d }, () => rand() * 2 - 1);
const y = Int32Array.from({ length: n }, (_, i) => [0, 1, 2].reduce((b, c) => (x[i * d + c]! > x[i * d + b]! ? c : b), 0));

const g = new Generator(1);
const drop = new LearnableBernoulliDropout({ units: 64, initialKeep: 0.5, datasetSize: n });
const model = new Sequential(new Linear(d, 64, { generator: g }), new ReLU(), drop, new Linear(64, 3, { generator: g }));
const { weights, logits } = splitParameters(model);
const wopt = new Adam(weights, { lr: 1e-2 }), lopt = new Adam(logits, { lr: 5e-2 });

const xs = tensor(x, [n, d]).keep(), ys = tensor(y, [n], 'i32').keep();
for (let step = 0; step < 150; step++) {
  // per-example losses: lbdStep needs them for the ARM gradient of the logits
  await scope(async () => lbdStep(() => crossEntropy(model.forward(xs), ys, { reduction: 'none' }), { model, weights: wopt, logits: lopt }));
}
model.eval();
const logitsOut = await scope(async () => model.forward(xs).data());
const keep = await drop.keepProbabilities();
console.log(`training accuracy ${(100 * accuracy(argmaxRows(logitsOut, 3), y)).toFixed(1)} %`);
console.log(`keep probabilities: mean ${(keep.reduce((a, b) => a + b) / keep.length).toFixed(3)}, min ${Math.min(...keep).toFixed(3)}, max ${Math.max(...keep).toFixed(3)}`);
destroyGpu();
