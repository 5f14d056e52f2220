// Gradient checkpointing, as torch.utils.checkpoint: recompute(fn, inputs) keeps none of fn's
// intermediate tensors, only its output; the backward runs fn again with recording on and
// back-propagates through that second run, whose tensors are freed as soon as it is done. Memory
// between forward and backward is then the inputs and the output alone, for one more forward.
// DenseNets use it for BN → ReLU → conv over a block's growing stack (Pleiss et al. 2017), whose
// stored activations otherwise grow with the square of the block's depth.
//
// fn must give the same output when run again (no random draws inside). Side effects happen once:
// the second run (and tape.replay's) has sideEffectsEnabled() false, so batch norm does not move
// its running statistics again.
import { defineOp, apply, backward, type Ref } from '../op.js';
import { enableGrad, withoutSideEffects } from '../tape.js';
import { scope, track } from '../memory.js';
import type { Tensor } from '../tensor.js';
import { mul } from './elementwise.js';
import { matmul } from './matmul.js';

type Fn = (...xs: Tensor[]) => Tensor;

function run(fn: Fn, xs: Tensor[]): Tensor {
  const out = fn(...xs);
  if (xs.includes(out)) throw new Error('recompute: fn returned one of its inputs; nothing to recompute');
  return out;
}

type RecomputeAttrs = {
  fn: Fn;
  /** fn's inputs are the first n; the rest are parameters fn uses directly. */
  n: number;
  /** Set by replayAttrs: the replayed forward has no side effects. */
  replay?: boolean;
  /** fn in float64 (the registry's case only: checkOp needs one). */
  reference?: (xs: Ref[]) => Ref;
};

const recomputeDef = defineOp<RecomputeAttrs>({
  name: 'recompute',
  forward(inputs, attrs) {
    const xs = inputs.slice(0, attrs.n);
    const once = (): Tensor => scope(() => run(attrs.fn, xs));
    return attrs.replay ? withoutSideEffects(once) : once();
  },
  backward(g, node) {
    const n = node.attrs.n;
    // leaves over the inputs' storage: the second run's graph ends at them
    const grads = scope(() => {
      const leaves = node.inputs.slice(0, n).map((t) => t.view(t.shape).requireGrad(t.requiresGrad));
      const out = enableGrad(() => withoutSideEffects(() => run(node.attrs.fn, leaves)));
      if (out.requiresGrad) backward(out, g); // parameters fn uses directly accumulate here
      return leaves.map((v) => { const gv = v.grad; v.grad = null; return gv; });
    });
    // they were kept as the leaves' gradients; now they are the outer backward's to free
    for (const t of grads) if (t) { t.kept = false; track(t); }
    return [...grads, ...node.inputs.slice(n).map(() => null)];
  },
  replayAttrs: (attrs) => ({ ...attrs, replay: true }),
  mixesBatch: () => true, // fn is opaque to the tape walk (batch norm inside, for DenseNets): assume it couples examples
  reference(inputs, attrs) {
    if (!attrs.reference) throw new Error('recompute: checking it needs attrs.reference, fn in float64');
    return attrs.reference(inputs);
  },
  cases: [
    // (x ⊙ x) · w: gradients for both inputs come from the recomputed graph
    {
      inputs: [{ shape: [3, 4] }, { shape: [4, 2] }],
      attrs: {
        n: 2,
        fn: (x: Tensor, w: Tensor) => matmul(mul(x, x), w),
        reference: ([x, w]: Ref[]): Ref => {
          const y = new Float64Array(6);
          for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 4; k++) y[i * 2 + j] += x.data[i * 4 + k] ** 2 * w.data[k * 2 + j];
          return { shape: [3, 2], data: y };
        },
      },
    },
  ],
});

/**
 * fn(...inputs) without keeping its intermediates for the backward (see the header).
 * `params`: trainable tensors fn uses directly (module weights); listing them records the step
 * when no input needs a gradient, and their gradients accumulate during the recomputation.
 */
export function recompute(fn: Fn, inputs: Tensor[], params: Tensor[] = []): Tensor {
  return apply(recomputeDef, [...inputs, ...params], { fn, n: inputs.length });
}
