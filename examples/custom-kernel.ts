// A custom WGSL kernel, declared by its signature, made differentiable and checked:
//   1. defineKernel names the uniform parameters and the storage bindings; the WGSL
//      declarations, the bind-group layout and the pipeline key come from that declaration;
//   2. defineOp wraps it: forward and backward dispatch kernels, plus a float64 reference;
//   3. checkOp checks both against the reference; benchmark times it.
import { getGpu, destroyGpu, tensor, empty, mul, defineKernel, defineOp, apply, gridFor, benchmark, type Tensor } from 'lbd-gpu';
import { checkOp } from 'lbd-gpu/testing';

await getGpu();
// y = x·σ(βx) (swish) and, with `grad`, its derivative σ(βx)·(1 + βx·(1 − σ(βx)))
const swishKernel = defineKernel({
  name: 'swish',
  params: { n: 'u32', beta: 'f32' },
  bindings: { x: { access: 'read' }, y: { access: 'read_write' } },
  body: (c: { grad: boolean }) => /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= P.n) { return; }
  let v = x[i];
  let s = 1.0 / (1.0 + exp(-P.beta * v));
  y[i] = ${c.grad ? 's * (1.0 + P.beta * v * (1.0 - s))' : 'v * s'};
}`,
});

const run = (x: Tensor, beta: number, grad: boolean): Tensor => {
  const y = empty(x.shape);
  swishKernel.dispatch({ bindings: { x, y }, params: { n: x.size, beta }, workgroups: [gridFor(x.size)], config: { grad } });
  return y;
};
// its attributes' type: forward, backward, reference, cases and apply are checked against it
const swishOp = defineOp<{ beta: number }>({
  name: 'swish',
  forward: ([x], attrs) => run(x!, attrs.beta, false),
  backward: (g, node) => { const d = run(node.inputs[0]!, node.attrs.beta, true); const dx = mul(g, d); d.dispose(); return [dx]; },
  reference: ([x], attrs) => ({ shape: x!.shape.slice(), data: x!.data.map((v) => v / (1 + Math.exp(-attrs.beta * v))) }),
  cases: [{ inputs: [{ shape: [9] }], attrs: { beta: 1 } }, { inputs: [{ shape: [4, 33], range: [-5, 5] }], attrs: { beta: 1.7 } }],
});
const swish = (x: Tensor, beta = 1): Tensor => apply(swishOp, [x], { beta });

console.log(swishKernel.header);
const r = await checkOp(swishOp);
console.log(`checkOp(swish): ${r.checked} cases, forward and backward ok`);
const x = tensor(Float32Array.from({ length: 1 << 20 }, (_, i) => Math.sin(i)), [1 << 20]);
const t = await benchmark(() => swish(x, 1.5), { runs: 5 });
console.log(`swish on 2^20 values: ${t.gpuMs.median.toFixed(3)} ms GPU (median of 5), ${t.dispatches} dispatch per call, ${t.leakedBytes} bytes leaked`);
destroyGpu();
