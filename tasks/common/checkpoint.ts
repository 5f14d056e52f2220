// One checkpoint file per run holding everything a resumed run needs to go on as if it had not
// stopped: the model's parameters and buffers (LBD logits included), every optimizer's state
// tensors and scalars, extra host arrays a task keeps (recommend: the best epoch's weights), and
// a JSON state — the run's id, the options that shape its training, a fingerprint of its data,
// the per-epoch history and the noise generators' positions. Written atomically (temp + fsync +
// rename, engine/checkpoint.ts) with a SHA-256 of the tensor data that every load verifies.
// Before this there were two files per epoch (weights, then logits): a kill between them resumed
// from a mixed state.
//
// Loading validates the whole file against the run (state, names, shapes, optimizer scalars)
// before anything is applied; any mismatch is a UserError naming the file.
import { readCheckpoint, saveRecords, assignTensors, type TensorRecord } from '../../engine/checkpoint.js';
import type { Tensor, Optimizer, Generator } from '../../engine/index.js';
import { moduleEntries, moduleRecords, applyModuleCheckpoint } from '../../layers/checkpoint.js';
import type { Module } from '../../layers/module.js';
import { mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import { UserError } from './errors.js';

export const STATE_KEY = 'run.state';
export const STATE_FORMAT = 'lbd-run/1';
export const STATE_SUM_KEY = 'run.state.sha256';
const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** What a run's checkpoint saves and restores. */
export interface RunParts {
  model: Module;
  /** Named optimizers (null: none of that name in this run). */
  optimizers: Record<string, Optimizer<{ lr?: number }> | null>;
  /** Every noise generator of the run, in a fixed order: positions are saved and restored. */
  generators: Generator[];
}

/** The JSON part of a checkpoint. */
export interface RunState<H> {
  format: typeof STATE_FORMAT;
  task: string;
  runId: string;
  /** The options that shape this run's training (compared on resume). */
  config: Record<string, unknown>;
  /** Of the data the run trains and is evaluated on. */
  fingerprint: string;
  history: H;
  rng: number[];
}

const record = async (t: Tensor): Promise<TensorRecord> => ({ dtype: t.dtype, shape: t.shape.slice(), data: await t.data() });

/** Saves the run atomically to `path` (one file). `extra` host arrays are stored as `extra.<name>`. */
export async function saveRunCheckpoint<H>(path: string, parts: RunParts, state: Omit<RunState<H>, 'format' | 'rng'>, extra?: Map<string, TensorRecord>): Promise<void> {
  // the module file's parts (generators ride in the run state, where runs always kept them)
  const { entries, metadata } = await moduleRecords(parts.model, { optimizers: parts.optimizers, generators: [], ...(extra ? { extra } : {}) }, 'run checkpoint');
  const full: RunState<H> = { format: STATE_FORMAT, ...state, rng: parts.generators.map((g) => g.position) };
  metadata[STATE_KEY] = JSON.stringify(full);
  // the state (history, options) is covered too: the data checksum alone would let an edited history pass
  metadata[STATE_SUM_KEY] = sha256(metadata[STATE_KEY]);
  mkdirSync(dirname(path), { recursive: true });
  await saveRecords(path, entries, metadata, 'run checkpoint', { checksum: true });
}

/** Reads only the state of a checkpoint (validated file, checksum included). */
export async function readRunState<H>(path: string): Promise<{ state: RunState<H>; tensors: Map<string, TensorRecord>; metadata: Record<string, string> }> {
  let ck;
  try { ck = await readCheckpoint(path); } catch (e) { throw new UserError(`${(e as Error).message}; delete it to restart that run`); }
  const text = ck.metadata[STATE_KEY];
  if (text === undefined) throw new UserError(`checkpoint ${path} holds no run state ("${STATE_KEY}"): not a run checkpoint of this version; delete it to restart that run`);
  if (ck.metadata[STATE_SUM_KEY] !== sha256(text)) throw new UserError(`checkpoint ${path}: its run state (history, options) fails its checksum: the file was edited or is damaged; delete it to restart that run`);
  let state: RunState<H>;
  try { state = JSON.parse(text) as RunState<H>; } catch (e) { throw new UserError(`checkpoint ${path}: its run state is not valid JSON (${(e as Error).message})`); }
  if (state?.format !== STATE_FORMAT || typeof state.runId !== 'string' || !Array.isArray(state.rng) || typeof state.history !== 'object') {
    throw new UserError(`checkpoint ${path}: its run state is not a ${STATE_FORMAT} state`);
  }
  return { state, tensors: ck.tensors, metadata: ck.metadata };
}

/**
 * Loads a run checkpoint into `parts` after checking all of it; returns the state and the
 * `extra.*` host arrays. Nothing is applied when anything mismatches.
 */
export async function loadRunCheckpoint<H>(path: string, parts: RunParts): Promise<{ state: RunState<H>; extra: Map<string, TensorRecord> }> {
  const { state, tensors, metadata } = await readRunState<H>(path);
  if (state.rng.length !== parts.generators.length || !state.rng.every((p) => Number.isSafeInteger(p) && p >= 0)) {
    throw new UserError(`checkpoint ${path} does not match this run (nothing loaded): ${state.rng.length} generator positions for ${parts.generators.length} generators`);
  }
  const runKeys = new Set([STATE_KEY, STATE_SUM_KEY]);
  const ck = { tensors, metadata: Object.fromEntries(Object.entries(metadata).filter(([k]) => !runKeys.has(k))) };
  let loaded;
  try { loaded = applyModuleCheckpoint(ck, parts.model, { optimizers: parts.optimizers, generators: [] }, path); } catch (e) {
    const m = (e as Error).message;
    // one line, in the runner's words ("this run", not "the model")
    throw new UserError(m.replace(/does not match the model; nothing was loaded:\n\s*/, 'does not match this run (nothing loaded): ').replace(/\n\s*/g, '; '));
  }
  state.rng.forEach((p, i) => parts.generators[i].seek(p));
  return { state, extra: loaded.extra };
}

/** Host copies of a module's tensors (e.g. the best epoch's weights), named as moduleEntries. */
export async function snapshot(module: Module): Promise<Map<string, TensorRecord>> {
  const m = new Map<string, TensorRecord>();
  for (const [n, t] of moduleEntries(module)) m.set(n, await record(t));
  return m;
}

/** Uploads a snapshot back into the module (names and shapes checked first). */
export function restore(module: Module, s: Map<string, TensorRecord>, what: string): void {
  assignTensors(moduleEntries(module), s, what);
}
