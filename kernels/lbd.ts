// Learnable Bernoulli dropout kernels. One uniform u per example and per Bernoulli unit (a
// feature, or a channel shared over its H×W), regenerated from the Philox draw wherever it is
// needed instead of being stored. The ARM pair from one u: z1 = 1[u > σ(−α)], z2 = 1[u < σ(α)].
import { WG, defineParams, kernel, readOnly, readWrite, treeSum, type KernelSource } from './common.js';
import { PHILOX_WGSL } from './random.js';

// n elements laid out [B, U, S]; L logits (1: one per layer, U: one per unit); the Philox draw;
// apply: which pass (1 or 2) and whether scaled by 1/σ(α); estimate: batch B, ARM (0) or
// DisARM (1), and the objective's scale.
export const LBD_APPLY_PARAMS = defineParams({
  n: 'u32', U: 'u32', S: 'u32', L: 'u32', seedLo: 'u32', seedHi: 'u32', offset: 'u32', stream: 'u32', which: 'u32', scaled: 'u32',
});
// estimate: U units per row, `rows` rows (row r takes example r mod B's loss difference), d_b =
// e1_b − e2_b when `pair` (else e1_b), the whole batch's Σ_b d_b for every row when `joint`,
// summed over the units into L = 1 logit when `summed`, added to `prev` when `accumulate`.
export const LBD_ESTIMATE_PARAMS = defineParams({
  U: 'u32', L: 'u32', seedLo: 'u32', seedHi: 'u32', offset: 'u32', stream: 'u32', B: 'u32', estimator: 'u32', scale: 'f32',
  rows: 'u32', pair: 'u32', joint: 'u32', summed: 'u32', accumulate: 'u32',
});
// apply's backward: the input gradient and the path-wise logit gradient (as apply, plus wantDx).
export const LBD_BACKWARD_PARAMS = defineParams({
  U: 'u32', S: 'u32', L: 'u32', B: 'u32', seedLo: 'u32', seedHi: 'u32', offset: 'u32', stream: 'u32', which: 'u32', wantDx: 'u32',
});
// Eq. 3: L logits; the weight read as [A, U, R] around its unit axis (n = A·U·R entries, 0: no
// weight); ent = perLogit/N (the entropy's weight), c = 1/(2 s² N); inverted: ‖W_k‖²/p_k, else p_k‖W_k‖².
export const LBD_REG_PARAMS = defineParams({
  L: 'u32', A: 'u32', U: 'u32', R: 'u32', n: 'u32', inverted: 'u32', ent: 'f32', c: 'f32',
});

const UNIFORM = `
fn uOf(bu: u32, offset: u32, stream: u32, key: vec2<u32>) -> f32 {
  let bits = philox(vec4<u32>(bu / 4u + offset, stream, 0u, 0u), key);
  return unit(bits[bu % 4u]);
}
fn sig(a: f32) -> f32 { return 1.0 / (1.0 + exp(-a)); }`;

/**
 * y = x ⊙ z (⊙ 1/σ(α) when scaled) for x laid out [B, U, S]; z = z2 (pass 2) or z1 (pass 1).
 * The same kernel applied to an incoming gradient is the input gradient.
 */
export function lbdApplyKernel(): KernelSource {
  return kernel('lbd.apply', {}, () => ({ params: LBD_APPLY_PARAMS, bindings: { x: readOnly(), alpha: readOnly(), y: readWrite() }, body: `${PHILOX_WGSL}
${UNIFORM}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = P.n; let U = P.U; let S = P.S; let L = P.L;
  let key = vec2<u32>(P.seedLo, P.seedHi); let offset = P.offset; let stream = P.stream;
  let second = P.which == 2u; let scaled = P.scaled == 1u;
  // a thread per Philox block: four (example, unit) masks from one call, each over its S entries
  let BU = n / S;
  // one logit: its thresholds and scale once
  let a0 = alpha[0];
  let lo0 = sig(-a0); let hi0 = sig(a0); let f0 = select(1.0, 1.0 + exp(-a0), scaled);
  for (var q = gid.x; q < (BU + 3u) / 4u; q = q + nwg.x * ${WG}u) {
    let bits = philox(vec4<u32>(q + offset, stream, 0u, 0u), key);
    for (var j = 0u; j < 4u; j = j + 1u) {
      let bu = q * 4u + j;
      if (bu < BU) {
        var lo = lo0; var hi = hi0; var f = f0;
        if (L > 1u) {
          let a = alpha[bu % U];
          lo = sig(-a); hi = sig(a); f = select(1.0, 1.0 + exp(-a), scaled);
        }
        let u = unit(bits[j]);
        let keep = select(u > lo, u < hi, second);
        for (var e = bu * S; e < (bu + 1u) * S; e = e + 1u) { y[e] = select(0.0, x[e] * f, keep); }
      }
    }
  }
}` }));
}

/**
 * Per-unit estimator terms summed over the rows: for unit j (logit k),
 *   ARM:    Σ_r d_r (u_rj − ½)
 *   DisARM: Σ_r ½ d_r (−1)^{z2_rj} 1[z1_rj ≠ z2_rj] σ(|α_k|)
 * with d_r = E_b(z1) − E_b(z2) of example b = r mod B (or Σ_b of them, joint), times `scale`
 * (1/B for a batch-mean objective). Summed: one workgroup adds up every unit's terms into the
 * single logit (a tree in workgroup memory). Accumulate: the result is added to `prev` (the
 * logit's gradient so far), so one dispatch gives the logit's whole gradient.
 */
export function lbdEstimateKernel(): KernelSource {
  return kernel('lbd.estimate', {}, () => ({
    params: LBD_ESTIMATE_PARAMS,
    bindings: { e1: readOnly(), e2: readOnly(), alpha: readOnly(), prev: readOnly(), g: readWrite() },
    body: `${PHILOX_WGSL}
${UNIFORM}
var<workgroup> red: array<f32, ${WG}>;
fn dOf(b: u32, pair: bool) -> f32 { return e1[b] - select(0.0, e2[b], pair); }
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let U = P.U; let L = P.L; let B = P.B; let rows = P.rows;
  let key = vec2<u32>(P.seedLo, P.seedHi); let offset = P.offset; let stream = P.stream;
  let disarm = P.estimator == 1u; let pair = P.pair == 1u; let joint = P.joint == 1u;
  let accumulate = P.accumulate == 1u; let scale = P.scale;
  // the joint form's single loss difference
  var D = 0.0;
  if (joint) { for (var b = 0u; b < B; b = b + 1u) { D = D + dOf(b, pair); } }
  if (P.summed == 1u) {
    let a = alpha[0];
    let lo = sig(-a); let hi = sig(a); let w = 0.5 * sig(abs(a));
    var s = 0.0;
    // a thread per Philox block of four (row, unit) draws
    for (var q = li; q < (U * rows + 3u) / 4u; q = q + ${WG}u) {
      let bits = philox(vec4<u32>(q + offset, stream, 0u, 0u), key);
      for (var c = 0u; c < 4u; c = c + 1u) {
        let i = q * 4u + c;
        if (i < U * rows) {
          let d = select(dOf((i / U) % B, pair), D, joint);
          let u = unit(bits[c]);
          if (disarm) {
            if ((u > lo) != (u < hi)) { s = s + select(1.0, -1.0, u < hi) * w * d; }
          } else {
            s = s + d * (u - 0.5);
          }
        }
      }
    }
    red[li] = s;${treeSum(['red'])}
    if (gid.x == 0u) { g[0] = select(0.0, prev[0], accumulate) + red[0] * scale; }
    return;
  }
  for (var j = gid.x; j < U; j = j + nwg.x * ${WG}u) {
    let a = alpha[select(0u, j, L > 1u)];
    let lo = sig(-a); let hi = sig(a); let w = 0.5 * sig(abs(a));
    var s = 0.0;
    for (var r = 0u; r < rows; r = r + 1u) {
      let d = select(dOf(r % B, pair), D, joint);
      let u = uOf(r * U + j, offset, stream, key);
      if (disarm) {
        let z1 = u > lo; let z2 = u < hi;
        if (z1 != z2) { s = s + select(1.0, -1.0, z2) * w * d; }
      } else {
        s = s + d * (u - 0.5);
      }
    }
    g[j] = select(0.0, prev[j], accumulate) + s * scale;
  }
}` }));
}

/**
 * lbd_dropout's backward for inverted scaling in one pass: dx = g ⊙ z / σ(α) (= apply(g)) where
 * wantDx, and the path-wise logit gradient dα_k = (σ(α_k) − 1) Σ_{entries of k} g·y, y the
 * forward's output (plain masks have no path through α and use apply alone). L = U and S = 1
 * (one logit per feature): a thread per unit walks the batch (reads stay contiguous across
 * threads); otherwise a workgroup per logit (one for L = 1) sums its entries as a tree.
 */
export function lbdBackwardKernel(): KernelSource {
  return kernel('lbd.backward', {}, () => ({
    params: LBD_BACKWARD_PARAMS,
    bindings: { g: readOnly(), y: readOnly(), alpha: readOnly(), dx: readWrite(), da: readWrite() },
    body: `${PHILOX_WGSL}
${UNIFORM}
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let U = P.U; let S = P.S; let L = P.L; let B = P.B;
  let key = vec2<u32>(P.seedLo, P.seedHi); let offset = P.offset; let stream = P.stream;
  let second = P.which == 2u; let wantDx = P.wantDx == 1u;
  if ((L > 1u) & (S == 1u)) {
    for (var j = gid.x; j < U; j = j + nwg.x * ${WG}u) {
      let a = alpha[j]; let inv = 1.0 + exp(-a); let lo = sig(-a); let hi = sig(a);
      var s = 0.0;
      for (var b = 0u; b < B; b = b + 1u) {
        let e = b * U + j;
        let u = uOf(e, offset, stream, key);
        let keep = select(u > lo, u < hi, second);
        if (wantDx) { dx[e] = select(0.0, g[e] * inv, keep); }
        s = s + g[e] * y[e];
      }
      da[j] = s * (sig(a) - 1.0);
    }
    return;
  }
  // L = 1: every entry, a thread per Philox block of four (example, unit) masks; L = U: the
  // (b, s) entries of unit k, a u per entry
  let BU = B * U;
  let per = select((BU + 3u) / 4u, B * S, L > 1u);
  for (var k = wid.x; k < L; k = k + nwg.x) {
    let a = alpha[k]; let inv = 1.0 + exp(-a); let lo = sig(-a); let hi = sig(a);
    var s = 0.0;
    for (var i = li; i < per; i = i + ${WG}u) {
      if (L > 1u) {
        let e = ((i / S) * U + k) * S + i % S;
        let u = uOf(e / S, offset, stream, key);
        let keep = select(u > lo, u < hi, second);
        if (wantDx) { dx[e] = select(0.0, g[e] * inv, keep); }
        s = s + g[e] * y[e];
      } else {
        let bits = philox(vec4<u32>(i + offset, stream, 0u, 0u), key);
        for (var c = 0u; c < 4u; c = c + 1u) {
          let bu = i * 4u + c;
          if (bu < BU) {
            let u = unit(bits[c]);
            let keep = select(u > lo, u < hi, second);
            for (var e = bu * S; e < (bu + 1u) * S; e = e + 1u) {
              if (wantDx) { dx[e] = select(0.0, g[e] * inv, keep); }
              s = s + g[e] * y[e];
            }
          }
        }
      }
    }
    red[li] = s;${treeSum(['red'])}
    if (li == 0u) { da[k] = red[0] * (sig(a) - 1.0); }
    workgroupBarrier();
  }
}` }));
}

/**
 * Eq. 3 per logit k: t_k = −ent·H(σ(α_k)) + c·‖W_k‖²/σ(α_k) (inverted; c·σ(α_k)‖W_k‖² plain),
 * with ‖W_k‖² the squared norm of the weight's entries on unit k (all of them for L = 1), one
 * workgroup per logit summing as a tree; writes t_k, and for the backward ‖W_k‖² (sv[k]) and the
 * weight's factor 1/σ(α_k) or σ(α_k) (sv[L + k]). The entries of k are walked as rows a of R
 * consecutive ones (no division per entry: lavapipe splits vector integer divisions into scalar
 * ones) unless rows are shorter than a workgroup. H(σ(a)) in log-sigmoid form (finite for any
 * a), as the bernoulli_entropy op.
 */
export function lbdRegularizerKernel(): KernelSource {
  return kernel('lbd.reg', {}, () => ({ params: LBD_REG_PARAMS, bindings: { alpha: readOnly(), w: readOnly(), t: readWrite(), sv: readWrite() }, body: `fn sig(a: f32) -> f32 { return 1.0 / (1.0 + exp(-a)); }
var<workgroup> red: array<f32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let L = P.L; let A = P.A; let U = P.U; let R = P.R; let n = P.n;
  for (var k = wid.x; k < L; k = k + nwg.x) {
    var s = 0.0;
    if (L == 1u) {
      for (var e = li; e < n; e = e + ${WG}u) { let v = w[e]; s = s + v * v; }
    } else if (R >= ${WG}u) {
      for (var a = 0u; a < A; a = a + 1u) {
        let base = (a * U + k) * R;
        for (var r = li; r < R; r = r + ${WG}u) { let v = w[base + r]; s = s + v * v; }
      }
    } else {
      for (var i = li; i < A * R; i = i + ${WG}u) {
        let a = i / R;
        let v = w[(a * U + k) * R + i - a * R];
        s = s + v * v;
      }
    }
    red[li] = s;${treeSum(['red'])}
    if (li == 0u) {
      let a = alpha[k];
      let H = max(a, 0.0) + log(1.0 + exp(-abs(a))) - a / (1.0 + exp(-a));
      let nk = red[0];
      let f = select(sig(a), 1.0 + exp(-a), P.inverted == 1u);
      sv[k] = nk;
      sv[L + k] = f;
      t[k] = -P.ent * H + P.c * nk * f;
    }
    workgroupBarrier();
  }
}` }));
}

/**
 * Eq. 3's backward in one pass, g the objective's scalar gradient: dW = 2c·g·W·f_k (f_k = 1/σ(α_k),
 * plain: σ(α_k), saved by the forward), a thread per row of R entries of one unit (L > 1) or per
 * entry (L = 1); and dα_k = g·(ent·α_k·p(1 − p) − c‖W_k‖²(1 − p)/p) (plain: + c‖W_k‖²p(1 − p)),
 * p = σ(α_k), using dH/dα = −α·p(1 − p) and d(1/p)/dα = −(1 − p)/p = −e^{−α}.
 */
export function lbdRegularizerGradKernel(): KernelSource {
  return kernel('lbd.reg.grad', {}, () => ({
    params: LBD_REG_PARAMS,
    bindings: { gr: readOnly(), alpha: readOnly(), w: readOnly(), sv: readOnly(), dw: readWrite(), da: readWrite() },
    body: `fn sig(a: f32) -> f32 { return 1.0 / (1.0 + exp(-a)); }
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let L = P.L; let A = P.A; let U = P.U; let R = P.R; let n = P.n; let c = P.c; let inverted = P.inverted == 1u;
  let g = gr[0];
  let stride = nwg.x * ${WG}u;
  if (L == 1u) {
    let f = 2.0 * c * g * sv[1];
    for (var e = gid.x; e < n; e = e + stride) { dw[e] = f * w[e]; }
  } else {
    for (var row = gid.x; row < A * U; row = row + stride) {
      let f = 2.0 * c * g * sv[L + row % U];
      for (var e = row * R; e < (row + 1u) * R; e = e + 1u) { dw[e] = f * w[e]; }
    }
  }
  for (var k = gid.x; k < L; k = k + stride) {
    let a = alpha[k]; let p = sig(a); let q = sig(-a);
    let dn = select(p * q, -exp(-a), inverted);
    da[k] = g * (P.ent * a * p * q + c * sv[k] * dn);
  }
}` }));
}
