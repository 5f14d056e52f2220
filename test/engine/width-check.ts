// Child process of widths.test.ts: runs products (plain and transposed, awkward shapes),
// convolutions (forward, both gradients, transposed) and batch norm's one-subgroup-per-channel
// kernels (statistics and gradients, inputs offset by 1,000) on the subgroup structure at
// whatever vector width LP_NATIVE_VECTOR_WIDTH gave this process, against float64, and prints
// one JSON line: the subgroup size seen and the largest relative error of each check.
import { getGpu, setQuiet } from '../../engine/device.js';
import { scope, memoryStats } from '../../engine/memory.js';
import { tensor } from '../../engine/tensor.js';
import { backward, registry, type Ref } from '../../engine/op.js';
import { matmul } from '../../engine/ops/matmul.js';
import { setTuning } from '../../engine/plans/tuning.js';
import { conv2d, refConv } from '../../engine/ops/conv.js';
import { sync } from '../../engine/dispatch.js';
import { batchNorm, refBatchStats } from '../../engine/ops/norm.js';
import { full } from '../../engine/ops/elementwise.js';
import { rng } from '../helpers.js';
import { bnGrads } from './bn-grads.js';
import { referenceOf } from '../../engine/testing.js';

setQuiet(true);
const g = await getGpu();
setTuning({ matmul: { structure: 'subgroup' } });
const r = rng(11);
const rand = (n: number): Float64Array => Float64Array.from({ length: n }, () => Math.fround(r() * 2 - 1));
const errors: Record<string, number> = {};
function relErr(got: ArrayLike<number>, want: Float64Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) { num = Math.max(num, Math.abs(got[i] - want[i])); den = Math.max(den, Math.abs(want[i])); }
  return num / Math.max(den, 1e-12);
}
const matmulRef = (xs: Ref[], attrs: Record<string, unknown>): Ref => referenceOf(registry.get('matmul')!, xs, attrs);
const live0 = memoryStats().liveBytes;
for (const [M, N, K] of [[37, 70, 19], [64, 130, 64], [9, 8, 33], [130, 5, 12]]) {
  for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
    await scope(async () => {
      const a = rand(M * K), b = rand(K * N);
      // the reference reads the stored layouts with the same flags as the op
      const aRef: Ref = { shape: transA ? [K, M] : [M, K], data: a };
      const bRef: Ref = { shape: transB ? [N, K] : [K, N], data: b };
      const want = matmulRef([aRef, bRef], { transA, transB });
      const got = await matmul(tensor(a, aRef.shape), tensor(b, bRef.shape), { transA, transB }).data();
      errors[`matmul ${M}x${N}x${K}${transA ? ' Aᵀ' : ''}${transB ? ' Bᵀ' : ''}`] = relErr(got, want.data);
    });
  }
}
for (const [xs, ws, st, pd] of [[[2, 8, 9, 9], [12, 8, 3, 3], 1, 1], [[2, 3, 7, 5], [4, 3, 3, 3], 2, 1], [[1, 4, 8, 8], [6, 4, 3, 3], 1, 1],
  // wider than the row kernel's strip at 16 lanes (64 pixels): neighbours cross strips
  [[1, 3, 5, 70], [5, 3, 3, 3], 1, 1]] as [number[], number[], number, number][]) {
  await scope(async () => {
    const x = rand(xs.reduce((p, d) => p * d, 1)), w = rand(ws.reduce((p, d) => p * d, 1));
    const tx = tensor(x, xs).requireGrad(), tw = tensor(w, ws).requireGrad();
    const y = conv2d(tx, tw, null, { stride: st, padding: pd });
    const want = refConv({ shape: xs, data: x }, { shape: ws, data: w }, st, pd);
    errors[`conv ${xs.join('x')} forward`] = relErr(await y.data(), want.data);
    // gradient of Σ y: d/dw[co,ci,ky,kx] = Σ over valid taps of x; checked against the reference by linearity
    backward(y, tensor(new Float64Array(y.size).fill(1), y.shape));
    const gw = await tw.grad!.data();
    const wantGw = new Float64Array(w.length);
    for (let i = 0; i < w.length; i++) {
      const e = new Float64Array(w.length); e[i] = 1;
      wantGw[i] = refConv({ shape: xs, data: x }, { shape: ws, data: e }, st, pd).data.reduce((p, v) => p + v, 0);
    }
    errors[`conv ${xs.join('x')} d/dw`] = relErr(gw, wantGw);
    // d/dx of Σ y: Σ over output channels and taps whose output pixel exists of w (the row
    // kernel's input gradient reads w with channels swapped and taps flipped)
    const [N, Ci, H, W] = xs, [Co, , kh, kw] = ws, Ho = y.shape[2], Wo = y.shape[3];
    const wantGx = new Float64Array(x.length);
    for (let n = 0; n < N; n++) for (let ci = 0; ci < Ci; ci++) for (let iy = 0; iy < H; iy++) for (let ix = 0; ix < W; ix++) {
      let acc = 0;
      for (let co = 0; co < Co; co++) for (let ky = 0; ky < kh; ky++) for (let kx = 0; kx < kw; kx++) {
        const oy = (iy + pd - ky) / st, ox = (ix + pd - kx) / st;
        if (Number.isInteger(oy) && Number.isInteger(ox) && oy >= 0 && ox >= 0 && oy < Ho && ox < Wo) acc += w[((co * Ci + ci) * kh + ky) * kw + kx];
      }
      wantGx[((n * Ci + ci) * H + iy) * W + ix] = acc;
    }
    errors[`conv ${xs.join('x')} d/dx`] = relErr(await tx.grad!.data(), wantGx);
    tx.dispose(); tw.dispose();
  });
}
// batch norm, one subgroup a channel (the CPU adapter's default form; planes of a multiple of 4
// values): planes of 9 vec4s (fewer than 16 lanes: idle lanes), 80, and 1 (one busy lane)
for (const shape of [[8, 4, 6, 6], [2, 3, 16, 20], [3, 2, 2, 2]]) {
  await scope(async () => {
    const C = shape[1], n = shape.reduce((p, d) => p * d, 1), eps = 1e-5;
    const x: Ref = { shape, data: rand(n).map((v) => Math.fround(1000 + 2 * v)) };
    const R = rand(n), w = rand(C).map((v) => Math.fround(1 + 0.5 * v));
    const want = bnGrads(x, R, w, eps), st = refBatchStats(x);
    const rm = full([C], 0), rv = full([C], 1);
    const tx = tensor(x.data, shape).requireGrad(), tw = tensor(w).requireGrad(), tb = tensor(rand(C)).requireGrad();
    backward(batchNorm(tx, rm, rv, tw, tb, { momentum: 1, eps }), tensor(R, shape));
    const what = `batch norm ${shape.join('x')} at 1,000`;
    errors[`${what} mean`] = relErr(await rm.data(), st.mean);
    errors[`${what} variance`] = relErr(await rv.data(), st.var.map((v) => v * st.count / (st.count - 1)));
    errors[`${what} d/dw`] = relErr(await tw.grad!.data(), want.dw);
    errors[`${what} d/db`] = relErr(await tb.grad!.data(), want.db);
    errors[`${what} d/dx`] = relErr(await tx.grad!.data(), want.dx);
    for (const t of [tx, tw, tb]) t.grad?.dispose();
  });
}
await sync();
console.log(JSON.stringify({ subgroupSize: g.info.subgroupSize, leaked: memoryStats().liveBytes - live0, errors }));
process.exit(0);
