// What the runner's process-level tests share: a tiny synthetic CIFAR-10 in the binary format,
// a classify configuration that trains two runs in seconds, spawning the built task as a user
// would (optionally with LBD_FAULT to kill it at a named point), and the report with the fields
// that measure wall-clock time (and the commit) removed: the only ones two equal runs may differ in.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The build folder this test runs from (dist-*). */
export const BUILD = fileURLToPath(new URL('../../', import.meta.url));
export const taskJs = (task: string): string => join(BUILD, 'tasks', `${task}.js`);

/** CIFAR-10 binary batches: 5 × 12 training and 20 test records whose label shows in the pixels. */
export function writeCifar(dir: string): string {
  mkdirSync(dir, { recursive: true });
  let s = 12345;
  const r = (): number => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296; };
  const batch = (n: number, offset: number): Buffer => {
    const b = Buffer.alloc(n * 3073);
    for (let i = 0; i < n; i++) {
      const label = (i + offset) % 10;
      b[i * 3073] = label;
      for (let j = 0; j < 3072; j++) b[i * 3073 + 1 + j] = Math.floor(r() * 128) + (j % 10 === label ? 100 : 0);
    }
    return b;
  };
  for (let k = 1; k <= 5; k++) writeFileSync(join(dir, `data_batch_${k}.bin`), batch(12, k));
  writeFileSync(join(dir, 'test_batch.bin'), batch(20, 0));
  return dir;
}

/** A tiny MovieLens-100k-format ratings file (60 users, ~32 items) in a folder named ml-tiny. */
export function writeRatings(dir: string): string {
  mkdirSync(join(dir, 'ml-tiny'), { recursive: true });
  let s = 21;
  const r = (): number => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296; };
  const lines: string[] = [];
  for (let u = 1; u <= 60; u++) {
    const liked = new Set<number>();
    while (liked.size < 6 + (u % 5)) liked.add(1 + Math.floor(30 * r() ** 2));
    for (const i of liked) lines.push(`${u}\t${i}\t${4 + (i % 2)}\t${880000000 + u}`);
  }
  const file = join(dir, 'ml-tiny', 'u.data');
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/** Three recommend runs (VAE+Drop, SIVAE+LBD, DAE; seed 1) of 2 epochs on the tiny ratings. */
export const tinyRecommend = (data: string, out: string, ...extra: string[]): string[] => [
  '--data', data, '--format', 'ml-100k', '--out', out, '--model', 'vae+drop,sivae+lbd,dae', '--seeds', '1', '--epochs', '2', '--batch', '16',
  '--hidden', '16', '--latent', '8', '--K', '4', '--T', '2', '--V', '2', '--held-out-users', '0.2', '--anneal-steps', '20', ...extra,
];

/** A CamVid cache file (the decoded selection segment --cache reads) of 4/2/4 synthetic 32×24 images. */
export async function writeCamVidCache(dir: string): Promise<{ cache: string; args: string[] }> {
  const { saveRecords } = await import('../../engine/checkpoint.js');
  const H = 24, W = 32, limits = { train: 4, val: 2, test: 4 };
  let s = 7;
  const r = (): number => { s = (s * 1103515245 + 12345) >>> 0; return s / 4294967296; };
  const metadata: Record<string, string> = { key: JSON.stringify({ format: 1, size: [H, W], resize: 'area', limits }) };
  const records: [string, { dtype: 'f32' | 'i32'; shape: number[]; data: Float32Array | Int32Array }][] = [];
  for (const [split, n] of Object.entries(limits)) {
    const x = new Float32Array(n * 3 * H * W), y = new Int32Array(n * H * W);
    for (let i = 0; i < n; i++) for (let p = 0; p < H * W; p++) {
      const c = r() < 0.05 ? 11 : Math.floor((Math.floor(p / W) / H) * 4);
      y[i * H * W + p] = c;
      for (let k = 0; k < 3; k++) x[(i * 3 + k) * H * W + p] = r() * 0.5 + (c === k ? 0.5 : 0);
    }
    metadata[`${split}.pairs`] = Array.from({ length: n }, (_, i) => `${split}/${i}.png ${split}annot/${i}.png`).join('\n');
    records.push([`${split}.x`, { dtype: 'f32', shape: [n, 3, H, W], data: x }], [`${split}.y`, { dtype: 'i32', shape: [n, H, W], data: y }]);
  }
  const cache = join(dir, 'camvid-tiny.safetensors');
  await saveRecords(cache, records, metadata);
  return {
    cache,
    args: ['--data', join(dir, 'no-camvid'), '--cache', cache, '--model', 'tiny', '--size', `${W}x${H}`, '--train-limit', '4', '--val-limit', '2', '--test-limit', '4',
      '--epochs', '2', '--batch', '2', '--samples', '2', '--dropout', 'lbd,mc', '--seeds', '1'],
  };
}

export const tmp = (prefix: string): string => mkdtempSync(join(tmpdir(), prefix));

/** Two runs (regular and LBD, seed 1) of 2 epochs × 6 steps on the tiny set; a few seconds each. */
export const tinyClassify = (data: string, out: string, ...extra: string[]): string[] => [
  '--data', data, '--out', out, '--dropout', 'regular,lbd', '--seeds', '1', '--epochs', '2', '--batch', '8', '--width', '0.0625',
  '--hidden', '16', '--train-per-class', '6', '--test-per-class', '2', '--samples', '2', '--image-size', '32', '--batch-norm', 'true', ...extra,
];

export interface Ran { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs a built task as a separate process (environment: ours plus `env`; Slurm/Kubernetes variables cleared). */
export function runTaskProcess(task: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  const base = { ...process.env };
  for (const k of ['SLURM_ARRAY_TASK_ID', 'SLURM_ARRAY_TASK_COUNT', 'SLURM_ARRAY_TASK_MIN', 'JOB_COMPLETION_INDEX', 'LBD_SHARD_COUNT', 'LBD_FAULT']) delete base[k];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--no-use-osr', taskJs(task), ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    p.on('error', reject);
    p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The user-facing error lines of a run (Dawn's start-up warnings aside). */
export const errorLines = (r: Ran): string[] => r.stderr.split('\n').filter((l) => l.trim() && !/^Warning: maxDynamic/.test(l));

// wall-clock measurements, and the commit (other work lands in the repository while a test runs)
const TIMING = new Set(['imagesPerSecond', 'seconds', 'usersPerSecond', 'msPerStep', 'date', 'commit']);

/** A report with wall-clock measurements and commits removed (recursively). */
export function comparable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(comparable);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).filter(([k]) => !TIMING.has(k)).map(([k, x]) => [k, comparable(x)]));
  return v;
}

export const readReport = (dir: string): unknown => comparable(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')));

let reference: Promise<{ data: string; out: string; report: unknown }> | null = null;
/** One uninterrupted tiny classify run, shared by the suites of this process. */
export function referenceRun(): Promise<{ data: string; out: string; report: unknown }> {
  reference ??= (async () => {
    const data = writeCifar(join(tmp('lbd-runner-data-'), 'cifar'));
    const out = tmp('lbd-runner-ref-');
    const r = await runTaskProcess('classify', tinyClassify(data, out));
    if (r.code !== 0) throw new Error(`reference run failed (${r.code}): ${r.stderr}`);
    return { data, out, report: readReport(out) };
  })();
  return reference;
}

let recReference: Promise<{ data: string; out: string; report: unknown }> | null = null;
/** One uninterrupted tiny recommend run, shared by the suites of this process. */
export function recommendReference(): Promise<{ data: string; out: string; report: unknown }> {
  recReference ??= (async () => {
    const data = writeRatings(tmp('lbd-runner-ratings-'));
    const out = tmp('lbd-runner-recref-');
    const r = await runTaskProcess('recommend', tinyRecommend(data, out));
    if (r.code !== 0) throw new Error(`reference run failed (${r.code}): ${r.stderr}`);
    return { data, out, report: readReport(out) };
  })();
  return recReference;
}

/** Files left by killed saves (none may survive a resumed run). */
export const tempFiles = (out: string): string[] => ['runs', 'checkpoints', '.'].flatMap((d) => {
  try { return readdirSync(join(out, d)).filter((f) => /\.tmp-/.test(f)).map((f) => join(d, f)); } catch { return []; }
});
