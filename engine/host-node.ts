// The Node-only half of the device module: dawn.node (npm `webgpu`) and its work-arounds.
// engine/device.ts imports it as `#host`, which package.json's "imports" map resolves to this
// file under Node and to host-browser.ts (no host) for a browser bundle — every bundler that
// honours package.json conditions (esbuild, Vite, webpack, Rollup) leaves this file out with no
// plugin, and the page's build checks that it did.
import v8 from 'node:v8';
import { readFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { tuning } from './plans/tuning.js';

// dawn.node crashes when V8 on-stack-replaces a hot loop (docs/architecture.md). The flag must be
// set before 'webgpu' is first imported, so 'webgpu' is imported dynamically below; device.ts
// loads this module at its own load time, so the flag is set as early as before.
v8.setFlagsFromString('--no-use-osr');

// Dawn instances must stay reachable: one collected by GC takes its device down with it
// (seen here as 'futex facility returned an unexpected error code' crashes).
const instances: GPU[] = [];

/** One of Dawn's adapters, or null when that backend has none. */
export async function tryAdapter(backend: 'vulkan' | 'opengles' | 'default'): Promise<GPUAdapter | null> {
  const webgpu = await import('webgpu');
  Object.assign(globalThis, webgpu.globals);
  try {
    if (backend === 'opengles') {
      process.env.EGL_PLATFORM ??= 'surfaceless';
      const gpu = webgpu.create(['backend=opengles']);
      instances.push(gpu);
      return await gpu.requestAdapter({ featureLevel: 'compatibility' } as GPURequestAdapterOptions);
    }
    // LBD_DAWN_FLAGS passes extra dawn.node options (e.g. 'enable-dawn-features=...'), comma-separated.
    const extra = tuning().dawnFlags;
    const gpu = webgpu.create([...(backend === 'vulkan' ? ['backend=vulkan'] : []), ...extra]);
    instances.push(gpu);
    return await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    return null;
  }
}

/** The widest SIMD width this CPU runs natively (Linux /proc/cpuinfo; 256 when unknown). */
export function cpuVectorWidth(): number {
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    if (/\bavx512f\b/.test(flags)) return 512;
  } catch { /* not Linux: keep llvmpipe's default */ }
  return 256;
}

/** Tells llvmpipe its vector width (read when the Vulkan device is created). */
export function setNativeVectorWidth(w: number): void { process.env.LP_NATIVE_VECTOR_WIDTH = String(w); }
/** Whether LP_NATIVE_VECTOR_WIDTH (llvmpipe's variable, not the engine's) is set. */
export function nativeVectorWidthSet(): boolean { return process.env.LP_NATIVE_VECTOR_WIDTH !== undefined; }

// dawn.node re-queues its event processing with setImmediate while a GPU promise is pending,
// which spins Node's thread; gpuWait (device.ts) routes setImmediate through a 1 ms timer while
// it waits. Nested waits share one swap.
const realSetImmediate = globalThis.setImmediate;
const slowSetImmediate = ((fn: (...a: unknown[]) => void, ...args: unknown[]) =>
  setTimeout(fn, 1, ...args)) as unknown as typeof setImmediate;
let slowed = 0;
export function slowDown(): void { if (slowed++ === 0) globalThis.setImmediate = slowSetImmediate; }
export function restore(): void { if (--slowed === 0) globalThis.setImmediate = realSetImmediate; }

// ---- files (checkpoints) -------------------------------------------------------------------

import { readFile } from 'node:fs/promises';
import type { NodeHost } from './host.js';

async function writeAll(fh: import('node:fs/promises').FileHandle, buf: Uint8Array): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    done += bytesWritten;
  }
}

/**
 * Writes chunks to `path` atomically: a temp file in the same directory, fsync, rename, then an
 * fsync of the directory (best effort). `point` is called at the crash-test fault points
 * save:temp (written and fsynced, not renamed) and save:renamed.
 */
export async function writeFileAtomic(path: string, chunks: Uint8Array[], point: (name: string) => void = () => {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fh: import('node:fs/promises').FileHandle | null = null;
  let created = false;
  try {
    fh = await open(tmp, 'wx');
    created = true;
    for (const c of chunks) await writeAll(fh, c);
    await fh.sync();
    await fh.close();
    fh = null;
    point('save:temp');
    await rename(tmp, path);
    created = false;
    point('save:renamed');
  } catch (e) {
    if (fh) await fh.close().catch(() => {});
    if (created) await unlink(tmp).catch(() => {});
    throw e;
  }
  // Make the rename itself durable (best effort: not every platform can fsync a directory).
  try {
    const dh = await open(dirname(path), 'r');
    try { await dh.sync(); } finally { await dh.close(); }
  } catch { /* ignore */ }
}

/** This host, as device.ts sees it (host-browser.ts exports null under the same name). */
export const host: NodeHost | null = { tryAdapter, cpuVectorWidth, setNativeVectorWidth, nativeVectorWidthSet, slowDown, restore, readFile, writeFileAtomic };
