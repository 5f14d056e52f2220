// The engine's one tuning object: every choice that depends on the adapter or that a user may
// force (kernel structures, tile shapes, paths, device start-up), read from the environment in
// this one place and changed at run time through setTuning (tests and the benchmark compare
// variants). The plans (engine/plans/*.ts) are pure functions of an adapter profile, this
// object and a shape; the ops only ask them. TUNING_OPTIONS is the table of environment
// variables the README (general ones) and docs/kernels.md (kernel-structure knobs) show,
// generated from here and tested equal.
import { env } from '../../kernels/env.js';
import { setGridCap } from '../../kernels/common.js';

export type MatmulStructure = 'subgroup' | 'tiled';
export type VectorWidth = 'auto' | 'off' | 128 | 256 | 512;

/** The tiled (shared-memory) GEMM's tile. */
export interface TiledTile { tileM: number; tileN: number; threadM: number; threadN: number; tileK: number; double: boolean }

export interface Tuning {
  /** Dawn backend under Node: real GPU first, then software Vulkan, then GLES ('auto'). */
  backend: 'auto' | 'vulkan' | 'opengles';
  /** lavapipe's SIMD width, set before the device exists ('auto': the CPU's widest). */
  vectorWidth: VectorWidth;
  /** 'gpu': a CPU adapter takes the kernel structures written for hardware GPUs. */
  kernels: 'auto' | 'gpu';
  /** dawn.node busy-spin work-around, and how long a wait polls before backing off (null: 0 on software adapters, 2 ms on hardware). */
  spinFix: boolean;
  spinMs: number | null;
  /** Extra dawn.node flags. */
  dawnFlags: string[];
  /** Most workgroups a grid-stride kernel launches along x. */
  gridCap: number;
  /** Dispatches per submit before a batch is flushed without being asked. */
  maxBatch: number;
  matmul: {
    /** A forced structure; null: the adapter decides (subgroup on CPU adapters, tiled elsewhere). */
    structure: MatmulStructure | null;
    /** B operands through storage textures (subgroup structure). */
    texture: boolean;
    /** Persistent workgroups of the subgroup GEMM (0: off). */
    persistent: number;
    /** Rows a subgroup tile takes (a multiple of the lanes after rounding). */
    rows: number;
    /** Column strips of a subgroup tile; null: by shape. */
    strips: number | null;
    /** Whether the shape rules may change rows / strips / persistence (off once any is set by hand). */
    shapeRules: boolean;
    /** Widest output that takes the narrow form (0: off), and whether its lanes share B's quads. */
    narrowMax: number;
    narrowShared: boolean;
    /** A B taller than a texture folded into a wider one (else read from its buffer). */
    foldTall: boolean;
    /** A transposed A no larger than B's side copied once (else read in place). */
    copySmallTransposedA: boolean;
    /** Budget of the B-operand texture cache. */
    textureCacheBytes: number;
    tiled: TiledTile;
  };
  conv: {
    /** The direct (yardstick) kernels instead of implicit GEMMs. */
    direct: boolean;
    /** The row kernel: output rows a workgroup, widest narrow side it takes (0: off), and a plan forced on every product that fits (tests). */
    rows: number;
    rowMax: number;
    rowForce: { pixels: number; block: number } | null;
    /** Output channels from which the weight gradient pads x once. */
    wgradPadMinCo: number;
    /** The weight gradient's lanes share their three kx taps' loads. */
    wgradTaps: boolean;
    /** Narrow pixel GEMMs shift input quads from one kx tap to the next. */
    shiftTaps: boolean;
  };
  batchNorm: {
    /** One pass each way (null: on CPU adapters) and one subgroup per channel where it applies. */
    onePass: boolean | null;
    lanes: boolean;
  };
  /** Crash-test fault injection, `<point>:<n>` (engine/checkpoint.ts faultPoint). */
  fault: string | null;
}

/** Changes to some fields (nested objects merge). */
export type TuningPatch = { [K in keyof Tuning]?: Tuning[K] extends object ? (Tuning[K] extends unknown[] ? Tuning[K] : Partial<Tuning[K]>) : Tuning[K] };

export function defaultTuning(): Tuning {
  return {
    backend: 'auto', vectorWidth: 'auto', kernels: 'auto', spinFix: true, spinMs: null, dawnFlags: [], gridCap: 4096, maxBatch: 256,
    matmul: {
      structure: null, texture: true, persistent: 128, rows: 16, strips: null, shapeRules: true, narrowMax: 16, narrowShared: true,
      foldTall: true, copySmallTransposedA: true, textureCacheBytes: 1024 * 2 ** 20,
      tiled: { tileM: 64, tileN: 64, threadM: 4, threadN: 4, tileK: 16, double: true },
    },
    conv: { direct: false, rows: 4, rowMax: 16, rowForce: null, wgradPadMinCo: 32, wgradTaps: true, shiftTaps: true },
    batchNorm: { onePass: null, lanes: true },
    fault: null,
  };
}

/** One environment variable: what it takes, what it does, and how it changes the tuning. */
export interface TuningOption {
  name: string;
  values: string;
  effect: string;
  /** A kernel-structure knob (for measuring and debugging kernels): listed in docs/kernels.md, not the README. */
  kernel?: true;
  /** Applies a value (throws a one-line error naming the variable when it is not one of `values`). */
  apply(t: Tuning, raw: string): void;
}

const bad = (name: string, raw: string, want: string): Error => new Error(`${name} must be ${want}; got '${raw}'`);
const int = (name: string, raw: string, min = 0): number => {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min) throw bad(name, raw, `an integer ≥ ${min}`);
  return v;
};
const off = (name: string, raw: string): boolean => {
  if (raw !== '0' && raw !== '1') throw bad(name, raw, '0 or 1');
  return raw === '1';
};
const oneOf = <T extends string>(name: string, raw: string, vals: readonly T[]): T => {
  const v = raw.toLowerCase() as T;
  if (!vals.includes(v)) throw bad(name, raw, `one of ${vals.join(', ')}`);
  return v;
};

export const TUNING_OPTIONS: readonly TuningOption[] = [
  { name: 'LBD_BACKEND', values: '`auto` (default), `vulkan`, `opengles`', effect: 'adapter choice: real GPU, then software Vulkan, then Dawn\'s GLES backend (`EGL_PLATFORM=surfaceless`)',
    apply: (t, r) => { t.backend = oneOf('LBD_BACKEND', r, ['auto', 'vulkan', 'opengles'] as const); } },
  { name: 'LBD_VECTOR_WIDTH', values: '`auto` (default), `128`, `256`, `512`, `off`', effect: 'the SIMD width lavapipe compiles kernels for, set before the device exists (`auto`: 512 on AVX-512 CPUs, giving 16-lane subgroups); a user\'s own `LP_NATIVE_VECTOR_WIDTH` wins',
    apply: (t, r) => { const v = oneOf('LBD_VECTOR_WIDTH', r, ['auto', 'off', '128', '256', '512'] as const); t.vectorWidth = v === 'auto' || v === 'off' ? v : (Number(v) as 128 | 256 | 512); } },
  { name: 'LBD_MATMUL', kernel: true, values: '`subgroup`, `tiled`', effect: 'forces a matmul kernel structure (default: subgroup on CPU adapters with a fixed subgroup size of any width, tiled on GPUs and elsewhere); convolutions follow it',
    apply: (t, r) => { t.matmul.structure = oneOf('LBD_MATMUL', r, ['subgroup', 'tiled'] as const); } },
  { name: 'LBD_MATMUL_TEXTURE', kernel: true, values: '`0`', effect: 'keeps matmul\'s B operand in a buffer instead of a storage texture',
    apply: (t, r) => { t.matmul.texture = off('LBD_MATMUL_TEXTURE', r); } },
  { name: 'LBD_MATMUL_PERSISTENT', kernel: true, values: 'integer (default 128; 0 = off)', effect: 'persistent workgroups for the subgroup matmul',
    apply: (t, r) => { t.matmul.persistent = int('LBD_MATMUL_PERSISTENT', r); t.matmul.shapeRules = false; } },
  { name: 'LBD_TEXTURE_CACHE_MB', kernel: true, values: 'integer (default 1024)', effect: 'budget of the B-operand texture cache (sized to hold a model\'s working set, so steps create no textures)',
    apply: (t, r) => { t.matmul.textureCacheBytes = int('LBD_TEXTURE_CACHE_MB', r) * 2 ** 20; } },
  { name: 'LBD_MATMUL_NARROW', kernel: true, values: 'integer (default 16; 0 = off)', effect: 'widest output (columns) that takes the subgroup matmul\'s narrow form',
    apply: (t, r) => { t.matmul.narrowMax = int('LBD_MATMUL_NARROW', r); } },
  { name: 'LBD_MATMUL_NARROW_SHARED', kernel: true, values: '`0`', effect: 'the narrow form\'s lanes each load every B quad instead of loading them once between them and broadcasting',
    apply: (t, r) => { t.matmul.narrowShared = off('LBD_MATMUL_NARROW_SHARED', r); } },
  { name: 'LBD_MATMUL_FOLD', kernel: true, values: '`0`', effect: 'a B taller than a texture (K > 8192) is read from its buffer instead of folded into a texture',
    apply: (t, r) => { t.matmul.foldTall = off('LBD_MATMUL_FOLD', r); } },
  { name: 'LBD_MATMUL_COPY_AT', kernel: true, values: '`0`', effect: 'a transposed A is always read in place (default: copied once when M ≤ N)',
    apply: (t, r) => { t.matmul.copySmallTransposedA = off('LBD_MATMUL_COPY_AT', r); } },
  { name: 'LBD_KERNELS', values: '`auto` (default), `gpu`', effect: '`gpu`: a CPU adapter takes the structures written for hardware GPUs (tiled, double-buffered GEMMs and convolutions, batch norm\'s split passes), so every workgroup-memory kernel runs there (`npm run test:swiftshader` runs suites both ways)',
    apply: (t, r) => { t.kernels = oneOf('LBD_KERNELS', r, ['auto', 'gpu'] as const); } },
  { name: 'LBD_CONV', kernel: true, values: '`direct`', effect: 'forces the direct convolution kernels (a yardstick only: every adapter runs convolutions as implicit GEMMs)',
    apply: (t, r) => { t.conv.direct = oneOf('LBD_CONV', r, ['direct'] as const) === 'direct'; } },
  { name: 'LBD_CONV_ROWS', kernel: true, values: 'integer (default 16; 0 = off)', effect: 'widest narrow side (output channels; dy\'s for the input gradient) of a 3×3, stride-1, pad-1 convolution that runs the row kernel on CPU adapters (rows at least 2·lanes pixels wide)',
    apply: (t, r) => { t.conv.rowMax = int('LBD_CONV_ROWS', r); } },
  { name: 'LBD_CONV_WGRAD_PAD_MIN', kernel: true, values: 'integer (default 32)', effect: 'output channels from which the weight gradient pads x once to drop its loads\' bounds tests',
    apply: (t, r) => { t.conv.wgradPadMinCo = int('LBD_CONV_WGRAD_PAD_MIN', r); } },
  { name: 'LBD_CONV_WGRAD_TAPS', kernel: true, values: '`0`', effect: 'the weight gradient of a 3-wide, stride-1 kernel loads each row\'s pixels itself instead of each lane sharing them between its three kx taps',
    apply: (t, r) => { t.conv.wgradTaps = off('LBD_CONV_WGRAD_TAPS', r); } },
  { name: 'LBD_CONV_SHIFT', kernel: true, values: '`0`', effect: 'narrow forward and input-gradient conv GEMMs (3-wide taps, stride 1) load every tap\'s input quads instead of shifting them from one kx to the next',
    apply: (t, r) => { t.conv.shiftTaps = off('LBD_CONV_SHIFT', r); } },
  { name: 'LBD_SPIN_FIX', kernel: true, values: '`0`', effect: 'turns off the dawn.node busy-spin workaround (for measurement)',
    apply: (t, r) => { t.spinFix = off('LBD_SPIN_FIX', r); } },
  { name: 'LBD_SPIN_MS', values: 'milliseconds (default 0 on software adapters, 2 on hardware)', effect: 'how long a GPU wait polls promptly before backing off to a 1 ms timer',
    apply: (t, r) => { t.spinMs = int('LBD_SPIN_MS', r); } },
  { name: 'LBD_DAWN_FLAGS', values: 'comma-separated', effect: 'extra dawn.node flags, e.g. `enable-dawn-features=disable_robustness`',
    apply: (t, r) => { t.dawnFlags = r.split(',').map((s) => s.trim()).filter(Boolean); } },
  { name: 'LBD_GRID_CAP', kernel: true, values: 'integer (default 4096)', effect: 'most workgroups a grid-stride (memory-bound) kernel launches, on every adapter',
    apply: (t, r) => { t.gridCap = int('LBD_GRID_CAP', r, 1); } },
  { name: 'LBD_FAULT', values: '`<point>:<n>`', effect: 'crash tests: the process kills itself the n-th time it reaches a save point (save:temp, save:renamed and the runner\'s; docs/runner.md)',
    apply: (t, r) => { if (!/^[\w:-]+:\d+$/.test(r)) throw bad('LBD_FAULT', r, '<point>:<n>'); t.fault = r; } },
];

/** The tuning the environment asks for (defaults elsewhere); `read` is the environment. */
export function tuningFromEnvironment(read: (name: string) => string | undefined = env): Tuning {
  const t = defaultTuning();
  for (const o of TUNING_OPTIONS) {
    const raw = read(o.name);
    if (raw !== undefined) o.apply(t, raw);
  }
  return t;
}

let current: Tuning | null = null;

/** The engine's tuning (read from the environment on first use). */
export function tuning(): Tuning {
  if (!current) install(tuningFromEnvironment());
  return current!;
}

/** Makes `t` the engine's tuning (and kernels/common.ts's copy of the grid cap). */
function install(t: Tuning): void {
  current = t;
  setGridCap(t.gridCap);
}

/** Changes some fields (nested objects merge); returns the previous tuning, for restoring. */
export function setTuning(patch: TuningPatch): Tuning {
  const prev = tuning();
  const next: Tuning = { ...prev, matmul: { ...prev.matmul }, conv: { ...prev.conv }, batchNorm: { ...prev.batchNorm } };
  for (const [k, v] of Object.entries(patch) as [keyof Tuning, unknown][]) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && (k === 'matmul' || k === 'conv' || k === 'batchNorm')) Object.assign(next[k], v);
    else (next as unknown as Record<string, unknown>)[k] = v;
  }
  // rows, strips or persistence set by hand turn the shape rules off, the defaults back on
  const m = patch.matmul;
  if (m && (m.persistent !== undefined || m.rows !== undefined || m.strips !== undefined) && m.shapeRules === undefined) {
    next.matmul.shapeRules = next.matmul.persistent === 128 && next.matmul.rows === 16 && next.matmul.strips === null;
  }
  install(next);
  return prev;
}

/** Restores a tuning returned by setTuning (or the environment's with no argument). */
export function resetTuning(to?: Tuning): void { install(to ?? tuningFromEnvironment()); }

/**
 * A Markdown table of environment options, generated from TUNING_OPTIONS: `'general'` the README's,
 * `'kernel'` the kernel-structure knobs docs/kernels.md lists, `'all'` both.
 */
export function tuningOptionsMarkdown(which: 'general' | 'kernel' | 'all' = 'all'): string {
  const rows = TUNING_OPTIONS.filter((o) => which === 'all' || (which === 'kernel') === !!o.kernel);
  return ['| variable | values | effect |', '| --- | --- | --- |', ...rows.map((o) => `| \`${o.name}\` | ${o.values} | ${o.effect} |`)].join('\n');
}
