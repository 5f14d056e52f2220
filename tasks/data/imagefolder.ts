// ImageFolder trees: root/<class>/<image>.{jpg,jpeg,png}, classes = sub-folder names sorted,
// files sorted by name within a class. Decoded with jpeg-js / pngjs into a CHW Float32Array
// [n, 3, H, W] with values in [0, 1]. Strict: every image must decode and have the same size;
// any other file, an undecodable or truncated image or a size mismatch is an Error naming it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import jpeg from 'jpeg-js';
import pngjs from 'pngjs';

const { PNG } = pngjs;

export interface ImageSet {
  x: Float32Array; // [n, 3, height, width]
  y: Int32Array; // [n], index into classes
  n: number;
  height: number;
  width: number;
  classes: string[];
  files: string[];
}

export interface ImageFolderOptions {
  /** Take at most this many images per class (the first ones by file name). */
  limit?: number;
  /** Expected [height, width]; otherwise the first image's size is required of all. */
  size?: [number, number];
  /** Restrict to these class folders (in this order); default: every sub-folder, sorted. */
  classes?: string[];
}

const IMAGE_EXT = new Set(['.jpg', '.jpeg', '.png']);

/** Decodes one JPEG or PNG file's bytes to RGBA 8-bit; errors name the file. */
export function decodeImage(file: string, bytes: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.png') {
      const p = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: p.width, height: p.height, rgba: p.data };
    }
    if (ext === '.jpg' || ext === '.jpeg') {
      // tolerantDecoding: false so that a truncated file is an error, not a partly grey image.
      const j = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false });
      return { width: j.width, height: j.height, rgba: j.data };
    }
  } catch (e) {
    throw new Error(`${file}: cannot decode image (${(e as Error).message})`);
  }
  throw new Error(`${file}: not a .jpg, .jpeg or .png image`);
}

/** Writes RGBA pixels as 3 planes (R, G, B) scaled to [0, 1] at out[offset..]. */
function rgbaToPlanes(rgba: Uint8Array, out: Float32Array, offset: number, hw: number): void {
  const g = offset + hw, b = offset + 2 * hw;
  for (let i = 0; i < hw; i++) {
    out[offset + i] = rgba[4 * i] / 255;
    out[g + i] = rgba[4 * i + 1] / 255;
    out[b + i] = rgba[4 * i + 2] / 255;
  }
}

export function loadImageFolder(root: string, opts: ImageFolderOptions = {}): ImageSet {
  const limit = opts.limit ?? Infinity;
  if (!(limit > 0)) throw new Error(`loadImageFolder: limit must be positive, got ${limit}`);
  let classes: string[];
  if (opts.classes) {
    classes = opts.classes.slice();
  } else {
    classes = [];
    for (const f of readdirSync(root).sort()) {
      if (!statSync(join(root, f)).isDirectory()) throw new Error(`${join(root, f)}: not a class folder (ImageFolder root must hold only sub-folders)`);
      classes.push(f);
    }
  }
  if (classes.length === 0) throw new Error(`${root}: no class folders`);
  const files: string[] = [];
  const labels: number[] = [];
  classes.forEach((c, k) => {
    const dir = join(root, c);
    const names = readdirSync(dir).sort();
    if (names.length === 0) throw new Error(`${dir}: empty class folder`);
    for (const name of names.slice(0, Math.min(names.length, limit))) {
      const f = join(dir, name);
      if (!IMAGE_EXT.has(extname(name).toLowerCase()) || !statSync(f).isFile()) throw new Error(`${f}: not a .jpg, .jpeg or .png image`);
      files.push(f);
      labels.push(k);
    }
  });
  let [height, width] = opts.size ?? [0, 0];
  let x = new Float32Array(0);
  files.forEach((f, i) => {
    const img = decodeImage(f, readFileSync(f));
    if (height === 0) {
      height = img.height;
      width = img.width;
    }
    if (img.height !== height || img.width !== width) {
      throw new Error(`${f}: image is ${img.width}×${img.height} (width×height), expected ${width}×${height}`);
    }
    if (x.length === 0) x = new Float32Array(files.length * 3 * height * width);
    rgbaToPlanes(img.rgba, x, i * 3 * height * width, height * width);
  });
  return { x, y: Int32Array.from(labels), n: files.length, height, width, classes, files };
}
