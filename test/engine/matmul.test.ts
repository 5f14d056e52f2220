// Both matmul structures (subgroup broadcast, shared-memory tiles) against a float64 loop on
// shapes that are not multiples of any tile, batched, with K and N not multiples of 4.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { matmul, linear, matmulConfig, textureCreateTotal } from '../../engine/ops/matmul.js';
import { setTuning, resetTuning, type TuningPatch } from '../../engine/plans/tuning.js';
import { scope } from '../../engine/memory.js';
import { tensor } from '../../engine/tensor.js';
import { gpu, cpuKernelPaths } from '../../engine/device.js';
import { env } from '../../kernels/env.js';
import { ready, rng, assertClose, noLeak } from '../helpers.js';
import { sync } from '../../engine/dispatch.js';

const test = suite('matmul');
test.before(async () => { await ready; });
test.after(() => resetTuning());

// Node runs with --no-use-osr (dawn.node needs it), so a long loop only gets compiled when it
// sits in a function that is called many times: hence the row function.
function refRow(a: Float64Array, aOff: number, b: Float64Array, bOff: number, c: Float64Array, cOff: number, N: number, K: number): void {
  for (let j = 0; j < N; j++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[aOff + k] * b[bOff + k * N + j];
    c[cOff + j] = s;
  }
}

function refMatmul(a: Float64Array, b: Float64Array, B: number, M: number, N: number, K: number): Float64Array {
  const c = new Float64Array(B * M * N);
  for (let bi = 0; bi < B; bi++) for (let i = 0; i < M; i++) refRow(a, (bi * M + i) * K, b, bi * K * N, c, (bi * M + i) * N, N, K);
  return c;
}

/** Each [R, C] matrix of a batch, stored transposed ([C, R]). */
function transposed(x: Float64Array, B: number, R: number, C: number): Float64Array {
  const t = new Float64Array(x.length);
  for (let bi = 0; bi < B; bi++) for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) t[bi * R * C + j * R + i] = x[bi * R * C + i * C + j];
  return t;
}

const shapes: [number, number, number, number][] = [
  [1, 1, 1, 1], [1, 3, 5, 7], [1, 17, 33, 9], [1, 64, 64, 64], [1, 130, 257, 66], [3, 19, 40, 12], [2, 9, 130, 31],
  // narrow outputs (N ≤ 16: each lane its own rows), M not a multiple of the 32-row tile
  [1, 70, 8, 72], [2, 33, 13, 20], [1, 45, 16, 9],
];

const structures: [string, NonNullable<TuningPatch['matmul']>][] = [
  ['subgroup 16x32', { structure: 'subgroup', strips: 1, rows: 16, persistent: 0 }],
  ['subgroup 16x64 persistent 5', { structure: 'subgroup', strips: 2, rows: 16, persistent: 5 }],
  ['subgroup 16x32 B in buffer', { structure: 'subgroup', strips: 1, rows: 16, texture: false }],
  ['subgroup 16x64 B in buffer', { structure: 'subgroup', strips: 2, rows: 16, texture: false }],
  ['subgroup 16x64', { structure: 'subgroup', strips: 2, rows: 16 }],
  ['subgroup 8x32', { structure: 'subgroup', strips: 1, rows: 8 }],
  ['subgroup, no narrow form', { structure: 'subgroup', strips: 1, rows: 16, narrowMax: 0 }],
  ['subgroup narrow, B in buffer', { structure: 'subgroup', strips: 1, rows: 16, texture: false, narrowMax: 16 }],
  ['subgroup 32 rows', { structure: 'subgroup', strips: 1, rows: 32, persistent: 0 }],
  ['tiled 64x64', { structure: 'tiled', tiled: { tileM: 64, tileN: 64, threadM: 4, threadN: 4, tileK: 16, double: false } }],
  ['tiled 32x32', { structure: 'tiled', tiled: { tileM: 32, tileN: 32, threadM: 2, threadN: 4, tileK: 8, double: false } }],
  ['tiled 64x64 double-buffered', { structure: 'tiled', tiled: { tileM: 64, tileN: 64, threadM: 4, threadN: 4, tileK: 16, double: true } }],
  ['tiled 128x64 double-buffered', { structure: 'tiled', tiled: { tileM: 128, tileN: 64, threadM: 8, threadN: 4, tileK: 8, double: true } }],
];

// Every structure runs on any subgroup width (the suite runs at 4, 8 and 16 lanes: see
// test/engine/widths.test.ts), and reads transposed operands in place.
for (const [name, opts] of structures) {
  test(`${name}: matches float64 on awkward shapes, plain and transposed`, async () => {
    if (opts.structure === 'subgroup' && !gpu().info.subgroupSize) return; // adapter without fixed subgroups
    const saved = setTuning({ matmul: opts });
    const r = rng(7);
    for (const [si, [B, M, N, K]] of shapes.entries()) {
      // transposed operands on every other shape (each structure's suite stays ~seconds)
      const flags = si % 2 ? [[false, false]] : [[false, false], [true, false], [false, true], [true, true]];
      for (const [transA, transB] of flags) {
        const what = `${name} ${B}x${M}x${N}x${K}${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`;
        await noLeak(what, () => scope(async () => {
          const a = Float64Array.from({ length: B * M * K }, () => Math.fround(r() * 2 - 1));
          const b = Float64Array.from({ length: B * K * N }, () => Math.fround(r() * 2 - 1));
          const ta = transA ? tensor(transposed(a, B, M, K), B > 1 ? [B, K, M] : [K, M]) : tensor(a, B > 1 ? [B, M, K] : [M, K]);
          const tb = transB ? tensor(transposed(b, B, K, N), B > 1 ? [B, N, K] : [N, K]) : tensor(b, B > 1 ? [B, K, N] : [K, N]);
          const c = matmul(ta, tb, { transA, transB });
          assertClose(await c.data(), refMatmul(a, b, B, M, N, K), 1e-4 * Math.sqrt(K), what);
        }));
      }
    }
    resetTuning(saved);
  });

  test(`${name}: the bias epilogue (linear) matches float64`, async () => {
    if (opts.structure === 'subgroup' && !gpu().info.subgroupSize) return;
    const saved = setTuning({ matmul: opts });
    const r = rng(5);
    for (const [M, N, K] of [[37, 70, 19], [9, 13, 8], [70, 8, 72]]) {
      await noLeak(`${name} linear ${M}x${N}x${K}`, () => scope(async () => {
        const a = Float64Array.from({ length: M * K }, () => Math.fround(r() * 2 - 1));
        const b = Float64Array.from({ length: K * N }, () => Math.fround(r() * 2 - 1));
        const bias = Float64Array.from({ length: N }, () => Math.fround(r() * 2 - 1));
        const want = refMatmul(a, b, 1, M, N, K).map((v, i) => v + bias[i % N]);
        const got = await linear(tensor(a, [M, K]), tensor(b, [K, N]), tensor(bias, [N])).data();
        assertClose(got, want, 1e-4 * Math.sqrt(K), `${name} linear ${M}x${N}x${K}`);
      }));
    }
    resetTuning(saved);
  });
}

test('a B with more rows than a texture (K > 8192) is folded into a wider texture: plain and transposed, batch-shared', async () => {
  if (!gpu().info.subgroupSize) return;
  const saved = setTuning({ matmul: { structure: 'subgroup' } });
  const r = rng(21);
  const maxTex = gpu().limits.maxTextureDimension2D;
  // K past the texture's height, and odd (the quads' k bounds are tested) and even
  // (fold 2, narrow form; fold 2 batched; fold 4 with four k rows per texel fetch, wide form;
  // M ≥ 32: the 32-row tiles a folded B gets, a partial last tile, batched and not)
  for (const [B, M, N, K] of [[1, 9, 12, maxTex + 100], [2, 5, 8, maxTex + 37], [1, 7, 20, 2 * maxTex + 52], [1, 37, 20, maxTex + 100], [2, 33, 24, maxTex + 37]]) {
    for (const transB of [false, true]) {
      const what = `${B}x${M}x${N}x${K}${transB ? ' Bᵀ' : ''}`;
      await noLeak(what, () => scope(async () => {
        const a = Float64Array.from({ length: B * M * K }, () => Math.fround(r() * 2 - 1));
        const b = Float64Array.from({ length: K * N }, () => Math.fround(r() * 2 - 1));
        const tb = transB ? tensor(transposed(b, 1, K, N), [N, K]) : tensor(b, [K, N]);
        const c = matmul(tensor(a, B > 1 ? [B, M, K] : [M, K]), tb, { transB });
        const want = new Float64Array(B * M * N);
        for (let bi = 0; bi < B; bi++) want.set(refMatmul(a.subarray(bi * M * K, (bi + 1) * M * K), b, 1, M, N, K), bi * M * N);
        assertClose(await c.data(), want, 1e-4 * Math.sqrt(K), what);
      }));
    }
  }
  resetTuning(saved);
});

test('more B sizes in one batch than the texture cache holds (evicted textures outlive the submit)', async () => {
  const saved = setTuning({ matmul: { textureCacheBytes: 4 * 2 ** 10 } }); // a few small textures: forces evictions inside one batch
  await scope(async () => {
    const outs = [];
    // B [3, 4n]: 20 distinct texture widths
    for (let n = 1; n <= 20; n++) outs.push(matmul(tensor(new Float32Array(6).fill(1), [2, 3]), tensor(new Float32Array(12 * n).fill(n), [3, 4 * n])));
    assert.equal(Array.from(await outs[19].data()), new Array(160).fill(60));
    assert.equal(Array.from(await outs[0].data()), new Array(8).fill(3));
  });
  resetTuning(saved);
});

test('the B-texture cache holds a working set: repeating the same products creates no texture', async () => {
  await scope(async () => {
    const r = rng(3);
    const run = async (): Promise<void> => {
      // 40 distinct B sizes: more than the old count-bounded cache (16) could hold
      for (let n = 1; n <= 40; n++) matmul(tensor(Float32Array.from({ length: 6 }, r), [2, 3]), tensor(Float32Array.from({ length: 12 * n }, r), [3, 4 * n])).dispose();
      await sync();
    };
    await run();
    const created = textureCreateTotal();
    await run();
    await run();
    if (matmulConfig(2, 4, 3).kind === 'subgroup') assert.is(textureCreateTotal(), created, 'textures created when the same sizes came back');
  });
});

test('the automatic choice uses subgroups on a CPU adapter of any width, tiles elsewhere (and under LBD_KERNELS=gpu)', () => {
  const g = gpu();
  const cfg = matmulConfig(1024, 1024, 1024);
  assert.is(cfg.kind, cpuKernelPaths() && g.info.subgroupSize ? 'subgroup' : 'tiled');
  assert.is(cpuKernelPaths(), g.info.software && env('LBD_KERNELS') !== 'gpu');
  if (cfg.kind === 'subgroup') {
    assert.is(cfg.lanes, g.info.subgroupSize);
    assert.is(cfg.rows % cfg.lanes, 0);
  }
});

test('inner-dimension mismatch names both shapes', () => {
  scope(() => {
    assert.throws(() => matmul(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(8), [4, 2])), /inner dimensions differ: \[2, 3\] · \[4, 2\]/);
  });
});

test.run();
