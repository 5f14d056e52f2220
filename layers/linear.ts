// Linear: y = x·W + b with W stored [in, out] so the forward product needs no transpose; the
// bias is added in the GEMM's epilogue.
import { Generator, matmul, linear, defaultGenerator, type Tensor } from '../engine/index.js';
import { Module } from './module.js';
import { initWeight, type InitName } from './init.js';

export interface LinearOptions { bias?: boolean; init?: InitName; generator?: Generator }

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, o: LinearOptions = {}) {
    super();
    const g = o.generator ?? defaultGenerator();
    this.weight = initWeight(g, [inFeatures, outFeatures], o.init ?? 'pytorch', inFeatures, outFeatures).requireGrad().keep();
    const b = 1 / Math.sqrt(inFeatures);
    this.bias = o.bias === false ? null : g.uniform([outFeatures], -b, b).requireGrad().keep();
  }

  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures} → ${this.outFeatures}): input has ${x.shape[x.ndim - 1]} features (shape [${x.shape.join(', ')}])`);
    }
    return this.bias ? linear(x, this.weight, this.bias) : matmul(x, this.weight);
  }
}
