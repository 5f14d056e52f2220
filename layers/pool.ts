// Pooling layers over [N, C, H, W]: MaxPool2d, AvgPool2d (PyTorch semantics, floor mode,
// count_include_pad=true) and GlobalAvgPool2d ([N, C, H, W] → [N, C]).
import { maxPool2d, avgPool2d, globalAvgPool2d, poolGeometry, type Tensor } from '../engine/index.js';
import { Module } from './module.js';

export interface Pool2dOptions {
  /** Default: the kernel size. */
  stride?: number;
  /** Default 0; at most half the kernel size. */
  padding?: number;
}

abstract class Pool2d extends Module {
  readonly stride: number;
  readonly padding: number;
  constructor(readonly kernelSize: number, o: Pool2dOptions = {}) {
    super();
    this.stride = o.stride ?? kernelSize;
    this.padding = o.padding ?? 0;
    // validates the options now (on a 1×1 grid big enough for the kernel), not at the first forward
    const side = this.kernelSize + 2 * this.padding;
    poolGeometry(new.target.name, [1, 1, Math.max(1, side), Math.max(1, side)], kernelSize, this.stride, this.padding);
  }
}

export class MaxPool2d extends Pool2d {
  forward(x: Tensor): Tensor { return maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding }); }
}

export class AvgPool2d extends Pool2d {
  forward(x: Tensor): Tensor { return avgPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding }); }
}

export class GlobalAvgPool2d extends Module {
  forward(x: Tensor): Tensor { return globalAvgPool2d(x); }
}
