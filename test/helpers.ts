// What every suite relies on: the device, seeded inputs with awkward shapes, float64
// comparisons with stated tolerances, and a live-bytes check.
import * as assert from 'uvu/assert';
import { mulberry32 } from '../tasks/data/rng.js';
import { getGpu, setQuiet } from '../engine/device.js';
import { memoryStats } from '../engine/memory.js';
import { sync } from '../engine/dispatch.js';
import { tensor, numel, type Tensor } from '../engine/tensor.js';
import { sampleInput } from '../engine/testing.js';

setQuiet(true);
export const ready = getGpu();

/** A small seeded CPU generator for test inputs (mulberry32). */
export const rng = mulberry32;

/** A random input following its spec, as a float64 reference (f32-rounded) and a GPU tensor. */
export const sample = sampleInput;

/** |got − want| ≤ tol · max(1, |want|) elementwise; NaN anywhere fails. */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  let worst = 0, at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    if (!(err <= worst)) { worst = err; at = i; }
    if (Number.isNaN(got[i]) !== Number.isNaN(want[i])) assert.unreachable(`${what}: NaN mismatch at ${i}: got ${got[i]}, want ${want[i]}`);
  }
  if (worst > tol) assert.unreachable(`${what}: error ${worst.toExponential(2)} > ${tol} at ${at}: got ${got[at]}, want ${want[at]}`);
}

/** Runs fn and asserts that live GPU bytes are back where they started. */
export async function noLeak(what: string, fn: () => Promise<void> | void): Promise<void> {
  await sync();
  const before = memoryStats().liveBytes;
  await fn();
  await sync();
  const after = memoryStats().liveBytes;
  assert.is(after, before, `${what}: ${after - before} live bytes leaked`);
}
