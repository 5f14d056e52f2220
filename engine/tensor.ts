/// <reference types="@webgpu/types" preserve="true" />
// Tensor: a contiguous, row-major block of f32 / i32 / u32 in a pooled GPU buffer, plus the
// autograd fields. Views (reshape) share storage; everything else is produced by kernels.
import { allocStorage, releaseStorage, Storage, track, type Disposable } from './memory.js';
import { readBuffer, upload, clearBuffer } from './dispatch.js';
import type { Node } from './tape.js';

export type DType = 'f32' | 'i32' | 'u32';
export type Shape = readonly number[];
export type TypedArray = Float32Array | Int32Array | Uint32Array;

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: Shape, what = 'shape'): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what} [${shape.join(', ')}] must hold non-negative integers`);
  }
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
  return s;
}

export const fmtShape = (s: Shape): string => `[${s.join(', ')}]`;

let nextId = 1;

export class Tensor implements Disposable {
  readonly id = nextId++;
  readonly shape: number[];
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** The tape node that produced this tensor (null for leaves and under noGrad). */
  node: Node | null = null;
  disposed = false;
  kept = false;
  name?: string;

  constructor(readonly storage: Storage, shape: Shape, readonly dtype: DType = 'f32') {
    checkShape(shape);
    this.shape = shape.slice();
    this.size = numel(shape);
    track(this);
  }

  get buffer(): GPUBuffer {
    if (this.disposed) throw new Error(`tensor #${this.id}${this.name ? ` (${this.name})` : ''} ${fmtShape(this.shape)} was used after it was disposed (released by a scope?)`);
    return this.storage.buffer;
  }

  get ndim(): number { return this.shape.length; }

  /** Excludes this tensor from every scope: it lives until `dispose()` (parameters, state). */
  keep(): this {
    this.kept = true;
    return this;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    releaseStorage(this.storage);
    this.node = null;
    if (this.grad) { this.grad.dispose(); this.grad = null; }
  }

  /** Marks a leaf as trainable; its gradient accumulates in `.grad` on backward(). */
  requireGrad(on = true): this {
    this.requiresGrad = on;
    return this;
  }

  /** A new tensor object over the same storage with another shape (no copy, not on the tape). */
  view(shape: Shape): Tensor {
    if (numel(shape) !== this.size) throw new Error(`cannot view ${fmtShape(this.shape)} as ${fmtShape(shape)}: ${this.size} vs ${numel(shape)} elements`);
    this.buffer; // throws if disposed
    this.storage.refs++;
    return new Tensor(this.storage, shape, this.dtype);
  }

  /** Reads the values back (one GPU round trip). */
  async data(): Promise<TypedArray> {
    const ab = await readBuffer(this.buffer, 0, this.size * 4);
    if (this.dtype === 'f32') return new Float32Array(ab);
    if (this.dtype === 'i32') return new Int32Array(ab);
    return new Uint32Array(ab);
  }

  async array(): Promise<number[]> { return Array.from(await this.data()); }

  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item() needs a one-element tensor; got ${fmtShape(this.shape)}`);
    return (await this.data())[0];
  }

  toString(): string { return `Tensor#${this.id}(${fmtShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', grad' : ''})`; }
}

/** An uninitialised tensor of the given shape. */
export function empty(shape: Shape, dtype: DType = 'f32', label?: string): Tensor {
  checkShape(shape);
  return new Tensor(allocStorage(numel(shape) * 4, label), shape, dtype);
}

export function zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
  const t = empty(shape, dtype);
  clearBuffer(t.buffer, 0, t.size * 4);
  return t;
}

/** A tensor holding `data` (row-major). Numbers are converted to the dtype. */
export function tensor(data: ArrayLike<number> | TypedArray, shape?: Shape, dtype?: DType): Tensor {
  const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : 'f32');
  const sh = shape ?? [data.length];
  if (numel(sh) !== data.length) {
    throw new Error(`tensor(): ${data.length} values do not fill shape ${fmtShape(sh)} (${numel(sh)} elements)`);
  }
  const arr = toTyped(data, dt);
  const t = empty(sh, dt);
  upload(t.buffer, arr);
  return t;
}

export function scalar(x: number): Tensor { return tensor([x], []); }

/**
 * Host data as the dtype's typed array: typed arrays of the right kind pass through uncopied;
 * plain numbers are converted and checked in chunks (node runs with --no-use-osr, so one long
 * loop would stay interpreted; a function called per chunk gets compiled).
 */
function toTyped(data: ArrayLike<number> | TypedArray, dt: DType): TypedArray {
  if (dt === 'f32' && data instanceof Float32Array) return data;
  if (dt === 'i32' && data instanceof Int32Array) return data;
  if (dt === 'u32' && data instanceof Uint32Array) return data;
  const out = dt === 'f32' ? new Float32Array(data.length) : dt === 'i32' ? new Int32Array(data.length) : new Uint32Array(data.length);
  for (let at = 0; at < data.length; at += 16384) convertChunk(data, out, at, Math.min(data.length, at + 16384), dt);
  return out;
}

function convertChunk(src: ArrayLike<number>, dst: TypedArray, from: number, to: number, dt: DType): void {
  for (let i = from; i < to; i++) {
    const v = src[i];
    dst[i] = v;
    if (dt === 'f32' ? Number.isFinite(v) && !Number.isFinite(dst[i]) : dst[i] !== v) {
      throw new Error(`tensor(): value ${v} at index ${i} does not fit ${dt}`);
    }
  }
}
