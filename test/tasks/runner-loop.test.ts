// The runner's pieces in process: the dropout registry (one name per kind, Gaussian clamp), the
// checksummed checkpoint (flipped data or state bits refused, naming the file), the run
// checkpoint's all-or-nothing load, option differences named as options, atomic JSON and file
// errors, stale temporaries, and the non-finite diagnosis naming the first layer — from a
// replay of the epoch's checkpoint, where the weights after the failing step would only show
// that they are already non-finite.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tensor, scope, Adam, Generator, sync, memoryStats, crossEntropy, type Tensor } from '../../engine/index.js';
import { saveTensors, readCheckpoint, CHECKSUM_KEY } from '../../engine/checkpoint.js';
import { mlp, dropoutLayers } from '../../models/mlp.js';
import { createDropout, parseDropoutNames, registryName, DROPOUT_NAMES, DROPOUT_REGISTRY } from '../../layers/dropout/registry.js';
import { GaussianDropout } from '../../layers/dropout/gaussian.js';
import { saveRunCheckpoint, loadRunCheckpoint } from '../../tasks/common/checkpoint.js';
import { configDifferences } from '../../tasks/common/config.js';
import { writeJsonAtomic, readJson, removeStaleTemps } from '../../tasks/common/files.js';
import { UserError } from '../../tasks/common/errors.js';
import { trainLoop, standardStep, freshHistory } from '../../tasks/common/trainer.js';
import { firstNonFinite } from '../../tasks/common/nonfinite.js';
import { ready } from '../helpers.js';
import { tmp } from './runner-fixture.js';

const test = suite('runner loop');
test.before(async () => { await ready; });

test('registry: one name per kind, a label each, Gaussian keep clamped to its a ≤ 1 range', async () => {
  assert.equal([...DROPOUT_NAMES], ['regular', 'mc', 'gaussian', 'concrete', 'lbd']);
  const gen = (): Generator => new Generator(1);
  for (const k of DROPOUT_NAMES) {
    const d = createDropout(k, { rate: 0.7, units: 4, datasetSize: 10, generator: gen() });
    assert.is(registryName(d), k);
    assert.ok(DROPOUT_REGISTRY[k].label.length > 0);
    d.dispose();
  }
  const g = createDropout('gaussian', { rate: 0.7, units: 4, datasetSize: 10, generator: gen() }) as GaussianDropout;
  assert.equal(await g.keepProbabilities(), [0.5, 0.5, 0.5, 0.5], 'rate 0.7 → keep 0.5 (clamped), not a refusal');
  g.dispose();
  assert.throws(() => parseDropoutNames('regular,dropout'), /plain dropout is called 'regular'/);
  assert.throws(() => parseDropoutNames('lbd,lbd'), /twice/);
  assert.equal(parseDropoutNames('none', '--dropout', ['none'] as const), ['none']);
});

// The recommenders' first layer reads only the input's nonzero pattern (sparse_linear), which
// is exact only if the dropout slot keeps zeros zero: every kind must be multiplicative noise.
test('registry: every dropout kind and granularity keeps zero inputs zero in training (the sparse first layer relies on it)', async () => {
  const N = 6, F = 10;
  const xs = Array.from({ length: N * F }, (_, i) => (i % 3 === 0 ? 0 : 0.5 + (i % 7)));
  for (const k of DROPOUT_NAMES) {
    for (const granularity of ['unit', 'layer'] as const) {
      await scope(async () => {
        const d = createDropout(k, { rate: 0.4, units: F, datasetSize: 100, generator: new Generator(3), granularity });
        d.train();
        const y = await d.forward(tensor(xs, [N, F])).data();
        xs.forEach((v, i) => { if (v === 0) assert.is(y[i], 0, `${k} (${granularity}): output ${i} of a zero input is ${y[i]}`); });
        assert.ok(xs.some((v, i) => v !== 0 && y[i] !== 0), `${k} (${granularity}): some nonzero input survives`);
        d.dispose();
      });
    }
  }
});

test('checksummed checkpoints: a flipped data bit is refused with the file named; unchecked files read as before', async () => {
  const dir = tmp('lbd-ck-');
  const t = tensor([1, 2, 3, 4], [4]).keep();
  const a = join(dir, 'a.safetensors'), b = join(dir, 'b.safetensors');
  await saveTensors(a, [['t', t]], { note: 'x' }, { checksum: true });
  await saveTensors(b, [['t', t]], { note: 'x' });
  assert.equal((await readCheckpoint(a)).metadata, { note: 'x' }, 'the checksum key is verified and not returned');
  assert.equal((await readCheckpoint(b)).metadata, { note: 'x' });
  const buf = readFileSync(a);
  buf[buf.length - 3] ^= 1;
  writeFileSync(a, buf);
  try { await readCheckpoint(a); assert.unreachable(); } catch (e) { assert.match((e as Error).message, new RegExp(`checkpoint ${a}: tensor data fails its checksum`)); }
  await saveTensors(a, [['t', t]], undefined, { checksum: true });
  await assert_rejects(saveTensors(a, [['t', t]], { [CHECKSUM_KEY]: 'x' }), /reserved/);
  t.dispose();
  rmSync(dir, { recursive: true });
});

async function assert_rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try { await p; } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable('should have thrown');
}

test('run checkpoint: weights, optimizer moments and generator positions round-trip; another model or an edited state is refused', async () => {
  const dir = tmp('lbd-runck-'), path = join(dir, 'r.safetensors');
  const make = (hidden = 5): { model: ReturnType<typeof mlp>; opt: Adam; gen: Generator } => {
    const model = mlp([3, hidden, 2], { generator: new Generator(3) });
    return { model, opt: new Adam(model.parameters(), { lr: 0.1 }), gen: new Generator(9) };
  };
  const s = make();
  s.opt.zeroGrad();
  crossEntropy(s.model.forward(tensor([1, 2, 3, 4, 5, 6], [2, 3])), tensor([0, 1], [2], 'i32')).backward();
  s.opt.step();
  s.gen.reserve(1000);
  const state = { task: 't', runId: 'r', config: { lr: 0.1 }, fingerprint: 'f', history: { epoch: 1 } };
  await saveRunCheckpoint(path, { model: s.model, optimizers: { weights: s.opt }, generators: [s.gen] }, state);
  const r = make();
  const got = await loadRunCheckpoint<{ epoch: number }>(path, { model: r.model, optimizers: { weights: r.opt }, generators: [r.gen] });
  assert.is(got.state.history.epoch, 1);
  assert.is(r.gen.position, s.gen.position);
  for (const [i, p] of s.model.parameters().entries()) assert.equal(await r.model.parameters()[i].data(), await p.data());
  assert.equal(await r.opt.stateTensors()[0][1].data(), await s.opt.stateTensors()[0][1].data(), 'Adam moments restored');
  const other = make(6);
  await assert_rejects(loadRunCheckpoint(path, { model: other.model, optimizers: { weights: other.opt }, generators: [other.gen] }), /does not match this run \(nothing loaded\)/);
  // edit the history inside the header (same length, so the file still parses): the state checksum catches it
  const buf = readFileSync(path), i = buf.indexOf('\\"epoch\\":1');
  assert.ok(i > 0);
  buf.write('\\"epoch\\":7', i);
  writeFileSync(path, buf);
  await assert_rejects(loadRunCheckpoint(path, { model: r.model, optimizers: { weights: r.opt }, generators: [r.gen] }), /run state \(history, options\) fails its checksum/);
  for (const x of [s, r, other]) { x.opt.dispose(); x.model.dispose(); }
  rmSync(dir, { recursive: true });
});

test('option differences are named as options; JSON files are atomic and their errors name them; stale temporaries go', () => {
  assert.equal(configDifferences({ lr: 0.001, logitLr: 1, batch: 8 }, { lr: 0.01, logitLr: 1, batch: 8, rate: 0.5 }), ['--lr: checkpoint 0.001, now 0.01', '--rate: checkpoint (unset), now 0.5']);
  const dir = tmp('lbd-json-'), f = join(dir, 'runs', 'x.json');
  writeJsonAtomic(f, { a: 1 });
  assert.equal(readJson(f), { a: 1 });
  assert.equal(readdirSync(join(dir, 'runs')), ['x.json'], 'no temporary left');
  writeFileSync(f, '{"a": 1');
  assert.throws(() => readJson(f, 'run file'), (e: Error) => e instanceof UserError && e.message.startsWith(`run file ${f} is not valid JSON`));
  writeFileSync(f, '');
  assert.throws(() => readJson(f), (e: Error) => e instanceof UserError && e.message.includes(`${f} is empty`));
  writeFileSync(join(dir, 'runs', 'x.json.tmp-123-abcdef'), '{');
  writeFileSync(join(dir, 'runs', 'y.json.tmp-123-abcdef'), '{');
  assert.equal(removeStaleTemps(join(dir, 'runs'), ['x.']), [join(dir, 'runs', 'x.json.tmp-123-abcdef')]);
  assert.ok(existsSync(join(dir, 'runs', 'y.json.tmp-123-abcdef')), 'another run\'s temporary (maybe another shard\'s, alive) is left alone');
  rmSync(dir, { recursive: true });
});

test('a non-finite loss names the first layer with a non-finite output, from a replay of the epoch\'s checkpoint; a checkpoint past --epochs or of other options is refused', async () => {
  const x = new Float32Array(8 * 4).map((_, i) => Math.sin(i));
  const y = Int32Array.from({ length: 8 }, (_, i) => i % 3);
  let cleanData = false;
  // batch 3 of epoch 2 carries an infinite input; its backward turns the first weights NaN
  const batchesOf = (e: number): { x: Float32Array; y: Int32Array }[] => [0, 1, 2, 3].map((k) => {
    const b = x.slice(k * 8, k * 8 + 8);
    if (e === 1 && k === 2 && !cleanData) b[1] = Infinity; // (a NaN input would vanish in the ReLU: max(NaN, 0) is 0 on the GPU)
    return { x: b, y: y.slice(k * 2, k * 2 + 2) };
  });
  const run = async (checkpoint?: string, epochs = 2, config: Record<string, unknown> = {}, clean = false): Promise<string> => {
    cleanData = clean;
    const model = mlp([4, 6, 3], { generator: new Generator(1), dropout: (units, i) => createDropout('lbd', { rate: 0.5, units, datasetSize: 8, generator: new Generator(5 + i, 1) }) });
    const drops = dropoutLayers(model);
    const weights = model.parameters().filter((p) => !drops.some((d) => (d as unknown as { alpha: Tensor }).alpha === p));
    const logits = drops.map((d) => (d as unknown as { alpha: Tensor }).alpha);
    const wopt = new Adam(weights, { lr: 0.01 }), lopt = new Adam(logits, { lr: 0.01 });
    const forward = (b: { x: Float32Array; y: Int32Array }): Tensor => crossEntropy(model.forward(tensor(b.x, [2, 4])), tensor(b.y, [2], 'i32'), { reduction: 'none' });
    try {
      await trainLoop({
        task: 't', run: 'r', parts: { model, optimizers: { weights: wopt, logits: lopt }, generators: drops.map((d) => (d as unknown as { generator: Generator }).generator) },
        epochs, history: freshHistory({}), ...(checkpoint ? { checkpoint: { path: checkpoint, runId: 'r', config, fingerprint: 'f' } } : {}),
        batches: batchesOf, size: () => 2, epochLoss: 'last', keepLayers: drops,
        step: (b) => ({ loss: standardStep({ model, weights: wopt, logits: lopt, regularized: drops }, () => forward(b)) }),
      });
      return 'no error';
    } catch (e) {
      assert.instance(e, UserError);
      return (e as Error).message;
    } finally {
      wopt.dispose(); lopt.dispose(); model.dispose();
    }
  };
  await sync();
  const live = memoryStats().liveBytes;
  const dir = tmp('lbd-nan-');
  const replayed = await run(join(dir, 'r.safetensors'));
  assert.match(replayed, /^r: the loss became (NaN|-?Infinity) at step 3 of epoch 2; first non-finite output: model\.layers\.0 \(Linear\) \(re-run from the epoch 1 checkpoint\)/, replayed);
  const direct = await run();
  assert.match(direct, /parameter model\.layers\.0\.weight is already non-finite/, 'without a checkpoint only the damage shows');
  // a clean two-epoch run's checkpoint: resumed with fewer epochs or another option, it is refused
  const ok = join(dir, 'ok.safetensors');
  assert.is(await run(ok, 2, { lr: 0.01 }, true), 'no error');
  assert.match(await run(ok, 1, { lr: 0.01 }, true), /checkpoint .*ok\.safetensors is at epoch 2, past --epochs 1/);
  assert.match(await run(ok, 3, { lr: 0.02 }, true), /checkpoint .*ok\.safetensors was made with other settings: --lr: checkpoint 0\.01, now 0\.02/);
  await sync();
  assert.is(memoryStats().liveBytes, live, 'live bytes after both runs');
  rmSync(dir, { recursive: true });
});

test.run();
