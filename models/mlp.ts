// A multilayer perceptron: Linear → ReLU (→ dropout) → ... → Linear. Dropout slots take any
// dropout kind (layers/dropout/); the model never knows which one it got.
import { relu, Generator } from '../engine/index.js';
import { Linear } from '../layers/linear.js';
import { Sequential, Lambda } from '../layers/sequential.js';
import type { Module } from '../layers/module.js';
import type { DropoutLayer } from '../layers/dropout/base.js';

export interface MlpOptions {
  generator?: Generator;
  /** A dropout layer after each hidden activation (`units` = that layer's width, `index` from 0). */
  dropout?: (units: number, index: number) => DropoutLayer;
  /** Also a dropout layer on the input (index -1). */
  inputDropout?: boolean;
}

export function mlp(sizes: number[], o: MlpOptions | Generator = {}): Sequential {
  const opts: MlpOptions = o instanceof Generator ? { generator: o } : o;
  if (sizes.length < 2) throw new Error(`mlp: needs at least input and output sizes, got [${sizes.join(', ')}]`);
  const layers: Module[] = [];
  let pending: DropoutLayer | null = null;
  if (opts.dropout && opts.inputDropout) layers.push((pending = opts.dropout(sizes[0], -1)));
  for (let i = 0; i + 1 < sizes.length; i++) {
    const lin = new Linear(sizes[i], sizes[i + 1], { generator: opts.generator });
    // the dropout before this Linear feeds its weight [in, out]: units index axis 0
    pending?.attach(lin.weight, 0);
    pending = null;
    layers.push(lin);
    if (i + 2 < sizes.length) {
      layers.push(new Lambda(relu, 'relu'));
      if (opts.dropout) layers.push((pending = opts.dropout(sizes[i + 1], i)));
    }
  }
  return new Sequential(...layers);
}

/** The dropout layers of a model, in order. */
export function dropoutLayers(model: Module): DropoutLayer[] {
  return model.modules().filter((m): m is DropoutLayer => 'kind' in m && 'keepProbabilities' in m);
}
