// GPU memory: a buffer pool by size class with a live-bytes counter, and `scope(fn)`, which
// releases what a function allocated except its result and what was kept. GPU memory never
// waits for JavaScript's garbage collector.
import { gpu, GpuLimitError, mib } from './device.js';

const USAGE = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

/** A pooled GPU buffer shared by a tensor and its views (reshape); freed when refs reach 0. */
export class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer, readonly bytes: number, readonly sizeClass: number) {}
}

const free = new Map<number, GPUBuffer[]>();
// Creation serials of pooled buffers: each free list is kept sorted by them (newest first), and
// an allocation takes the oldest free buffer of its class. The buffer a tensor gets then depends
// only on which buffers are free, not on the order they came back in: a training step frees
// everything it made (and zeroGrad the last step's gradients), so every step gets the same
// buffers for the same tensors and the dispatch layer finds its bind groups again (cached by
// operand buffers; creating one costs ~40 µs of host time). With a plain LIFO the order changed
// from step to step: VGG19 x1/16 still created 34 bind groups a step after 15 steps.
const serials = new WeakMap<GPUBuffer, number>();
let liveBytes = 0;
let pooledBytes = 0;
let allocCount = 0;
let peakBytes = 0;

/** Size classes: powers of two up to 64 KiB, then 8 steps per octave (waste ≤ 12.5%). */
export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 65536) return 2 ** Math.ceil(Math.log2(b));
  const octave = 2 ** Math.floor(Math.log2(b));
  const step = octave / 8;
  return Math.ceil(b / step) * step;
}

// The last buffers created (label, bytes), so that an out-of-memory error caught later can name
// the allocations of the step that caused it (bufferSerial / buffersCreatedSince).
const CREATED_LOG = 256;
const created: { label: string; bytes: number }[] = [];

/** How many buffers were created so far (a mark for buffersCreatedSince). */
export function bufferSerial(): number { return allocCount; }

/** The buffers created since `serial` (at most the last 256), in order. */
export function buffersCreatedSince(serial: number): { label: string; bytes: number }[] {
  const n = Math.min(allocCount - serial, created.length);
  return n > 0 ? created.slice(created.length - n) : [];
}

export function allocStorage(bytes: number, label = 'tensor'): Storage {
  const max = gpu().limits.maxBufferSize;
  // checked here, synchronously, so that the error names the op and surfaces at the call that made
  // it (Dawn would only report an invalid buffer at the next sync point)
  if (bytes > max) {
    throw new GpuLimitError(`${label}: a tensor of ${mib(bytes)} (${bytes} bytes) is larger than the device's largest buffer (maxBufferSize ${mib(max)}: ${max} bytes)`);
  }
  // the size class may round past the limit when the request itself fits: then allocate exactly
  let cls = sizeClass(bytes);
  if (cls > max) cls = Math.max(16, Math.ceil(bytes / 4) * 4);
  const list = free.get(cls);
  let buffer = list?.pop();
  if (buffer) pooledBytes -= cls;
  else {
    buffer = gpu().device.createBuffer({ size: cls, usage: USAGE(), label });
    serials.set(buffer, allocCount);
    allocCount++;
    created.push({ label, bytes: cls });
    if (created.length > CREATED_LOG) created.shift();
  }
  liveBytes += cls;
  if (liveBytes > peakBytes) peakBytes = liveBytes;
  return new Storage(buffer, bytes, cls);
}

export function releaseStorage(s: Storage): void {
  if (--s.refs > 0) return;
  if (s.refs < 0) throw new Error('storage released twice');
  liveBytes -= s.sizeClass;
  pooledBytes += s.sizeClass;
  let list = free.get(s.sizeClass);
  if (!list) free.set(s.sizeClass, (list = []));
  // insert in order (newest first, so pop() yields the oldest); lists are short
  const serial = serials.get(s.buffer)!;
  let at = list.length;
  while (at > 0 && serials.get(list[at - 1])! < serial) at--;
  list.splice(at, 0, s.buffer);
}

/** peakBytes: the most live bytes since the start or the last resetPeak(). */
export interface MemoryStats { liveBytes: number; pooledBytes: number; buffersCreated: number; peakBytes: number }
export function memoryStats(): MemoryStats {
  return { liveBytes, pooledBytes, buffersCreated: allocCount, peakBytes };
}

/** Restarts the peak-live-bytes counter from the current live bytes. */
export function resetPeak(): void { peakBytes = liveBytes; }

/** Destroys every pooled (free) buffer. */
export function trimPool(): void {
  for (const list of free.values()) for (const b of list) b.destroy();
  free.clear();
  pooledBytes = 0;
}

// ---- scopes ----------------------------------------------------------------------------

/** What a scope tracks: anything that owns GPU memory. */
export interface Disposable {
  disposed: boolean;
  kept: boolean;
  dispose(): void;
}

const scopes: Set<Disposable>[] = [];

/** Called by every new tensor: the innermost open scope takes charge of it. */
export function track(t: Disposable): void {
  const s = scopes[scopes.length - 1];
  if (s) s.add(t);
}

function collect(value: unknown, into: Set<Disposable>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if ('disposed' in value && 'kept' in value && 'dispose' in value) {
    into.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, into, seen);
  else if (value instanceof Map) for (const v of value.values()) collect(v, into, seen);
  else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, into, seen);
  }
}

function closeScope(result: unknown): void {
  const mine = scopes.pop()!;
  const out = new Set<Disposable>();
  collect(result, out);
  const parent = scopes[scopes.length - 1];
  for (const t of mine) {
    if (t.disposed || t.kept) continue;
    if (out.has(t)) parent?.add(t);
    else t.dispose();
  }
}

/**
 * Runs fn and disposes every tensor it created, except those in its result (a tensor, or
 * arrays / plain objects / Maps holding tensors) and those marked with `keep()`.
 * Works with async functions too (the scope stays open until the promise settles).
 */
export function scope<T>(fn: () => T): T {
  scopes.push(new Set());
  let result: T;
  try {
    result = fn();
  } catch (e) {
    closeScope(undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => { closeScope(v); return v; },
      (e) => { closeScope(undefined); throw e; },
    ) as T;
  }
  closeScope(result);
  return result;
}
