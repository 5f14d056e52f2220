// The recommend task: β annealing, micro-batch sizing, a micro-batched step equal to one batch,
// every Table 2 row trained and evaluated end to end on a small ml-100k-format file (zero live
// bytes leaked), and resuming from a checkpoint reproducing an uninterrupted run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sync, memoryStats, scope, Adam, Generator } from '../../engine/index.js';
import { recommender } from '../../models/vae.js';
import { loadRatings, type RatingsData } from '../../tasks/data/ratings.js';
import { runOne, betaAt, microBatches, recommendStep, ROW_NAMES, DEFAULTS, type RecommendOptions } from '../../tasks/recommend/experiment.js';
import { ready, rng } from '../helpers.js';
import { runPaths } from '../../tasks/common/grid.js';

const test = suite('recommend');
let dir = '';
let data: RatingsData;

test.before(async () => {
  await ready;
  dir = mkdtempSync(join(tmpdir(), 'lbd-recommend-'));
  const r = rng(21), lines: string[] = [];
  for (let u = 1; u <= 60; u++) {
    const liked = new Set<number>();
    while (liked.size < 6 + (u % 5)) liked.add(1 + Math.floor(30 * r() ** 2)); // popular items first
    for (const i of liked) lines.push(`${u}\t${i}\t${4 + (i % 2)}\t${880000000 + u}`);
    lines.push(`${u}\t${31 + (u % 3)}\t2\t${880000000 + u}`); // a low rating: filtered out
  }
  writeFileSync(join(dir, 'u.data'), lines.join('\n') + '\n');
  data = loadRatings(join(dir, 'u.data'), 'ml-100k', { heldOutUsers: 0.2 });
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

const o: RecommendOptions = { ...DEFAULTS, epochs: 2, batch: 16, hidden: 16, latent: 8, K: 4, T: 2, V: 2, seeds: 1 };
// the resume test extends a run: a schedule that does not depend on the number of epochs
const fixedAnneal: RecommendOptions = { ...o, annealSteps: 40 };

test('β grows linearly to its cap; micro-batches keep SIVAE\'s copies inside one binding', () => {
  assert.equal([0, 20, 30, 40, 400].map((s) => betaAt(s, 200, 0.2)), [0, 0.1, 0.15, 0.2, 0.2]);
  assert.is(betaAt(3, 0, 0.3), 0.3, 'no annealing: the cap from the start');
  assert.is(microBatches(500, 20108, 4, 128 * 2 ** 20), 2, 'ML-20M SIVAE (V = 3) on lavapipe');
  assert.is(microBatches(500, 20108, 1, 128 * 2 ** 20), 1);
  assert.throws(() => microBatches(1, 1e9, 1, 128 * 2 ** 20), /binding limit/);
});

test('a step split into micro-batches makes the same update as one batch', async () => {
  const rows = Int32Array.from({ length: 12 }, (_, i) => i);
  const after = async (k: number): Promise<number[]> => scope(async () => {
    const model = recommender('vae', { items: data.train.cols, hidden: 8, latent: 4, generator: new Generator(3), noiseGenerator: new Generator(4) });
    const wopt = new Adam(model.parameters(), { lr: 1e-2 });
    recommendStep({ model, wopt, lopt: null, dropout: null }, data.train, rows, 0.2, k);
    const v = Array.from(await model.parameters()[0].data());
    wopt.dispose(); model.dispose();
    return v;
  });
  const one = await after(1), two = await after(2), three = await after(3);
  const diff = (a: number[], b: number[]): number => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  assert.ok(diff(one, two) < 1e-5 && diff(one, three) < 1e-5, `max |Δ| ${diff(one, two)}, ${diff(one, three)}`);
  const init = await scope(async () => { const m = recommender('vae', { items: data.train.cols, hidden: 8, latent: 4, generator: new Generator(3) }); const v = Array.from(await m.parameters()[0].data()); m.dispose(); return v; });
  assert.ok(diff(one, init) > 1e-4, 'the step moved the weights');
});

test('every Table 2 row trains, picks its best validation epoch and is tested, leaking nothing', async () => {
  await sync();
  const live = memoryStats().liveBytes;
  for (const m of ROW_NAMES) {
    const r = await runOne(m, 1, o, data, 'tiny', { checkpoint: runPaths(dir, `tiny-${m}-s1`).checkpoint });
    assert.is(r.valNdcg.length, 2, m);
    assert.ok(r.valNdcg.every((v) => v >= 0 && v <= 1), `${m} validation NDCG ${r.valNdcg}`);
    assert.is(r.bestEpoch, 1 + r.valNdcg.indexOf(Math.max(...r.valNdcg)), `${m} best epoch`);
    for (const k of ['recall20', 'recall50', 'ndcg100'] as const) assert.ok(r.test[k].mean >= 0 && r.test[k].mean <= 1 && r.test[k].se >= 0, `${m} ${k} ${JSON.stringify(r.test[k])}`);
    assert.ok(r.test.users > 0 && r.losses.every(Number.isFinite), m);
    assert.ok(r.beta[1] > r.beta[0] && r.beta[1] <= o.annealCap, `${m} β ${r.beta}`);
    if (m === 'sivae+lbd') {
      assert.is(r.keepVsPopularity!.keep.length, data.train.cols);
      assert.ok(r.keepVsPopularity!.keep.some((k) => Math.abs(k - 0.5) > 1e-4), 'LBD keep probabilities moved');
    }
  }
  await sync();
  assert.is(memoryStats().liveBytes, live, 'live bytes after all rows');
});

test('resuming from the epoch checkpoint reproduces an uninterrupted run', async () => {
  const sub = mkdtempSync(join(dir, 'resume-'));
  const files = { checkpoint: runPaths(sub, 'tiny-sivae_lbd-s2').checkpoint };
  const two = await runOne('sivae+lbd', 2, fixedAnneal, data, 'tiny', files);
  const three = await runOne('sivae+lbd', 2, { ...fixedAnneal, epochs: 3 }, data, 'tiny', files);
  assert.equal(three.valNdcg.slice(0, 2), two.valNdcg, 'the first two epochs come from the checkpoint');
  const fresh = await runOne('sivae+lbd', 2, { ...fixedAnneal, epochs: 3 }, data, 'tiny', { checkpoint: runPaths(join(sub, 'fresh'), 'tiny-sivae_lbd-s2').checkpoint });
  assert.is(three.losses[2], fresh.losses[2], 'epoch 3 loss: resumed equals uninterrupted');
  assert.is(three.valNdcg[2], fresh.valNdcg[2], 'epoch 3 NDCG: resumed equals uninterrupted');
  assert.equal(three.test, fresh.test, 'the best epoch\'s weights (kept in the checkpoint) are the ones tested');
});

test.run();
