// Walks the op registry: every op against its float64 reference on each declared case, and
// every differentiable op's backward against central finite differences of that reference.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import '../../engine/index.js';
import { registry, apply, backward, type Ref, type OpDef, type TestCase } from '../../engine/op.js';
import { scope } from '../../engine/memory.js';
import { tensor, type Tensor } from '../../engine/tensor.js';
import { noGrad } from '../../engine/tape.js';
import { ready, rng, sample, assertClose, noLeak } from '../helpers.js';
import { referenceOf, numericGradient } from '../../engine/testing.js';

const test = suite('ops');
test.before(async () => { await ready; });

test('every op declares a reference and at least one test case', () => {
  assert.ok(registry.size >= 40, `only ${registry.size} ops registered`);
  for (const def of registry.values()) {
    assert.ok(def.cases.length > 0, `${def.name} has no test cases`);
    assert.type(def.reference, 'function', `${def.name} has no reference`);
  }
});

/** ∂(Σ R⊙f(x))/∂x by central differences of the float64 reference (engine/testing.ts). */
const numericGrad = (def: OpDef, refs: Ref[], attrs: Record<string, unknown>, k: number, R: Float64Array): Float64Array =>
  numericGradient((xs) => referenceOf(def, xs, attrs), refs, k, R);

function caseName(def: OpDef, c: TestCase): string {
  return `${def.name}(${c.inputs.map((i) => `[${i.shape.join('x')}]`).join(', ')}${c.attrs ? ` ${JSON.stringify(c.attrs)}` : ''})`;
}

/**
 * Runs `body` on one case, leak-checked and scoped: the inputs sampled (those that take a
 * gradient marked so), the op applied, and a random output gradient R.
 */
async function withGradCase(def: OpDef, c: TestCase, r: () => number, what: string,
  body: (ins: ReturnType<typeof sample>[], out: Tensor, R: Float64Array) => Promise<void>): Promise<void> {
  await noLeak(`${caseName(def, c)} ${what}`, async () => {
    await scope(async () => {
      const ins = c.inputs.map((s) => sample(s, r));
      ins.forEach((inp, k) => { if (c.inputs[k].grad !== false) inp.t.requireGrad(); });
      const out = apply(def, ins.map((i) => i.t), c.attrs ?? {});
      await body(ins, out, new Float64Array(out.size).map(() => Math.fround(r() * 2 - 1)));
    });
  });
}

let seed = 1;
for (const def of registry.values()) {
  test(`${def.name}: forward matches float64 reference`, async () => {
    for (const c of def.cases) {
      const r = rng(seed++);
      await noLeak(caseName(def, c), async () => {
        await scope(async () => {
          const ins = c.inputs.map((s) => sample(s, r));
          const want = referenceOf(def, ins.map((i) => i.ref), c.attrs ?? {});
          const out = apply(def, ins.map((i) => i.t), c.attrs ?? {});
          assert.equal(out.shape, want.shape, `${caseName(def, c)}: shape`);
          assertClose(await out.data(), want.data, c.tol ?? 1e-4, caseName(def, c));
        });
      });
    }
  });

  if (!def.backward) continue;
  test(`${def.name}: backward matches finite differences`, async () => {
    for (const c of def.cases) {
      const r = rng(seed++);
      await withGradCase(def, c, r, 'grad', async (ins, out, R) => {
        backward(out, tensor(R, out.shape));
        for (let k = 0; k < ins.length; k++) {
          if (c.inputs[k].grad === false) continue;
          const want = numericGrad(def, ins.map((i) => i.ref), c.attrs ?? {}, k, R);
          const g = ins[k].t.grad;
          assert.ok(g, `${caseName(def, c)}: input ${k} got no gradient`);
          assertClose(await g!.data(), want, c.gradTol ?? 2e-3, `${caseName(def, c)} d/dx${k}`);
          g!.dispose();
          ins[k].t.grad = null;
        }
      });
    }
  });

  // an op that can add into a gradient the tape already holds must return exactly that tensor,
  // holding the offered values plus its own gradient (finite differences, as above)
  for (const k of def.accumulates ?? []) {
    test(`${def.name}: backward adds input ${k}'s gradient into an offered one`, async () => {
      for (const c of def.cases) {
        if (c.inputs[k].grad === false) continue;
        const r = rng(seed++);
        await withGradCase(def, c, r, 'into', async (ins, out, R) => {
          const held = new Float64Array(ins[k].t.size).map(() => Math.fround(r() * 2 - 1));
          const into: Tensor[] = [];
          into[k] = tensor(held, ins[k].t.shape);
          const gi = noGrad(() => def.backward!(tensor(R, out.shape), out.node!, into));
          assert.ok(gi[k] === into[k], `${caseName(def, c)}: input ${k}'s gradient was not added into the offered tensor`);
          const want = numericGrad(def, ins.map((i) => i.ref), c.attrs ?? {}, k, R).map((v, i) => v + held[i]);
          assertClose(await gi[k]!.data(), want, c.gradTol ?? 2e-3, `${caseName(def, c)} d/dx${k} added into`);
        });
      }
    });
  }
}

test.run();
