// CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin): records of 1 label byte then
// 3072 pixel bytes (1024 R, 1024 G, 1024 B, rows top to bottom) — already CHW [3, 32, 32].
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const RECORD = 3073;
const PIXELS = 3072;

export interface CifarSet { x: Float32Array; y: Int32Array; n: number; height: 32; width: 32; classes: string[] }

function bytesToUnit(src: Uint8Array, out: Float32Array, offset: number): void {
  for (let i = 0; i < src.length; i++) out[offset + i] = src[i] / 255;
}

/** Reads and concatenates CIFAR-10 binary batch files; `limit` caps the total count. */
export function loadCifarBinary(files: string | string[], opts: { limit?: number } = {}): CifarSet {
  const list = typeof files === 'string' ? [files] : files;
  const bufs = list.map((f) => {
    const b = readFileSync(f);
    if (b.length === 0 || b.length % RECORD !== 0) throw new Error(`${f}: size ${b.length} bytes is not a positive multiple of ${RECORD} (1 label + 3072 pixel bytes)`);
    return b;
  });
  const total = Math.min(bufs.reduce((s, b) => s + b.length / RECORD, 0), opts.limit ?? Infinity);
  const x = new Float32Array(total * PIXELS);
  const y = new Int32Array(total);
  let at = 0;
  for (let k = 0; k < bufs.length && at < total; k++) {
    const b = bufs[k];
    for (let r = 0; r < b.length / RECORD && at < total; r++, at++) {
      const label = b[r * RECORD];
      if (label > 9) throw new Error(`${list[k]}: record ${r} has label ${label} (expected 0-9)`);
      y[at] = label;
      bytesToUnit(b.subarray(r * RECORD + 1, (r + 1) * RECORD), x, at * PIXELS);
    }
  }
  return { x, y, n: total, height: 32, width: 32, classes: CIFAR10_CLASSES.slice() };
}

/** The usual files of an extracted `cifar-10-batches-bin/` folder. */
export function loadCifar10Dir(dir: string, split: 'train' | 'test', opts: { limit?: number } = {}): CifarSet {
  const names = split === 'train' ? [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`) : ['test_batch.bin'];
  return loadCifarBinary(names.map((f) => join(dir, f)), opts);
}
