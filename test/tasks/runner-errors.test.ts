// The training loop's errors name their step and their cause: a GPU validation error inside a step
// (a test-only kernel given a wrong binding) is reported for that step and names the kernel,
// though the loop only looks at it when it reads its losses, steps later; a tensor over the
// device's largest buffer stops the run at its step with the op and the size; an out-of-memory
// error (injected into the step's error scope: this machine's software adapter does not run out)
// names its step and the buffers that step created; and a module whose backward alone goes
// non-finite (v + √(c·v²) with c = 0 at one step: finite forward, NaN gradient) is named — op, layer and parameters — with the step that made the parameters non-finite.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { tensor, empty, Adam, Generator, sync, memoryStats, crossEntropy, relu, sqrt, add, mul, type Tensor } from '../../engine/index.js';
import { gpu, mib } from '../../engine/device.js';
import { dispatch } from '../../engine/dispatch.js';
import { kernel, readOnly, readWrite } from '../../kernels/common.js';
import { Module } from '../../layers/module.js';
import { Linear } from '../../layers/linear.js';
import { mlp } from '../../models/mlp.js';
import { UserError } from '../../tasks/common/errors.js';
import { trainLoop, standardStep, freshHistory, type StepContext } from '../../tasks/common/trainer.js';
import { ready } from '../helpers.js';
import { tmp } from './runner-fixture.js';

const test = suite('runner errors');
test.before(async () => { await ready; });

interface Batch { x: Float32Array; y: Int32Array }
const x = new Float32Array(8 * 2 * 4).map((_, i) => Math.sin(i * 1.3));
const y = Int32Array.from({ length: 16 }, (_, i) => i % 3);
/** Eight batches of two examples (more than the 16-step read-back window is not needed: the epoch's end reads). */
const batches = (): Batch[] => Array.from({ length: 8 }, (_, k) => ({ x: x.slice(k * 8, k * 8 + 8), y: y.slice(k * 2, k * 2 + 2) }));

/** Trains `model` with a plain step, `extra(ctx)` run at the start of each step; returns the error thrown. */
async function failure(model: Module, extra: (ctx: StepContext) => void, o: { epochs?: number; checkpoint?: string } = {}): Promise<Error> {
  const opt = new Adam(model.parameters(), { lr: 0.01 });
  const forward = (b: Batch): Tensor => crossEntropy(model.forward(tensor(b.x, [2, 4])), tensor(b.y, [2], 'i32'), { reduction: 'none' });
  try {
    await trainLoop({
      task: 't', run: 'r', parts: { model, optimizers: { weights: opt }, generators: [] }, epochs: o.epochs ?? 1, history: freshHistory({}),
      ...(o.checkpoint ? { checkpoint: { path: o.checkpoint, runId: 'r', config: {}, fingerprint: 'f' } } : {}),
      batches, size: () => 2, epochLoss: 'last',
      step: (b, ctx) => {
        extra(ctx);
        return { loss: standardStep({ model, weights: opt, logits: null, regularized: [] }, () => forward(b)) };
      },
    });
  } catch (e) {
    return e as Error;
  } finally {
    opt.dispose();
  }
  assert.unreachable('the run should fail');
  throw new Error('unreachable');
}

/** A test-only kernel with two bindings (a read, b written). */
const twoBindings = kernel('test_two_bindings', {}, () => ({
  bindings: { a: readOnly(), b: readWrite() },
  body: '@compute @workgroup_size(1) fn main() { b[0] = a[0]; }',
}));

/** A texture view: what a storage-buffer binding must not be given. */
const notABuffer = (): GPUTextureView =>
  gpu().device.createTexture({ size: [1, 1], format: 'rgba32float', usage: GPUTextureUsage.STORAGE_BINDING }).createView();

test('a validation error in step 3 is reported for step 3 and names the kernel (noticed at the read-back, 5 steps later)', async () => {
  const model = mlp([4, 6, 3], { generator: new Generator(1) });
  const scratch = empty([4], 'f32', 'test.scratch').keep();
  const e = await failure(model, (ctx) => {
    // a texture view where the kernel declares a storage buffer
    if (ctx.step === 2) dispatch({ kernel: twoBindings, bindings: { a: scratch.buffer, b: notABuffer() }, workgroups: [1] });
  });
  assert.not.instance(e, UserError, 'a validation error is the engine\'s bug: it keeps its stack');
  assert.match(e.message, /^r: step 3 of epoch 1: GPU validation error in kernel test_two_bindings: /);
  assert.match(e.message, /\n.*While validating entries\[1\]/, 'Dawn\'s whole message follows');
  scratch.dispose(); model.dispose();
});

test('a tensor over the device\'s largest buffer stops the run at its step, naming the op and the size', async () => {
  const model = mlp([4, 6, 3], { generator: new Generator(1) });
  const max = gpu().limits.maxBufferSize, n = Math.floor(max / 4) + 1;
  const e = await failure(model, (ctx) => { if (ctx.step === 1) empty([n], 'f32', 'test.huge'); });
  assert.instance(e, UserError);
  assert.is(e.message, `r: step 2 of epoch 1: test.huge: a tensor of ${mib(n * 4)} (${n * 4} bytes) is larger than the device's largest buffer (maxBufferSize ${mib(max)}: ${max} bytes); lower --batch or the model's size`);
  model.dispose();
});

test('an out-of-memory error names its step and the buffers that step created', async () => {
  const model = mlp([4, 6, 3], { generator: new Generator(1) });
  const { device } = gpu();
  const realPop = device.popErrorScope.bind(device);
  let inject = 0;
  // the step's two scopes are popped validation first, then out-of-memory: the second pop after
  // step 5 asked for it reports what Dawn would for a failed allocation
  device.popErrorScope = (): Promise<GPUError | null> => {
    const p = realPop();
    if (inject && ++inject === 3) { inject = 0; return p.then(() => new GPUOutOfMemoryError('Out of memory (injected)')); }
    return p;
  };
  let e: Error;
  try {
    e = await failure(model, (ctx) => { if (ctx.step === 4) { empty([300_001], 'f32', 'test.big'); inject = 1; } });
  } finally {
    device.popErrorScope = realPop;
  }
  assert.instance(e, UserError);
  assert.match(e.message, /^r: step 5 of epoch 1: GPU out of memory: Out of memory \(injected\) \(buffers that step created: [^)]*test\.big 1\.\d MiB[^)]*\); lower --batch or the model's size$/);
  model.dispose();
});

/**
 * v + √(c·v²): v + |v| while c = 1; with c = 0 the forward is v, finite, but the backward of the
 * square root divides by √0 and the product with c = 0 makes that NaN.
 */
class SqrtGate extends Module {
  c = 1;
  forward(v: Tensor): Tensor { return add(v, sqrt(mul(mul(v, v), this.c))); }
}
class Net extends Module {
  l0 = new Linear(4, 6, { generator: new Generator(3) });
  gate = new SqrtGate();
  l1 = new Linear(6, 3, { generator: new Generator(4) });
  forward(v: Tensor): Tensor { return this.l1.forward(relu(this.gate.forward(this.l0.forward(v)))); }
}

test('a backward that alone goes non-finite is named: the step, the op and layer, the parameters', async () => {
  await sync();
  const live = memoryStats().liveBytes;
  const dir = tmp('lbd-nanback-');
  for (const checkpoint of [join(dir, 'r.safetensors'), undefined]) {
    const net = new Net();
    // c = 0 in step 4 of epoch 2 only (a replay of the epoch sets it the same way)
    const e = await failure(net, (ctx) => { net.gate.c = ctx.epoch === 1 && ctx.step === 3 ? 0 : 1; }, { epochs: 2, checkpoint });
    assert.instance(e, UserError);
    assert.not.match(e.message, /\n/, 'one line');
    if (checkpoint) {
      // the loss after the NaN update may stay finite (ReLU(NaN) is 0 here): then the end-of-epoch
      // check finds the parameters; either way the re-run finds the step and what went non-finite
      assert.match(e.message, /^r: the (loss became NaN at step \d of epoch 2|parameters became non-finite in epoch 2 \(the losses read were finite\)); step 4 of epoch 2 made the parameters non-finite; /, e.message);
      assert.match(e.message, /the forward was finite; first non-finite gradient from the backward of op 'sqrt' \(output \[2, 6\]\) in model\.gate \(SqrtGate\); parameters with a non-finite gradient: model\.l0\.weight, model\.l0\.bias \(re-run from the epoch 1 checkpoint\)/, e.message);
    } else {
      assert.match(e.message, /parameter model\.l0\.weight is already non-finite/, 'without a checkpoint only the damage shows');
    }
    net.dispose();
  }
  rmSync(dir, { recursive: true });
  await sync();
  assert.is(memoryStats().liveBytes, live, 'the checked re-run released what it kept');
});

test.run();
