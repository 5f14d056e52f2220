// The one WebGPU device of the process: adapter choice, limits, features, error surfacing,
// and the GPU-wait helper that stops dawn.node from busy-spinning (KERNELS.md §1).
import v8 from 'node:v8';
import { readFileSync } from 'node:fs';

// dawn.node crashes when V8 on-stack-replaces a hot loop (ARCHITECTURE.md). The flag must be
// set before 'webgpu' is first imported, so this module imports it dynamically below.
v8.setFlagsFromString('--no-use-osr');

export type Backend = 'auto' | 'vulkan' | 'opengles';

export interface DeviceInfo {
  backend: string;
  name: string;
  vendor: string;
  architecture: string;
  software: boolean;
  subgroupSize: number | null;
  features: string[];
}

export interface Gpu {
  device: GPUDevice;
  info: DeviceInfo;
  limits: GPUSupportedLimits;
  hasSubgroups: boolean;
  hasTimestamps: boolean;
}

export const SETUP_HINT =
  'No WebGPU adapter found. On Debian 12 run (as root): `npm run gpu:setup` ' +
  '(installs mesa-vulkan-drivers and libvulkan1 from bookworm-backports; Debian 12\'s own Mesa 22 ' +
  'is refused by Dawn). Or set LBD_BACKEND=opengles to use Dawn\'s GLES backend on stock Mesa.';

let current: Gpu | null = null;
let pending: Promise<Gpu> | null = null;
let pendingError: Error | null = null;
let quiet = false;

/** Set by tests and the benchmark so the adapter line is printed once, or not at all. */
export function setQuiet(q: boolean): void { quiet = q; }

function isSoftware(info: GPUAdapterInfo): boolean {
  const s = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|software|softpipe/.test(s);
}

// Dawn instances must stay reachable: one collected by GC takes its device down with it
// (seen here as 'futex facility returned an unexpected error code' crashes).
const instances: GPU[] = [];

async function tryAdapter(backend: 'vulkan' | 'opengles' | 'default'): Promise<GPUAdapter | null> {
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
    const extra = (process.env.LBD_DAWN_FLAGS ?? '').split(',').filter(Boolean);
    const gpu = webgpu.create([...(backend === 'vulkan' ? ['backend=vulkan'] : []), ...extra]);
    instances.push(gpu);
    return await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    return null;
  }
}

/** Adapter order: real GPU, then software Vulkan, then Dawn's GLES backend. */
async function pickAdapter(): Promise<{ adapter: GPUAdapter; backend: string }> {
  const want = (process.env.LBD_BACKEND ?? 'auto').toLowerCase();
  if (!['auto', 'vulkan', 'opengles'].includes(want)) {
    throw new Error(`LBD_BACKEND must be one of auto, vulkan, opengles; got '${want}'`);
  }
  if (want !== 'auto') {
    const a = await tryAdapter(want as 'vulkan' | 'opengles');
    if (!a) throw new Error(`LBD_BACKEND=${want}: Dawn found no adapter for that backend. ${SETUP_HINT}`);
    return { adapter: a, backend: want };
  }
  // Dawn's default request already prefers a discrete/integrated GPU over a CPU adapter.
  const first = await tryAdapter('default');
  if (first) return { adapter: first, backend: 'vulkan' };
  const gles = await tryAdapter('opengles');
  if (gles) return { adapter: gles, backend: 'opengles' };
  throw new Error(SETUP_HINT);
}

/**
 * llvmpipe (lavapipe) compiles kernels for 256-bit vectors (8-lane subgroups) unless
 * LP_NATIVE_VECTOR_WIDTH says otherwise *before the Vulkan device is created*; on an AVX-512
 * CPU 512 gives 16-lane subgroups and ~1.2-1.5x on GEMMs (docs/kernels.md). The kernels are
 * written for any subgroup size, so the engine asks for the widest width the CPU has.
 * LBD_VECTOR_WIDTH = auto (default) | 128 | 256 | 512 | off; a user's own
 * LP_NATIVE_VECTOR_WIDTH always wins. Harmless for hardware adapters (only llvmpipe reads it).
 */
let vectorWidth = process.env.LBD_VECTOR_WIDTH ?? 'auto';
/** Sets the CPU adapter's vector width for the device about to be created (see above). */
export function setVectorWidth(w: 'auto' | 'off' | 128 | 256 | 512): void {
  if (current || pending) throw new Error('setVectorWidth: the device already exists; call it before getGpu()');
  vectorWidth = String(w);
}

/** The widest SIMD width this CPU runs natively (Linux /proc/cpuinfo; 256 when unknown). */
export function cpuVectorWidth(): number {
  try {
    const flags = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
    if (/\bavx512f\b/.test(flags)) return 512;
  } catch { /* not Linux: keep llvmpipe's default */ }
  return 256;
}

function applyVectorWidth(): void {
  if (process.env.LP_NATIVE_VECTOR_WIDTH || vectorWidth === 'off') return;
  const w = vectorWidth === 'auto' ? cpuVectorWidth() : Number(vectorWidth);
  if (![128, 256, 512].includes(w)) throw new Error(`LBD_VECTOR_WIDTH must be auto, off, 128, 256 or 512; got '${vectorWidth}'`);
  process.env.LP_NATIVE_VECTOR_WIDTH = String(w);
}

async function init(): Promise<Gpu> {
  applyVectorWidth();
  const { adapter, backend } = await pickAdapter();
  const want: GPUFeatureName[] = ['subgroups', 'timestamp-query', 'shader-f16'];
  const features = want.filter((f) => adapter.features.has(f));
  // Ask for the adapter's own (higher) limits, not WebGPU's defaults.
  const limits: Record<string, number> = {};
  const keys = [
    'maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
    'maxComputeWorkgroupSizeZ', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage',
    'maxStorageTexturesPerShaderStage', 'maxTextureDimension2D', 'maxUniformBufferBindingSize',
  ] as const;
  for (const k of keys) limits[k] = (adapter.limits as unknown as Record<string, number>)[k];
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits: limits, label: 'lbd-gpu' });
  device.addEventListener('uncapturederror', (ev) => {
    const e = (ev as GPUUncapturedErrorEvent).error;
    // Dawn's message names the labelled pipeline/buffer; thrown at the next sync point.
    pendingError ??= new Error(`WebGPU error: ${e.message}`);
  });
  void device.lost.then((info) => {
    if (info.reason !== 'destroyed') pendingError ??= new Error(`WebGPU device lost: ${info.message}`);
  });
  const ai = adapter.info;
  const sgMin = (ai as unknown as { subgroupMinSize?: number }).subgroupMinSize;
  const sgMax = (ai as unknown as { subgroupMaxSize?: number }).subgroupMaxSize;
  const info: DeviceInfo = {
    backend,
    name: ai.description || ai.device || ai.vendor || 'unknown adapter',
    vendor: ai.vendor,
    architecture: ai.architecture,
    software: isSoftware(ai),
    subgroupSize: features.includes('subgroups') && sgMin && sgMin === sgMax ? sgMin : null,
    features,
  };
  // A hardware adapter finishes small work in well under the 1 ms timer: poll promptly there.
  spinMs = Number(process.env.LBD_SPIN_MS ?? (info.software ? 0 : 2));
  if (!quiet) {
    console.log(`lbd-gpu: ${info.name} [${backend}${info.software ? ', software' : ''}` +
      `${info.subgroupSize ? `, subgroup ${info.subgroupSize}` : ''}]`);
  }
  return {
    device, info, limits: device.limits,
    hasSubgroups: features.includes('subgroups'),
    hasTimestamps: features.includes('timestamp-query'),
  };
}

/** The process's device; created on first call. */
export async function getGpu(): Promise<Gpu> {
  if (current) return current;
  pending ??= init().then((g) => (current = g));
  return pending;
}

/** The device after `getGpu()` resolved; throws if the engine was not started. */
export function gpu(): Gpu {
  if (!current) throw new Error('lbd-gpu: the device is not initialised; `await getGpu()` (or `await init()` from engine/index) first');
  return current;
}

/** Throws the first uncaptured WebGPU error seen since the last check. */
export function throwPendingError(): void {
  if (pendingError) {
    const e = pendingError;
    pendingError = null;
    throw e;
  }
}

/**
 * Awaits a GPU promise (mapAsync, onSubmittedWorkDone). dawn.node re-queues its event
 * processing with setImmediate while such a promise is pending, which spins Node's thread at
 * 100% and steals a core from a CPU adapter (lavapipe: ~2x, docs/kernels.md). So after
 * `spinMs` of prompt polling, setImmediate is routed through a 1 ms timer until the promise
 * settles. spinMs is 0 on software adapters (the spin costs the GPU a core at once) and 2 ms on
 * hardware ones (a 1024³ matmul takes ~0.3 ms on an H100: a 1 ms timer would be most of the
 * wait); LBD_SPIN_MS overrides. Normal setImmediate is restored afterwards.
 */
let spinMs = 0;
const realSetImmediate = globalThis.setImmediate;
const slowSetImmediate = ((fn: (...a: unknown[]) => void, ...args: unknown[]) =>
  setTimeout(fn, 1, ...args)) as unknown as typeof setImmediate;

let spinFix = process.env.LBD_SPIN_FIX !== '0';
/** Turns the busy-spin workaround off or on (the benchmark measures both). */
export function setSpinWorkaround(on: boolean): void { spinFix = on; }
/** Milliseconds of prompt polling before a GPU wait backs off to a timer (see gpuWait). */
export function setSpinMs(ms: number): void { spinMs = ms; }

let slowed = 0;
function slowDown(): void { if (slowed++ === 0) globalThis.setImmediate = slowSetImmediate; }
function restore(): void { if (--slowed === 0) globalThis.setImmediate = realSetImmediate; }

export async function gpuWait<T>(p: Promise<T>): Promise<T> {
  if (!spinFix) return p;
  let backedOff = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  if (spinMs <= 0) { backedOff = true; slowDown(); } else {
    timer = setTimeout(() => { timer = null; backedOff = true; slowDown(); }, spinMs);
  }
  try {
    return await p;
  } finally {
    if (timer) clearTimeout(timer);
    if (backedOff) restore();
  }
}

/** Releases the device so the process can exit. */
export function destroyGpu(): void {
  if (current) current.device.destroy();
  current = null;
  pending = null;
}
