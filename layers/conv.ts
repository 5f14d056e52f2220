// Conv2d and ConvTranspose2d: weights as PyTorch lays them out ([Co, Ci, kh, kw] and
// [Cin, Cout, kh, kw]) with PyTorch's default initialisation (U(±1/√fanIn) for weight and bias).
import { Generator, conv2d, convTranspose2d, defaultGenerator, type Tensor } from '../engine/index.js';
import { Module } from './module.js';
import { fans, initWeight, type InitName } from './init.js';

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
  /** Weight initialiser (default 'pytorch': kaiming-uniform with a = √5). */
  init?: InitName;
  generator?: Generator;
}

export interface ConvTranspose2dOptions extends Conv2dOptions { outputPadding?: number }

type KernelSize = number | readonly [number, number];

function kernelDims(name: string, k: KernelSize): [number, number] {
  const [kh, kw] = typeof k === 'number' ? [k, k] : k;
  if (!Number.isInteger(kh) || !Number.isInteger(kw) || kh < 1 || kw < 1) throw new Error(`${name}: kernel size must be a positive integer or [kh, kw], got ${JSON.stringify(k)}`);
  return [kh, kw];
}

function checkCount(name: string, what: string, v: unknown, min: number): number {
  if (!Number.isInteger(v) || (v as number) < min) throw new Error(`${name}: ${what} must be an integer ≥ ${min}, got ${String(v)}`);
  return v as number;
}

/**
 * Weight and optional bias of a convolution, PyTorch's way: fanIn is weight.shape[1]·kh·kw for
 * both layouts (so Cout·kh·kw for the transposed convolution, as torch computes it).
 */
function makeParams(g: Generator, shape: number[], init: InitName, biasSize: number | null): [Tensor, Tensor | null] {
  const [fanIn, fanOut] = fans(shape);
  const weight = initWeight(g, shape, init, fanIn, fanOut, `convolution [${shape.join(', ')}]`).requireGrad().keep();
  const bound = 1 / Math.sqrt(fanIn);
  return [weight, biasSize ? g.uniform([biasSize], -bound, bound).requireGrad().keep() : null];
}

function checkInput(label: string, x: Tensor, C: number): void {
  if (x.ndim !== 4 || x.shape[1] !== C) {
    throw new Error(`${label}: expects input [N, ${C}, H, W], got [${x.shape.join(', ')}]`);
  }
}

/** A conv layer's checked channel counts, kernel size, stride and padding (both layers' constructors). */
function convShape(layer: string, inChannels: number, outChannels: number, kernelSize: KernelSize, o: { stride?: number; padding?: number }):
  { kernelSize: [number, number]; stride: number; padding: number } {
  checkCount(layer, 'inChannels', inChannels, 1);
  checkCount(layer, 'outChannels', outChannels, 1);
  return { kernelSize: kernelDims(layer, kernelSize), stride: checkCount(layer, 'stride', o.stride ?? 1, 1), padding: checkCount(layer, 'padding', o.padding ?? 0, 0) };
}

/** 2-d convolution over x [N, Ci, H, W] → [N, Co, Ho, Wo]. */
export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly kernelSize: [number, number];
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: KernelSize, o: Conv2dOptions = {}) {
    super();
    ({ kernelSize: this.kernelSize, stride: this.stride, padding: this.padding } = convShape('Conv2d', inChannels, outChannels, kernelSize, o));
    [this.weight, this.bias] = makeParams(o.generator ?? defaultGenerator(), [outChannels, inChannels, ...this.kernelSize], o.init ?? 'pytorch', o.bias === false ? null : outChannels);
  }

  forward(x: Tensor): Tensor {
    checkInput(this.toString(), x, this.inChannels);
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }

  override toString(): string { return `Conv2d(${this.inChannels} → ${this.outChannels}, k=${this.kernelSize.join('x')}, stride ${this.stride}, padding ${this.padding})`; }
}

/** Transposed 2-d convolution (PyTorch's ConvTranspose2d): x [N, Cin, H, W] → [N, Cout, Ho, Wo]. */
export class ConvTranspose2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly outputPadding: number;
  readonly kernelSize: [number, number];
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: KernelSize, o: ConvTranspose2dOptions = {}) {
    super();
    ({ kernelSize: this.kernelSize, stride: this.stride, padding: this.padding } = convShape('ConvTranspose2d', inChannels, outChannels, kernelSize, o));
    this.outputPadding = checkCount('ConvTranspose2d', 'outputPadding', o.outputPadding ?? 0, 0);
    if (this.outputPadding >= this.stride) {
      throw new Error(`ConvTranspose2d: outputPadding ${this.outputPadding} must be smaller than stride ${this.stride}`);
    }
    [this.weight, this.bias] = makeParams(o.generator ?? defaultGenerator(), [inChannels, outChannels, ...this.kernelSize], o.init ?? 'pytorch', o.bias === false ? null : outChannels);
  }

  forward(x: Tensor): Tensor {
    checkInput(this.toString(), x, this.inChannels);
    return convTranspose2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, outputPadding: this.outputPadding });
  }

  override toString(): string {
    return `ConvTranspose2d(${this.inChannels} → ${this.outChannels}, k=${this.kernelSize.join('x')}, stride ${this.stride}, padding ${this.padding}, outputPadding ${this.outputPadding})`;
  }
}
