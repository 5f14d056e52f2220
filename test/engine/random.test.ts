// The GPU Philox generator against its TypeScript twin, its moments, and counter bookkeeping.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Generator, randomTwin, philox, draw } from '../../engine/random.js';
import { scope } from '../../engine/memory.js';
import { ready, assertClose } from '../helpers.js';

const test = suite('random');
test.before(async () => { await ready; });

test('Philox4x32-10 matches the Random123 known-answer vectors', () => {
  // From Random123's kat_vectors: philox4x32 10 rounds.
  assert.equal(philox([0, 0, 0, 0], [0, 0]), [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  assert.equal(philox([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]), [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
  assert.equal(philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]), [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
});

test('uniform draws equal the twin bit for bit; normal within float rounding', async () => {
  await scope(async () => {
    const g = new Generator(123456789012, 3);
    for (const n of [1, 7, 64, 1001]) {
      const du = g.reserve(n);
      assertClose(await draw('uniform', [n], du, 0, 1).data(), randomTwin('uniform', n, du.seed, du.stream, du.offset), 0, `uniform n=${n}`);
      assertClose(await draw('uniform', [n], du, -1, 2).data(), randomTwin('uniform', n, du.seed, du.stream, du.offset, -1, 2), 3e-7, `uniform(-1, 2) n=${n}`);
      const dn = g.reserve(n);
      // log and sin/cos of the Box-Muller step to a few ulps on every adapter (kernels/math.ts):
      // 2.2e-7 over 1 M draws on lavapipe and SwiftShader; the builtins gave 2.9e-5 and 1.9e-4
      assertClose(await draw('normal', [n], dn, 0.5, 2).data(), randomTwin('normal', n, dn.seed, dn.stream, dn.offset, 0.5, 2), 1e-6, `normal n=${n}`);
    }
  });
});

test('moments of uniform and normal draws', async () => {
  await scope(async () => {
    const g = new Generator(42);
    const n = 1 << 20;
    const u = await g.uniform([n]).data();
    const z = await g.normal([n]).data();
    const m = (a: ArrayLike<number>, f: (x: number) => number): number => { let s = 0; for (let i = 0; i < a.length; i++) s += f(a[i]); return s / a.length; };
    const se = 1 / Math.sqrt(n);
    assert.ok(Math.abs(m(u, (x) => x) - 0.5) < 5 * se * Math.sqrt(1 / 12), 'uniform mean');
    assert.ok(Math.abs(m(u, (x) => (x - 0.5) ** 2) - 1 / 12) < 5 * se * 0.075, 'uniform variance');
    assert.ok(Array.from(u).every((x) => x > 0 && x < 1), 'uniform inside (0, 1)');
    assert.ok(Math.abs(m(z, (x) => x)) < 5 * se, 'normal mean');
    assert.ok(Math.abs(m(z, (x) => x * x) - 1) < 5 * se * Math.SQRT2, 'normal variance');
    assert.ok(Math.abs(m(z, (x) => x ** 4) - 3) < 5 * se * Math.sqrt(96), 'normal 4th moment');
  });
});

test('successive draws do not overlap; the same draw regenerates the same values', async () => {
  await scope(async () => {
    const g = new Generator(9);
    const d1 = g.reserve(10);
    const d2 = g.reserve(10);
    assert.is(d2.offset, d1.offset + 3);
    const a = await draw('uniform', [10], d1, 0, 1).data();
    const b = await draw('uniform', [10], d2, 0, 1).data();
    const a2 = await draw('uniform', [10], d1, 0, 1).data();
    assert.equal(Array.from(a2), Array.from(a));
    assert.not.equal(Array.from(a), Array.from(b));
  });
  assert.throws(() => new Generator(-1), /seed must be a non-negative safe integer/);
});

test('past 2^32 blocks a generator moves to its next lap: no draw straddles or repeats, positions round-trip', async () => {
  await scope(async () => {
    const g = new Generator(9, 3);
    g.seek(2 ** 32 - 2);
    const last = g.reserve(8); // exactly the lap's last two blocks
    assert.equal([last.offset, last.stream], [2 ** 32 - 2, 3]);
    const next = g.reserve(12); // would straddle: starts the next lap
    assert.equal([next.offset, next.stream], [0, 3 + 2 ** 16]);
    assert.is(g.position, 2 ** 32 + 3);
    const first = new Generator(9, 3).reserve(12); // lap 0's first draw
    const a = await draw('uniform', [12], next, 0, 1).data(), b = await draw('uniform', [12], first, 0, 1).data();
    assert.not.equal(Array.from(a), Array.from(b), 'lap 1 does not repeat lap 0');
    assert.equal(Array.from(a), Array.from(randomTwin('uniform', 12, 9, next.stream, next.offset), (v) => Math.fround(v)), 'the twin follows');
    const h = new Generator(9, 3);
    h.seek(g.position);
    assert.equal(h.reserve(4), g.reserve(4), 'seek(position) resumes the same lap and offset');
  });
  assert.throws(() => new Generator(1, 2 ** 16), /stream must be an integer in \[0, 2\^16\)/);
});

test.run();
