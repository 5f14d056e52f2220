// Module: the base of every layer and model. Parameters and buffers are found by walking the
// module's own fields (tensors, sub-modules, arrays of them), as torch.nn does with attributes.
import { Tensor, Generator } from '../engine/index.js';

export abstract class Module {
  training = true;

  abstract forward(...inputs: Tensor[]): Tensor;

  /** Trainable tensors with dotted names, in field order. */
  namedParameters(prefix = ''): [string, Tensor][] {
    return this.walk(prefix).filter(([, t]) => t.requiresGrad);
  }

  /** Trainable tensors, each once (a tensor shared by several layers, e.g. an LBD SharedLogit, is listed once). */

  parameters(): Tensor[] { return [...new Set(this.namedParameters().map(([, t]) => t))]; }

  /** Non-trainable state tensors (saved in checkpoints, not optimised). */
  namedBuffers(prefix = ''): [string, Tensor][] {
    return this.walk(prefix).filter(([, t]) => !t.requiresGrad);
  }

  private walk(prefix: string): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const visit = (v: unknown, name: string): void => {
      if (v instanceof Tensor) out.push([name, v]);
      else if (v instanceof Module) out.push(...v.walk(name));
      else if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${name}.${i}`));
    };
    for (const [k, v] of Object.entries(this)) {
      if (k === 'training') continue;
      visit(v, prefix ? `${prefix}.${k}` : k);
    }
    return out;
  }

  /** Every sub-module, depth first, this one included. */
  modules(): Module[] {
    const out: Module[] = [this];
    const visit = (v: unknown): void => {
      if (v instanceof Module) out.push(...v.modules());
      else if (Array.isArray(v)) v.forEach(visit);
    };
    for (const v of Object.values(this)) visit(v);
    return out;
  }

  /**
   * Every noise generator the module's layers hold (dropout masks, a VAE's ε), each once, in
   * field order: a checkpoint saves their positions so that a resumed run draws the masks the
   * uninterrupted one would have.
   */
  generators(): Generator[] {
    const out = new Set<Generator>();
    const visit = (v: unknown): void => {
      if (v instanceof Generator) out.add(v);
      else if (v instanceof Module) for (const g of v.generators()) out.add(g);
      else if (Array.isArray(v)) v.forEach(visit);
    };
    for (const v of Object.values(this)) visit(v);
    return [...out];
  }

  train(on = true): this {
    for (const m of this.modules()) m.training = on;
    return this;
  }

  eval(): this { return this.train(false); }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const [, t] of this.walk('')) t.dispose();
  }
}
