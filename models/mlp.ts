// A multilayer perceptron: Linear → ReLU → ... → Linear.
import { relu, Generator } from '../engine/index.js';
import { Linear } from '../layers/linear.js';
import { Sequential, Lambda } from '../layers/sequential.js';
import type { Module } from '../layers/module.js';

export function mlp(sizes: number[], generator?: Generator): Sequential {
  if (sizes.length < 2) throw new Error(`mlp: needs at least input and output sizes, got [${sizes.join(', ')}]`);
  const layers: Module[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new Linear(sizes[i], sizes[i + 1], { generator }));
    if (i + 2 < sizes.length) layers.push(new Lambda(relu, 'relu'));
  }
  return new Sequential(...layers);
}
