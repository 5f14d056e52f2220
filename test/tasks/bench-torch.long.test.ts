// The bench's PyTorch twins build the same models and products as ours: every model row's
// trainable weights and LBD logits, and every op row's FLOPs, counted by both sides (nothing is
// timed). Needs a Python with PyTorch (bench --python's default); without one the suite says so
// and registers no test.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { scope } from '../../engine/index.js';
import { MODEL_ROWS, OP_ROWS } from '../../tasks/bench/rows.js';
import { runTorch } from '../../tasks/bench/torch.js';

const python = process.env.LBD_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const hasTorch = spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
const test = suite('bench-torch');
const torchOpts = { python, device: 'cpu', threads: 1, steps: 0, warmup: 0 };

if (!hasTorch) {
  console.log(`bench-torch: ${python} has no PyTorch; the twin-model checks did not run`);
} else {
  for (const def of MODEL_ROWS) {
    test(`${def.name}: PyTorch's twin has the same weights and logits, regular and LBD`, () => {
      const theirs = runTorch(def.name, ['regular', 'lbd'], torchOpts).rows;
      for (const kind of ['regular', 'lbd'] as const) {
        const ours = scope(() => { const b = def.build(kind); const c = { params: b.params, logits: b.logits }; b.dispose(); return c; });
        const t = theirs.find((r) => r.variant === kind)!;
        assert.is(t.params, ours.params, `${def.name} ${kind} weights`);
        assert.is(t.logits, ours.logits, `${def.name} ${kind} logits`);
        assert.ok(kind === 'regular' ? ours.logits === 0 : ours.logits > 0, `${def.name} ${kind}: logits only with LBD`);
      }
    });
  }
  test('ops: PyTorch runs the same products (FLOPs per variant)', () => {
    for (const def of OP_ROWS) {
      const theirs = runTorch(def.name, def.variants, torchOpts).rows;
      for (const v of def.variants) {
        const flops = scope(() => { const o = def.build(v); o.dispose(); return o.flops; });
        assert.is(theirs.find((r) => r.variant === v)?.flops, flops, `${def.name} ${v}`);
      }
    }
  });
}

test.run();
