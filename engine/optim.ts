// Optimizers: one fused WGSL pass per parameter, no read-backs. (Adam and RMSProp and
// parameter groups arrive with issue 3; SGD is what the engine's own tests train with.)
import { dispatch, f32 } from './dispatch.js';
import { zeros, type Tensor } from './tensor.js';
import { sgdKernel } from '../kernels/optim.js';
import { gridFor } from '../kernels/common.js';

export interface SGDOptions { lr: number; momentum?: number; weightDecay?: number }

export class SGD {
  private velocity = new Map<Tensor, Tensor>();
  constructor(readonly params: Tensor[], readonly opts: SGDOptions) {
    if (!(opts.lr > 0)) throw new Error(`SGD: lr must be > 0, got ${opts.lr}`);
    for (const p of params) if (!p.requiresGrad) throw new Error(`SGD: parameter ${p} does not require grad`);
  }

  step(): void {
    const mu = this.opts.momentum ?? 0;
    for (const p of this.params) {
      if (!p.grad) continue;
      const bufs = [p.grad.buffer, p.buffer];
      if (mu) {
        let v = this.velocity.get(p);
        if (!v) this.velocity.set(p, (v = zeros(p.shape).keep()));
        bufs.push(v.buffer);
      }
      dispatch({ kernel: sgdKernel(mu !== 0), buffers: bufs, params: [p.size, f32(this.opts.lr), f32(this.opts.weightDecay ?? 0), f32(mu)], workgroups: [gridFor(p.size)] });
    }
  }

  zeroGrad(): void {
    for (const p of this.params) { p.grad?.dispose(); p.grad = null; }
  }

  dispose(): void {
    for (const v of this.velocity.values()) v.dispose();
    this.velocity.clear();
  }
}
