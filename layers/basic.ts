// Parameter-free layers: ReLU and Flatten.
import { relu, flatten, type Tensor } from '../engine/index.js';
import { Module } from './module.js';

export class ReLU extends Module {
  forward(x: Tensor): Tensor { return relu(x); }
}

/** Flattens axes startDim.. into one (default 1: [N, C, H, W] → [N, C·H·W]). */
export class Flatten extends Module {
  constructor(readonly startDim = 1) {
    super();
    if (!Number.isInteger(startDim) || startDim < 0) throw new Error(`Flatten: startDim must be a non-negative integer, got ${String(startDim)}`);
  }
  forward(x: Tensor): Tensor {
    if (x.ndim <= this.startDim) throw new Error(`Flatten(${this.startDim}): input [${x.shape.join(', ')}] has only ${x.ndim} axes`);
    return flatten(x, this.startDim);
  }
}
