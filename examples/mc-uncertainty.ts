// MC-dropout uncertainty from a model trained with learnable Bernoulli dropout: mcPredict runs
// S passes with fresh masks and returns the mean probabilities, the predictive entropy (total
// uncertainty) and the mutual information between prediction and masks (the model's own doubt).
import {
  getGpu, destroyGpu, tensor, crossEntropy, scope, Generator, mulberry32, Adam, Sequential, Linear, ReLU,
  LearnableBernoulliDropout, lbdStep, splitParameters, mcPredict,
} from 'lbd-gpu';

await getGpu();
// two classes: Gaussian blobs around (−1, 0) and (1, 0)
const rand = mulberry32(3), n = 400, normal = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
const y = Int32Array.from({ length: n }, (_, i) => i % 2);
const x = Float32Array.from({ length: 2 * n }, (_, k) => (k % 2 ? 0.4 * normal() : (y[k >> 1] ? 1 : -1) + 0.4 * normal()));

const g = new Generator(4);
const model = new Sequential(
  new Linear(2, 64, { generator: g }), new ReLU(), new LearnableBernoulliDropout({ units: 64, datasetSize: n }),
  new Linear(64, 64, { generator: g }), new ReLU(), new LearnableBernoulliDropout({ units: 64, datasetSize: n }),
  new Linear(64, 2, { generator: g }),
);
const { weights, logits } = splitParameters(model);
const wopt = new Adam(weights, { lr: 1e-2 }), lopt = new Adam(logits, { lr: 2e-2 });
const xs = tensor(x, [n, 2]).keep(), ys = tensor(y, [n], 'i32').keep();
for (let step = 0; step < 200; step++) {
  await scope(async () => lbdStep(() => crossEntropy(model.forward(xs), ys, { reduction: 'none' }), { model, weights: wopt, logits: lopt }));
}

const where = { 'class 0 centre (−1, 0)': [-1, 0], 'class 1 centre (1, 0)': [1, 0], 'between them (0, 0)': [0, 0], 'far from the data (0, 4)': [0, 4] };
const q = tensor(Object.values(where).flat(), [4, 2]);
const p = await mcPredict(model, q, { samples: 100 });
Object.keys(where).forEach((name, i) => {
  console.log(`${name.padEnd(26)} p(class 1) ${p.probs[2 * i + 1]!.toFixed(3)}  entropy ${p.entropy[i]!.toFixed(3)}  mutual information ${p.mutualInformation[i]!.toFixed(4)}`);
});
destroyGpu();
