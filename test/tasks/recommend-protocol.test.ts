// The collaborative-filtering protocol of SIVAE+LBD: the authors' code puts no regularizer on the
// input dropout's logits, so by default the LBD slot has none (docs/estimators.md, Eq. 3);
// --lbd-regularizer turns Eq. 3 on. The learnable baselines keep theirs.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { scope } from '../../engine/index.js';
import { DEFAULTS, makeDropout } from '../../tasks/recommend/experiment.js';
import { ready } from '../helpers.js';

const test = suite('recommend-protocol');
test.before(async () => { await ready; });

test('SIVAE+LBD: no Eq. 3 on the input logits by default; lbdRegularizer turns it on; GDrop and CDrop keep theirs', async () => {
  await scope(async () => {
    assert.not.ok(DEFAULTS.lbdRegularizer, 'the default protocol has no regularizer on the logits');
    const off = makeDropout('lbd', DEFAULTS, 7, 50, 1)!;
    assert.is(off.regularizer(), null, 'LBD with the default options');
    // standalone, outside a recommender (which attaches its first layer's weight): no weight term
    const on = makeDropout('lbd', { ...DEFAULTS, lbdRegularizer: true }, 7, 50, 1)!.attach(null);
    const r = on.regularizer();
    assert.ok(r && Number.isFinite(await r.item()), 'LBD with lbdRegularizer: Eq. 3 (its entropy term)');
    for (const kind of ['gaussian', 'concrete'] as const) {
      const d = makeDropout(kind, DEFAULTS, 7, 50, 1)!.attach(null);
      assert.ok(d.regularizer(), `${kind} keeps its regularizer`);
      d.dispose();
    }
    off.dispose(); on.dispose();
  });
});

test.run();
