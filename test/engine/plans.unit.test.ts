// The plans without a device (the first, fast tier): each adapter profile — lavapipe at 16 and 8
// lanes, SwiftShader's 4, a hardware GPU — and the tuning give the kernel configurations the
// rules in engine/plans/ say, so a GPU profile's rules can change without touching lavapipe's;
// the environment's options parse, refuse bad values naming the variable, and are the README's
// table.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultTuning, tuningFromEnvironment, tuningOptionsMarkdown, TUNING_OPTIONS, type Tuning } from '../../engine/plans/tuning.js';
import { planMatmul, planFold, copyTransposedA, textureFold } from '../../engine/plans/matmul.js';
import { planRowConv, convTaps, padForWeightGrad, convStrips, type ConvShape } from '../../engine/plans/conv.js';
import { cpuKernelPaths, type AdapterProfile } from '../../engine/plans/profile.js';
import type { SubgroupMatmulConfig } from '../../kernels/matmul.js';

const test = suite('plans');

const BIND = 128 * 2 ** 20;
const lavapipe16: AdapterProfile = { software: true, hasSubgroups: true, subgroupSize: 16, maxTextureDimension2D: 8192, maxStorageBufferBindingSize: BIND };
const lavapipe8: AdapterProfile = { ...lavapipe16, subgroupSize: 8 };
const swiftshader: AdapterProfile = { ...lavapipe16, subgroupSize: 4 };
const gpu: AdapterProfile = { software: false, hasSubgroups: true, subgroupSize: null, maxTextureDimension2D: 16384, maxStorageBufferBindingSize: 2 ** 31 };
const T = (patch: (t: Tuning) => void = () => {}): Tuning => { const t = defaultTuning(); patch(t); return t; };
const sub = (c: ReturnType<typeof planMatmul>): SubgroupMatmulConfig => { assert.is(c.kind, 'subgroup'); return c as SubgroupMatmulConfig; };

test('matmul: subgroup GEMMs on CPU adapters at every width, tiled on a GPU and under kernels: gpu', () => {
  const sq = sub(planMatmul(lavapipe16, T(), 1024, 1024, 1024));
  assert.equal([sq.lanes, sq.rows, sq.strips, sq.persistent, sq.textureB, sq.narrow], [16, 16, 2, 128, true, 0]);
  // wide, short outputs: 32 rows, one strip, no persistent workgroups
  const wide = sub(planMatmul(lavapipe16, T(), 500, 9724, 600));
  assert.equal([wide.rows, wide.strips, wide.persistent], [32, 1, 0]);
  // narrow outputs: each lane its own rows (32 a workgroup), all columns
  const narrow = sub(planMatmul(lavapipe8, T(), 300, 8, 96));
  assert.equal([narrow.lanes, narrow.rows, narrow.narrow], [8, 32, 2]);
  // rows round up to the lane count; 4 lanes
  const ss = sub(planMatmul(swiftshader, T((t) => { t.matmul.rows = 6; }), 64, 64, 64));
  assert.is(ss.rows, 8);
  assert.is(planMatmul(gpu, T(), 1024, 1024, 1024).kind, 'tiled');
  assert.is(planMatmul(lavapipe16, T((t) => { t.kernels = 'gpu'; }), 1024, 1024, 1024).kind, 'tiled');
  assert.is(planMatmul(gpu, T((t) => { t.matmul.structure = 'tiled'; t.matmul.tiled.tileM = 32; }), 8, 8, 8).kind, 'tiled');
  assert.throws(() => planMatmul(gpu, T((t) => { t.matmul.structure = 'subgroup'; }), 8, 8, 8), /needs the adapter's subgroups feature with a fixed subgroup size/);
  assert.ok(cpuKernelPaths(swiftshader, T()) && !cpuKernelPaths(gpu, T()) && !cpuKernelPaths(lavapipe8, T((t) => { t.kernels = 'gpu'; })));
  // a B wider than a texture's rows stays in its buffer
  assert.is(sub(planMatmul(lavapipe16, T(), 64, 4 * 8192 + 4, 64)).textureB, false);
  assert.is(sub(planMatmul(lavapipe16, T((t) => { t.matmul.texture = false; }), 64, 64, 64)).textureB, false);
});

test('matmul: tall B operands fold into wider textures (32-row tiles); a small transposed A is copied', () => {
  assert.is(textureFold(lavapipe16, 8192 + 100, 600), 2);
  assert.is(textureFold(lavapipe16, 2 * 8192 + 52, 20), 4);
  assert.is(textureFold(lavapipe16, 1000, 4 * 8192 + 4), 0, 'too wide for any fold');
  const cfg = planMatmul(lavapipe16, T(), 500, 600, 20108);
  assert.not.ok(sub(cfg).textureB);
  assert.equal(planFold(lavapipe16, T(), cfg, 500, 600, 20108, true), { fold: 4, rows: 32, persistent: 0 });
  assert.is(planFold(lavapipe16, T(), cfg, 500, 600, 20108, false), null, 'a batched B is not folded');
  assert.is(planFold(lavapipe16, T((t) => { t.matmul.foldTall = false; }), cfg, 500, 600, 20108, true), null);
  const narrowCfg = planMatmul(lavapipe16, T(), 9, 12, 8292);
  assert.equal(planFold(lavapipe16, T(), narrowCfg, 9, 12, 8292, true), { fold: 2 }, 'the narrow form keeps its tile');
  assert.ok(copyTransposedA(T(), cfg, 500, 600, true));
  assert.not.ok(copyTransposedA(T(), cfg, 700, 600, true), 'M > N: read in place');
  assert.not.ok(copyTransposedA(T(), planMatmul(gpu, T(), 8, 8, 8), 8, 8, true), 'the tiled kernel reads Aᵀ itself');
});

const conv = (W: number, Ci = 8, Co = 8, k = 3, stride = 1, pad = 1): ConvShape => ({ N: 4, Ci, H: 60, W, Co, kh: k, kw: k, Ho: 60, Wo: W, stride, pad });

test('conv: the row kernel for narrow 3×3 rows on the subgroup structure only, by width and lanes', () => {
  const gemm16 = planMatmul(lavapipe16, T(), 4 * 60 * 80, 8, 72);
  assert.equal(planRowConv(lavapipe16, T(), conv(80), 8, 8, false, gemm16), { pixels: 4, block: 8 });
  // 32-pixel rows at 16 lanes: 2 pixels a lane halve the strips' span
  assert.equal(planRowConv(lavapipe16, T(), conv(32, 4, 4), 4, 4, false, gemm16), { pixels: 2, block: 4 });
  assert.is(planRowConv(lavapipe16, T(), conv(31), 8, 8, false, gemm16), null, 'rows narrower than 2·lanes');
  assert.is(planRowConv(lavapipe16, T(), conv(80), 8, 56, true, gemm16), null, 'the input gradient of < 16 maps at 16 lanes is a GEMM');
  const gemm8 = planMatmul(lavapipe8, T(), 4 * 60 * 80, 8, 72);
  assert.ok(planRowConv(lavapipe8, T(), conv(80), 8, 56, true, gemm8), '... but at 8 lanes the row kernel wins');
  assert.is(planRowConv(lavapipe16, T(), conv(80, 8, 16, 3, 2), 16, 16, false, gemm16), null, 'stride 2');
  assert.is(planRowConv(lavapipe16, T(), conv(80), 32, 32, false, gemm16), null, 'wider than rowMax');
  assert.is(planRowConv(lavapipe16, T((t) => { t.conv.rowMax = 0; }), conv(80), 8, 8, false, gemm16), null);
  assert.is(planRowConv(gpu, T(), conv(80), 8, 8, false, planMatmul(gpu, T(), 19200, 8, 72)), null, 'GPUs: implicit GEMMs');
  assert.equal(planRowConv(lavapipe16, T((t) => { t.conv.rowForce = { pixels: 2, block: 16 }; }), conv(80), 8, 8, true, gemm16), { pixels: 2, block: 16 });
});

test('conv: GEMM strips, shared tap loads and the weight gradient\'s padding', () => {
  const cfg = sub(planMatmul(lavapipe16, T(), 1000, 64, 64));
  assert.is(convStrips(cfg, 128), 2);
  assert.is(convStrips(cfg, 64), cfg.strips);
  const grid = { sH: 32, sW: 32, sC: 64, rH: 32, rW: 32, kh: 3, kw: 3, stride: 1, pad: 1 };
  const wgrad = { weightGrad: true, narrow: false, nchw: false, vec: false };
  const pixels = { weightGrad: false, narrow: true, nchw: true, vec: true };
  assert.ok(convTaps(T(), wgrad, grid), 'weight gradient of a 3-wide, stride-1 kernel');
  assert.not.ok(convTaps(T((t) => { t.conv.wgradTaps = false; }), wgrad, grid));
  assert.ok(convTaps(T(), pixels, grid), 'narrow NCHW pixel GEMM, rows a multiple of 4');
  assert.not.ok(convTaps(T(), pixels, { ...grid, sW: 30, rW: 30 }), 'rows of 30 pixels');
  assert.not.ok(convTaps(T(), pixels, { ...grid, rH: 16, rW: 16, stride: 2 }), 'stride 2');
  assert.ok(padForWeightGrad(T(), conv(64, 8, 32)));
  assert.not.ok(padForWeightGrad(T(), conv(64, 8, 16)), 'fewer output channels than wgradPadMinCo');
  assert.not.ok(padForWeightGrad(T(), conv(62, 8, 32)), 'Wo % 4 != 0');
});

test('tuning: every environment variable parses, a bad value names its variable, defaults elsewhere', () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const t = tuningFromEnvironment(env({
    LBD_MATMUL: 'tiled', LBD_MATMUL_TEXTURE: '0', LBD_MATMUL_PERSISTENT: '0', LBD_CONV_ROWS: '0', LBD_GRID_CAP: '512',
    LBD_VECTOR_WIDTH: '256', LBD_KERNELS: 'gpu', LBD_DAWN_FLAGS: 'a=b, c', LBD_SPIN_MS: '3', LBD_TEXTURE_CACHE_MB: '16', LBD_FAULT: 'save:temp:2',
  }));
  assert.equal([t.matmul.structure, t.matmul.texture, t.matmul.persistent, t.matmul.shapeRules, t.conv.rowMax, t.gridCap], ['tiled', false, 0, false, 0, 512]);
  assert.equal([t.vectorWidth, t.kernels, t.dawnFlags, t.spinMs, t.matmul.textureCacheBytes, t.fault], [256, 'gpu', ['a=b', 'c'], 3, 16 * 2 ** 20, 'save:temp:2']);
  assert.equal(tuningFromEnvironment(env({})), defaultTuning());
  for (const [name, value] of [['LBD_MATMUL', 'fast'], ['LBD_GRID_CAP', '0'], ['LBD_MATMUL_TEXTURE', 'no'], ['LBD_VECTOR_WIDTH', '384'], ['LBD_CONV', 'gemm'], ['LBD_BACKEND', 'metal'], ['LBD_FAULT', 'nowhere']]) {
    assert.throws(() => tuningFromEnvironment(env({ [name]: value })), new RegExp(`^${name} must be .*; got '${value}'$`), `${name}=${value}`);
  }
  assert.is(new Set(TUNING_OPTIONS.map((o) => o.name)).size, TUNING_OPTIONS.length, 'each variable once');
});

test('the README\'s and docs/kernels.md\'s tables of environment options are the tuning\'s, every option in one', () => {
  const read = (f: string): string => readFileSync(fileURLToPath(new URL(`../../../${f}`, import.meta.url)), 'utf8');
  for (const [file, which] of [['README.md', 'general'], ['docs/kernels.md', 'kernel']] as const) {
    assert.ok(read(file).includes(tuningOptionsMarkdown(which)), `${file}'s table of environment options must hold exactly:\n${tuningOptionsMarkdown(which)}`);
  }
  const rows = (which: 'general' | 'kernel' | 'all'): number => tuningOptionsMarkdown(which).split('\n').length - 2;
  assert.is(rows('general') + rows('kernel'), rows('all'));
  assert.ok(rows('general') > 0 && rows('kernel') > 0);
});

test.run();
