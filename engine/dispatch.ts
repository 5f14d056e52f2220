// Pipelines and command batching. Every kernel is compiled once per (name, WGSL-changing
// config); dispatches are recorded into one open compute pass and submitted together at a
// read-back or when a batch grows large. Sizes reach kernels through a uniform ring buffer.
import { gpu, gpuWait, throwPendingError, GpuLimitError, mib } from './device.js';
import type { KernelSource } from '../kernels/common.js';
import { tuning } from './plans/tuning.js';

/** Dispatches per submit before a batch is flushed without being asked (tuning().maxBatch), unless a timed region holds them in one. */
let oneSubmit = false;
const batchFull = (): boolean => !oneSubmit && batched >= tuning().maxBatch;

const RING_BYTES = 256 * 1024;
const SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we met

interface Compiled { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; id: number }
const pipelines = new Map<string, Compiled>();
let compileCount = 0;

export function pipelineCount(): number { return compileCount; }

/**
 * The bind-group layout of a kernel, from its declaration (kernels/common.ts `kernel`): the
 * uniform block at binding 0, then its storage buffers and textures 1..n. Explicit (not 'auto')
 * so that the uniform block can take a dynamic offset into the ring buffer, which lets one bind
 * group serve every dispatch with the same operands.
 */
function declaredLayout(src: KernelSource): GPUBindGroupLayoutEntry[] {
  const visibility = GPUShaderStage.COMPUTE;
  const entries: GPUBindGroupLayoutEntry[] = src.params ? [{ binding: 0, visibility, buffer: { type: 'uniform', hasDynamicOffset: true } }] : [];
  src.bindings.forEach(({ decl }, i) => {
    const binding = i + 1;
    if (decl.texture) {
      const access = ({ read: 'read-only', write: 'write-only', read_write: 'read-write' } as const)[decl.access];
      entries.push({ binding, visibility, storageTexture: { access, format: decl.texture, viewDimension: '2d' } });
    } else entries.push({ binding, visibility, buffer: { type: decl.access === 'read' ? 'read-only-storage' : 'storage' } });
  });
  return entries;
}

/** Gets (or compiles once) the pipeline for a kernel. `key` must name everything the WGSL depends on. */
export function getPipeline(src: KernelSource): GPUComputePipeline {
  return compiled(src).pipeline;
}

function compiled(src: KernelSource): Compiled {
  let p = pipelines.get(src.key);
  if (p) return p;
  const { device } = gpu();
  const module = device.createShaderModule({ code: src.code, label: src.key });
  const layout = device.createBindGroupLayout({ entries: declaredLayout(src), label: src.key });
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [layout], label: src.key }),
    compute: { module, entryPoint: 'main' }, label: src.key,
  });
  p = { pipeline, layout, id: pipelines.size };
  pipelines.set(src.key, p);
  compileCount++;
  return p;
}

// Bind groups are cached by pipeline and operands (the uniform ring is bound with a dynamic
// offset, so it is the same resource for every dispatch). Pooled buffers come back with the
// same identity, so a training step finds its bind groups again. Bounded; least recently used
// entries are dropped (a dropped group is only garbage, never in use by a later dispatch).
const BIND_CACHE = 16384;
const bindGroups = new Map<string, GPUBindGroup>();
const ids = new WeakMap<object, number>();
let nextId = 1;
const idOf = (o: object): number => {
  let i = ids.get(o);
  if (i === undefined) { i = nextId++; ids.set(o, i); }
  return i;
};
let bindGroupCreates = 0;
/** Bind groups created so far (the rest of the dispatches reused one). */
export function bindGroupTotal(): number { return bindGroupCreates; }

// ---- the batch ----------------------------------------------------------------------------

let encoder: GPUCommandEncoder | null = null;
let pass: GPUComputePassEncoder | null = null;
let ring: GPUBuffer | null = null;
const staging = new ArrayBuffer(RING_BYTES);
const stagingU32 = new Uint32Array(staging);
const stagingF32 = new Float32Array(staging);
let ringUsed = 0;
let batched = 0;
const afterSubmit: (() => void)[] = [];
let dispatchCount = 0;
let submitCount = 0;

export function dispatchTotal(): number { return dispatchCount; }
export function submitTotal(): number { return submitCount; }

function enc(): GPUCommandEncoder {
  encoder ??= gpu().device.createCommandEncoder({ label: 'lbd-batch' });
  return encoder;
}

function endPass(): void {
  if (pass) { pass.end(); pass = null; }
}

/** A range of a buffer (the whole of it from `offset` when `size` is left out). */
export interface Binding { buffer: GPUBuffer; offset?: number; size?: number }

/** What a storage binding is given: a whole buffer, a range of one, or a texture view. */
export type BindingResource = GPUBuffer | Binding | GPUTextureView;

export interface DispatchArgs {
  kernel: KernelSource;
  /**
   * Storage bindings by the names the kernel declares (binding 0 is the uniform block). A name
   * given null or undefined counts as not given: a kernel variant without an optional binding
   * (a bias) takes the same call.
   */
  bindings: Readonly<Record<string, BindingResource | null | undefined>>;
  /** Values by name for the kernel's declared parameters (required when it declares any). */
  params?: Readonly<Record<string, number | readonly number[]>>;
  workgroups: [number, number?, number?];
}

/** A missing binding, or the first name the kernel does not declare. */
function bindingError(a: DispatchArgs): Error {
  const declared = a.kernel.bindings.map((b) => b.name);
  const list = `(declared: ${declared.join(', ') || 'none'})`;
  const missing = declared.find((n) => a.bindings[n] == null);
  if (missing) return new Error(`${a.kernel.key}: binding '${missing}' is missing ${list}`);
  const unknown = Object.keys(a.bindings).find((n) => a.bindings[n] != null && !declared.includes(n));
  return new Error(`${a.kernel.key}: unknown binding '${unknown}' ${list}`);
}

export function dispatch(a: DispatchArgs): void {
  const { device } = gpu();
  const c = compiled(a.kernel);
  const [x, y = 1, z = 1] = a.workgroups;
  const maxWg = gpu().limits.maxComputeWorkgroupsPerDimension;
  if (x > maxWg || y > maxWg || z > maxWg) {
    throw new Error(`${a.kernel.key}: dispatch ${x}x${y}x${z} exceeds ${maxWg} workgroups per dimension`);
  }
  if (x === 0 || y === 0 || z === 0) return;
  let key = String(c.id);
  let ringOffset = -1;
  let uniformSize = 0;
  const block = a.kernel.params;
  if (!block !== !a.params) throw new Error(block ? `${a.kernel.key}: params are missing (declared: ${Object.keys(block.decl).join(', ')})` : `${a.kernel.key}: params given, but the kernel declares none`);
  if (block) {
    if (ringUsed + SLOT > RING_BYTES) flush();
    ring ??= device.createBuffer({ size: RING_BYTES, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, label: 'uniform-ring' });
    block.pack(a.params as never, stagingU32, stagingF32, ringUsed / 4, a.kernel.key);
    uniformSize = block.words * 4;
    ringOffset = ringUsed;
    ringUsed += SLOT;
    key += `|u${uniformSize}`;
  }
  const maxBind = gpu().limits.maxStorageBufferBindingSize;
  const resources: GPUBindingResource[] = [];
  // in the kernel's binding order, by name; then every name given must have been one of them
  const declared = a.kernel.bindings;
  let given = 0;
  for (const n in a.bindings) if (a.bindings[n] != null) given++;
  if (given !== declared.length) throw bindingError(a);
  for (const { name } of declared) {
    const b = a.bindings[name];
    if (b == null) throw bindingError(a);
    if (b instanceof GPUBuffer) {
      if (b.size > maxBind) tooBig(a.kernel.key, name, b, b.size, maxBind);
      resources.push({ buffer: b });
      key += `|${idOf(b)}`;
    } else if ('buffer' in b) {
      const size = b.size ?? b.buffer.size - (b.offset ?? 0);
      if (size > maxBind) tooBig(a.kernel.key, name, b.buffer, size, maxBind);
      resources.push(b);
      key += `|${idOf(b.buffer)}@${b.offset ?? 0}+${b.size ?? ''}`;
    } else {
      resources.push(b);
      key += `|t${idOf(b)}`;
    }
  }
  let bindGroup = bindGroups.get(key);
  if (bindGroup) bindGroups.delete(key); // re-inserted below: most recently used last
  else {
    const entries: GPUBindGroupEntry[] = [];
    if (block) entries.push({ binding: 0, resource: { buffer: ring!, offset: 0, size: uniformSize } });
    resources.forEach((r, i) => entries.push({ binding: i + 1, resource: r }));
    bindGroup = device.createBindGroup({ layout: c.layout, entries, label: a.kernel.key });
    bindGroupCreates++;
    if (bindGroups.size >= BIND_CACHE) bindGroups.delete(bindGroups.keys().next().value!);
  }
  bindGroups.set(key, bindGroup);
  if (profiling) {
    endPass();
    pass = enc().beginComputePass({ label: a.kernel.key, timestampWrites: profiling.slot(a.kernel.key) });
  }
  pass ??= enc().beginComputePass({ label: 'lbd-pass' });
  pass.setPipeline(c.pipeline);
  if (ringOffset >= 0) pass.setBindGroup(0, bindGroup, [ringOffset]);
  else pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y, z);
  if (profiling) endPass();
  dispatchCount++;
  batched++;
  if (batchFull()) flush();
}

function tooBig(kernel: string, name: string, b: GPUBuffer, size: number, max: number): never {
  throw new GpuLimitError(`${kernel}: binding '${name}' (${b.label}) is ${mib(size)} (${size} bytes), over the device's ` +
    `largest storage binding (maxStorageBufferBindingSize ${mib(max)}); split the work into smaller tensors`);
}

export function copyBuffer(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
  if (bytes === 0) return;
  endPass();
  enc().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  batched++;
  if (batchFull()) flush();
}

/** Uploads through a mapped staging buffer + copy, so the write is ordered with queued dispatches. */
export function upload(dst: GPUBuffer, data: ArrayBufferView, dstOffset = 0): void {
  const bytes = Math.ceil(data.byteLength / 4) * 4;
  if (bytes === 0) return;
  const { device } = gpu();
  const st = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true, label: 'upload' });
  new Uint8Array(st.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  st.unmap();
  copyBuffer(st, 0, dst, dstOffset, bytes);
  afterSubmit.push(() => st.destroy());
}

/**
 * Destroys a GPU object once the batch that may still use it is submitted (destroying it
 * before would make that submit fail).
 */
export function destroyAfterSubmit(o: { destroy(): void }): void {
  if (encoder) afterSubmit.push(() => o.destroy());
  else o.destroy();
}

/** Fill with a 32-bit pattern (zeros by default). */
export function clearBuffer(dst: GPUBuffer, offset: number, bytes: number): void {
  if (bytes === 0) return;
  endPass();
  enc().clearBuffer(dst, offset, Math.ceil(bytes / 4) * 4);
}

/** Submits everything recorded so far. */
export function flush(): void {
  endPass();
  if (!encoder) return;
  const { device } = gpu();
  if (ringUsed > 0 && ring) device.queue.writeBuffer(ring, 0, staging, 0, ringUsed);
  device.queue.submit([encoder.finish()]);
  submitCount++;
  encoder = null;
  ringUsed = 0;
  batched = 0;
  for (const f of afterSubmit.splice(0)) f();
}

/** Waits until the GPU has finished all submitted work (and surfaces WebGPU errors). */
export async function sync(): Promise<void> {
  flush();
  await gpuWait(gpu().device.queue.onSubmittedWorkDone());
  throwPendingError();
}

/** Copies `bytes` from a buffer back to the CPU: one flush and one wait. */
export async function readBuffer(src: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
  const { device } = gpu();
  const size = Math.ceil(bytes / 4) * 4;
  const rb = device.createBuffer({ size: Math.max(4, size), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'readback' });
  copyBuffer(src, offset, rb, 0, size);
  flush();
  try {
    await gpuWait(rb.mapAsync(GPUMapMode.READ));
    throwPendingError();
    return rb.getMappedRange().slice(0, bytes);
  } finally {
    rb.destroy();
  }
}

// ---- GPU timing ---------------------------------------------------------------------------

const QUERIES = 4096; // per query set (Dawn's limit)
let profiling: { sets: GPUQuerySet[]; keys: string[]; slot(key: string): GPUComputePassTimestampWrites } | null = null;

export interface KernelProfile { key: string; ms: number; count: number }

/**
 * GPU time per kernel of the work `fn` records: every dispatch gets a pass of its own with
 * timestamps (slower than normal batching, so use it to find hot kernels, not to time a step).
 * Sorted by total time. Needs the adapter's timestamp-query feature.
 */
export async function profileKernels(fn: () => unknown): Promise<KernelProfile[]> {
  const g = gpu();
  if (!g.hasTimestamps) throw new Error('profileKernels: the adapter has no timestamp-query feature');
  await sync();
  const p = {
    sets: [] as GPUQuerySet[], keys: [] as string[],
    slot(key: string): GPUComputePassTimestampWrites {
      const i = p.keys.length % (QUERIES / 2);
      if (i === 0) p.sets.push(g.device.createQuerySet({ type: 'timestamp', count: QUERIES, label: 'profile' }));
      p.keys.push(key);
      return { querySet: p.sets[p.sets.length - 1], beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
    },
  };
  profiling = p;
  try { await fn(); } finally { endPass(); profiling = null; }
  const totals = new Map<string, KernelProfile>();
  for (let s = 0; s < p.sets.length; s++) {
    const n = Math.min(QUERIES / 2, p.keys.length - s * (QUERIES / 2));
    const res = g.device.createBuffer({ size: 16 * n, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'profile-resolve' });
    enc().resolveQuerySet(p.sets[s], 0, 2 * n, res, 0);
    const t = new BigUint64Array(await readBuffer(res, 0, 16 * n));
    res.destroy();
    p.sets[s].destroy();
    for (let i = 0; i < n; i++) {
      const key = p.keys[s * (QUERIES / 2) + i];
      const e = totals.get(key) ?? { key, ms: 0, count: 0 };
      e.ms += Number(t[2 * i + 1] - t[2 * i]) / 1e6;
      e.count++;
      totals.set(key, e);
    }
  }
  return [...totals.values()].sort((a, b) => b.ms - a.ms);
}

/**
 * Times the GPU work `fn` records, with timestamp queries written by empty passes around it
 * (falls back to wall time around a sync when the adapter has no timestamp-query).
 */
export async function gpuTimeMs(fn: () => void): Promise<number> {
  const g = gpu();
  await sync();
  if (!g.hasTimestamps) {
    const t0 = performance.now();
    fn();
    await sync();
    return performance.now() - t0;
  }
  const { device } = g;
  const qs = device.createQuerySet({ type: 'timestamp', count: 2, label: 'timer' });
  const res = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'timer-resolve' });
  endPass();
  enc().beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0 } }).end();
  oneSubmit = true; // keep the timed work in one submit
  try { fn(); } finally { oneSubmit = false; }
  endPass();
  enc().beginComputePass({ timestampWrites: { querySet: qs, endOfPassWriteIndex: 1 } }).end();
  enc().resolveQuerySet(qs, 0, 2, res, 0);
  const out = await readBuffer(res, 0, 16);
  qs.destroy();
  res.destroy();
  const t = new BigUint64Array(out);
  return Number(t[1] - t[0]) / 1e6;
}
