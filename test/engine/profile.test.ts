// The kernel profiler: every dispatch of the profiled work is counted under its kernel, times are
// non-negative, and normal batching resumes afterwards (results still correct).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { profileKernels, scope, tensor, matmul, relu, dispatchTotal } from '../../engine/index.js';
import { gpu } from '../../engine/device.js';
import { ready } from '../helpers.js';

const test = suite('profile');
test.before(async () => { await ready; });

test('profileKernels counts each kernel\'s dispatches and times them', async () => {
  if (!gpu().hasTimestamps) return; // the adapter cannot time passes
  await scope(async () => {
    const a = tensor(Float32Array.from({ length: 64 * 32 }, (_, i) => (i % 7) - 3), [64, 32]);
    const b = tensor(Float32Array.from({ length: 32 * 16 }, (_, i) => (i % 5) - 2), [32, 16]);
    const before = dispatchTotal();
    const prof = await profileKernels(() => scope(() => { for (let i = 0; i < 3; i++) relu(matmul(a, b)); }));
    const total = prof.reduce((s, p) => s + p.count, 0);
    assert.is(total, dispatchTotal() - before, 'every dispatch is attributed');
    assert.ok(prof.some((p) => p.key.startsWith('matmul.') && p.count === 3), JSON.stringify(prof));
    assert.ok(prof.some((p) => p.key.includes('relu') && p.count === 3), JSON.stringify(prof));
    assert.ok(prof.every((p) => p.ms >= 0 && Number.isFinite(p.ms)));
    const y = await relu(matmul(a, b)).data(); // batching is back to normal
    assert.is(y.length, 64 * 16);
    assert.ok(y.every((v) => v >= 0));
  });
});

test.run();
