// idx files (MNIST, Fashion-MNIST), plain or gzip: magic 0x00 0x00 <dtype> <ndims>, then ndims
// big-endian uint32 sizes, then the data. Only dtype 0x08 (unsigned byte) is read.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export interface IdxArray { dims: number[]; data: Uint8Array }

/** Reads an idx file (gzip detected by its 1f 8b header); errors name the file. */
export function readIdx(file: string): IdxArray {
  let b: Uint8Array = readFileSync(file);
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) {
    try {
      b = gunzipSync(b);
    } catch (e) {
      throw new Error(`${file}: bad gzip data (${(e as Error).message})`);
    }
  }
  if (b.length < 4) throw new Error(`${file}: truncated idx file (${b.length} bytes, no header)`);
  if (b[0] !== 0 || b[1] !== 0) throw new Error(`${file}: bad idx magic number 0x${Buffer.from(b.subarray(0, 4)).toString('hex')}`);
  if (b[2] !== 0x08) throw new Error(`${file}: idx dtype 0x${b[2].toString(16)} is not supported (only 0x08, unsigned byte)`);
  const nd = b[3];
  if (nd === 0) throw new Error(`${file}: idx file with 0 dimensions`);
  const head = 4 + 4 * nd;
  if (b.length < head) throw new Error(`${file}: truncated idx header (${b.length} bytes, need ${head})`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < nd; i++) dims.push(view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((s, d) => s * d, 1);
  if (b.length - head < size) throw new Error(`${file}: truncated idx data (${b.length - head} bytes, dims [${dims}] need ${size})`);
  if (b.length - head > size) throw new Error(`${file}: ${b.length - head - size} bytes after the idx data (dims [${dims}])`);
  return { dims, data: b.subarray(head) };
}

function bytesToUnit(src: Uint8Array, out: Float32Array): void {
  for (let i = 0; i < src.length; i++) out[i] = src[i] / 255;
}

/** Images [n, rows, cols] as Float32Array [n, 1, rows, cols] in [0, 1]. */
export function loadIdxImages(file: string): { x: Float32Array; n: number; height: number; width: number } {
  const a = readIdx(file);
  if (a.dims.length !== 3) throw new Error(`${file}: idx images need 3 dims [n, rows, cols], got [${a.dims}]`);
  const x = new Float32Array(a.data.length);
  bytesToUnit(a.data, x);
  return { x, n: a.dims[0], height: a.dims[1], width: a.dims[2] };
}

export function loadIdxLabels(file: string): Int32Array {
  const a = readIdx(file);
  if (a.dims.length !== 1) throw new Error(`${file}: idx labels need 1 dim [n], got [${a.dims}]`);
  return Int32Array.from(a.data);
}

/** An images file with its labels file; the counts must agree. */
export function loadIdxDataset(imagesFile: string, labelsFile: string): { x: Float32Array; y: Int32Array; n: number; height: number; width: number } {
  const im = loadIdxImages(imagesFile);
  const y = loadIdxLabels(labelsFile);
  if (y.length !== im.n) throw new Error(`${labelsFile}: ${y.length} labels for ${im.n} images in ${imagesFile}`);
  return { ...im, y };
}
