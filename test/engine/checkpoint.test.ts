// Checkpoints: safetensors files byte for byte, bit-exact round trips of models, refusal of
// corrupt files and of mismatched models (changing nothing), and atomic writes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, rmSync, readFileSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tensor, zeros, type Tensor, type TypedArray } from '../../engine/tensor.js';
import { scope } from '../../engine/memory.js';
import { Generator } from '../../engine/random.js';
import { saveTensors, loadTensors, loadTensorsInto, readCheckpoint } from '../../engine/checkpoint.js';
import { saveModule, loadModule } from '../../layers/checkpoint.js';
import type { Module } from '../../layers/module.js';
import { mlp } from '../../models/mlp.js';
import { ready, rng, noLeak } from '../helpers.js';

const test = suite('checkpoint');
let dir = '';
test.before(async () => {
  await ready;
  dir = mkdtempSync(join(tmpdir(), 'lbd-ckpt-'));
});
test.after(() => { rmSync(dir, { recursive: true, force: true }); });

const file = (name: string): string => join(dir, name);
/** The raw 32-bit patterns, so NaN payloads and -0 compare exactly. */
const bits = (a: TypedArray): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
const tmpLeft = (d: string): string[] => readdirSync(d).filter((f) => f.includes('.tmp-'));

async function rejects(p: Promise<unknown>, re: RegExp, what: string): Promise<string> {
  try {
    await p;
  } catch (e) {
    const msg = (e as Error).message;
    assert.match(msg, re, `${what}: unexpected message: ${msg}`);
    return msg;
  }
  assert.unreachable(`${what}: expected an error`);
  return '';
}

/** A safetensors file written by hand: u64 header length (or `n`), header text, data bytes. */
function raw(name: string, header: string | object, data: Uint8Array = new Uint8Array(0), n?: number): string {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(n ?? text.length));
  const p = file(name);
  writeFileSync(p, Buffer.concat([len, text, data]));
  return p;
}

function input(seed: number): Tensor {
  const r = rng(seed);
  return tensor(Array.from({ length: 5 * 4 }, () => r() * 4 - 2), [5, 4]);
}

async function forwardBits(m: Module, x: Tensor): Promise<number[]> {
  return scope(async () => bits(await m.forward(x).data()));
}

async function paramBits(m: Module): Promise<number[][]> {
  const out: number[][] = [];
  for (const p of m.parameters()) out.push(bits(await p.data()));
  return out;
}

test('save → load into a freshly initialised MLP gives bit-identical outputs, same tensor objects', async () => {
  await noLeak('round trip', async () => {
    const a = mlp([4, 8, 3], new Generator(1));
    const b = mlp([4, 8, 3], new Generator(2));
    const x = input(3);
    const want = await forwardBits(a, x);
    assert.not.equal(await forwardBits(b, x), want, 'differently seeded models differ before loading');
    const p = file('mlp.safetensors');
    await saveModule(p, a, { metadata: { note: 'round trip', step: '12' } });
    const params = b.parameters();
    const { metadata: meta } = await loadModule(p, b);
    assert.equal(meta, { note: 'round trip', step: '12' });
    assert.equal(await forwardBits(b, x), want);
    assert.equal(await paramBits(b), await paramBits(a));
    const after = b.parameters();
    assert.is(after.length, params.length);
    after.forEach((t, i) => assert.ok(t === params[i], 'loading keeps the same Tensor objects'));
    assert.equal(tmpLeft(dir), []);
    a.dispose(); b.dispose(); x.dispose();
  });
});

test('the file follows the safetensors spec byte for byte', async () => {
  const p = file('spec.safetensors');
  const w = tensor([1.5, -2, 0, 3.25, -0, 1e-40], [2, 3]);
  const idx = tensor([-1, 0, 7, 2147483647], [4], 'i32');
  const s = tensor([42], []);
  const e = zeros([0, 2]);
  const u = tensor([0, 4294967295, 5], [3], 'u32');
  const entries: [string, Tensor][] = [['w', w], ['idx', idx], ['s', s], ['empty', e], ['u', u]];
  await saveTensors(p, entries, { author: 'lbd-gpu', 'ünïcode': 'ok ✓' });
  const buf = readFileSync(p);
  const n = Number(buf.readBigUInt64LE(0));
  assert.is(n % 8, 0, 'header length is a multiple of 8');
  assert.is(buf[8], '{'.charCodeAt(0));
  const text = buf.subarray(8, 8 + n).toString('utf8');
  const json = text.trimEnd();
  assert.ok(/^ *$/.test(text.slice(json.length)), 'padding is spaces');
  const header = JSON.parse(json) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  assert.equal(header.__metadata__, { author: 'lbd-gpu', 'ünïcode': 'ok ✓' });
  const expect: [string, string, number[]][] = [['w', 'F32', [2, 3]], ['idx', 'I32', [4]], ['s', 'F32', []], ['empty', 'F32', [0, 2]], ['u', 'U32', [3]]];
  let at = 0;
  for (const [name, dtype, shape] of expect) {
    const h = header[name];
    assert.is(h.dtype, dtype, `${name} dtype`);
    assert.equal(h.shape, shape, `${name} shape`);
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    assert.equal(h.data_offsets, [at, at + bytes], `${name} offsets`);
    at += bytes;
  }
  assert.equal(Object.keys(header).sort(), ['__metadata__', 'empty', 'idx', 's', 'u', 'w']);
  assert.is(buf.length, 8 + n + at, 'no trailing bytes');
  // Raw little-endian payloads.
  const data = buf.subarray(8 + n);
  assert.equal(Array.from({ length: 6 }, (_, i) => data.readFloatLE(4 * i)), [1.5, -2, 0, 3.25, -0, Math.fround(1e-40)]);
  assert.equal(Array.from({ length: 4 }, (_, i) => data.readInt32LE(24 + 4 * i)), [-1, 0, 7, 2147483647]);
  assert.is(data.readFloatLE(40), 42);
  assert.equal(Array.from({ length: 3 }, (_, i) => data.readUInt32LE(44 + 4 * i)), [0, 4294967295, 5]);
  // And it reads back.
  const ck = await readCheckpoint(p);
  assert.equal([...ck.tensors.keys()].sort(), ['empty', 'idx', 's', 'u', 'w']);
  assert.equal(ck.tensors.get('empty')!.shape, [0, 2]);
  assert.is(ck.tensors.get('empty')!.data.length, 0);
  assert.equal(ck.tensors.get('s')!.shape, []);
  for (const t of [w, idx, s, e, u]) t.dispose();
});

test('i32, u32 and special f32 values round-trip exactly, also into existing tensors', async () => {
  await noLeak('int round trip', async () => {
    const p = file('ints.safetensors');
    const ints = [-2147483648, -1, 0, 1, 2147483647, 12345];
    const uints = [0, 1, 2147483648, 4294967295];
    const specials = new Float32Array([NaN, -0, Infinity, -Infinity, 1.4e-45, 3.4028234663852886e38]);
    const i = tensor(ints, [2, 3], 'i32');
    const u = tensor(uints, [4], 'u32');
    const f = tensor(specials, [6]);
    await saveTensors(p, [['labels', i], ['counts', u], ['specials', f]]);
    const m = await loadTensors(p);
    const li = m.get('labels')!;
    assert.is(li.dtype, 'i32');
    assert.ok(li.data instanceof Int32Array);
    assert.equal(li.shape, [2, 3]);
    assert.equal(Array.from(li.data), ints);
    const lu = m.get('counts')!;
    assert.ok(lu.data instanceof Uint32Array);
    assert.equal(Array.from(lu.data), uints);
    assert.equal(bits(m.get('specials')!.data), bits(specials));
    // Into existing tensors (same objects, new values).
    const i2 = zeros([2, 3], 'i32'), u2 = zeros([4], 'u32'), f2 = zeros([6]);
    await loadTensorsInto(p, [['labels', i2], ['counts', u2], ['specials', f2]]);
    assert.equal(await i2.array(), ints);
    assert.equal(await u2.array(), uints);
    assert.equal(bits(await f2.data()), bits(specials));
    // A dtype mismatch is refused and changes nothing.
    const wrong = zeros([2, 3]);
    await rejects(loadTensorsInto(p, [['labels', wrong], ['counts', u2], ['specials', f2]]), /labels: file i32 vs model f32/, 'dtype');
    assert.equal(await wrong.array(), [0, 0, 0, 0, 0, 0]);
    for (const t of [i, u, f, i2, u2, f2, wrong]) t.dispose();
  });
});

test('corrupt and truncated files are refused with the file and the fault named', async () => {
  const f32 = (xs: number[]): Uint8Array => new Uint8Array(new Float32Array(xs).buffer);
  const good = file('good.safetensors');
  const t = tensor([1, 2, 3, 4], [2, 2]);
  const v = tensor([5, 6], [2], 'i32');
  await saveTensors(good, [['t', t], ['v', v]]);
  t.dispose(); v.dispose();
  const bytes = readFileSync(good);
  const cases: [string, () => string, RegExp][] = [
    ['invalid JSON', () => raw('json.safetensors', '{"t": {"dtype": "F32", ', f32([1])), /header is not valid JSON/],
    ['not an object', () => raw('arr.safetensors', '[1, 2]'), /does not start with "\{"/],
    ['truncated data', () => { const p = file('trunc.safetensors'); writeFileSync(p, bytes.subarray(0, bytes.length - 4)); return p; }, /tensor "v": data_offsets \[16, 24\] run past the end of the data \(20 bytes; file truncated\?\)/],
    ['header length beyond the file', () => { const b = Buffer.from(bytes); b.writeBigUInt64LE(1000000n, 0); const p = file('len.safetensors'); writeFileSync(p, b); return p; }, /header length 1000000 exceeds the \d+ bytes after the length field/],
    ['header length near 2^64', () => { const b = Buffer.from(bytes); b.writeBigUInt64LE(2n ** 64n - 1n, 0); const p = file('len2.safetensors'); writeFileSync(p, b); return p; }, /header length 18446744073709551615 exceeds/],
    ['shorter than 8 bytes', () => { const p = file('short.safetensors'); writeFileSync(p, Buffer.from([1, 2, 3])); return p; }, /3 bytes, too short/],
    ['unknown dtype', () => raw('dtype.safetensors', { t: { dtype: 'F16', shape: [2], data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor "t": unknown or unsupported dtype "F16" \(supported: F32, I32, U32\)/],
    ['offsets do not match shape × dtype', () => raw('size.safetensors', { t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32([1, 2])), /tensor "t": data_offsets \[0, 8\] hold 8 bytes but F32 \[3\] needs 12/],
    ['overlapping offsets', () => raw('overlap.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32([1, 2, 3])), /tensor "b" data_offsets \[4, 12\] overlap tensor "a"/],
    ['offsets past the data', () => raw('range.safetensors', { a: { dtype: 'I32', shape: [2], data_offsets: [8, 16] } }, f32([1, 2])), /run past the end of the data \(8 bytes/],
    ['reversed offsets', () => raw('rev.safetensors', { a: { dtype: 'I32', shape: [0], data_offsets: [4, 0] } }, f32([1])), /end before they begin/],
    ['hole in the data', () => raw('hole.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32([1, 2, 3])), /4 bytes at data offset 0 belong to no tensor/],
    ['trailing bytes', () => raw('trail.safetensors', { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, f32([1, 2, 3])), /4 trailing bytes after the last tensor/],
    ['bad shape', () => raw('shape.safetensors', { a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, f32([1, 2])), /shape \[-2\] must be an array of non-negative integers/],
    ['non-string metadata', () => raw('meta.safetensors', { __metadata__: { step: 3 } }), /__metadata__ entry "step" is not a string/],
    ['missing file', () => file('does-not-exist.safetensors'), /cannot read/],
  ];
  for (const [what, make, re] of cases) {
    const p = make();
    const msg = await rejects(loadTensors(p), re, what);
    assert.ok(msg.includes(p), `${what}: the message names the file: ${msg}`);
  }
  // A corrupt file never touches the target tensors.
  const target = tensor([9, 9, 9, 9], [2, 2]);
  const tv = tensor([9, 9], [2], 'i32');
  const p = file('trunc2.safetensors');
  writeFileSync(p, bytes.subarray(0, bytes.length - 4));
  await rejects(loadTensorsInto(p, [['t', target], ['v', tv]]), /truncated/, 'truncated into tensors');
  assert.equal(await target.array(), [9, 9, 9, 9]);
  target.dispose(); tv.dispose();
});

test('loading into a different model lists every difference and changes nothing', async () => {
  await noLeak('mismatch', async () => {
    const src = mlp([4, 8, 3], new Generator(5));
    const p = file('src.safetensors');
    await saveModule(p, src);
    const wider = mlp([4, 9, 3], new Generator(6));
    const before = await paramBits(wider);
    const msg = await rejects(loadModule(p, wider), /does not match the model; nothing was loaded/, 'wider');
    assert.ok(msg.includes(p));
    assert.match(msg, /shape\/dtype mismatches: model\.layers\.0\.weight: file \[4, 8\] vs model \[4, 9\]; model\.layers\.0\.bias: file \[8\] vs model \[9\]; model\.layers\.2\.weight: file \[8, 3\] vs model \[9, 3\]/);
    assert.not.match(msg, /missing in file|unexpected in file/);
    assert.equal(await paramBits(wider), before, 'the target keeps its weights');

    const deeper = mlp([4, 8, 8, 3], new Generator(7));
    const before2 = await paramBits(deeper);
    const msg2 = await rejects(loadModule(p, deeper), /missing in file: model\.layers\.4\.weight, model\.layers\.4\.bias/, 'deeper');
    assert.match(msg2, /model\.layers\.2\.weight: file \[8, 3\] vs model \[8, 8\]; model\.layers\.2\.bias: file \[3\] vs model \[8\]/);
    assert.equal(await paramBits(deeper), before2);

    const shallow = mlp([4, 8], new Generator(8));
    const msg3 = await rejects(loadModule(p, shallow), /unexpected in file: model\.layers\.2\.weight, model\.layers\.2\.bias/, 'shallower');
    assert.not.match(msg3, /missing in file|shape\/dtype mismatches/);
    for (const m of [src, wider, deeper, shallow]) m.dispose();
  });
});

/** A stand-in for an optimizer with state (the structural interface of engine/optim.ts). */
class FakeOptimizer {
  state = new Map<string, Tensor>();
  scalars: Record<string, number> = {};
  refuse = false;
  stateTensors(): [string, Tensor][] { return [...this.state]; }
  stateScalars(): Record<string, number> { return { ...this.scalars }; }
  loadStateTensors(entries: [string, Tensor][]): void {
    if (this.refuse) throw new Error('FakeOptimizer: no such state');
    for (const t of this.state.values()) t.dispose();
    this.state = new Map(entries);
  }
  loadStateScalars(s: Record<string, number>): void { this.scalars = { ...s }; }
  dispose(): void { for (const t of this.state.values()) t.dispose(); this.state.clear(); }
}

test('optimizer state travels with the model; loading without state in the file is refused', async () => {
  await noLeak('optimizer', async () => {
    const a = mlp([4, 8, 3], new Generator(1));
    const b = mlp([4, 8, 3], new Generator(2));
    const optA = new FakeOptimizer();
    optA.state.set('velocity.0', tensor([0.5, -0.25, 3, 7], [2, 2]).keep());
    optA.state.set('step', tensor([11], [1], 'i32').keep());
    optA.scalars = { t: 11, lr: 0.001, beta1: 0.9, clip: Infinity, odd: NaN };
    const p = file('with-optim.safetensors');
    await saveModule(p, a, { optimizers: { weights: optA }, metadata: { epoch: '3' } });
    const names = [...(await loadTensors(p)).keys()].sort();
    assert.equal(names, ['model.layers.0.bias', 'model.layers.0.weight', 'model.layers.2.bias', 'model.layers.2.weight', 'optim.weights.step', 'optim.weights.velocity.0']);

    const optB = new FakeOptimizer();
    const { metadata: meta } = await loadModule(p, b, { optimizers: { weights: optB } });
    assert.equal(meta, { epoch: '3' });
    assert.equal([...optB.state.keys()].sort(), ['step', 'velocity.0']);
    assert.equal(await optB.state.get('velocity.0')!.array(), [0.5, -0.25, 3, 7]);
    assert.is(optB.state.get('step')!.dtype, 'i32');
    assert.equal(optB.scalars.t, 11);
    assert.equal(optB.scalars.lr, 0.001);
    assert.ok(optB.scalars.clip === Infinity && Number.isNaN(optB.scalars.odd));
    assert.equal(await paramBits(b), await paramBits(a));

    // Weights only: a file without optimizer state cannot restore an optimizer.
    const q = file('weights-only.safetensors');
    await saveModule(q, a);
    const c = mlp([4, 8, 3], new Generator(3));
    const beforeC = await paramBits(c);
    const optC = new FakeOptimizer();
    await rejects(loadModule(q, c, { optimizers: { weights: optC } }), /holds no state of an optimizer 'weights'/, 'no state');
    assert.equal(await paramBits(c), beforeC);
    assert.is(optC.state.size, 0);
    // An optimizer that refuses its state: the model is left alone, the fresh tensors freed.
    optC.refuse = true;
    await rejects(loadModule(p, c, { optimizers: { weights: optC } }), /the 'weights' optimizer refused its state tensors; nothing was loaded: FakeOptimizer: no such state/, 'refused');
    assert.equal(await paramBits(c), beforeC);
    assert.equal(optC.scalars, {});
    // ...but optim.* entries are ignored when no optimizer is asked for.
    await loadModule(p, c);
    assert.equal(await paramBits(c), await paramBits(a));
    await rejects(saveModule(q, a, { metadata: { 'optim.weights.scalars': 'x' } }), /reserved/, 'reserved key');
    await rejects(saveModule(q, a, { metadata: { rng: 'x' } }), /reserved/, 'reserved key rng');
    for (const m of [a, b, c]) m.dispose();
    optA.dispose(); optB.dispose(); optC.dispose();
  });
});

test('saves are atomic: no temp files after success or failure, old file intact on failure', async () => {
  const d = join(dir, 'atomic');
  mkdirSync(d);
  const a = tensor([1, 2, 3]);
  const b = tensor([4, 5, 6]);
  const p = join(d, 'x.safetensors');
  await saveTensors(p, [['a', a]]);
  await saveTensors(p, [['a', b]]);
  assert.equal(Array.from((await loadTensors(p)).get('a')!.data), [4, 5, 6], 'overwrite replaces the file');
  assert.equal(readdirSync(d), ['x.safetensors']);
  // Into a directory that does not exist: fails before anything is created.
  const gone = join(d, 'missing', 'y.safetensors');
  const msg = await rejects(saveTensors(gone, [['a', a]]), /saveTensors: cannot write .*missing.*y\.safetensors: .*ENOENT/, 'missing dir');
  assert.ok(msg.includes(gone));
  assert.ok(!existsSync(join(d, 'missing')));
  // The target is a directory: the temp file is written, the rename fails, the temp file goes.
  const asDir = join(d, 'adir');
  mkdirSync(asDir);
  await rejects(saveTensors(asDir, [['a', a]]), /cannot write/, 'rename onto a directory');
  assert.equal(tmpLeft(d), []);
  assert.equal(readdirSync(d).sort(), ['adir', 'x.safetensors']);
  // A failed save (a disposed tensor) leaves the previous checkpoint as it was.
  const c = tensor([7, 8, 9]);
  c.dispose();
  await rejects(saveTensors(p, [['a', a], ['c', c]]), /tensor "c" \[3\] was disposed/, 'disposed');
  await rejects(saveTensors(p, [['a', a], ['a', b]]), /duplicate tensor name "a"/, 'duplicate');
  assert.equal(Array.from((await loadTensors(p)).get('a')!.data), [4, 5, 6]);
  assert.equal(readdirSync(d).sort(), ['adir', 'x.safetensors']);
  a.dispose(); b.dispose();
});

test.run();
