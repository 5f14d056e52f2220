// VGG19 (Simonyan & Zisserman 2015, configuration E): sixteen 3×3 convolutions (padding 1) in five
// stages of 64×2, 128×2, 256×4, 512×4, 512×4 channels, ReLU after each (conv → BN → ReLU with
// batchNorm), 2×2 max pooling after each stage, then the paper's classifier
//   Linear(features → hidden) → ReLU → dropout → Linear(hidden → hidden) → ReLU → dropout → Linear(hidden → classes).
// Channels scale with `width` (rounded, at least 1). The flattened feature size follows the input
// size: 512·7·7 = 25,088 for 224-px images, 512 for 32-px (CIFAR) images. Dropout slots take any
// dropout kind from a factory (as models/mlp.ts); each is attached to the next Linear's weight
// ([in, out]: unitAxis 0) for the regularizers. Without a factory there is no dropout.
//
// Pretrained weights: no ImageNet weights can be downloaded on this project's machines.
// `loadPretrained` loads a checkpoint written by layers/checkpoint.ts's saveModule for a model of
// the same configuration (names as `namedParameters()`; Linear weights stored [in, out], i.e.
// torchvision's [out, in] transposed, if one converts such a state dict elsewhere).
import { Generator, type Tensor } from '../engine/index.js';
import { Module } from '../layers/module.js';
import { Conv2d } from '../layers/conv.js';
import { BatchNorm2d, FusedSequential } from '../layers/norm.js';
import { MaxPool2d } from '../layers/pool.js';
import { ReLU, Flatten } from '../layers/basic.js';
import { Linear } from '../layers/linear.js';
import { Sequential } from '../layers/sequential.js';
import { loadModule } from '../layers/checkpoint.js';
import type { DropoutLayer } from '../layers/dropout/base.js';

/** Configuration E: output channels of each stage's convolutions; a 2×2 max pool ends each stage. */
export const vggConfigE: readonly (readonly number[])[] = [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]];
/** Default hidden width of the classifier: the paper's 4096 for 224-px inputs, 512 for 32-px inputs. */
export const VGG_HIDDEN_IMAGENET = 4096;
export const VGG_HIDDEN_CIFAR = 512;

export interface VggOptions {
  /** Output classes (default 10 for 32-px inputs, 1000 for 224-px inputs). */
  classes?: number;
  /** Input side: 32 or 224 (default 32). */
  imageSize?: 32 | 224;
  /** Channel multiplier (> 0); each stage gets max(1, round(channels·width)). Default 1. */
  width?: number;
  /** Conv → BatchNorm2d → ReLU (default false: conv → ReLU). */
  batchNorm?: boolean;
  /** Classifier hidden width (default 4096 for 224 px, 512 for 32 px). */
  hidden?: number;
  /** Input channels (default 3). */
  inChannels?: number;
  /** A dropout layer after each of the two hidden activations (`units` = hidden, `index` 0 or 1). */
  dropout?: (units: number, index: number) => DropoutLayer;
  generator?: Generator;
}

interface Resolved { classes: number; imageSize: number; width: number; batchNorm: boolean; hidden: number; inChannels: number }

function resolve(o: VggOptions): Resolved {
  const imageSize = o.imageSize ?? 32;
  if (imageSize !== 32 && imageSize !== 224) throw new Error(`vgg19: imageSize must be 32 or 224, got ${String(imageSize)}`);
  const width = o.width ?? 1;
  if (typeof width !== 'number' || !(width > 0) || !Number.isFinite(width)) throw new Error(`vgg19: width must be a finite number > 0, got ${String(width)}`);
  const classes = o.classes ?? (imageSize === 224 ? 1000 : 10);
  const hidden = o.hidden ?? (imageSize === 224 ? VGG_HIDDEN_IMAGENET : VGG_HIDDEN_CIFAR);
  const inChannels = o.inChannels ?? 3;
  for (const [k, v] of [['classes', classes], ['hidden', hidden], ['inChannels', inChannels]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`vgg19: ${k} must be a positive integer, got ${String(v)}`);
  }
  return { classes, imageSize, width, batchNorm: o.batchNorm ?? false, hidden, inChannels };
}

/** Channels of a stage after the width multiplier. */
export const scaledChannels = (c: number, width: number): number => Math.max(1, Math.round(c * width));

/** The flattened feature size entering the classifier: last stage's channels × (imageSize/32)². */
export function vggFeatureSize(o: VggOptions = {}): number {
  const r = resolve(o);
  const side = r.imageSize / 32;
  return scaledChannels(vggConfigE[vggConfigE.length - 1].at(-1)!, r.width) * side * side;
}

/** Trainable parameters of vgg19(o), counted from the architecture without building it. */
export function vggParameterCount(o: VggOptions = {}): number {
  const r = resolve(o);
  let n = 0, cin = r.inChannels;
  for (const stage of vggConfigE) {
    for (const c of stage) {
      const cout = scaledChannels(c, r.width);
      n += 9 * cin * cout + cout + (r.batchNorm ? 2 * cout : 0);
      cin = cout;
    }
  }
  const f = vggFeatureSize(o), h = r.hidden;
  return n + (f * h + h) + (h * h + h) + (h * r.classes + r.classes);
}

export class VGG extends Module {
  constructor(readonly features: Sequential, readonly flatten: Flatten, readonly classifier: Sequential) { super(); }
  forward(x: Tensor): Tensor {
    return this.classifier.forward(this.flatten.forward(this.features.forward(x)));
  }
}

/** VGG19 (configuration E) and its dropout layers in order (empty without a factory). */
export function vgg19(o: VggOptions = {}): { model: VGG; dropouts: DropoutLayer[] } {
  const r = resolve(o);
  const g = o.generator;
  const feats: Module[] = [];
  let cin = r.inChannels;
  for (const stage of vggConfigE) {
    for (const c of stage) {
      const cout = scaledChannels(c, r.width);
      feats.push(new Conv2d(cin, cout, 3, { padding: 1, generator: g }));
      if (r.batchNorm) feats.push(new BatchNorm2d(cout));
      feats.push(new ReLU());
      cin = cout;
    }
    feats.push(new MaxPool2d(2));
  }
  const f = vggFeatureSize(o), h = r.hidden;
  const fc1 = new Linear(f, h, { generator: g });
  const fc2 = new Linear(h, h, { generator: g });
  const fc3 = new Linear(h, r.classes, { generator: g });
  const dropouts: DropoutLayer[] = [];
  const head: Module[] = [fc1, new ReLU()];
  if (o.dropout) {
    const d = o.dropout(h, 0).attach(fc2.weight, 0);
    dropouts.push(d);
    head.push(d);
  }
  head.push(fc2, new ReLU());
  if (o.dropout) {
    const d = o.dropout(h, 1).attach(fc3.weight, 0);
    dropouts.push(d);
    head.push(d);
  }
  head.push(fc3);
  // BN → ReLU and Linear → ReLU pairs run as one fused op (FusedSequential); layers and names as
  // a plain Sequential's
  return { model: new VGG(new FusedSequential(...feats), new Flatten(1), new FusedSequential(...head)), dropouts };
}

/**
 * Loads weights saved by saveModule for a model of the same configuration (shapes and names must
 * match exactly, else nothing is loaded). No ImageNet weights can be downloaded here: the file
 * has to be made elsewhere. Returns the file's metadata.
 */
export async function loadPretrained(model: VGG, file: string): Promise<Record<string, string>> {
  return (await loadModule(file, model, { generators: [] })).metadata;
}
