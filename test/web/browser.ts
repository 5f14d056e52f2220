// The page in a real browser (npm run test:web; CI runs it on every submission): headless
// Chromium (the system's /usr/bin/chromium, or CHROME_PATH) with WebGPU on its software adapter
// (SwiftShader) opens the built page (dist/page/, or the folder given as argument), trains every
// dropout kind a few hundred steps, draws a digit, runs the toy estimator study, and checks what
// the visitor would see: accuracy well above chance (10 %), LBD's keep probabilities moving, a
// predictive distribution summing to 1, ARM/DisARM centred on the exact gradient, and no console
// error. A browser without WebGPU must get the explanation instead of a broken page.
// Prints one "N passed, N failed" line; exits non-zero on any failure.
// --screenshot FILE saves the page after training (docs/web/page.png).
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'puppeteer-core';
import { chrome, WEBGPU_FLAGS, launch, watch } from './chromium.js';
import { serveStatic } from '../../tasks/web/serve.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const args = process.argv.slice(2);
const shotAt = args.indexOf('--screenshot');
const screenshot = shotAt >= 0 ? resolve(args.splice(shotAt, 2)[1]) : null;
const dir = resolve(args[0] ?? join(root, 'dist/page'));

let passed = 0, failed = 0;
function check(name: string, ok: boolean, detail: string): void {
  if (ok) passed++; else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
}

const state = (page: Page): Promise<Record<string, string>> => page.evaluate(() => ({ ...document.body.dataset }) as Record<string, string>);

async function waitState(page: Page, want: string[], timeout: number): Promise<string> {
  await page.waitForFunction((w: string[]) => w.includes(document.body.dataset.state ?? ''), { timeout, polling: 200 }, want);
  return (await state(page)).state;
}

interface KeepStat { mean: number; min: number; max: number; std: number }

async function trainKind(page: Page, kind: string, steps: number): Promise<{ accuracy: number; keeps: KeepStat[]; initial: KeepStat[]; ms: number; seconds: number }> {
  await page.select('#kind', kind);
  await page.$eval('#steps', (el, v) => { (el as HTMLInputElement).value = v; }, String(steps));
  const t0 = Date.now();
  await page.click('#train');
  await page.waitForFunction(() => document.body.dataset.state !== 'trained', { timeout: 10_000, polling: 50 });
  const s = await waitState(page, ['trained', 'error'], 240_000);
  const d = await state(page);
  if (s === 'error') throw new Error(`training ${kind} failed: ${await page.$eval('#error', (e) => e.textContent)}`);
  return { accuracy: Number(d.accuracy), keeps: JSON.parse(d.keeps) as KeepStat[], initial: JSON.parse(d.initialKeeps) as KeepStat[], ms: Number(d.msPerStep), seconds: (Date.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  if (!existsSync(join(dir, 'index.html'))) throw new Error(`${dir}/index.html is missing; run \`npm run build:web\` first`);
  if (!existsSync(chrome)) throw new Error(`no Chromium at ${chrome}; install it (apt-get install -y chromium) or set CHROME_PATH`);
  const served = await serveStatic(dir, 0);
  const browser = await launch(WEBGPU_FLAGS);
  const t0 = Date.now();
  try {
    const page = await browser.newPage();
    const errors = watch(page);
    await page.goto(served.url, { waitUntil: 'load' });
    const ready = await waitState(page, ['ready', 'error', 'no-webgpu'], 60_000);
    check('page starts on WebGPU', ready === 'ready', ready === 'ready' ? `adapter ${(await state(page)).adapter}` : await page.$eval('#error', (e) => e.textContent ?? ''));
    if (ready !== 'ready') return;

    // every kind; the baselines briefly, LBD longer (the panels below use the last model)
    // ~0.2-0.3 CPU-seconds a step on SwiftShader: 500 steps keep the test near two minutes on 2 cores
    const plan: [string, number, number][] = [['regular', 50, 0.5], ['mc', 50, 0.5], ['gaussian', 50, 0.5], ['concrete', 50, 0.5], ['lbd-disarm', 100, 0.6], ['lbd-arm', 200, 0.75]];
    for (const [kind, steps, floor] of plan) {
      const r = await trainKind(page, kind, steps);
      check(`${kind} trains`, r.accuracy > floor, `test accuracy ${(100 * r.accuracy).toFixed(1)} % after ${steps} steps (want > ${100 * floor} %, chance 10 %); ${r.ms} ms/step, ${r.seconds.toFixed(0)} s`);
      if (kind.startsWith('lbd')) {
        // initial keep 0.5 everywhere; learnt per-unit keeps must leave it and spread
        const moved = r.keeps.map((k, l) => Math.max(Math.abs(k.min - r.initial[l].min), Math.abs(k.max - r.initial[l].max)));
        check(`${kind} keep probabilities move`, moved.every((m) => m > 0.01) && r.keeps.every((k) => k.std > 0.002),
          r.keeps.map((k, l) => `layer ${l + 1}: ${r.initial[l].mean.toFixed(3)} → mean ${k.mean.toFixed(3)} [${k.min.toFixed(3)}, ${k.max.toFixed(3)}], sd ${k.std.toFixed(4)}`).join('; '));
      }
    }

    // draw a digit (a "7") on the pad; the page predicts on pointer-up
    const box = (await (await page.$('#pad'))!.boundingBox())!;
    const pt = (x: number, y: number): [number, number] => [box.x + x * box.width, box.y + y * box.height];
    await page.mouse.move(...pt(0.25, 0.22));
    await page.mouse.down();
    for (const [x, y] of [[0.5, 0.22], [0.75, 0.22], [0.62, 0.5], [0.5, 0.8]]) await page.mouse.move(...pt(x, y), { steps: 6 });
    await page.mouse.up();
    await page.waitForFunction(() => !!document.getElementById('predict-text')?.dataset.probs, { timeout: 30_000, polling: 100 });
    const pred = await page.$eval('#predict-text', (e) => ({ ...(e as HTMLElement).dataset }));
    const probs = JSON.parse(pred.probs!) as number[];
    const total = probs.reduce((a, b) => a + b, 0);
    const H = Number(pred.entropy);
    check('drawn digit: predictive distribution', probs.length === 10 && probs.every((p) => p >= 0 && p <= 1) && Math.abs(total - 1) < 1e-4 && Number(pred.samples) > 1 && H >= 0 && H <= Math.log(10) + 1e-6,
      `10 classes summing to ${total.toFixed(6)} over ${pred.samples} MC samples, entropy ${H.toFixed(3)} nats; argmax ${probs.indexOf(Math.max(...probs))}`);

    // the toy estimator study at keep 0.3
    await page.$eval('#toy-keep', (el) => { (el as HTMLInputElement).value = '0.3'; el.dispatchEvent(new Event('input')); });
    await page.$eval('#toy-count', (el) => { (el as HTMLInputElement).value = '100'; });
    await page.click('#toy-run');
    await page.waitForFunction(() => !!document.getElementById('toy-status')?.dataset.done || document.body.dataset.state === 'error', { timeout: 120_000, polling: 200 });
    const sum = JSON.parse((await page.$eval('#toy-status', (e) => (e as HTMLElement).dataset.summary)) ?? 'null') as
      { keep: number; count: number; exact: number[]; arm: { mean: number; se: number }[]; disarm: { mean: number; se: number }[]; concrete: { mean: number; se: number }[] } | null;
    const z = (e: 'arm' | 'disarm', k: number): number => sum ? Math.abs(sum[e][k].mean - sum.exact[k]) / sum[e][k].se : Infinity;
    check('toy study: ARM and DisARM unbiased on the GPU', !!sum && sum.keep === 0.3 && sum.count === 100 && [0, 1].every((k) => z('arm', k) < 5 && z('disarm', k) < 5 && Number.isFinite(sum.concrete[k].mean)),
      sum ? [0, 1].map((k) => `∂/∂α${k + 1}: exact ${sum.exact[k].toExponential(3)}, |bias|/SE ARM ${z('arm', k).toFixed(2)}, DisARM ${z('disarm', k).toFixed(2)}, Concrete mean ${sum.concrete[k].mean.toExponential(3)}`).join('; ') : 'no summary');
    check('toy study: histograms drawn', (await page.$eval('#toy-keep-v', (e) => e.textContent)) === '0.30' && (await page.$$eval('#toy svg', (s) => s.length)) === 1 && (await page.$$eval('#keeps svg, #curve svg, #predict svg', (s) => s.length)) === 3, 'one SVG each in the toy, keep, curve and predictive panels; the keep label says 0.30');

    if (screenshot) {
      mkdirSync(dirname(screenshot), { recursive: true });
      await page.screenshot({ path: screenshot as `${string}.png`, fullPage: true });
      console.log(`screenshot: ${screenshot}`);
    }
    check('no console errors', errors.length === 0, errors.length ? errors.slice(0, 5).join(' | ') : 'none');
  } finally {
    await browser.close();
  }

  // a browser without WebGPU gets the explanation
  const plain = await launch(['--disable-features=WebGPU']);
  try {
    const page = await plain.newPage();
    await page.goto(served.url, { waitUntil: 'load' });
    const s = await waitState(page, ['ready', 'error', 'no-webgpu'], 60_000);
    const msg = await page.$eval('#error', (e) => (getComputedStyle(e).display === 'none' ? '' : e.textContent ?? ''));
    check('no WebGPU: says so', s === 'no-webgpu' && /WebGPU/.test(msg), `state ${s}; message: ${msg.slice(0, 120)}`);
  } finally {
    await plain.close();
    await served.close();
  }
  console.log(`browser test: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

try {
  await main();
} catch (e) {
  failed++;
  console.log(`FAIL browser test: ${(e as Error).message}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
