/// <reference types="@webgpu/types" preserve="true" />
// The one WebGPU device of the process: adapter choice, limits, features, error surfacing,
// and the GPU-wait helper that stops dawn.node from busy-spinning (docs/kernels.md §1).
//
// Two hosts, one module: in a browser the adapter comes from `navigator.gpu`; under Node from
// Dawn (npm `webgpu`) through engine/host-node.ts, which also holds the Node-only work-arounds
// (the --no-use-osr flag, the busy-spin fix, llvmpipe's vector width). `#host` is package.json's
// "imports" entry: host-node.js under Node (loaded with this module, so the V8 flag is set before
// anything else runs), host-browser.js (null) for a browser bundle.
import { host as nodeHost } from '#host';
import { tuning, setTuning, type VectorWidth } from './plans/tuning.js';
import { profileOf, cpuKernelPaths as cpuPaths, type AdapterProfile } from './plans/profile.js';
import type { NodeHost } from './host.js';

export type Backend = 'auto' | 'vulkan' | 'opengles' | 'browser';

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

/** What a browser without WebGPU is told (the page shows it). */
export const NO_WEBGPU_HINT =
  'This browser offers no WebGPU (navigator.gpu is missing or gave no adapter). Use a current ' +
  'Chrome, Edge or Safari 26 (Firefox 141+ on Windows), over https or from localhost; on Linux ' +
  'Chromium may need --enable-unsafe-webgpu (and --use-webgpu-adapter=swiftshader without a GPU).';

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

/** The browser's adapter (a real GPU first; whatever the browser offers otherwise). */
async function browserAdapter(): Promise<{ adapter: GPUAdapter; backend: string }> {
  const g = (globalThis.navigator as Navigator | undefined)?.gpu;
  const adapter = g ? await g.requestAdapter({ powerPreference: 'high-performance' }) : null;
  if (!adapter) throw new Error(NO_WEBGPU_HINT);
  return { adapter, backend: 'browser' };
}

/** Adapter order: real GPU, then software Vulkan, then Dawn's GLES backend. */
async function pickAdapter(): Promise<{ adapter: GPUAdapter; backend: string }> {
  if (!nodeHost) return browserAdapter();
  const tryAdapter = nodeHost.tryAdapter;
  const want = tuning().backend;
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
/** Sets the CPU adapter's vector width for the device about to be created (see above). */
export function setVectorWidth(w: VectorWidth): void {
  if (current || pending) throw new Error('setVectorWidth: the device already exists; call it before getGpu()');
  setTuning({ vectorWidth: w });
}

/** The widest SIMD width this CPU runs natively (Linux /proc/cpuinfo; 256 when unknown or in a browser). */
export function cpuVectorWidth(): number {
  return nodeHost ? nodeHost.cpuVectorWidth() : 256;
}

/** Only under Node: a browser picks its own adapter and its driver reads no environment. */
function applyVectorWidth(): void {
  const vw = tuning().vectorWidth;
  // LP_NATIVE_VECTOR_WIDTH is llvmpipe's own variable, not the engine's: a user's value wins
  if (!nodeHost || nodeHost.nativeVectorWidthSet() || vw === 'off') return;
  nodeHost.setNativeVectorWidth(vw === 'auto' ? cpuVectorWidth() : vw);
}

async function init(): Promise<Gpu> {
  tuning(); // the environment's options, read (and checked) before the device exists
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
    // Work outside catchGpuErrors (evaluation, a task's own code): thrown at the next sync point,
    // naming the kernels and buffers Dawn's message names.
    pendingError ??= new Error(`${describeGpuFault(faultOf(e))} (noticed at a later sync point)`);
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
  spinDefault = info.software ? 0 : 2;
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

/** The adapter profile the plans read (engine/plans/profile.ts), of the started device. */
export function adapterProfile(): AdapterProfile {
  const g = gpu();
  if (profileFor !== g) { profile = profileOf(g); profileFor = g; }
  return profile!;
}
let profile: AdapterProfile | null = null, profileFor: Gpu | null = null;

/** Whether kernels take their CPU-adapter structures (engine/plans/profile.ts cpuKernelPaths). */
export function cpuKernelPaths(): boolean { return cpuPaths(adapterProfile(), tuning()); }

/** The process's device; created on first call. */
export async function getGpu(): Promise<Gpu> {
  if (current) return current;
  pending ??= init().then((g) => (current = g));
  return pending;
}

/** Whether anything has asked for the device yet (the test runner's device-free tier checks it). */
export function deviceRequested(): boolean { return pending !== null; }

/** The device after `getGpu()` resolved; throws if the engine was not started. */
export function gpu(): Gpu {
  if (!current) throw new Error("lbd-gpu: the device is not started: `await getGpu()` first (import { getGpu } from 'lbd-gpu')");
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

// ---- errors caught where they happen ------------------------------------------------------

/** A GPU error caught by an error scope: its kind and Dawn's message. */
export interface GpuFault { kind: 'validation' | 'out-of-memory' | 'internal'; message: string }

const faultOf = (e: GPUError): GpuFault => ({
  kind: e instanceof GPUOutOfMemoryError ? 'out-of-memory' : e instanceof GPUValidationError ? 'validation' : 'internal',
  message: e.message,
});

/**
 * Runs synchronous GPU work inside an out-of-memory and a validation error scope and returns a
 * promise of the first error it caused (out of memory first, since a failed allocation makes every
 * later use of that buffer invalid; null when none). The promise settles when the device next
 * processes events — any later read-back or wait — so a caller keeps it and looks at it when it
 * reads its results anyway: no extra sync. The work must flush what it recorded (a compute pass's
 * errors are found when its command buffer is finished). Two scope pushes and pops cost ~4 µs.
 */
export function catchGpuErrors(fn: () => void): Promise<GpuFault | null> {
  const { device } = gpu();
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  const pop = (): Promise<GpuFault | null> => {
    const validation = device.popErrorScope(), memory = device.popErrorScope();
    // a pop rejects only when the device is lost; that surfaces through the lost promise
    return Promise.all([memory, validation]).then(([m, v]) => (m ? faultOf(m) : v ? faultOf(v) : null), () => null);
  };
  try {
    fn();
  } catch (e) {
    void pop();
    throw e;
  }
  return pop();
}

// Objects the engine itself labels: naming them says nothing about which op failed.
const PLUMBING = new Set(['lbd-gpu', 'lbd-batch', 'lbd-pass', 'uniform-ring', 'upload', 'readback', '']);

/**
 * The labelled objects Dawn's message names, as `kernel k` (pipelines and bind groups carry the
 * kernel's key) and `buffer b` (a tensor's buffer carries the label of the op
 * that first allocated it; pooled buffers keep that label when reused).
 */
export function gpuFaultLabels(message: string): string[] {
  const out: string[] = [];
  for (const m of message.matchAll(/\[(?:Invalid )?(\w+) "+([^"\]]*)"+\]/g)) {
    // Dawn hands out one bind-group layout per distinct set of entries, labelled by the first
    // kernel that asked for it: in a long process its label names some other kernel (seen: a
    // wrong binding of test_two_bindings reported as "test_copy_first, test_two_bindings")
    if (PLUMBING.has(m[2]) || /^BindGroupLayout/.test(m[1])) continue;
    const what = /Buffer$/.test(m[1]) && !/Bind/.test(m[1]) ? `buffer ${m[2]}` : /Pipeline|BindGroup|ShaderModule/.test(m[1]) ? `kernel ${m[2]}` : `${m[1]} ${m[2]}`;
    if (!out.includes(what)) out.push(what);
  }
  return out;
}

/** One line: the kind, the kernels and buffers named, and the first line of Dawn's message. */
export function describeGpuFault(f: GpuFault): string {
  const kind = f.kind === 'out-of-memory' ? 'GPU out of memory' : f.kind === 'validation' ? 'GPU validation error' : 'GPU internal error';
  const labels = gpuFaultLabels(f.message);
  const first = f.message.split('\n')[0].trim();
  return `${kind}${labels.length ? ` in ${labels.join(', ')}` : ''}: ${first}`;
}

/**
 * A request the device cannot meet at all (a buffer or binding over its limits), thrown where it
 * is made, naming the op and the size; a task can tell its user which option to lower.
 */
export class GpuLimitError extends Error {
  constructor(message: string) { super(message); this.name = 'GpuLimitError'; }
}

/** Bytes as MiB with one decimal (GiB above 10 GiB), for messages. */
export const mib = (bytes: number): string =>
  bytes >= 10 * 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * Awaits a GPU promise (mapAsync, onSubmittedWorkDone). dawn.node re-queues its event
 * processing with setImmediate while such a promise is pending, which spins Node's thread at
 * 100% and steals a core from a CPU adapter (lavapipe: ~2x, docs/kernels.md). So after
 * `spinMs` of prompt polling, setImmediate is routed through a 1 ms timer until the promise
 * settles. spinMs is 0 on software adapters (the spin costs the GPU a core at once) and 2 ms on
 * hardware ones (a 1024³ matmul takes ~0.3 ms on an H100: a 1 ms timer would be most of the
 * wait); LBD_SPIN_MS overrides. Normal setImmediate is restored afterwards.
 */
let spinDefault = 0;

// Node only: a browser's event loop does not spin on pending GPU promises.
export async function gpuWait<T>(p: Promise<T>): Promise<T> {
  if (!tuning().spinFix || !nodeHost) return p;
  const spinMs = tuning().spinMs ?? spinDefault;
  const { slowDown, restore } = nodeHost;
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

/**
 * Reading and writing files (checkpoints): the Node host's functions. In a browser there are
 * no files — encode and parse checkpoints as bytes (engine/checkpoint.ts) instead.
 */
export function hostFiles(): Pick<NodeHost, 'readFile' | 'writeFileAtomic'> {
  if (!nodeHost) throw new Error('lbd-gpu: reading and writing files needs Node; in a browser use encodeCheckpoint / parseCheckpoint on bytes');
  return nodeHost;
}

/** Releases the device so the process can exit. */
export function destroyGpu(): void {
  if (current) current.device.destroy();
  current = null;
  pending = null;
}
