// Sequential: applies its modules in order. Activation functions wrap as modules via Lambda.
import type { Tensor } from '../engine/index.js';
import { Module } from './module.js';

export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
  }
  forward(x: Tensor): Tensor {
    for (const l of this.layers) x = l.forward(x);
    return x;
  }
}

/** A parameter-free function as a module (relu, flatten, ...). */
export class Lambda extends Module {
  constructor(readonly fn: (x: Tensor) => Tensor, readonly label = 'lambda') { super(); }
  forward(x: Tensor): Tensor { return this.fn(x); }
}
