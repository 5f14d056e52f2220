// Shape arithmetic shared by ops and their float64 references.
import { fmtShape, stridesOf, type Shape } from './tensor.js';

/** numpy broadcasting of several shapes; throws naming both shapes when they disagree. */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const nd = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(nd).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const o = nd - s.length + i;
      const d = s[i];
      if (d === out[o] || d === 1) continue;
      if (out[o] === 1) out[o] = d;
      else throw new Error(`${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together (dimension ${o}: ${out[o]} vs ${d})`);
    }
  }
  return out;
}

/** Strides to read `shape` as if it had `outShape` (0 along broadcast dimensions). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const st = stridesOf(shape);
  const out = new Array<number>(outShape.length).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const o = outShape.length - shape.length + i;
    out[o] = shape[i] === 1 && outShape[o] !== 1 ? 0 : st[i];
  }
  return out;
}

/** Normalises axes (negative allowed) and checks them against ndim. */
export function normAxes(op: string, axes: number | readonly number[] | undefined, ndim: number): number[] {
  const list = axes === undefined ? [...Array(ndim).keys()] : typeof axes === 'number' ? [axes] : [...axes];
  const out = list.map((a) => {
    const b = a < 0 ? a + ndim : a;
    if (!Number.isInteger(b) || b < 0 || b >= ndim) throw new Error(`${op}: axis ${a} is out of range for a ${ndim}-d tensor`);
    return b;
  });
  if (new Set(out).size !== out.length) throw new Error(`${op}: repeated axis in [${list.join(', ')}]`);
  return out.sort((x, y) => x - y);
}

/** Offset of flat index i of `shape` under `strides`. */
export function stridedOffset(i: number, shape: Shape, strides: readonly number[]): number {
  let off = 0;
  for (let d = shape.length - 1; d >= 0; d--) {
    const c = i % shape[d];
    i = Math.floor(i / shape[d]);
    off += c * strides[d];
  }
  return off;
}

/**
 * Merges dimensions that are contiguous in every stride list and drops size-1 dimensions, so
 * strided kernels decode fewer coordinates: permuting [64, 64, 32, 32] to NHWC becomes 3-d.
 */
export function collapseDims(shape: readonly number[], strides: number[][]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((_, i) => i).filter((i) => shape[i] !== 1);
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (const i of keep) {
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((st, k) => outStrides[k][last] === shape[i] * st[i])) {
      outShape[last] *= shape[i];
      strides.forEach((st, k) => (outStrides[k][last] = st[i]));
    } else {
      outShape.push(shape[i]);
      strides.forEach((st, k) => outStrides[k].push(st[i]));
    }
  }
  return { shape: outShape, strides: outStrides };
}
