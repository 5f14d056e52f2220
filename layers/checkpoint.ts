// Module checkpoints: a module's parameters and buffers (as `model.<name>`) and optionally an
// optimizer's state tensors (as `optim.<name>`) and scalars (JSON in the metadata key
// `optim.scalars`), in one safetensors file. Loading checks the file against the module
// exactly and only then copies values into the module's existing tensors, so optimizers that
// hold those tensors stay valid.
import { empty, type Tensor } from '../engine/index.js';
import { upload } from '../engine/dispatch.js';
import { saveTensors, readCheckpoint, compareTensors, assignTensors, type TensorRecord } from '../engine/checkpoint.js';
import type { Module } from './module.js';

/** What saving needs from an optimizer (structural: any optimizer with these methods fits). */
export interface OptimizerStateSource {
  stateTensors(): [string, Tensor][];
  stateScalars(): Record<string, number>;
}

/**
 * What loading needs from an optimizer (engine/optim.ts's Optimizer fits). `loadStateTensors`
 * receives fresh, kept tensors holding the file's values: on success it owns them (keeps or
 * disposes them); when it throws, it must have loaded nothing, and loadModule disposes them.
 */
export interface OptimizerStateTarget extends OptimizerStateSource {
  loadStateTensors(entries: [string, Tensor][]): void;
  loadStateScalars(scalars: Record<string, number>): void;
}

export interface SaveModuleOptions { optimizer?: OptimizerStateSource; metadata?: Record<string, string> }
export interface LoadModuleOptions { optimizer?: OptimizerStateTarget }

export const MODEL_PREFIX = 'model.';
export const OPTIM_PREFIX = 'optim.';
export const OPTIM_SCALARS_KEY = 'optim.scalars';

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

/** Saves a module (and optionally an optimizer's state) atomically to a safetensors file. */
export async function saveModule(path: string, module: Module, opts: SaveModuleOptions = {}): Promise<void> {
  const entries = moduleEntries(module);
  const metadata: Record<string, string> = { ...(opts.metadata ?? {}) };
  if (OPTIM_SCALARS_KEY in metadata) throw new Error(`saveModule(${path}): metadata key "${OPTIM_SCALARS_KEY}" is reserved`);
  if (opts.optimizer) {
    for (const [name, t] of opts.optimizer.stateTensors()) entries.push([OPTIM_PREFIX + name, t]);
    const scalars: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(opts.optimizer.stateScalars())) {
      if (typeof v !== 'number') throw new Error(`saveModule(${path}): optimizer scalar "${k}" is not a number (${typeof v})`);
      scalars[k] = encodeScalar(v);
    }
    metadata[OPTIM_SCALARS_KEY] = JSON.stringify(scalars);
  }
  await saveTensors(path, entries, metadata);
}

function parseScalars(text: string | undefined): Record<string, number> | string {
  if (text === undefined) return `the file holds no optimizer state (no "${OPTIM_SCALARS_KEY}" metadata)`;
  let raw: unknown;
  try { raw = JSON.parse(text); } catch (e) { return `"${OPTIM_SCALARS_KEY}" is not valid JSON: ${(e as Error).message}`; }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return `"${OPTIM_SCALARS_KEY}" is not a JSON object`;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const n = decodeScalar(v);
    if (n === undefined) return `optimizer scalar "${k}" is not a number: ${JSON.stringify(v)}`;
    out[k] = n;
  }
  return out;
}

/**
 * Loads a checkpoint written by `saveModule` into `module` (and `opts.optimizer`). The file's
 * `model.*` names and shapes must match the module exactly; on any mismatch it throws a list of
 * missing names, unexpected names and shape mismatches, and changes nothing. Values are
 * uploaded into the module's existing tensors. `optim.*` entries are ignored without an
 * optimizer. Returns the file's metadata (without the optimizer's key).
 */
export async function loadModule(path: string, module: Module, opts: LoadModuleOptions = {}): Promise<Record<string, string>> {
  const ck = await readCheckpoint(path);
  const targets = moduleEntries(module);
  const model = new Map<string, TensorRecord>();
  const optim: [string, TensorRecord][] = [];
  const stray: string[] = [];
  for (const [name, r] of ck.tensors) {
    if (name.startsWith(MODEL_PREFIX)) model.set(name, r);
    else if (name.startsWith(OPTIM_PREFIX)) optim.push([name.slice(OPTIM_PREFIX.length), r]);
    else stray.push(name);
  }
  const diff = compareTensors(model, targets);
  const lines: string[] = [];
  if (diff.missing.length) lines.push(`missing in file: ${diff.missing.join(', ')}`);
  const unexpected = [...diff.unexpected, ...stray];
  if (unexpected.length) lines.push(`unexpected in file: ${unexpected.join(', ')}`);
  if (diff.mismatched.length) lines.push(`shape mismatches: ${diff.mismatched.join('; ')}`);
  let scalars: Record<string, number> | null = null;
  if (opts.optimizer) {
    const s = parseScalars(ck.metadata[OPTIM_SCALARS_KEY]);
    if (typeof s === 'string') lines.push(s);
    else scalars = s;
  }
  for (const [, t] of targets) if (t.disposed) { lines.push('the module holds disposed tensors'); break; }
  if (lines.length) throw new Error(`checkpoint ${path} does not match the model; nothing was loaded:\n  ${lines.join('\n  ')}`);

  // The optimizer goes first: it is the one part that may still refuse (its own checks, each
  // all-or-nothing). Tensors before scalars: a mismatched optimizer (other kind, other
  // parameters) is refused there, cleanly. Scalars that pass our checks are refused only by an
  // optimizer whose tensors matched; that leaves it inconsistent, and the error says so.
  if (opts.optimizer && scalars) {
    const opt = opts.optimizer;
    const fresh: [string, Tensor][] = optim.map(([name, r]) => {
      const t = empty(r.shape, r.dtype, `optim.${name}`).keep();
      upload(t.buffer, r.data);
      return [name, t];
    });
    try {
      opt.loadStateTensors(fresh);
    } catch (e) {
      for (const [, t] of fresh) t.dispose();
      throw new Error(`checkpoint ${path}: the optimizer refused its state tensors; nothing was loaded: ${(e as Error).message}`);
    }
    try {
      opt.loadStateScalars(scalars);
    } catch (e) {
      throw new Error(`checkpoint ${path}: the optimizer refused its scalars after taking its state tensors; the model was not changed, but recreate the optimizer: ${(e as Error).message}`);
    }
  }
  assignTensors(targets, model, `checkpoint ${path}`);
  const metadata = { ...ck.metadata };
  delete metadata[OPTIM_SCALARS_KEY];
  return metadata;
}
