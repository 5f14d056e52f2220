// The GPU wait's busy-spin work-around (engine/device.ts gpuWait): on a software adapter it
// routes setImmediate through a timer at once; with a spin budget (hardware adapters) it keeps
// Node's own setImmediate for that long — a short wait then costs no timer — and only then
// backs off. Normal setImmediate is back after every wait, also when the promise rejects.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gpuWait } from '../../engine/device.js';
import { setTuning, resetTuning } from '../../engine/plans/tuning.js';
import { ready } from '../helpers.js';

const test = suite('gpu wait');
test.before(async () => { await ready; });
test.after(() => resetTuning());

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Which setImmediate is installed at `at` ms into a wait of `total` ms. */
async function observe(spinMs: number, at: number[], total: number): Promise<boolean[]> {
  setTuning({ spinMs });
  const original = globalThis.setImmediate;
  const seen: boolean[] = [];
  const waited = gpuWait(sleep(total));
  for (const t of at) setTimeout(() => seen.push(globalThis.setImmediate === original), t);
  await waited;
  await sleep(Math.max(...at) - total + 5);
  assert.is(globalThis.setImmediate, original, 'setImmediate restored after the wait');
  return seen;
}

test('software adapters: backs off at once', async () => {
  const seen = await observe(0, [1, 20], 60);
  assert.equal(seen, [false, false]);
});

test('hardware adapters: polls promptly for the spin budget, then backs off', async () => {
  const seen = await observe(40, [5, 90], 150);
  assert.equal(seen, [true, false]);
});

test('a wait shorter than the budget never touches setImmediate', async () => {
  const seen = await observe(200, [5, 30], 50);
  assert.equal(seen, [true, true]);
});

test('a rejected GPU promise restores setImmediate too', async () => {
  setTuning({ spinMs: 0 });
  const original = globalThis.setImmediate;
  await gpuWait(Promise.reject(new Error('device lost'))).catch(() => undefined);
  assert.is(globalThis.setImmediate, original);
});

test.run();
