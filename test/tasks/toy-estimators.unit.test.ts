// ARM and DisARM on the simplest function, f(z) = z with z ~ Ber(σ(α)): both are unbiased for
// dE[z]/dα = p(1 − p); DisARM's variance is never above ARM's; Concrete's relaxation and its
// derivative are what they claim. CPU only (the runner starts the device anyway).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { armEstimate, disarmEstimate, armZ1, armZ2, concreteMask, concreteMaskGrad } from '../../tasks/toy/estimators.js';
import { sigmoid, logit } from '../../tasks/toy/sigmoid.js';
import { mean, std, SE_FLOOR } from '../../tasks/toy/stats.js';
import { Rng } from '../../tasks/toy/rng.js';

const test = suite('toy estimators');
const identity = (z: number[]): number => z[0];

function draws(p: number, n: number, seed: number): { arm: Float64Array; disarm: Float64Array } {
  const rng = new Rng(seed, 9), a = [logit(p)];
  const arm = new Float64Array(n), disarm = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const u = [rng.uniform()];
    arm[j] = armEstimate(identity, a, u)[0];
    disarm[j] = disarmEstimate(identity, a, u)[0];
  }
  return { arm, disarm };
}

test('f(z) = z: ARM and DisARM means match p(1 − p) within 4 standard errors', () => {
  [0.1, 0.3, 0.5, 0.8, 0.95].forEach((p, i) => {
    const { arm, disarm } = draws(p, 20000, 11 + i), want = p * (1 - p);
    for (const [name, v] of [['ARM', arm], ['DisARM', disarm]] as const) {
      const se = Math.max(std(v) / Math.sqrt(v.length), SE_FLOOR);
      const z = (mean(v) - want) / se;
      assert.ok(Math.abs(z) < 4, `${name} at p = ${p}: mean ${mean(v)} vs ${want}, z = ${z.toFixed(2)}`);
    }
    // DisARM = E[ARM | z1, z2]: never more variance in population. From the same 20,000 draws
    // the sample variances can still cross where the two nearly coincide (p → 0 or 1, where
    // |u − ½| ≈ ½ on the event z1 ≠ z2): allow 1%.
    assert.ok(std(disarm) <= std(arm) * 1.01, `p = ${p}: DisARM std ${std(disarm)} > ARM std ${std(arm)}`);
  });
});

test('f(z) = z at keep ½: DisARM is exactly ¼, with zero variance', () => {
  const { disarm } = draws(0.5, 1000, 3);
  assert.ok(disarm.every((v) => v === 0.25), 'DisARM at α = 0 should be the constant σ(0)/2 = ¼');
});

test('the antithetic masks are each Ber(σ(α)) and the Concrete mask hardens to z1 as t → 0', () => {
  const rng = new Rng(5), a = logit(0.3);
  let s1 = 0, s2 = 0;
  const n = 20000;
  for (let j = 0; j < n; j++) {
    const u = rng.uniform();
    s1 += armZ1(u, a); s2 += armZ2(u, a);
    if (Math.abs(u - sigmoid(-a)) > 1e-3) assert.is(Math.round(concreteMask(u, a, 1e-4)), armZ1(u, a));
  }
  const se = Math.sqrt(0.3 * 0.7 / n);
  assert.ok(Math.abs(s1 / n - 0.3) < 4 * se && Math.abs(s2 / n - 0.3) < 4 * se, `${s1 / n}, ${s2 / n}`);
  // ∂z̃/∂α against a central difference
  for (const u of [0.2, 0.69, 0.71, 0.9]) {
    const h = 1e-6, fd = (concreteMask(u, a + h, 0.1) - concreteMask(u, a - h, 0.1)) / (2 * h);
    assert.ok(Math.abs(fd - concreteMaskGrad(u, a, 0.1)) < 1e-6 * Math.max(1, Math.abs(fd)), `u = ${u}: ${fd} vs ${concreteMaskGrad(u, a, 0.1)}`);
  }
});

test('Rng: seeded, reproducible, uniforms strictly inside (0, 1) with mean ½ and normals with variance 1', () => {
  const a = new Rng(42, 1), b = new Rng(42, 1), c = new Rng(42, 2);
  const va = Array.from({ length: 5 }, () => a.uniform()), vb = Array.from({ length: 5 }, () => b.uniform());
  assert.equal(va, vb);
  assert.not.equal(va, Array.from({ length: 5 }, () => c.uniform()));
  const r = new Rng(7), n = 50000, u = new Float64Array(n), g = new Float64Array(n);
  r.fillUniform(u);
  for (let i = 0; i < n; i++) g[i] = r.normal();
  assert.ok(u.every((v) => v > 0 && v < 1));
  assert.ok(Math.abs(mean(u) - 0.5) < 4 * Math.sqrt(1 / 12 / n), `uniform mean ${mean(u)}`);
  assert.ok(Math.abs(mean(g)) < 4 / Math.sqrt(n) && Math.abs(std(g) - 1) < 0.02, `normal ${mean(g)}, ${std(g)}`);
});

test.run();
