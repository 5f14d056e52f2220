// Sequential: applies its modules in order. Activation functions wrap as modules via Lambda.
// A dropout layer not yet attached to the weight its units feed is attached here to the next
// Linear (axis 0 of its [in, out] weight) or Conv2d (axis 1 of [Co, Ci, kh, kw]) when only
// elementwise activations (ReLU, or a Lambda labelled relu, tanh, ...) sit between them: the weight term of LBD's and Concrete dropout's
// regularizers needs it, and forgetting it by hand used to drop the term silently.
import type { Tensor } from '../engine/index.js';
import { Module } from './module.js';
import { DropoutLayer } from './dropout/base.js';
import { Linear } from './linear.js';
import { Conv2d } from './conv.js';
import { ReLU } from './basic.js';

export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => { if (l instanceof DropoutLayer && !l.attached) attachToNext(l, layers.slice(i + 1)); });
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

/** Lambda labels of elementwise activations, which keep a unit a unit. */
const ELEMENTWISE = new Set(['relu', 'tanh', 'sigmoid', 'gelu', 'elu', 'leaky_relu']);

/** Attaches `d` to the weight of the first Linear or Conv2d of `after`, past activations only. */
function attachToNext(d: DropoutLayer, after: Module[]): void {
  for (const l of after) {
    if (l instanceof ReLU || (l instanceof Lambda && ELEMENTWISE.has(l.label))) continue;
    if (l instanceof Linear) d.attach(l.weight, 0);
    else if (l instanceof Conv2d) d.attach(l.weight, 1);
    return;
  }
}
