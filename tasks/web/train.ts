// The page's MNIST-digits MLP, stepped one batch at a time so the page can draw between steps:
// the same model (models/mlp.ts), dropout layers (the registry), LBD step (lbdStep: ARM/DisARM
// on the logits, Adam on each group) and data order (tasks/data/mnist.ts) as tasks/mnist.ts.
// Nothing here is browser-specific: the Node tests train it too.
import { tensor, scope, softmax, add, Adam, Generator, crossEntropy, type Tensor } from '../../engine/index.js';
import { mlp, dropoutLayers } from '../../models/mlp.js';
import { createDropout, DROPOUT_REGISTRY, type DropoutName } from '../../layers/dropout/registry.js';
import { splitParameters } from '../../layers/dropout/lbd-step.js';
import { trainStep } from '../../layers/train-step.js';
import { sumRegularizers, type DropoutLayer } from '../../layers/dropout/base.js';
import type { Module } from '../../layers/module.js';
import { permutation, gatherRows, type DigitSet } from '../data/mnist.js';
import { argmaxRows, accuracy, predictiveEntropy } from '../../models/metrics/classification.js';

/** The page's choices: the registry's kinds, LBD once per estimator. */
export const PAGE_KINDS = ['regular', 'mc', 'gaussian', 'concrete', 'lbd-arm', 'lbd-disarm'] as const;
export type PageKind = (typeof PAGE_KINDS)[number];
export const PAGE_LABELS: Record<PageKind, string> = {
  regular: 'Regular dropout', mc: 'MC dropout', gaussian: 'Variational Gaussian', concrete: 'Concrete',
  'lbd-arm': 'LBD (ARM)', 'lbd-disarm': 'LBD (DisARM)',
};

export interface WebTrainOptions {
  kind: PageKind;
  hidden: number[];
  batch: number;
  lr: number;
  logitLr: number;
  /** Drop rate (initial drop rate of the learnable kinds). */
  rate: number;
  seed: number;
}

export const webDefaults: Omit<WebTrainOptions, 'kind'> = { hidden: [256, 256], batch: 100, lr: 1e-3, logitLr: 1e-2, rate: 0.5, seed: 1 };

const registryKind = (k: PageKind): DropoutName => (k.startsWith('lbd') ? 'lbd' : k as DropoutName);

export class WebTrainer {
  readonly model: Module;
  readonly drops: DropoutLayer[];
  private readonly wopt: Adam;
  private readonly lopt: Adam | null;
  private perm: Int32Array;
  private at = 0;
  private epoch = 0;
  steps = 0;

  constructor(readonly o: WebTrainOptions, readonly train: DigitSet) {
    const name = registryKind(o.kind);
    if (!PAGE_KINDS.includes(o.kind)) throw new Error(`WebTrainer: kind must be one of ${PAGE_KINDS.join(', ')}; got '${String(o.kind)}'`);
    const estimator = o.kind === 'lbd-disarm' ? 'disarm' : 'arm';
    this.model = mlp([784, ...o.hidden, 10], {
      generator: new Generator(o.seed),
      dropout: (units, i) => createDropout(name, { rate: o.rate, units, datasetSize: train.n, generator: new Generator(o.seed * 100 + 7 + i), estimator }),
    });
    this.drops = dropoutLayers(this.model);
    const { weights, logits } = splitParameters(this.model);
    this.wopt = new Adam(weights, { lr: o.lr });
    this.lopt = logits.length ? new Adam(logits, { lr: o.logitLr }) : null;
    this.perm = permutation(train.n, o.seed * 1000);
  }

  /** Whether evaluation samples masks (MC) for this kind. */
  get stochasticEval(): boolean { return DROPOUT_REGISTRY[registryKind(this.o.kind)].stochasticEval; }

  /** One training step on the next batch; resolves to its loss when `read` (a GPU round trip). */
  async step(read = false): Promise<number | null> {
    const B = this.o.batch;
    if (this.at + B > this.train.n) { this.epoch++; this.at = 0; this.perm = permutation(this.train.n, this.o.seed * 1000 + this.epoch); }
    const idx = this.perm.subarray(this.at, this.at + B);
    this.at += B;
    this.steps++;
    return scope(async () => {
      const x = tensor(gatherRows(this.train.x, 784, idx), [B, 784]);
      const y = tensor(Array.from(idx, (i) => this.train.y[i]), [B], 'i32');
      const perExample = (): Tensor => crossEntropy(this.model.forward(x), y, { reduction: 'none' });
      const loss = trainStep(perExample, { model: this.model, optimizers: { weights: this.wopt, logits: this.lopt }, regularizer: () => sumRegularizers(this.drops) });
      if (!read) return null;
      const l = await loss.item();
      if (!Number.isFinite(l)) throw new Error(`training diverged: the loss became ${l} at step ${this.steps}; lower the learning rate`);
      return l;
    });
  }

  /**
   * Class probabilities [n, 10] of x [n, 784]: one deterministic pass, or the mean of `samples`
   * MC passes (`onePass`: a single sampled pass, each row its own masks).
   */
  async probabilities(x: Float32Array, samples: number, onePass = false): Promise<Float32Array> {
    const n = x.length / 784;
    const mc = this.stochasticEval && samples > 1;
    const S = mc && !onePass ? samples : 1;
    return scope(async () => {
      this.model.eval();
      for (const d of this.drops) d.sampleAtEval = mc;
      try {
        const xt = tensor(x, [n, 784]);
        let p: Tensor | null = null;
        for (let s = 0; s < S; s++) { const q = softmax(this.model.forward(xt), -1); p = p ? add(p, q) : q; }
        const out = new Float32Array(await p!.data());
        for (let i = 0; i < out.length; i++) out[i] /= S;
        return out;
      } finally {
        for (const d of this.drops) d.sampleAtEval = false;
        this.model.train();
      }
    });
  }

  /** Accuracy on a set (deterministic pass, or MC when the kind samples at evaluation). */
  async accuracy(set: DigitSet, samples = 1): Promise<number> {
    const p = await this.probabilities(set.x, samples);
    return accuracy(argmaxRows(p, 10), set.y);
  }

  /** The MC predictive distribution of one 28×28 image and its entropy (nats). */
  async predictive(image: Float32Array, samples: number): Promise<{ probs: number[]; entropy: number; samples: number }> {
    if (image.length !== 784) throw new Error(`predictive: expected 784 pixels, got ${image.length}`);
    // S copies of the image in one batch: each row draws its own masks, so one pass is S samples
    const S = this.stochasticEval ? samples : 1;
    const tiled = new Float32Array(S * 784);
    for (let s = 0; s < S; s++) tiled.set(image, s * 784);
    const rows = await this.probabilities(tiled, S > 1 ? 2 : 1, true);
    const probs = new Array<number>(10).fill(0);
    for (let s = 0; s < S; s++) for (let c = 0; c < 10; c++) probs[c] += rows[s * 10 + c] / S;
    return { probs, entropy: predictiveEntropy(probs, 10)[0], samples: S };
  }

  /** Each dropout layer's current keep probabilities (one per unit, or one for the layer). */
  async keeps(): Promise<number[][]> {
    return Promise.all(this.drops.map((d) => d.keepProbabilities()));
  }

  dispose(): void {
    this.wopt.dispose();
    this.lopt?.dispose();
    this.model.dispose();
  }
}
