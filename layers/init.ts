// Weight initialisers (drawn on the GPU from a seeded generator).
import { gpu, GpuLimitError, type Generator, type Tensor } from '../engine/index.js';

export type InitName = 'kaiming-uniform' | 'kaiming-normal' | 'xavier-uniform' | 'xavier-normal' | 'pytorch';

/** fanIn/fanOut of a weight [out, in, ...kernel] (Linear stores [in, out]: pass transposed=true). */
export function fans(shape: readonly number[], inFirst = false): [number, number] {
  const rf = shape.slice(2).reduce((p, d) => p * d, 1);
  const [a, b] = [shape[0], shape[1] ?? 1];
  return inFirst ? [a * rf, b * rf] : [b * rf, a * rf];
}

/**
 * A new weight tensor. 'pytorch' is torch.nn's default for Linear/Conv (kaiming-uniform with
 * a = √5, i.e. U(±1/√fanIn)); kaiming uses gain √2 (ReLU); xavier gain 1.
 */
export function initWeight(g: Generator, shape: readonly number[], how: InitName, fanIn: number, fanOut: number, layer = 'layer'): Tensor {
  checkWeightFits(shape, layer);
  switch (how) {
    case 'pytorch': { const b = 1 / Math.sqrt(fanIn); return g.uniform(shape, -b, b); }
    case 'kaiming-uniform': { const b = Math.sqrt(6 / fanIn); return g.uniform(shape, -b, b); }
    case 'kaiming-normal': return g.normal(shape, 0, Math.sqrt(2 / fanIn));
    case 'xavier-uniform': { const b = Math.sqrt(6 / (fanIn + fanOut)); return g.uniform(shape, -b, b); }
    case 'xavier-normal': return g.normal(shape, 0, Math.sqrt(2 / (fanIn + fanOut)));
    default: throw new Error(`unknown initialiser '${how as string}'; use one of pytorch, kaiming-uniform, kaiming-normal, xavier-uniform, xavier-normal`);
  }
}

/**
 * A weight every kernel must bind whole: refused when it is over the adapter's largest storage
 * binding, naming the layer, instead of failing later in some kernel (lavapipe binds at most
 * 128 MiB; VGG19's ImageNet classifier, 25088 × 4096, is 392 MiB).
 */
export function checkWeightFits(shape: readonly number[], layer: string): void {
  const bytes = shape.reduce((p, d) => p * d, 4), max = gpu().limits.maxStorageBufferBindingSize;
  if (bytes > max) {
    const mib = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MiB`;
    throw new GpuLimitError(`${layer}: its weight [${shape.join(', ')}] is ${mib(bytes)}, over this adapter's largest storage binding (${mib(max)}, ${gpu().info.name}); make the layer narrower or use an adapter with larger bindings (a GPU)`);
  }
}
