// GPU errors name what caused them: a tensor over the device's largest buffer is refused where it
// is requested, naming the op and the size in MiB (before Dawn would hand out an invalid buffer
// that fails at the next sync); an operand over the largest storage binding is refused by the
// dispatch, naming the kernel; a validation error caught by catchGpuErrors names the kernel (a
// wrong binding) or the buffer (a write aliasing a read), and one outside any scope is thrown at
// the next sync with the same description.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gpu, catchGpuErrors, describeGpuFault, gpuFaultLabels, GpuLimitError, mib } from '../../engine/device.js';
import { dispatch, flush, sync } from '../../engine/dispatch.js';
import { empty, tensor } from '../../engine/tensor.js';
import { trimPool } from '../../engine/memory.js';
import { add, neg } from '../../engine/index.js';
import { kernel, readOnly, readWrite } from '../../kernels/common.js';
import { ready } from '../helpers.js';

const test = suite('gpu errors');
test.before(async () => { await ready; });

/** Test-only kernels: read a, write b. */
const copyBody = '@compute @workgroup_size(1) fn main() { b[0] = a[0]; }';
const copyKernel = kernel('test_copy_first', {}, () => ({ bindings: { a: readOnly(), b: readWrite() }, body: copyBody }));

/** Something bound where the kernel declares a storage buffer that is none (a texture view): a validation error. */
const notABuffer = (): GPUTextureView =>
  gpu().device.createTexture({ size: [1, 1], format: 'rgba32float', usage: GPUTextureUsage.STORAGE_BINDING }).createView();

const throwsWith = (fn: () => unknown, ...parts: string[]): string => {
  try { fn(); } catch (e) {
    assert.instance(e, GpuLimitError);
    for (const p of parts) assert.ok((e as Error).message.includes(p), `'${p}' in: ${(e as Error).message}`);
    return (e as Error).message;
  }
  assert.unreachable('should have thrown');
  return '';
};

test('a tensor over maxBufferSize is refused at once, naming the op and the size', async () => {
  const max = gpu().limits.maxBufferSize;
  const n = Math.floor(max / 4) + 1;
  throwsWith(() => empty([n], 'f32', 'test.huge'), 'test.huge', mib(n * 4), `${n * 4} bytes`, `maxBufferSize ${mib(max)}: ${max} bytes`);
  // through an op: a broadcast whose output alone is over the limit (its inputs are small)
  const rows = 65536, cols = Math.floor(max / 4 / rows) + 1;
  const a = tensor(new Float32Array(rows), [rows, 1]), b = tensor(new Float32Array(cols), [1, cols]);
  throwsWith(() => add(a, b), 'add:', mib(rows * cols * 4));
  a.dispose(); b.dispose();
  await sync(); // nothing reached the device: no error is pending
});

test('an operand over maxStorageBufferBindingSize is refused by the dispatch, naming the kernel and the buffer', async () => {
  const { maxStorageBufferBindingSize: bind, maxBufferSize: max } = gpu().limits;
  // only where the binding limit is below the buffer limit and small enough to allocate here
  if (bind >= max || bind > 512 * 2 ** 20) return;
  const t = empty([bind / 4 + 4], 'f32', 'test.wide');
  throwsWith(() => neg(t), 'neg', 'test.wide', mib(bind + 16), `maxStorageBufferBindingSize ${mib(bind)}`);
  t.dispose();
  await sync();
  trimPool();
});

test('catchGpuErrors: a wrong binding names the kernel, an aliasing write the buffer; clean work gives null', async () => {
  const x = tensor([1, 2, 3, 4]), y = empty([4], 'f32', 'test.alias');
  const clean = catchGpuErrors(() => { dispatch({ kernel: copyKernel, bindings: { a: x.buffer, b: y.buffer }, workgroups: [1] }); flush(); });
  const wrong = catchGpuErrors(() => { dispatch({ kernel: copyKernel, bindings: { a: x.buffer, b: notABuffer() }, workgroups: [1] }); flush(); });
  const alias = catchGpuErrors(() => { dispatch({ kernel: copyKernel, bindings: { a: y.buffer, b: y.buffer }, workgroups: [1] }); flush(); });
  assert.is(await clean, null);
  const f1 = await wrong, f2 = await alias;
  assert.ok(f1 && f2);
  assert.is(f1!.kind, 'validation');
  assert.equal(gpuFaultLabels(f1!.message), ['kernel test_copy_first']);
  assert.match(describeGpuFault(f1!), /^GPU validation error in kernel test_copy_first: /);
  assert.is(f2!.kind, 'validation');
  assert.ok(gpuFaultLabels(f2!.message).includes('buffer test.alias'), f2!.message);
  assert.is((await y.array())[0], 1, 'the clean dispatch ran');
  x.dispose(); y.dispose();
});

test('a kernel with the same bindings as an earlier one is named itself, not by the layout Dawn shares between them', async () => {
  // Dawn dedupes bind-group layouts by their entries; the shared one keeps the first kernel's label
  const same = kernel('test_copy_again', {}, () => ({ bindings: { a: readOnly(), b: readWrite() }, body: copyBody }));
  const x = tensor([1, 2]), y = empty([2], 'f32', 'test.again');
  await catchGpuErrors(() => { dispatch({ kernel: copyKernel, bindings: { a: x.buffer, b: y.buffer }, workgroups: [1] }); flush(); });
  const f = await catchGpuErrors(() => { dispatch({ kernel: same, bindings: { a: x.buffer, b: notABuffer() }, workgroups: [1] }); flush(); });
  // Whether Dawn's message names the first kernel's layout depends on which object fails
  // validation (a bind group's entries name the layout it was given); either way the labels
  // name the kernel dispatched and never the layout
  assert.ok(f, 'a validation error');
  assert.equal(gpuFaultLabels(f!.message), ['kernel test_copy_again']);
  assert.equal(gpuFaultLabels(f!.message.replace(/BindGroupLayout "test_copy_again"/g, 'BindGroupLayout "test_copy_first"')), ['kernel test_copy_again'],
    'a shared layout labelled by another kernel is left out');
  x.dispose(); y.dispose();
});

test('a validation error outside any scope is thrown at the next sync, described the same way', async () => {
  const x = tensor([1, 2]);
  dispatch({ kernel: copyKernel, bindings: { a: x.buffer, b: notABuffer() }, workgroups: [1] });
  try {
    await sync();
    assert.unreachable('sync should throw');
  } catch (e) {
    assert.match((e as Error).message, /^GPU validation error in kernel test_copy_first: .*\(noticed at a later sync point\)$/);
  }
  x.dispose();
});

test.run();
