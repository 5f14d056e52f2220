// BatchNorm1d ([N, C] or [N, C, L]) and BatchNorm2d ([N, C, H, W]), as torch.nn: trainable
// weight (1) and bias (0), running_mean (0) and running_var (1) buffers updated in place in
// training mode (momentum 0.1, unbiased variance), used in eval mode.
import { batchNorm, conv2d, full, type Tensor } from '../engine/index.js';
import { Module } from './module.js';
import { Sequential } from './sequential.js';
import { ReLU } from './basic.js';
import { Conv2d } from './conv.js';
import { Linear } from './linear.js';

export interface BatchNormOptions {
  eps?: number;
  momentum?: number;
  /** Trainable per-channel weight and bias (default true). */
  affine?: boolean;
}

abstract class BatchNormBase extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  running_mean: Tensor;
  running_var: Tensor;
  readonly eps: number;
  readonly momentum: number;
  protected abstract readonly kind: string;
  protected abstract readonly ranks: number[];
  protected abstract readonly layout: string;

  constructor(readonly numFeatures: number, o: BatchNormOptions = {}) {
    super();
    const name = new.target.name;
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new Error(`${name}: numFeatures must be a positive integer, got ${String(numFeatures)}`);
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum ?? 0.1;
    if (!(this.eps > 0)) throw new Error(`${name}: eps must be > 0, got ${String(o.eps)}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`${name}: momentum must be in [0, 1], got ${String(o.momentum)}`);
    const affine = o.affine ?? true;
    this.weight = affine ? full([numFeatures], 1).requireGrad().keep() : null;
    this.bias = affine ? full([numFeatures], 0).requireGrad().keep() : null;
    this.running_mean = full([numFeatures], 0).keep();
    this.running_var = full([numFeatures], 1).keep();
  }

  forward(x: Tensor): Tensor { return this.run(x, false); }

  /** relu(this.forward(x)) in the same passes (one fused op, forward and backward). */
  forwardReLU(x: Tensor): Tensor { return this.run(x, true); }

  /**
   * this.forward(x + preBias) (per channel), ReLU'd with `relu`, in the passes of the batch norm
   * alone: for a conv's bias, which then needs no pass of its own.
   */
  run(x: Tensor, relu: boolean, preBias: Tensor | null = null): Tensor {
    if (!this.ranks.includes(x.ndim) || x.shape[1] !== this.numFeatures) {
      throw new Error(`${this.kind}(${this.numFeatures}): expects input ${this.layout} with C = ${this.numFeatures}, got [${x.shape.join(', ')}]`);
    }
    return batchNorm(x, this.running_mean, this.running_var, this.weight, this.bias, { training: this.training, momentum: this.momentum, eps: this.eps, relu, preBias });
  }
}

export class BatchNorm1d extends BatchNormBase {
  protected readonly kind = 'BatchNorm1d';
  protected readonly ranks = [2, 3];
  protected readonly layout = '[N, C] or [N, C, L]';
}

export class BatchNorm2d extends BatchNormBase {
  protected readonly kind = 'BatchNorm2d';
  protected readonly ranks = [4];
  protected readonly layout = '[N, C, H, W]';
}

/** True for a batch norm layer (either rank). */
export const isBatchNorm = (m: Module): m is BatchNorm1d | BatchNorm2d => m instanceof BatchNormBase;

/**
 * A Sequential that fuses what it can around each batch norm: a BN directly followed by a ReLU
 * is one op (two passes fewer per pair in a training step, one kernel instead of the composed
 * eval arithmetic), and a Conv2d directly before a BN runs without its bias, which the BN op
 * adds per channel instead (the conv's bias pass and bias-gradient reduction go away; in
 * training that gradient is exactly 0 — a per-channel shift does not change batch-normalised
 * values — and the bias only moves the running mean, as it does unfused). Same layers and
 * parameter names as a Sequential of the same modules (checkpoints are interchangeable).
 * A Linear directly followed by a ReLU applies it in its product's epilogue (Linear.forwardAct).
 */
export class FusedSequential extends Sequential {
  override forward(x: Tensor): Tensor {
    const ls = this.layers;
    for (let i = 0; i < ls.length; i++) {
      const l = ls[i];
      let pre: Tensor | null = null;
      let bn: Module = l;
      if (l.constructor === Conv2d && isBatchNorm(ls[i + 1]) && (l as Conv2d).bias) {
        const c = l as Conv2d;
        if (x.ndim !== 4 || x.shape[1] !== c.inChannels) throw new Error(`${c}: expects input [N, ${c.inChannels}, H, W], got [${x.shape.join(', ')}]`);
        x = conv2d(x, c.weight, null, { stride: c.stride, padding: c.padding });
        pre = c.bias;
        bn = ls[++i];
      }
      if (isBatchNorm(bn)) {
        const relu = ls[i + 1] instanceof ReLU;
        x = bn.run(x, relu, pre);
        if (relu) i++;
      } else if (l instanceof Linear && ls[i + 1] instanceof ReLU) {
        x = l.forwardAct(x, 'relu');
        i++;
      } else x = l.forward(x);
    }
    return x;
  }
}
