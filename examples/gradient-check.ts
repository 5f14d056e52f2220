// Unit-test gradients against finite differences, as the engine's own tests do:
// checkGradients for any function of tensors (with or without a float64 reference), checkOp for
// an op declared with defineOp (forward against its reference, backward against differences).
import { getGpu, destroyGpu, tensor, matmul, tanh, mul, add, exp, log, sigmoid, sum, defineOp, apply, type Tensor, type Ref } from 'lbd-gpu';
import { checkGradients, checkOp } from 'lbd-gpu/testing';

await getGpu();
// 1. a function built from the engine's ops: f(x, w) = Σ tanh(x·w)²
const f = (x: Tensor, w: Tensor): Tensor => sum(mul(tanh(matmul(x, w)), tanh(matmul(x, w))));
const x = tensor([0.2, -0.5, 0.9, 0.3, 0.1, -0.8], [2, 3]), w = tensor([0.4, -0.6, 0.7, 0.2, -0.1, 0.5], [3, 2]);
const r1 = await checkGradients(f, [x, w]); // differences of f itself on the GPU (float32)
console.log(`Σ tanh(xw)²: ${r1.ok ? 'ok' : 'FAILED'}\n${r1.summary}`);

// 2. a custom op: softplus(x) = log(1 + eˣ) with a hand-written backward σ(x) and a float64 reference
const softplus = defineOp({
  name: 'my_softplus',
  forward: ([a]) => log(add(exp(a!), 1)),
  backward: (g, node) => [mul(g, sigmoid(node.inputs[0]!))],
  reference: ([a]: Ref[]) => ({ shape: a!.shape.slice(), data: a!.data.map((v) => Math.log1p(Math.exp(v))) }),
  cases: [{ inputs: [{ shape: [7] }] }, { inputs: [{ shape: [3, 5], range: [-6, 6] }] }],
});
const r2 = await checkOp(softplus); // throws, listing each failing case, if the backward were wrong
console.log(`my_softplus: ${r2.checked} cases ok`);
// the same op inside a function, against a float64 reference of the whole function
const g = (a: Tensor): Tensor => sum(apply(softplus, [matmul(a, w)]));
const ref = ([a]: Ref[]): Ref => {
  let s = 0;
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
    let t = 0;
    for (let k = 0; k < 3; k++) t += a!.data[i * 3 + k]! * [0.4, -0.6, 0.7, 0.2, -0.1, 0.5][k * 2 + j]!;
    s += Math.log1p(Math.exp(t));
  }
  return { shape: [], data: Float64Array.of(s) };
};
const r3 = await checkGradients(g, [x], { reference: ref });
console.log(`Σ softplus(xw) against float64: ${r3.ok ? 'ok' : 'FAILED'} (${r3.summary})`);
destroyGpu();
