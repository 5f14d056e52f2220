// Row-wise softmax / log-softmax over the last axis of [rows, R]: one workgroup per row,
// an online (max, sum) pass merged in workgroup memory, then one write pass. And the
// multinomial log-likelihood Σ_r x_r·log softmax(l)_r per row fused the same way (forward one
// read of l and x, backward one pass), for Mult-VAE's reconstruction term. And rows scaled to
// unit L2 norm (the recommenders' input), one pass each way.
// Probabilities are exp(l − M)/S with M the row's largest value and S = Σ exp(l − M): never
// exp(l − lse) through a rounded lse = M + log S (at logits of ±1,000 an ulp of lse is 6e-5).
// exp and log are kernels/math.ts's accurate ones.
import { WG, defineParams, kernel, readOnly, readWrite, type BindingDecls, type KernelSource } from './common.js';
import { mathWgsl } from './math.js';

const MATH = mathWgsl('exp_acc( log_acc(');

const ROW_PARAMS = defineParams({ rows: 'u32', R: 'u32' });

/**
 * Merges each lane's online (m, s) — max and Σ exp(v − m) — and the plain sums `extra` across
 * the workgroup; afterwards sm[0], ss[0] and each extra array's [0] hold the row's values.
 */
function mergeRow(extra: string[]): string {
  return `
    sm[li] = m;
    ss[li] = s;
    ${extra.map((e) => `${e}[li] = ${e}_l;`).join(' ')}
    workgroupBarrier();
    for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
      if (li < w) {
        let m2 = sm[li + w];
        let s2 = ss[li + w];
        let mm = max(m, m2);
        s = s * exp_acc(m - mm) + s2 * exp_acc(m2 - mm);
        m = mm;
        sm[li] = m;
        ss[li] = s;
        ${extra.map((e) => `${e}[li] = ${e}[li] + ${e}[li + w];`).join(' ')}
      }
      workgroupBarrier();
    }`;
}

const ROW_MAIN = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let rows = P.rows; let R = P.R;
  for (var row = wid.x + wid.y * nwg.x; row < rows; row = row + nwg.x * nwg.y) {
    let base = row * R;`;

/** Online max-and-sum of exp over the row's l (this lane's share), plus `more` per element (v = l). */
const onlineLoop = (arr: string, more = ''): string => `
    var m = -3.402823e38;
    var s = 0.0;
    for (var r = li; r < R; r = r + ${WG}u) {
      let v = ${arr}[base + r];
      if (v > m) { s = s * exp_acc(m - v) + 1.0; m = v; } else { s = s + exp_acc(v - m); }
      ${more}
    }`;

export function softmaxKernel(log: boolean): KernelSource {
  return kernel('softmax', { log }, ({ log }) => ({
    params: ROW_PARAMS,
    bindings: { x: readOnly(), y: readWrite() },
    body: `${MATH}
var<workgroup> sm: array<f32, ${WG}>;
var<workgroup> ss: array<f32, ${WG}>;
${ROW_MAIN}
${onlineLoop('x')}
${mergeRow([])}
    let M = sm[0];
    let S = ss[0];
    ${log ? 'let logS = log_acc(S);' : ''}
    workgroupBarrier();
    for (var r = li; r < R; r = r + ${WG}u) {
      ${log ? 'y[base + r] = (x[base + r] - M) - logS;' : 'y[base + r] = exp_acc(x[base + r] - M) / S;'}
    }
  }
}`,
  }));
}

/**
 * out[row] = Σ_r x·l − (Σ_r x)·lse(l), and per row stats[3·row…] = the row's max M, S = Σ exp(l − M)
 * and Σ x (kept for the backward). Bindings: l, x, out, stats. (The difference cancels when the
 * logits sit far from 0; Mult-VAE's do not. The backward does not depend on it.)
 */
export function multinomialKernel(): KernelSource {
  return kernel('multinomial.fwd', {}, () => ({
    params: ROW_PARAMS,
    bindings: { l: readOnly(), x: readOnly(), out: readWrite(), stats: readWrite() },
    body: `${MATH}
var<workgroup> sm: array<f32, ${WG}>;
var<workgroup> ss: array<f32, ${WG}>;
var<workgroup> sx: array<f32, ${WG}>;
var<workgroup> sxl: array<f32, ${WG}>;
${ROW_MAIN}
    var sx_l = 0.0;
    var sxl_l = 0.0;
${onlineLoop('l', 'let xv = x[base + r]; sx_l = sx_l + xv; sxl_l = sxl_l + xv * v;')}
${mergeRow(['sx', 'sxl'])}
    if (li == 0u) {
      let lse = sm[0] + log_acc(ss[0]);
      out[row] = sxl[0] - sx[0] * lse;
      stats[3u * row] = sm[0];
      stats[3u * row + 1u] = ss[0];
      stats[3u * row + 2u] = sx[0];
    }
    workgroupBarrier();
  }
}`,
  }));
}

/**
 * dl = g[row]·(x − softmax(l)·Σx) (the gradient of out = Σ x·log softmax(l)), softmax(l) as
 * exp(l − M)/S from the forward's stats. Bindings: l, x, stats, g, dl.
 */
export function multinomialGradKernel(): KernelSource {
  return kernel('multinomial.bwd', {}, () => ({
    params: ROW_PARAMS,
    bindings: { l: readOnly(), x: readOnly(), stats: readOnly(), g: readOnly(), dl: readWrite() },
    body: `${MATH}
${ROW_MAIN}
    let M = stats[3u * row];
    let c = stats[3u * row + 2u] / stats[3u * row + 1u];
    let go = g[row];
    for (var r = li; r < R; r = r + ${WG}u) {
      dl[base + r] = go * (x[base + r] - exp_acc(l[base + r] - M) * c);
    }
  }
}`,
  }));
}

/** Sums this lane's `names` (scalars named `${name}_l`) over the workgroup into `${name}[0]`. */
function sumRow(names: string[]): string {
  return `
    ${names.map((e) => `${e}[li] = ${e}_l;`).join(' ')}
    workgroupBarrier();
    for (var w = ${WG / 2}u; w > 0u; w = w / 2u) {
      if (li < w) { ${names.map((e) => `${e}[li] = ${e}[li] + ${e}[li + w];`).join(' ')} }
      workgroupBarrier();
    }`;
}

const L2_BINDINGS: BindingDecls = { x: readOnly(), y: readWrite() };
const L2_GRAD_BINDINGS: BindingDecls = { x: readOnly(), g: readOnly(), dx: readWrite() };

/**
 * y = x / n per row, n = sqrt(clamp(Σ x², 1e-12, 3e38)) (an all-zero row stays zero); with
 * `grad`, dx = g/n − x·(Σ x·g)/n³ inside the clamp's range and g/n outside it.
 * Bindings: x, y (forward); x, g, dx (grad).
 */
export function l2NormalizeKernel(grad: boolean): KernelSource {
  return kernel('l2norm', { grad }, ({ grad }) => ({
    params: ROW_PARAMS,
    bindings: grad ? L2_GRAD_BINDINGS : L2_BINDINGS,
    body: `var<workgroup> sq: array<f32, ${WG}>;
${grad ? `var<workgroup> sd: array<f32, ${WG}>;` : ''}
${ROW_MAIN}
    var sq_l = 0.0;
    ${grad ? 'var sd_l = 0.0;' : ''}
    for (var r = li; r < R; r = r + ${WG}u) {
      let v = x[base + r];
      sq_l = sq_l + v * v;
      ${grad ? 'sd_l = sd_l + v * g[base + r];' : ''}
    }
${sumRow(grad ? ['sq', 'sd'] : ['sq'])}
    let s2 = sq[0];
    let n = sqrt(clamp(s2, 1e-12, 3e38));
    ${grad ? 'let c = select(0.0, sd[0] / (n * n * n), (s2 > 1e-12) & (s2 < 3e38));' : ''}
    workgroupBarrier();
    for (var r = li; r < R; r = r + ${WG}u) {
      ${grad ? 'dx[base + r] = g[base + r] / n - x[base + r] * c;' : 'y[base + r] = x[base + r] / n;'}
    }
  }
}`,
  }));
}
