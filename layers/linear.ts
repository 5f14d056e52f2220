// Linear: y = x·W + b with W stored [in, out] so the forward product needs no transpose; the
// bias, and an activation the caller names, are applied in the GEMM's epilogue. An input known
// to be zero outside a row pattern (a recommender's sparse item rows) multiplies only its
// pattern's entries (sparse_linear).
import { Generator, matmul, linear, sparseLinear, relu, tanh, defaultGenerator, type Activation, type RowPattern, type Tensor } from '../engine/index.js';
import { Module } from './module.js';
import { initWeight, type InitName } from './init.js';

export interface LinearOptions { bias?: boolean; init?: InitName; generator?: Generator }

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, o: LinearOptions = {}) {
    super();
    const g = o.generator ?? defaultGenerator();
    this.weight = initWeight(g, [inFeatures, outFeatures], o.init ?? 'pytorch', inFeatures, outFeatures, `Linear(${inFeatures} → ${outFeatures})`).requireGrad().keep();
    const b = 1 / Math.sqrt(inFeatures);
    this.bias = o.bias === false ? null : g.uniform([outFeatures], -b, b).requireGrad().keep();
  }

  forward(x: Tensor): Tensor { return this.forwardAct(x, 'none'); }

  /** act(x·W + b): in the product's epilogue when the layer has a bias (one pass each way). */
  forwardAct(x: Tensor, act: Activation | 'none'): Tensor {
    this.checkInput(x);
    if (this.bias) return linear(x, this.weight, this.bias, act);
    const y = matmul(x, this.weight);
    return act === 'none' ? y : act === 'relu' ? relu(y) : tanh(y);
  }

  /** forward(x, act) for x [B, in] that is zero outside `rows`: only the pattern's entries are read. */
  forwardSparse(x: Tensor, rows: RowPattern, act: Activation | 'none' = 'none'): Tensor {
    this.checkInput(x);
    return sparseLinear(x, this.weight, this.bias, rows, act);
  }

  private checkInput(x: Tensor): void {
    if (x.shape[x.ndim - 1] !== this.inFeatures) {
      throw new Error(`Linear(${this.inFeatures} → ${this.outFeatures}): input has ${x.shape[x.ndim - 1]} features (shape [${x.shape.join(', ')}])`);
    }
  }
}
