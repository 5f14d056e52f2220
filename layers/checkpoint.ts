// Module checkpoints: everything a training run needs to go on as if it had not stopped, in one
// safetensors file (or its bytes, in a browser): the module's parameters and buffers
// (`model.<name>`, LBD logits included), the state of any number of named optimizers
// (`optim.<optimizer>.<tensor>`, scalars as JSON in metadata `optim.<optimizer>.scalars` — LBD
// trains its weights and its logits with two), the state of the noise generators (metadata
// `rng`: seed, stream and position of each, so the next mask a dropout layer draws is the one
// it would have drawn), extra host arrays
// (`extra.<name>`) and free-form metadata.
//
// Loading checks the whole file against the module, the optimizers and the generators first and
// applies nothing on a mismatch; values go into the module's existing tensors, so optimizers
// that hold those tensors stay valid. The task runner's checkpoints (tasks/common/checkpoint.ts)
// are these files plus the run's state.
import { empty, type Generator, type GeneratorState, type Tensor } from '../engine/index.js';
import { upload } from '../engine/dispatch.js';
import {
  saveRecords, readCheckpoint, parseCheckpoint, encodeCheckpoint, compareTensors, describeMismatch, assignTensors,
  type TensorRecord, type Checkpoint,
} from '../engine/checkpoint.js';
import type { Module } from './module.js';

/** What saving needs from an optimizer (engine/optim.ts's Optimizer fits). */
export interface OptimizerStateSource {
  stateTensors(): [string, Tensor][];
  stateScalars(): Record<string, number>;
}

/**
 * What loading needs from an optimizer (engine/optim.ts's Optimizer fits). `loadStateTensors`
 * receives fresh, kept tensors holding the file's values: on success it owns them (keeps or
 * disposes them); when it throws, it must have loaded nothing, and the loader disposes them.
 */
export interface OptimizerStateTarget extends OptimizerStateSource {
  loadStateTensors(entries: [string, Tensor][]): void;
  loadStateScalars(scalars: Record<string, number>): void;
}

/** The parts of a training run besides the module that a checkpoint carries. */
export interface CheckpointParts<O> {
  /**
   * Named optimizers, e.g. `{ weights: wopt, logits: lopt }` (a null entry: none of that name in
   * this run). Names are letters, digits, `_` and `-`.
   */
  optimizers?: Record<string, O | null>;
  /**
   * Noise generators whose state (seed, stream, position) is saved and restored, in a fixed
   * order. Default: every Generator the module's layers hold (Module.generators()); `[]` saves,
   * or restores, none.
   */
  generators?: readonly Generator[];
}

export interface SaveModuleOptions extends CheckpointParts<OptimizerStateSource> {
  metadata?: Record<string, string>;
  /** Host arrays saved beside the module (`extra.<name>`), given back by loadModule. */
  extra?: Map<string, TensorRecord>;
  /** Store the SHA-256 of the tensor data, verified by every load (default true). */
  checksum?: boolean;
}
export type LoadModuleOptions = CheckpointParts<OptimizerStateTarget>;

export interface LoadedModule {
  /** The file's free-form metadata (without the keys this module writes). */
  metadata: Record<string, string>;
  extra: Map<string, TensorRecord>;
}

export const MODEL_PREFIX = 'model.';
export const OPTIM_PREFIX = 'optim.';
export const EXTRA_PREFIX = 'extra.';
export const RNG_KEY = 'rng';
const scalarsKey = (optimizer: string): string => `${OPTIM_PREFIX}${optimizer}.scalars`;
const isReserved = (k: string): boolean => k === RNG_KEY || k.startsWith(OPTIM_PREFIX);

/** The module's tensors under their checkpoint names (parameters, then buffers). */
export function moduleEntries(module: Module): [string, Tensor][] {
  const p = MODEL_PREFIX.slice(0, -1);
  return [...module.namedParameters(p), ...module.namedBuffers(p)];
}

// JSON has no NaN / ±Infinity: they travel as strings.
const encodeScalar = (v: number): number | string => (Number.isFinite(v) ? v : String(v));
const decodeScalar = (v: unknown): number | undefined => {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return undefined;
};

const record = async (t: Tensor): Promise<TensorRecord> => ({ dtype: t.dtype, shape: t.shape.slice(), data: await t.data() });

function checkNames(optimizers: Record<string, unknown> | undefined, what: string): void {
  for (const n of Object.keys(optimizers ?? {})) if (!/^[\w-]+$/.test(n)) throw new Error(`${what}: optimizer name '${n}' must be letters, digits, _ or -`);
}

/**
 * The records and metadata of a module checkpoint (tensors read back from the GPU). The task
 * runner adds its run state to these; saveModule / encodeModule write them.
 */
export async function moduleRecords(module: Module, o: SaveModuleOptions = {}, what = 'saveModule'): Promise<{ entries: [string, TensorRecord][]; metadata: Record<string, string> }> {
  checkNames(o.optimizers, what);
  const metadata: Record<string, string> = {};
  for (const k of Object.keys(o.metadata ?? {})) if (isReserved(k)) throw new Error(`${what}: metadata key "${k}" is reserved (rng and optim.* are written by the checkpoint)`);
  Object.assign(metadata, o.metadata ?? {});
  const entries: [string, TensorRecord][] = [];
  for (const [n, t] of moduleEntries(module)) entries.push([n, await record(t)]);
  for (const [name, opt] of Object.entries(o.optimizers ?? {})) {
    if (!opt) continue;
    for (const [n, t] of opt.stateTensors()) entries.push([`${OPTIM_PREFIX}${name}.${n}`, await record(t)]);
    const scalars: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(opt.stateScalars())) {
      if (typeof v !== 'number') throw new Error(`${what}: optimizer '${name}' scalar "${k}" is not a number (${typeof v})`);
      scalars[k] = encodeScalar(v);
    }
    metadata[scalarsKey(name)] = JSON.stringify(scalars);
  }
  const gens = o.generators ?? module.generators();
  if (gens.length) metadata[RNG_KEY] = JSON.stringify(gens.map((g) => g.state));
  for (const [n, r] of o.extra ?? []) entries.push([`${EXTRA_PREFIX}${n}`, r]);
  return { entries, metadata };
}

/** Saves a module (and its optimizers' state and generators' positions) atomically to a safetensors file. */
export async function saveModule(path: string, module: Module, o: SaveModuleOptions = {}): Promise<void> {
  const { entries, metadata } = await moduleRecords(module, o);
  await saveRecords(path, entries, metadata, 'saveModule', { checksum: o.checksum ?? true });
}

/** The bytes saveModule would write (for a browser, or any transport): concatenate the chunks. */
export async function encodeModule(module: Module, o: SaveModuleOptions = {}): Promise<Uint8Array[]> {
  const { entries, metadata } = await moduleRecords(module, o, 'encodeModule');
  return encodeCheckpoint(entries, metadata, { checksum: o.checksum ?? true });
}

function parseScalars(text: string | undefined, name: string): Record<string, number> | string {
  if (text === undefined) return `the file holds no state of an optimizer '${name}'`;
  let raw: unknown;
  try { raw = JSON.parse(text); } catch (e) { return `optimizer '${name}' scalars are not valid JSON: ${(e as Error).message}`; }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return `optimizer '${name}' scalars are not a JSON object`;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const n = decodeScalar(v);
    if (n === undefined) return `optimizer '${name}' scalar "${k}" is not a number: ${JSON.stringify(v)}`;
    out[k] = n;
  }
  return out;
}

/**
 * Applies a parsed checkpoint to `module`, its optimizers and generators after checking all of
 * it (names, shapes, optimizer scalars, generator count); throws listing every mismatch and
 * changes nothing when anything differs. `what` names the file in messages.
 */
export function applyModuleCheckpoint(ck: Checkpoint, module: Module, o: LoadModuleOptions, what: string): LoadedModule {
  checkNames(o.optimizers, what);
  const targets = moduleEntries(module);
  const model = new Map<string, TensorRecord>(), extra = new Map<string, TensorRecord>();
  const optim: Record<string, [string, TensorRecord][]> = {};
  const optimizers = o.optimizers ?? {};
  const lines: string[] = [];
  for (const [name, r] of ck.tensors) {
    if (name.startsWith(MODEL_PREFIX)) model.set(name, r);
    else if (name.startsWith(EXTRA_PREFIX)) extra.set(name.slice(EXTRA_PREFIX.length), r);
    else {
      const m = /^optim\.([\w-]+)\.(.+)$/.exec(name);
      if (m) (optim[m[1]] ??= []).push([m[2], r]);
      else lines.push(`unexpected tensor ${name}`);
    }
  }
  lines.push(...describeMismatch(compareTensors(model, targets)));
  const scalars: Record<string, Record<string, number>> = {};
  for (const [name, opt] of Object.entries(optimizers)) {
    const text = ck.metadata[scalarsKey(name)];
    if (!opt) { if (text !== undefined || optim[name]) lines.push(`state of an optimizer '${name}' this module was given none for`); continue; }
    const s = parseScalars(text, name);
    if (typeof s === 'string') lines.push(s);
    else scalars[name] = s;
  }
  const gens = o.generators ?? module.generators();
  let states: GeneratorState[] | null = null;
  // `generators: []` restores none (e.g. weights loaded to start another run from)
  const rng = o.generators?.length === 0 ? undefined : ck.metadata[RNG_KEY];
  if (rng !== undefined) {
    try { states = JSON.parse(rng) as GeneratorState[]; } catch { states = null; }
    const valid = (g: GeneratorState): boolean => [g?.seed, g?.stream, g?.position].every((v) => Number.isSafeInteger(v) && v >= 0);
    if (!Array.isArray(states) || !states.every(valid)) { lines.push(`"${RNG_KEY}" is not a list of generator states`); states = null; }
    else if (states.length !== gens.length) lines.push(`${states.length} generator states for the ${gens.length} generators of this model (it must hold the same dropout layers, or pass the same \`generators\` as when saving)`);
  } else if (o.generators?.length) lines.push('the file holds no generator states');
  for (const [, t] of targets) if (t.disposed) { lines.push('the module holds disposed tensors'); break; }
  if (lines.length) throw new Error(`checkpoint ${what} does not match the model; nothing was loaded:\n  ${lines.join('\n  ')}`);

  // Optimizers first: they are the one part that may still refuse (their own checks, each
  // all-or-nothing). Tensors before scalars: a mismatched optimizer (other kind, other
  // parameters) is refused there, cleanly. Scalars that pass our checks are refused only by an
  // optimizer whose tensors matched; that leaves it inconsistent, and the error says so.
  for (const [name, opt] of Object.entries(optimizers)) {
    if (!opt) continue;
    const fresh: [string, Tensor][] = (optim[name] ?? []).map(([n, r]) => {
      const t = empty(r.shape, r.dtype, `optim.${n}`).keep();
      upload(t.buffer, r.data);
      return [n, t];
    });
    try { opt.loadStateTensors(fresh); } catch (e) {
      for (const [, t] of fresh) t.dispose();
      throw new Error(`checkpoint ${what}: the '${name}' optimizer refused its state tensors; nothing was loaded: ${(e as Error).message}`);
    }
    try { opt.loadStateScalars(scalars[name]); } catch (e) {
      throw new Error(`checkpoint ${what}: the '${name}' optimizer refused its scalars after taking its state tensors; the model was not changed, but recreate the optimizer: ${(e as Error).message}`);
    }
  }
  assignTensors(targets, model, `checkpoint ${what}`);
  states?.forEach((st, i) => gens[i].setState(st));
  const metadata = Object.fromEntries(Object.entries(ck.metadata).filter(([k]) => !isReserved(k)));
  return { metadata, extra };
}

/**
 * Loads a checkpoint written by saveModule into `module` (and the named optimizers, and the
 * generators' positions when the file has them). The file's `model.*` names and shapes must
 * match the module exactly; on any mismatch it throws the list of missing names, unexpected
 * names and shape mismatches, and changes nothing. An optimizer in the file that is not given is
 * ignored (e.g. loading weights for evaluation).
 */
export async function loadModule(path: string, module: Module, o: LoadModuleOptions = {}): Promise<LoadedModule> {
  return applyModuleCheckpoint(await readCheckpoint(path), module, o, path);
}

/** loadModule from bytes (concatenated, as encodeModule's chunks). */
export function decodeModule(bytes: Uint8Array, module: Module, o: LoadModuleOptions = {}, name = '(bytes)'): LoadedModule {
  return applyModuleCheckpoint(parseCheckpoint(bytes, name), module, o, name);
}
