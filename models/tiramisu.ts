// FC-DenseNet ("The One Hundred Layers Tiramisu", Jégou et al. 2017) as a function of its
// configuration, following the authors' Lasagne code (SimJeg/FC-DenseNet, FC-DenseNet.py):
//
//   3×3 conv (pad 1) → `firstChannels` maps;
//   down path, for each of the P pooling levels: a dense block, its full output kept as the
//     skip connection, then a transition down = BN → ReLU → 1×1 conv (same channels) → dropout →
//     2×2 max pool (floor);
//   bottleneck: a dense block whose NEW maps only (not its input) go up;
//   up path, for each level: transition up = 3×3 transposed conv, stride 2, no padding
//     ('valid': H → 2H + 1), over only the new maps of the block below, with as many output
//     channels as it has inputs (growth × that block's layers), centre-cropped to the skip's
//     size and concatenated [upsampled, skip]; then a dense block, of which only the new maps go
//     to the next transition up — except the last block, whose full output goes on;
//   1×1 conv to the classes (logits [N, classes, H, W], same H × W as the input for any size:
//     pooling floors, and 2⌊H/2⌋ + 1 ≥ H, so the crop always fits).
//   Dense layer = BN → ReLU → 3×3 conv (pad 1, growth maps) → dropout; the block's stack is the
//   concatenation [input, new maps of layer 1, ..., layer L] along channels.
//
// The stack is never built: feature maps travel as a list of pieces (the block's input pieces,
// then one piece per layer), each layer has one BatchNorm2d per piece (BN is per channel, so
// this is exactly one BN over the concatenation, with the same parameters), applies ReLU per
// piece, and concatenates the activations only for its convolution (piecewiseConv). Reasons:
// (1) on lavapipe maxStorageBufferBindingSize is 128 MiB, and at 480×360 the last block's
// stack (208-256 maps × 172,800 px × 4 B) is larger, so it cannot even be bound; piecewiseConv
// splits the concatenation into chunks below the limit when needed. Peak memory is the same as
// concatenating the stack after every layer (measured: 90×120, identical losses, +8 MiB).
//
// Memory (FC-DenseNet-103, batch 1, 360×480, one training step, lavapipe): peak 7,075 MiB live
// (params, grads and RMSProp state included; 6,598 MiB of forward activations), 442 s a step on
// 2 shared CPU cores. Every forward tensor lives until the step's scope closes, and each dense
// layer makes three tensors as wide as its input (BN outputs, ReLU outputs, the concatenation
// its conv reads: ReLU's backward needs BN's output, the conv's its input), so a block costs
// memory quadratic in its depth: 4.5 of the ~5.6 GiB of activations counted by hand. The
// memory-efficient mode (option `memoryEfficient`, Tiramisu.setMemoryEfficient) cuts it as Pleiss
// et al. 2017 do: each dense layer's and transition's BN → ReLU → conv runs under the engine's
// `recompute`, which keeps only the conv's output and reruns the three in the backward. Measured
// (bench, 103 at 480×360, batch 1): peak 6.95 → 2.17 GiB for 1.26× the step time (H100).
// An LBD step replays the bottleneck and the up path: ×1.4 the peak (90×120: 613 vs 434 MiB over the start).
//
// Convolutions have biases (Lasagne's default) and BN a scale and a shift, so e.g. FC-DenseNet-103
// (blocks 4, 5, 7, 10, 12 | 15 | 12, 10, 7, 5, 4; growth 16; 48 first maps; 11 classes) has
// 9,322,091 trainable parameters (tiramisuParameterCount counts them from the configuration);
// with BN's running mean and variance (2 per BN channel, 51,536 BN channels: +103,072) that is
// 9,425,163, the paper's "9.4M" (Lasagne's count_params counts those non-trainable buffers too).
// Likewise FC-DenseNet-67: 3,463,243 (+39,680 = 3,502,923, "3.5M"). FC-DenseNet-56 (4 layers in
// every block, growth 12): 1,376,795 (+21,168 = 1,397,963); the paper's Table 2 says 1.5M, which
// neither count matches (the 56 = 44 dense layers + 5 down + 5 up + first + last layer count
// fixes 4 layers in the bottleneck).
//
// Every dense layer and transition down has a dropout slot filled by the factory `dropout`
// (channels, where); the model never knows the kind. `tiramisuDropout` builds the paper's
// setting: the studied kind in the bottleneck's layers, plain Dropout(0.2) elsewhere. Dropout
// layers are not `attach`ed to a next weight: a dense layer's maps feed every later layer of the
// block (and the transitions), so there is no single consuming weight; regularizers that need one
// fall back to their weight-free terms.
//
// Batch norm follows the Module's mode (batch statistics in training, running statistics in
// eval). The Lasagne code keeps using batch statistics at test time (batch 1); a task wanting
// that can leave the BatchNorm2d modules in training mode.
import { Generator, concat, centerCrop, slice, conv2d, add, gpu, recompute, type Tensor } from '../engine/index.js';
import { Module } from '../layers/module.js';
import { Conv2d, ConvTranspose2d } from '../layers/conv.js';
import { BatchNorm2d } from '../layers/norm.js';
import { MaxPool2d } from '../layers/pool.js';
import type { DropoutLayer } from '../layers/dropout/base.js';
import { Dropout } from '../layers/dropout/dropout.js';

export interface TiramisuConfig {
  /** Layers per dense block: P down blocks, the bottleneck, P up blocks (length 2P + 1, P ≥ 1). */
  layersPerBlock: readonly number[];
  /** New maps per dense layer. */
  growthRate: number;
  /** Maps of the first 3×3 convolution (default 48). */
  firstChannels?: number;
}

/** Where a dropout slot is: block 0..2P (P = the bottleneck), its layer (−1 for a transition down). */
export interface DropoutWhere {
  block: number;
  layer: number;
  bottleneck: boolean;
  /** True for the dropout of the transition down after block `block`. */
  transition: boolean;
}

export type TiramisuDropoutFactory = (channels: number, where: DropoutWhere) => DropoutLayer;

export interface TiramisuOptions extends TiramisuConfig {
  /** Output classes (default 11, CamVid). */
  classes?: number;
  /** Input channels (default 3). */
  inChannels?: number;
  /** Fills every dropout slot; without it there is no dropout. */
  dropout?: TiramisuDropoutFactory;
  generator?: Generator;
  /** Recompute BN → ReLU → conv in the backward (Tiramisu.setMemoryEfficient; default false). */
  memoryEfficient?: boolean;
}

export const FC_DENSENET_103: TiramisuConfig = { layersPerBlock: [4, 5, 7, 10, 12, 15, 12, 10, 7, 5, 4], growthRate: 16 };
/** Jégou et al. Table 2: 5 layers in every block (bottleneck included), growth 16. */
export const FC_DENSENET_67: TiramisuConfig = { layersPerBlock: Array(11).fill(5), growthRate: 16 };
/** Jégou et al. Table 2: 4 layers in every block (bottleneck included), growth 12. */
export const FC_DENSENET_56: TiramisuConfig = { layersPerBlock: Array(11).fill(4), growthRate: 12 };

interface Resolved { blocks: number[]; pools: number; g: number; first: number; classes: number; inChannels: number }

function resolve(o: TiramisuOptions): Resolved {
  const blocks = [...(o.layersPerBlock ?? [])];
  if (blocks.length < 3 || blocks.length % 2 !== 1 || !blocks.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error(`tiramisu: layersPerBlock must list 2P + 1 ≥ 3 positive integers (down blocks, bottleneck, up blocks), got ${JSON.stringify(o.layersPerBlock)}`);
  }
  const r = { blocks, pools: (blocks.length - 1) / 2, g: o.growthRate, first: o.firstChannels ?? 48, classes: o.classes ?? 11, inChannels: o.inChannels ?? 3 };
  for (const [k, v] of [['growthRate', r.g], ['firstChannels', r.first], ['classes', r.classes], ['inChannels', r.inChannels]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`tiramisu: ${k} must be a positive integer, got ${String(v)}`);
  }
  return r;
}

/**
 * Channel bookkeeping of the design, shared by the builder and the parameter count. Feature maps
 * travel as lists of pieces along channels (their concatenation is implied, see the header):
 * a block's output = its input pieces + one piece of `growth` maps per layer.
 */
interface Plan {
  /** Input pieces (channels) of each dense block (2P + 1). */
  blockIn: number[][];
  /** Skip pieces of each level (the down block's full output). */
  skip: number[][];
  /** Channels of each transition up (input = output = new maps of the block below). */
  up: number[];
  /** Pieces into the final 1×1 conv. */
  last: number[];
}

const total = (pieces: readonly number[]): number => pieces.reduce((a, b) => a + b, 0);

function plan(r: Resolved): Plan {
  const { blocks, pools: P, g } = r;
  const grown = (pieces: number[], L: number): number[] => [...pieces, ...Array<number>(L).fill(g)];
  const blockIn: number[][] = [], skip: number[][] = [], up: number[] = [];
  let c = [r.first];
  for (let i = 0; i < P; i++) {
    blockIn.push(c);
    skip.push(grown(c, blocks[i]));
    c = [total(skip[i])]; // the transition down's output is one tensor
  }
  blockIn.push(c); // bottleneck
  for (let i = 0; i < P; i++) {
    const keep = blocks[P + i] * g;
    up.push(keep);
    c = [keep, ...skip[P - 1 - i]];
    blockIn.push(c);
  }
  return { blockIn, skip, up, last: grown(c, blocks[2 * P]) };
}

/** Trainable parameters of tiramisu(o) without dropout parameters, counted without building it. */
export function tiramisuParameterCount(o: TiramisuOptions): number {
  const r = resolve(o);
  const p = plan(r);
  const conv = (ci: number, co: number, k: number): number => ci * co * k * k + co;
  let n = conv(r.inChannels, r.first, 3);
  r.blocks.forEach((L, b) => {
    for (let j = 0; j < L; j++) {
      const ci = total(p.blockIn[b]) + j * r.g;
      n += 2 * ci + conv(ci, r.g, 3);
    }
  });
  for (const s of p.skip) n += 2 * total(s) + conv(total(s), total(s), 1); // transitions down
  for (const c of p.up) n += conv(c, c, 3); // transitions up
  return n + conv(total(p.last), r.classes, 1);
}

/**
 * conv(concat(pieces)) without building a tensor larger than the device can bind: pieces are
 * grouped (in order) into chunks of at most maxStorageBufferBindingSize bytes, each chunk is
 * concatenated and convolved with its slice of the weight (axis 1), and the partial outputs are
 * summed (bias once). With one chunk — every size but the largest — it is conv(concat(pieces)).
 * `maxChannels` overrides the chunk size (for tests).
 */
export function piecewiseConv(conv: Conv2d, pieces: readonly Tensor[], maxChannels?: number): Tensor {
  const [N, , H, W] = pieces[0].shape;
  const maxCh = maxChannels ?? Math.max(1, Math.floor(gpu().limits.maxStorageBufferBindingSize / (4 * N * H * W)));
  const chunks: Tensor[][] = [];
  let size = Infinity;
  for (const t of pieces) {
    if (size + t.shape[1] > maxCh) { chunks.push([]); size = 0; }
    chunks.at(-1)!.push(t);
    size += t.shape[1];
  }
  const cat = (ts: Tensor[]): Tensor => (ts.length === 1 ? ts[0] : concat(ts, 1));
  if (chunks.length === 1) return conv.forward(cat(chunks[0]));
  const o = { stride: conv.stride, padding: conv.padding };
  const [co, ci, kh, kw] = conv.weight.shape;
  let out: Tensor | null = null, at = 0;
  chunks.forEach((ch, k) => {
    const x = cat(ch);
    const c = x.shape[1];
    const w = slice(conv.weight, [0, at, 0, 0], [co, at + c, kh, kw]);
    at += c;
    const y = conv2d(x, w, k === 0 ? conv.bias : null, o);
    out = out ? add(out, y) : y;
  });
  if (at !== ci) throw new Error(`piecewiseConv: pieces have ${at} channels, ${conv} expects ${ci}`);
  return out!;
}

/**
 * BN per piece (BN is per channel: the same as one BN over the concatenation) → ReLU, each pair
 * one fused op (batch_norm_relu: 2 passes fewer per piece in a training step).
 */
function bnRelu(bns: readonly BatchNorm2d[], pieces: readonly Tensor[], who: string): Tensor[] {
  if (pieces.length !== bns.length || pieces.some((t, i) => t.shape[1] !== bns[i].numFeatures)) {
    throw new Error(`${who}: expects pieces of [${bns.map((b) => b.numFeatures).join(', ')}] channels, got [${pieces.map((t) => t.shape[1]).join(', ')}]`);
  }
  return pieces.map((t, i) => bns[i].forwardReLU(t));
}

/** BN → ReLU → conv over pieces; with `memoryEfficient` recomputed in the backward instead of stored (see the header). */
function bnReluConv(bns: readonly BatchNorm2d[], conv: Conv2d, pieces: readonly Tensor[], who: string, memoryEfficient: boolean): Tensor {
  const f = (...ps: Tensor[]): Tensor => piecewiseConv(conv, bnRelu(bns, ps, who));
  if (!memoryEfficient) return f(...pieces);
  const params = [...bns.flatMap((b) => [b.weight, b.bias]), conv.weight, conv.bias].filter((t): t is Tensor => t !== null);
  return recompute(f, pieces.slice(), params);
}

/** BN → ReLU → 3×3 conv → dropout, over the pieces of the block's stack (one BN per piece). */
export class DenseLayer extends Module {
  readonly bns: BatchNorm2d[];
  readonly conv: Conv2d;
  readonly drop: DropoutLayer | null;
  /** Recompute BN → ReLU → conv in the backward instead of storing their activations. */
  memoryEfficient = false;
  constructor(pieces: readonly number[], growth: number, drop: DropoutLayer | null, g?: Generator) {
    super();
    this.bns = pieces.map((c) => new BatchNorm2d(c));
    this.conv = new Conv2d(total(pieces), growth, 3, { padding: 1, generator: g });
    this.drop = drop;
  }
  forward(...pieces: Tensor[]): Tensor {
    const y = bnReluConv(this.bns, this.conv, pieces, 'DenseLayer', this.memoryEfficient);
    return this.drop ? this.drop.forward(y) : y;
  }
}

/** A dense block: each layer sees the block's input pieces and the earlier layers' maps. */
export class DenseBlock extends Module {
  constructor(readonly layers: DenseLayer[]) { super(); }

  /** `all`: the input pieces followed by each layer's new maps; `fresh`: the new maps alone. */
  run(pieces: readonly Tensor[]): { all: Tensor[]; fresh: Tensor[] } {
    const all = pieces.slice();
    const fresh: Tensor[] = [];
    for (const l of this.layers) {
      const y = l.forward(...all);
      all.push(y);
      fresh.push(y);
    }
    return { all, fresh };
  }

  /** The block's full output as one tensor (concatenated). */
  forward(...pieces: Tensor[]): Tensor { return concat(this.run(pieces).all, 1); }
}

/** BN → ReLU → 1×1 conv (same channels) → dropout → 2×2 max pool, over the block's pieces. */
export class TransitionDown extends Module {
  readonly bns: BatchNorm2d[];
  readonly conv: Conv2d;
  readonly drop: DropoutLayer | null;
  readonly pool = new MaxPool2d(2);
  /** Recompute BN → ReLU → conv in the backward instead of storing their activations. */
  memoryEfficient = false;
  constructor(pieces: readonly number[], drop: DropoutLayer | null, g?: Generator) {
    super();
    const c = total(pieces);
    this.bns = pieces.map((k) => new BatchNorm2d(k));
    this.conv = new Conv2d(c, c, 1, { generator: g });
    this.drop = drop;
  }
  forward(...pieces: Tensor[]): Tensor {
    let y = bnReluConv(this.bns, this.conv, pieces, 'TransitionDown', this.memoryEfficient);
    if (this.drop) y = this.drop.forward(y);
    return this.pool.forward(y);
  }
}

/** 3×3 transposed conv, stride 2 (H → 2H + 1) of the new maps, centre-cropped to the skip's size. */
export class TransitionUp extends Module {
  readonly deconv: ConvTranspose2d;
  constructor(c: number, g?: Generator) {
    super();
    this.deconv = new ConvTranspose2d(c, c, 3, { stride: 2, generator: g });
  }
  /** fresh: the new maps of the block below (pieces); returns the upsampled maps, cropped to h × w. */
  up(fresh: readonly Tensor[], h: number, w: number): Tensor {
    const u = this.deconv.forward(fresh.length === 1 ? fresh[0] : concat(fresh.slice(), 1));
    return u.shape[2] === h && u.shape[3] === w ? u : centerCrop(u, h, w);
  }
  /** concat([up(x) cropped to the skip, skip]). */
  forward(x: Tensor, skip?: Tensor): Tensor {
    if (!skip) throw new Error('TransitionUp: needs the skip connection');
    return concat([this.up([x], skip.shape[2], skip.shape[3]), skip], 1);
  }
}

export class Tiramisu extends Module {
  constructor(
    readonly first: Conv2d,
    readonly down: DenseBlock[],
    readonly transitionsDown: TransitionDown[],
    readonly bottleneck: DenseBlock,
    readonly transitionsUp: TransitionUp[],
    readonly up: DenseBlock[],
    readonly classifier: Conv2d,
  ) { super(); }

  /**
   * Memory-efficient mode (Pleiss et al. 2017): every dense layer and transition down recomputes
   * BN → ReLU → conv in the backward, so a block's stored activations grow linearly with its depth.
   */
  setMemoryEfficient(on: boolean): this {
    for (const b of [...this.down, this.bottleneck, ...this.up]) for (const l of b.layers) l.memoryEfficient = on;
    for (const t of this.transitionsDown) t.memoryEfficient = on;
    return this;
  }

  /** x [N, inChannels, H, W] → logits [N, classes, H, W]; H, W ≥ 2^P. */
  forward(x: Tensor): Tensor {
    return this.upPath(this.downPath(x));
  }

  /**
   * The first convolution and the down path: the skip connections and the bottleneck's input.
   * With only the bottleneck's dropout sampling at evaluation, this part is deterministic and MC
   * evaluation runs it once per image (then upPath S times).
   */
  downPath(x: Tensor): { skips: Tensor[][]; h: Tensor[] } {
    const P = this.down.length;
    if (x.ndim !== 4 || Math.min(x.shape[2], x.shape[3]) < 2 ** P) {
      throw new Error(`Tiramisu: expects input [N, C, H, W] with H, W ≥ ${2 ** P} (${P} poolings), got [${x.shape.join(', ')}]`);
    }
    let h = [this.first.forward(x)];
    const skips: Tensor[][] = [];
    for (let i = 0; i < P; i++) {
      const s = this.down[i].run(h).all;
      skips.push(s);
      h = [this.transitionsDown[i].forward(...s)];
    }
    return { skips, h };
  }

  /** The bottleneck, the up path and the classifier from downPath's result. */
  upPath({ skips, h }: { skips: Tensor[][]; h: Tensor[] }): Tensor {
    const P = this.down.length;
    let r = this.bottleneck.run(h);
    for (let i = 0; i < P; i++) {
      const skip = skips[P - 1 - i];
      const u = this.transitionsUp[i].up(r.fresh, skip[0].shape[2], skip[0].shape[3]);
      r = this.up[i].run([u, ...skip]);
    }
    return piecewiseConv(this.classifier, r.all);
  }
}

/** An FC-DenseNet and its dropout layers in order (empty without a factory). */
export function tiramisu(o: TiramisuOptions): { model: Tiramisu; dropouts: DropoutLayer[] } {
  const r = resolve(o);
  const p = plan(r);
  const gen = o.generator;
  const dropouts: DropoutLayer[] = [];
  const slot = (channels: number, where: DropoutWhere): DropoutLayer | null => {
    if (!o.dropout) return null;
    // no single consuming weight (see the header): the regularizers' weight terms are left out
    const d = o.dropout(channels, where);
    if (!d.attached) d.attach(null);
    dropouts.push(d);
    return d;
  };
  const block = (b: number): DenseBlock => new DenseBlock(Array.from({ length: r.blocks[b] }, (_, j) =>
    new DenseLayer([...p.blockIn[b], ...Array<number>(j).fill(r.g)], r.g, slot(r.g, { block: b, layer: j, bottleneck: b === r.pools, transition: false }), gen)));
  const first = new Conv2d(r.inChannels, r.first, 3, { padding: 1, generator: gen });
  const down: DenseBlock[] = [], tds: TransitionDown[] = [], tus: TransitionUp[] = [], up: DenseBlock[] = [];
  for (let i = 0; i < r.pools; i++) {
    down.push(block(i));
    tds.push(new TransitionDown(p.skip[i], slot(total(p.skip[i]), { block: i, layer: -1, bottleneck: false, transition: true }), gen));
  }
  const bottleneck = block(r.pools);
  for (let i = 0; i < r.pools; i++) {
    tus.push(new TransitionUp(p.up[i], gen));
    up.push(block(r.pools + 1 + i));
  }
  const classifier = new Conv2d(total(p.last), r.classes, 1, { generator: gen });
  const model = new Tiramisu(first, down, tds, bottleneck, tus, up, classifier).setMemoryEfficient(o.memoryEfficient ?? false);
  return { model, dropouts };
}

/**
 * The paper's dropout setting (§3.2.2): `bottleneck(channels, where)` in the bottleneck's dense
 * layers (e.g. LBD with granularity 'layer': one logit per layer, one mask per example and
 * channel, shared over pixels), plain Dropout(p = 0.2) in every other slot, all drawing from one
 * Generator(seed) (or the process-wide generator without a seed).
 */
export function tiramisuDropout(bottleneck: TiramisuDropoutFactory, o: { p?: number; seed?: number } = {}): TiramisuDropoutFactory {
  const generator = o.seed !== undefined ? new Generator(o.seed) : undefined;
  const p = o.p ?? 0.2;
  return (channels, where) => (where.bottleneck ? bottleneck(channels, where) : new Dropout(p, { generator }));
}
