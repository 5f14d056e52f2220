// Checkpoints in the safetensors format (https://github.com/huggingface/safetensors):
// an 8-byte little-endian u64 header length N, N bytes of JSON header (space-padded to a
// multiple of 8), then the raw little-endian tensor bytes, contiguous and in header order.
// Files interoperate with Python's `safetensors` for F32 / I32 / U32.
//
// Saving reads every tensor back first, writes a temporary file next to the target, fsyncs
// it and renames it over the target: a crash leaves either the old file or the new one.
// Loading validates the whole file (header, dtypes, offsets, sizes) and reads all data before
// anything touches a tensor, so a bad file never half-applies.
//
// The format itself (encodeCheckpoint, parseCheckpoint) works on bytes and runs in a browser;
// the functions that take a path reach files through the Node host (engine/host-node.ts, via
// device.ts's hostFiles), so this module imports nothing Node-only.
import { sha256 as sha256Bytes } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { hostFiles } from './device.js';
import { upload } from './dispatch.js';
import { numel, fmtShape, type DType, type Tensor, type TypedArray } from './tensor.js';
import { tuning } from './plans/tuning.js';

const faultCounts = new Map<string, number>();
/**
 * Fault injection for the crash tests (test/tasks/runner-*.test.ts): with LBD_FAULT=<point>:<n>
 * the process kills itself (SIGKILL: no cleanup, as a power cut or the OOM killer) the n-th time
 * it reaches <point>. Points: save:temp (a save's temporary file written and fsynced, not yet
 * renamed), save:renamed, and those the runner names (tasks/common/). Does nothing otherwise.
 */
export function faultPoint(point: string): void {
  const spec = tuning().fault;
  if (!spec) return;
  const at = spec.lastIndexOf(':');
  const name = spec.slice(0, at), n = spec.slice(at + 1);
  if (name !== point) return;
  const c = (faultCounts.get(point) ?? 0) + 1;
  faultCounts.set(point, c);
  if (c === Number(n)) globalThis.process?.kill(globalThis.process.pid, 'SIGKILL');
}

/** One tensor as read from a file: host data, not yet on the GPU. */
export interface TensorRecord { dtype: DType; shape: number[]; data: TypedArray }

/** A whole file: tensors in file order and the `__metadata__` strings. */
export interface Checkpoint { tensors: Map<string, TensorRecord>; metadata: Record<string, string> }

const TO_FILE: Record<DType, string> = { f32: 'F32', i32: 'I32', u32: 'U32' };
const FROM_FILE: Record<string, DType> = { F32: 'f32', I32: 'i32', U32: 'u32' };
const METADATA = '__metadata__';
/**
 * Metadata key of the optional SHA-256 of the tensor data (all bytes after the header), written
 * when a save asks for it and verified by every read of a file that has it: flipped bits in the
 * data are reported instead of loaded. Read results do not list the key.
 */
export const CHECKSUM_KEY = 'checksum.sha256';

/** Options of a save. */
export interface SaveOptions { /** Store the SHA-256 of the tensor data (verified on load). */ checksum?: boolean }

const sha256 = (chunks: Uint8Array[]): string => {
  const h = sha256Bytes.create();
  for (const c of chunks) h.update(c);
  return bytesToHex(h.digest());
};

function assertLittleEndian(): void {
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('checkpoints need a little-endian host');
}

const errMsg = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// ---- saving -------------------------------------------------------------------------------

/** Builds the padded header for tensors laid out back to back in entry order. */
function buildHeader(items: { name: string; dtype: DType; shape: number[]; bytes: number }[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header[METADATA] = metadata;
  let offset = 0;
  for (const it of items) {
    header[it.name] = { dtype: TO_FILE[it.dtype], shape: it.shape, data_offsets: [offset, offset + it.bytes] };
    offset += it.bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n).fill(0x20);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  return out;
}

/** Writes chunks to `path` atomically: temp file in the same directory, fsync, rename (Node). */
export async function writeFileAtomic(path: string, chunks: Uint8Array[]): Promise<void> {
  await hostFiles().writeFileAtomic(path, chunks, faultPoint);
}

/**
 * Saves tensors to a safetensors file. Every tensor is read back from the GPU before the file
 * is opened; the write is atomic (temp file + fsync + rename). Metadata values must be strings.
 */
export async function saveTensors(path: string, entries: [string, Tensor][], metadata?: Record<string, string>, opts: SaveOptions = {}): Promise<void> {
  assertLittleEndian();
  const seen = new Set<string>();
  for (const [name, t] of entries) {
    if (typeof name !== 'string' || name.length === 0) throw new Error(`saveTensors(${path}): tensor names must be non-empty strings`);
    if (name === METADATA) throw new Error(`saveTensors(${path}): "${METADATA}" is reserved and cannot name a tensor`);
    if (seen.has(name)) throw new Error(`saveTensors(${path}): duplicate tensor name "${name}"`);
    seen.add(name);
    if (!(t.dtype in TO_FILE)) throw new Error(`saveTensors(${path}): tensor "${name}" has unsupported dtype ${t.dtype}`);
    if (t.disposed) throw new Error(`saveTensors(${path}): tensor "${name}" ${fmtShape(t.shape)} was disposed`);
  }
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`saveTensors(${path}): metadata "${k}" must be a string, got ${typeof v}`);
    }
  }
  const records: [string, TensorRecord][] = [];
  for (const [name, t] of entries) records.push([name, { dtype: t.dtype, shape: t.shape.slice(), data: await t.data() }]);
  await saveRecords(path, records, metadata, 'saveTensors', opts);
}

/**
 * The bytes of a checkpoint (header, then each tensor's data) for host arrays: what a file
 * holds, for hosts without files (a browser) or other transports.
 */
export function encodeCheckpoint(entries: [string, TensorRecord][], metadata?: Record<string, string>, opts: SaveOptions = {}): Uint8Array[] {
  assertLittleEndian();
  const data: Uint8Array[] = [];
  for (const [, { data: d }] of entries) if (d.byteLength > 0) data.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  const meta = opts.checksum ? { ...(metadata ?? {}), [CHECKSUM_KEY]: sha256(data) } : metadata;
  const header = buildHeader(entries.map(([name, r]) => ({ name, dtype: r.dtype, shape: r.shape, bytes: r.data.byteLength })), meta);
  return [header, ...data];
}

/** Saves host arrays (e.g. a decoded data set) in the same format, atomically. */
export async function saveRecords(path: string, entries: [string, TensorRecord][], metadata?: Record<string, string>, caller = 'saveRecords', opts: SaveOptions = {}): Promise<void> {
  assertLittleEndian();
  for (const [name, r] of entries) {
    if (r.data.length !== numel(r.shape)) throw new Error(`${caller}(${path}): "${name}" has ${r.data.length} values for shape ${fmtShape(r.shape)}`);
  }
  if (metadata && CHECKSUM_KEY in metadata) throw new Error(`${caller}(${path}): metadata key "${CHECKSUM_KEY}" is reserved (pass { checksum: true })`);
  const chunks = encodeCheckpoint(entries, metadata, opts);
  try {
    await writeFileAtomic(path, chunks);
  } catch (e) {
    throw new Error(`${caller}: cannot write ${path}: ${errMsg(e)}`);
  }
}

// ---- loading ------------------------------------------------------------------------------

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;

interface Parsed { name: string; dtype: DType; shape: number[]; begin: number; end: number }

/** Checks one header entry; returns it parsed or throws with what is wrong. */
function parseEntry(name: string, v: unknown, dataLen: number): Parsed {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`tensor "${name}": header entry is not an object`);
  const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (typeof e.dtype !== 'string' || !(e.dtype in FROM_FILE)) {
    throw new Error(`tensor "${name}": unknown or unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(FROM_FILE).join(', ')})`);
  }
  if (!Array.isArray(e.shape) || !e.shape.every(isCount)) throw new Error(`tensor "${name}": shape ${JSON.stringify(e.shape)} must be an array of non-negative integers`);
  const off = e.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount)) throw new Error(`tensor "${name}": data_offsets ${JSON.stringify(off)} must be two non-negative integers`);
  const [begin, end] = off as number[];
  if (end < begin) throw new Error(`tensor "${name}": data_offsets [${begin}, ${end}] end before they begin`);
  if (end > dataLen) throw new Error(`tensor "${name}": data_offsets [${begin}, ${end}] run past the end of the data (${dataLen} bytes; file truncated?)`);
  const shape = e.shape as number[];
  const want = numel(shape) * 4;
  if (end - begin !== want) {
    throw new Error(`tensor "${name}": data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${e.dtype} ${fmtShape(shape)} needs ${want}`);
  }
  return { name, dtype: FROM_FILE[e.dtype], shape, begin, end };
}

/** Copies a byte range into a fresh, aligned typed array. */
function toTyped(buf: Uint8Array, begin: number, end: number, dtype: DType): TypedArray {
  const ab = new ArrayBuffer(end - begin);
  new Uint8Array(ab).set(buf.subarray(begin, end));
  return dtype === 'f32' ? new Float32Array(ab) : dtype === 'i32' ? new Int32Array(ab) : new Uint32Array(ab);
}

/** Parses and validates a whole safetensors image; `path` only names it in errors. */
export function parseCheckpoint(buf: Uint8Array, path: string): Checkpoint {
  assertLittleEndian();
  const fail = (what: string): never => { throw new Error(`checkpoint ${path}: ${what}`); };
  if (buf.length < 8) fail(`file is ${buf.length} bytes, too short for the 8-byte header length`);
  const n64 = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getBigUint64(0, true);
  if (n64 > BigInt(buf.length - 8)) fail(`header length ${n64} exceeds the ${buf.length - 8} bytes after the length field (truncated or not a safetensors file)`);
  const n = Number(n64);
  const text = new TextDecoder().decode(buf.subarray(8, 8 + n));
  if (!text.startsWith('{')) fail('header does not start with "{" (not a safetensors file?)');
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${errMsg(e)}`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + n;
  const dataLen = buf.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: Parsed[] = [];
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(`${METADATA} must be an object of strings`);
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') fail(`${METADATA} entry "${k}" is not a string`);
        metadata[k] = s as string;
      }
      continue;
    }
    try {
      entries.push(parseEntry(name, v, dataLen));
    } catch (e) {
      fail(errMsg(e));
    }
  }
  // The data must be covered exactly: no overlaps, no holes, no trailing bytes.
  const byOffset = entries.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev = '';
  for (const e of byOffset) {
    if (e.begin < at) fail(`tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap tensor "${prev}" (which ends at ${at})`);
    if (e.begin > at) fail(`${e.begin - at} bytes at data offset ${at} belong to no tensor (hole before "${e.name}")`);
    at = e.end;
    prev = e.name;
  }
  if (at !== dataLen) fail(`${dataLen - at} trailing bytes after the last tensor (data is ${dataLen} bytes, tensors cover ${at})`);
  if (CHECKSUM_KEY in metadata) {
    const want = metadata[CHECKSUM_KEY], got = sha256([buf.subarray(dataStart)]);
    if (got !== want) fail(`tensor data fails its checksum (sha256 ${got.slice(0, 12)}… vs ${want.slice(0, 12)}… recorded): the file is corrupt`);
    delete metadata[CHECKSUM_KEY];
  }
  const tensors = new Map<string, TensorRecord>();
  for (const e of entries) tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: toTyped(buf, dataStart + e.begin, dataStart + e.end, e.dtype) });
  return { tensors, metadata };
}

/** Reads and validates a checkpoint: tensors (host data) and metadata. */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  let buf: Uint8Array;
  try {
    buf = await hostFiles().readFile(path);
  } catch (e) {
    throw new Error(`checkpoint ${path}: cannot read: ${errMsg(e)}`);
  }
  return parseCheckpoint(buf, path);
}

/** Reads and validates a checkpoint's tensors (host data, nothing uploaded). */
export async function loadTensors(path: string): Promise<Map<string, TensorRecord>> {
  return (await readCheckpoint(path)).tensors;
}

// ---- applying to existing tensors ---------------------------------------------------------

/**
 * What differs between loaded records and target tensors: missing names (in targets, not in
 * the records), unexpected names (the reverse), shape and dtype mismatches. Empty when they match.
 */
export function compareTensors(records: Map<string, TensorRecord>, targets: [string, Tensor][]): { missing: string[]; unexpected: string[]; mismatched: string[] } {
  const missing: string[] = [], mismatched: string[] = [];
  const names = new Set<string>();
  for (const [name, t] of targets) {
    names.add(name);
    const r = records.get(name);
    if (!r) { missing.push(name); continue; }
    const sameShape = r.shape.length === t.shape.length && r.shape.every((d, i) => d === t.shape[i]);
    if (!sameShape) mismatched.push(`${name}: file ${fmtShape(r.shape)} vs model ${fmtShape(t.shape)}`);
    else if (r.dtype !== t.dtype) mismatched.push(`${name}: file ${r.dtype} vs model ${t.dtype}`);
  }
  const unexpected = [...records.keys()].filter((k) => !names.has(k));
  return { missing, unexpected, mismatched };
}

/** The lines of a mismatch report, or [] when the records and targets match. */
export function describeMismatch(d: { missing: string[]; unexpected: string[]; mismatched: string[] }): string[] {
  const lines: string[] = [];
  if (d.missing.length) lines.push(`missing in file: ${d.missing.join(', ')}`);
  if (d.unexpected.length) lines.push(`unexpected in file: ${d.unexpected.join(', ')}`);
  if (d.mismatched.length) lines.push(`shape/dtype mismatches: ${d.mismatched.join('; ')}`);
  return lines;
}

/**
 * Uploads records into existing tensors (same Tensor objects, new values). Checks every
 * target first (present, same shape and dtype, not disposed) and uploads nothing on failure.
 */
export function assignTensors(targets: [string, Tensor][], records: Map<string, TensorRecord>, what = 'assignTensors'): void {
  const problems: string[] = [];
  for (const [name, t] of targets) {
    const r = records.get(name);
    if (!r) problems.push(`${name}: not loaded`);
    else if (r.dtype !== t.dtype || r.data.length !== t.size || r.shape.length !== t.shape.length || r.shape.some((d, i) => d !== t.shape[i])) {
      problems.push(`${name}: file ${r.dtype} ${fmtShape(r.shape)} vs model ${t.dtype} ${fmtShape(t.shape)}`);
    } else if (t.disposed) problems.push(`${name}: target tensor was disposed`);
  }
  if (problems.length) throw new Error(`${what}: nothing loaded: ${problems.join('; ')}`);
  for (const [name, t] of targets) upload(t.buffer, records.get(name)!.data);
}

/**
 * Loads a checkpoint into existing tensors whose names must match the file exactly (no
 * missing, no unexpected, same shapes and dtypes). Nothing is uploaded unless all match.
 * Returns the file's metadata.
 */
export async function loadTensorsInto(path: string, targets: [string, Tensor][]): Promise<Record<string, string>> {
  const ck = await readCheckpoint(path);
  const lines = describeMismatch(compareTensors(ck.tensors, targets));
  if (lines.length) throw new Error(`checkpoint ${path} does not match the tensors: ${lines.join('; ')}`);
  assignTensors(targets, ck.tensors, `checkpoint ${path}`);
  return ck.metadata;
}
