// Per-example outputs of a finished run, kept in its run file so that two methods can be compared
// example by example (paired bootstrap over test images / users, tasks/stats/paired.ts): the
// test set is the same for every run of a grid, so example i of one run and example i of another
// are the same image or user. Float arrays travel as base64 of little-endian float32 (exact for
// what they hold and 4 bytes an example instead of ~20 as JSON text); small integer tables as
// JSON arrays.

/** A float32 array as base64 (little-endian, as every host this runs on). */
export function packF32(a: ArrayLike<number>): string {
  return Buffer.from(Float32Array.from(a).buffer).toString('base64');
}

/** The inverse of packF32; `what` names the field in the error. */
export function unpackF32(s: string, what: string): Float32Array {
  if (typeof s !== 'string') throw new Error(`${what}: expected a base64 string`);
  const b = Buffer.from(s, 'base64');
  if (b.length % 4) throw new Error(`${what}: ${b.length} bytes is not a whole number of float32 values`);
  const out = new Float32Array(b.length / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** A small-integer array (labels, classes: < 256) as base64 of bytes. */
export function packU8(a: ArrayLike<number>): string {
  return Buffer.from(Uint8Array.from(a)).toString('base64');
}

export function unpackU8(s: string, what: string): Uint8Array {
  if (typeof s !== 'string') throw new Error(`${what}: expected a base64 string`);
  return new Uint8Array(Buffer.from(s, 'base64'));
}

/**
 * Classification, per test image (test order): the predicted class, the mean predictive
 * probability of the true class and of the predicted class, and the predictive entropy; with the
 * validation entropy range that places the PAvPU thresholds.
 */
export interface ClassifyPerImage {
  pred: string;
  pTrue: string;
  confidence: string;
  entropy: string;
  entropyRange: [number, number];
}

/**
 * Segmentation, per test image: for each class its TP, FP and FN pixel counts (void excluded) —
 * [image][class][3] — and for each PAvPU threshold the number of patches that are accurate and
 * certain or inaccurate and uncertain — [image][threshold] — with the image's patch count. Sums of
 * these over any multiset of images give that multiset's pixel accuracy, IoU and PAvPU exactly.
 */
export interface SegmentPerImage {
  counts: number[][][];
  goodPatches: number[][];
  patches: number[];
}

/** Collaborative filtering, per test user (users with a held-out item, in order). */
export interface RecommendPerUser {
  recall20: string;
  recall50: string;
  ndcg100: string;
}

/**
 * A run's result without its per-example outputs: reports embed results, and their per-example
 * arrays (~150 kB a classify run) stay in the run files, where the claims are computed from.
 */
export function withoutPerExample<T extends object>(r: T): Omit<T, 'perImage' | 'perUser'> {
  const { perImage: _i, perUser: _u, ...rest } = r as T & { perImage?: unknown; perUser?: unknown };
  return rest;
}
