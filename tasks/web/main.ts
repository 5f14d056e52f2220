// The page (tasks/web/index.html): trains the digits MLP with the visitor's dropout on the
// browser's WebGPU device, shows loss, accuracy and the learnt keep probabilities live, gives the
// MC predictive distribution of a drawn digit, and runs the toy estimator study on the GPU.
// All GPU work goes through one queue: the engine's scopes are a stack, so two async jobs must
// never interleave. The page writes its state into data-* attributes for the browser test.
import { getGpu, NO_WEBGPU_HINT } from '../../engine/device.js';
import { Generator, setTuning } from '../../engine/index.js';
import { decodeDigits } from './digits.js';
import { WebTrainer, PAGE_KINDS, PAGE_LABELS, webDefaults, type PageKind } from './train.js';
import { toyEstimatesGpu } from './toy-gpu.js';
import { render, curveSpec, keepSpec, predictSpec, type CurvePoint } from './charts.js';
import { makeToyModel, exactGradient, type ToyModel } from '../toy/model.js';
import { histogramSpec } from '../toy/figures.js';
import { logit } from '../toy/sigmoid.js';
import { mean, std } from '../toy/stats.js';
import { ESTIMATORS } from '../toy/toy-estimates.js';
import type { DigitSet } from '../data/mnist.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: element #${id} is missing`);
  return el as T;
};
const body = document.body;
const EVAL_EVERY = 50, LOSS_EVERY = 10, EVAL_DIGITS = 1000;

function showError(msg: string): void {
  const box = $('error');
  box.style.display = 'block';
  box.textContent = msg;
}

// one queue for every piece of GPU work
let chain: Promise<unknown> = Promise.resolve();
function gpuJob<T>(fn: () => Promise<T>): Promise<T> {
  const p = chain.then(fn);
  chain = p.catch(() => undefined);
  return p;
}

const nextFrame = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

const keepStats = (keeps: number[][]): { mean: number; min: number; max: number; std: number }[] =>
  keeps.map((k) => ({ mean: mean(k), min: Math.min(...k), max: Math.max(...k), std: k.length > 1 ? std(k) : 0 }));

// ---- training ------------------------------------------------------------------------------

let trainer: WebTrainer | null = null;
let stopRequested = false;
let digits: { train: DigitSet; test: DigitSet };
let evalSet: DigitSet;

async function train(): Promise<void> {
  const kind = ($<HTMLSelectElement>('kind').value) as PageKind;
  const steps = Math.max(1, Math.floor(Number($<HTMLInputElement>('steps').value) || 1));
  const rate = Number($<HTMLInputElement>('rate').value);
  if (!(rate > 0 && rate < 1)) throw new Error(`the drop rate must be in (0, 1); got ${$<HTMLInputElement>('rate').value}`);
  stopRequested = false;
  $<HTMLButtonElement>('train').disabled = true;
  $<HTMLButtonElement>('stop').disabled = false;
  body.dataset.state = 'training';
  body.dataset.kind = kind;
  const loss: CurvePoint[] = [], acc: CurvePoint[] = [];
  try {
    await gpuJob(async () => { trainer?.dispose(); trainer = new WebTrainer({ kind, ...webDefaults, rate }, digits.train); });
    const t = trainer!;
    const k0 = await gpuJob(() => t.keeps());
    body.dataset.initialKeeps = JSON.stringify(keepStats(k0));
    await render('keeps', keepSpec(k0, 0));
    let t0 = performance.now(), s0 = 0;
    for (let s = 1; s <= steps && !stopRequested; s++) {
      const l = await gpuJob(() => t.step(s % LOSS_EVERY === 0 || s === 1));
      if (l !== null) { loss.push({ step: s, value: l }); $('loss').textContent = l.toFixed(3); }
      $('step').textContent = String(s);
      body.dataset.step = String(s);
      if (s % EVAL_EVERY === 0 || s === steps) {
        const a = await gpuJob(() => t.accuracy(evalSet));
        const k = await gpuJob(() => t.keeps());
        acc.push({ step: s, value: a });
        $('acc').textContent = `${(100 * a).toFixed(1)} %`;
        const ms = (performance.now() - t0) / (s - s0);
        $('speed').textContent = `${ms.toFixed(0)} ms / step`;
        t0 = performance.now(); s0 = s;
        body.dataset.accuracy = String(a);
        body.dataset.keeps = JSON.stringify(keepStats(k));
        body.dataset.msPerStep = ms.toFixed(1);
        await render('curve', curveSpec(loss, acc));
        await render('keeps', keepSpec(k, s));
      }
      if (s % 5 === 0) await nextFrame();
    }
    body.dataset.state = 'trained';
    if (hasInk()) await predictDrawn();
  } finally {
    $<HTMLButtonElement>('train').disabled = false;
    $<HTMLButtonElement>('stop').disabled = true;
  }
}

// ---- drawing -------------------------------------------------------------------------------

const pad = (): HTMLCanvasElement => $<HTMLCanvasElement>('pad');
let ink = false;
const hasInk = (): boolean => ink;

function setupPad(): void {
  const c = pad(), g = c.getContext('2d')!;
  const clear = (): void => { g.fillStyle = '#000'; g.fillRect(0, 0, c.width, c.height); ink = false; };
  clear();
  let down = false, last: [number, number] | null = null;
  const at = (e: PointerEvent): [number, number] => { const r = c.getBoundingClientRect(); return [(e.clientX - r.left) * (c.width / r.width), (e.clientY - r.top) * (c.height / r.height)]; };
  const line = (a: [number, number], b: [number, number]): void => {
    g.strokeStyle = '#fff'; g.lineWidth = 16; g.lineCap = 'round'; g.lineJoin = 'round';
    g.beginPath(); g.moveTo(a[0], a[1]); g.lineTo(b[0], b[1]); g.stroke();
    ink = true;
  };
  c.addEventListener('pointerdown', (e) => { down = true; last = at(e); line(last, last); c.setPointerCapture(e.pointerId); });
  c.addEventListener('pointermove', (e) => { if (!down || !last) return; const p = at(e); line(last, p); last = p; });
  const up = (): void => { if (!down) return; down = false; last = null; if (trainer) void predictDrawn().catch(fail); };
  c.addEventListener('pointerup', up);
  c.addEventListener('pointercancel', up);
  $('clear').addEventListener('click', () => { clear(); $('predict-text').textContent = 'Draw a digit.'; });
  $('predict-btn').addEventListener('click', () => void predictDrawn().catch(fail));
}

/**
 * The drawing as MNIST shows digits: the ink's bounding box scaled into 20×20 (aspect kept),
 * placed on 28×28 with its centre of mass in the middle, grey levels in [0, 1].
 */
function padImage(): Float32Array {
  const c = pad(), g = c.getContext('2d')!;
  const src = g.getImageData(0, 0, c.width, c.height).data;
  let x0 = c.width, y0 = c.height, x1 = -1, y1 = -1;
  for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
    if (src[4 * (y * c.width + x)] > 20) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  }
  const out = new Float32Array(784);
  if (x1 < 0) return out;
  const w = x1 - x0 + 1, h = y1 - y0 + 1, s = 20 / Math.max(w, h);
  const small = document.createElement('canvas');
  small.width = small.height = 28;
  const sg = small.getContext('2d')!;
  sg.fillStyle = '#000'; sg.fillRect(0, 0, 28, 28);
  sg.imageSmoothingEnabled = true; sg.imageSmoothingQuality = 'high';
  sg.drawImage(c, x0, y0, w, h, (28 - w * s) / 2, (28 - h * s) / 2, w * s, h * s);
  const px = sg.getImageData(0, 0, 28, 28).data;
  const grey = new Float32Array(784);
  let m = 0, cx = 0, cy = 0;
  for (let i = 0; i < 784; i++) { const v = px[4 * i] / 255; grey[i] = v; m += v; cx += v * (i % 28); cy += v * Math.floor(i / 28); }
  const dx = Math.round(13.5 - cx / m), dy = Math.round(13.5 - cy / m);
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const sx = x - dx, sy = y - dy;
    if (sx >= 0 && sx < 28 && sy >= 0 && sy < 28) out[y * 28 + x] = grey[sy * 28 + sx];
  }
  return out;
}

async function predictDrawn(): Promise<void> {
  const t = trainer;
  if (!t) { $('predict-text').textContent = 'Train a model first.'; return; }
  if (!hasInk()) { $('predict-text').textContent = 'Draw a digit first.'; return; }
  const S = Math.min(500, Math.max(1, Math.floor(Number($<HTMLInputElement>('samples').value) || 1)));
  const img = padImage();
  const r = await gpuJob(() => t.predictive(img, S));
  const best = r.probs.indexOf(Math.max(...r.probs));
  const el = $('predict-text');
  el.textContent = `${PAGE_LABELS[t.o.kind]}, ${r.samples} ${r.samples === 1 ? 'deterministic pass' : 'MC samples'}: most likely ${best} ` +
    `(${(100 * r.probs[best]).toFixed(1)} %), predictive entropy ${r.entropy.toFixed(3)} nats of at most ${Math.log(10).toFixed(3)}`;
  el.dataset.probs = JSON.stringify(r.probs);
  el.dataset.entropy = String(r.entropy);
  el.dataset.samples = String(r.samples);
  await render('predict', predictSpec(r.probs));
}

// ---- toy study -----------------------------------------------------------------------------

let toy: ToyModel | null = null;
let toyRuns = 0;

async function runToy(): Promise<void> {
  const keep = Number($<HTMLInputElement>('toy-keep').value);
  $('toy-keep-v').textContent = keep.toFixed(2);
  const count = Math.min(2000, Math.max(20, Math.floor(Number($<HTMLInputElement>('toy-count').value) || 200)));
  const status = $('toy-status');
  $<HTMLButtonElement>('toy-run').disabled = true;
  try {
    // the study's model (tasks/toy.ts defaults: 3,000 samples, seed 1)
    toy ??= makeToyModel({ samples: 3000, seed: 1 });
    const m = toy;
    const alpha: [number, number] = [logit(keep), logit(keep)];
    const t0 = performance.now();
    const raw = await gpuJob(() => toyEstimatesGpu(m, alpha, {
      count, temperature: 0.1, generator: new Generator(1, 100 + toyRuns++),
      progress: (d) => { status.textContent = `${d} / ${count} estimates…`; },
    }));
    const exact = exactGradient(m, alpha);
    const summary = Object.fromEntries(ESTIMATORS.map((e) => [e, [0, 1].map((k) => ({ mean: mean(raw[e][k]), se: std(raw[e][k]) / Math.sqrt(count) }))]));
    status.textContent = `keep ${keep.toFixed(2)}: ${count} estimates per estimator in ${((performance.now() - t0) / 1000).toFixed(1)} s on the GPU; ` +
      `∂E/∂α1 exact ${exact[0].toExponential(3)}, ARM ${summary.arm[0].mean.toExponential(3)}, DisARM ${summary.disarm[0].mean.toExponential(3)}, Concrete ${summary.concrete[0].mean.toExponential(3)}`;
    status.dataset.summary = JSON.stringify({ keep, count, exact, ...summary });
    await render('toy', histogramSpec([keep, keep], exact, raw));
    status.dataset.done = String(toyRuns);
  } finally {
    $<HTMLButtonElement>('toy-run').disabled = false;
  }
}

// ---- start ---------------------------------------------------------------------------------

function fail(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  body.dataset.state = 'error';
  showError(msg);
  console.error(`lbd page: ${msg}`);
}

async function start(): Promise<void> {
  body.dataset.state = 'loading';
  const kindSel = $<HTMLSelectElement>('kind');
  for (const k of PAGE_KINDS) kindSel.add(new Option(PAGE_LABELS[k], k, k === 'lbd-arm', k === 'lbd-arm'));
  $('toy-keep').addEventListener('input', () => { $('toy-keep-v').textContent = Number($<HTMLInputElement>('toy-keep').value).toFixed(2); });
  if (!('gpu' in navigator)) {
    body.dataset.state = 'no-webgpu';
    showError(NO_WEBGPU_HINT);
    return;
  }
  let g;
  try {
    g = await getGpu();
  } catch (e) {
    body.dataset.state = 'no-webgpu';
    showError((e as Error).message);
    return;
  }
  // ?matmul=tiled|subgroup overrides the engine's GEMM choice (Node reads LBD_MATMUL)
  const mm = new URLSearchParams(location.search).get('matmul');
  if (mm === 'tiled' || mm === 'subgroup') setTuning({ matmul: { structure: mm } });
  else if (mm !== null) throw new Error(`?matmul must be tiled or subgroup; got '${mm}'`);
  $('adapter').textContent = `Device: ${g.info.name || g.info.vendor}${g.info.architecture ? ` (${g.info.architecture})` : ''}` +
    `${g.info.software ? ', a software adapter' : ''}${g.info.subgroupSize ? `, subgroups of ${g.info.subgroupSize}` : ''}.`;
  body.dataset.adapter = JSON.stringify(g.info);
  const res = await fetch('./digits.bin');
  if (!res.ok) throw new Error(`digits.bin: HTTP ${res.status}`);
  digits = decodeDigits(new Uint8Array(await res.arrayBuffer()));
  // a fixed, class-balanced-enough slice of the held-out digits for the live accuracy
  const n = Math.min(EVAL_DIGITS, digits.test.n), stride = digits.test.n / n;
  const idx = Array.from({ length: n }, (_, i) => Math.floor(i * stride));
  evalSet = { n, x: new Float32Array(n * 784), y: new Int32Array(n) };
  idx.forEach((j, i) => { evalSet.x.set(digits.test.x.subarray(j * 784, (j + 1) * 784), i * 784); evalSet.y[i] = digits.test.y[j]; });
  setupPad();
  $('train').addEventListener('click', () => void train().catch(fail));
  $('stop').addEventListener('click', () => { stopRequested = true; });
  $('toy-run').addEventListener('click', () => void runToy().catch(fail));
  body.dataset.state = 'ready';
}

window.addEventListener('unhandledrejection', (e) => fail(e.reason));
window.addEventListener('error', (e) => fail(e.error ?? e.message));
void start().catch(fail);
