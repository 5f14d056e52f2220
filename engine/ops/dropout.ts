// Plain Bernoulli dropout (inverted: kept values are scaled by 1/(1 − p)) with a mask that is
// never stored: forward and backward regenerate it from the same Philox draw
// (kernels/dropout.ts). Element i is kept iff u_i ≥ p, where u_i is element i of
// randomTwin('uniform', n, seed, stream, offset).
import { defineOp, apply } from '../op.js';
import { dispatch } from '../dispatch.js';
import { empty, Tensor } from '../tensor.js';
import { randomTwin, type Draw } from '../random.js';
import { dropoutKernel } from '../../kernels/dropout.js';
import { gridFor } from '../../kernels/common.js';

// Both checks take the declared types yet test the values: the public function takes them from
// JavaScript callers too.
function checkP(p: number): number {
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new Error(`dropout: p must be a number in [0, 1], got ${String(p)}`);
  return p;
}

function checkDraw(d: Draw): Draw {
  const ok = (v: number, max: number): boolean => Number.isSafeInteger(v) && v >= 0 && v < max;
  if (!d || typeof d !== 'object' || !ok(d.seed, 2 ** 53) || !ok(d.stream, 2 ** 32) || !ok(d.offset, 2 ** 32)) {
    throw new Error(`dropout: draw must be { seed, stream, offset } from Generator.reserve(n), got ${JSON.stringify(d)}`);
  }
  return d;
}

/** 1/(1 − p), and 0 for p = 1 (everything dropped, as PyTorch). */
const scaleOf = (p: number): number => (p >= 1 ? 0 : 1 / (1 - p));

function launch(x: Tensor, p: number, d: Draw): Tensor {
  const y = empty(x.shape, 'f32', 'dropout');
  if (!y.size) return y;
  dispatch({
    kernel: dropoutKernel(),
    bindings: { x: x.buffer, y: y.buffer },
    params: { n: y.size, seedLo: d.seed >>> 0, seedHi: Math.floor(d.seed / 2 ** 32) >>> 0, offset: d.offset, stream: d.stream, p, scale: scaleOf(p) },
    workgroups: [gridFor(Math.ceil(y.size / 4))],
  });
  return y;
}

/** The float64 mask values: scale where kept, 0 where dropped (u compared with p as an f32). */
export function refDropoutMask(n: number, p: number, d: Draw): Float64Array {
  const u = randomTwin('uniform', n, d.seed, d.stream, d.offset);
  const pf = Math.fround(p), s = scaleOf(p);
  return u.map((v) => (v >= pf ? s : 0));
}

type DropoutAttrs = { p: number; draw: Draw };

const dropoutDef = defineOp<DropoutAttrs>({
  name: 'dropout',
  forward([x], attrs) {
    if (x.dtype !== 'f32') throw new Error(`dropout: expects an f32 tensor, got ${x.dtype} ${x}`);
    return launch(x, checkP(attrs.p), checkDraw(attrs.draw));
  },
  backward: (g, node) => [launch(g, node.attrs.p, node.attrs.draw)],
  reference([x], attrs) {
    const m = refDropoutMask(x.data.length, checkP(attrs.p), checkDraw(attrs.draw));
    return { shape: x.shape.slice(), data: x.data.map((v, i) => v * m[i]) };
  },
  cases: [
    { inputs: [{ shape: [7, 5] }], attrs: { p: 0.3, draw: { seed: 7, stream: 0, offset: 0 } } },
    { inputs: [{ shape: [2, 3, 7, 5] }], attrs: { p: 0.5, draw: { seed: 2 ** 40 + 3, stream: 2, offset: 11 } } },
    { inputs: [{ shape: [65] }], attrs: { p: 0.1, draw: { seed: 1, stream: 0, offset: 5 } } },
    { inputs: [{ shape: [3] }], attrs: { p: 0, draw: { seed: 1, stream: 0, offset: 0 } } },
    { inputs: [{ shape: [2, 2] }], attrs: { p: 1, draw: { seed: 1, stream: 0, offset: 0 } } },
  ],
});

/**
 * Inverted dropout of x with rate p: element i is kept (and scaled by 1/(1 − p)) iff the i-th
 * uniform of `draw` is ≥ p. Reserve the draw with `generator.reserve(x.size)`; the same draw
 * gives the same mask. The mask is regenerated in the backward pass, never stored.
 */
export function dropout(x: Tensor, p: number, draw: Draw): Tensor {
  return apply(dropoutDef, [x], { p: checkP(p), draw: { ...checkDraw(draw) } });
}
