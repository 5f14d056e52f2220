// A small CNN (conv → batch norm → ReLU → max pool → conv → ReLU → global average pool →
// linear) learns horizontal vs vertical bars, leaking zero live bytes per step and compiling
// no pipeline — nor creating any bind group — after the first steps.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Generator, Adam, tensor, scope, sync, memoryStats, pipelineCount, crossEntropy, add } from '../../engine/index.js';
import { bindGroupTotal } from '../../engine/dispatch.js';
import { Sequential } from '../../layers/sequential.js';
import { Conv2d } from '../../layers/conv.js';
import { BatchNorm2d } from '../../layers/norm.js';
import { MaxPool2d, GlobalAvgPool2d } from '../../layers/pool.js';
import { ReLU } from '../../layers/basic.js';
import { Linear } from '../../layers/linear.js';
import { ready, rng } from '../helpers.js';

const test = suite('cnn');
test.before(async () => { await ready; });

/** n images [3, 8, 8]: a bright horizontal (label 0) or vertical (label 1) bar at a random place. */
function bars(n: number, r: () => number): { x: Float32Array; y: Int32Array } {
  const x = new Float32Array(n * 3 * 64), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    const at = Math.floor(r() * 8);
    for (let c = 0; c < 3; c++) for (let k = 0; k < 8; k++) {
      const [row, col] = y[i] === 0 ? [at, k] : [k, at];
      x[((i * 3 + c) * 8 + row) * 8 + col] = 1;
    }
  }
  return { x, y };
}

test('a small CNN learns bars, with zero leak per step and no pipeline compiled after step 3', async () => {
  const g = new Generator(2024);
  const model = new Sequential(
    new Conv2d(3, 8, 3, { padding: 1, generator: g }),
    new BatchNorm2d(8),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(8, 16, 3, { padding: 1, generator: g }),
    new ReLU(),
    new GlobalAvgPool2d(),
    new Linear(16, 2, { generator: g }),
  );
  assert.is(model.parameters().length, 8, 'conv w/b, bn w/b, conv w/b, linear w/b');
  assert.equal(model.namedBuffers().map(([n]) => n), ['layers.1.running_mean', 'layers.1.running_var']);
  const N = 64;
  const data = bars(N, rng(99));
  const noise = g.normal([N, 3, 8, 8], 0, 0.3);
  const x = add(tensor(data.x, [N, 3, 8, 8]), noise).keep();
  noise.dispose();
  const y = tensor(data.y, [N], 'i32').keep();
  const opt = new Adam(model.parameters(), { lr: 0.02 });
  const losses: number[] = [];
  let live = -1, pipes = -1, groups = -1;
  for (let step = 0; step < 40; step++) {
    const loss = await scope(async () => {
      opt.zeroGrad();
      const l = crossEntropy(model.forward(x), y);
      l.backward();
      opt.step();
      return l.item();
    });
    losses.push(loss);
    await sync();
    if (step === 3) { live = memoryStats().liveBytes; pipes = pipelineCount(); groups = bindGroupTotal(); }
    if (step > 3) {
      assert.is(memoryStats().liveBytes, live, `step ${step}: live bytes changed`);
      assert.is(pipelineCount(), pipes, `step ${step}: a pipeline was compiled in the hot loop`);
      // the pool hands a step the same buffers as the last (engine/memory.ts), so the bind
      // groups cached by operand buffers serve every dispatch (creating one: ~40 µs of host time)
      assert.is(bindGroupTotal(), groups, `step ${step}: bind groups were created in the hot loop`);
    }
  }
  const first = losses[0], last = losses[losses.length - 1];
  assert.ok(last < 0.5 * first, `loss ${first.toFixed(4)} → ${last.toFixed(4)}`);
  // eval mode (running statistics) classifies the training images too
  model.eval();
  const acc = await scope(async () => {
    const p = await model.forward(x).data();
    let ok = 0;
    for (let i = 0; i < N; i++) if ((p[2 * i + 1] > p[2 * i] ? 1 : 0) === data.y[i]) ok++;
    return ok / N;
  });
  assert.ok(acc >= 0.9, `eval-mode training accuracy ${acc}`);
  opt.zeroGrad();
  opt.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
});

test.run();
