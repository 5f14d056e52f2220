// The packaged browser example (examples/browser, bundled by test/package/check.ts) in headless
// Chromium: it must train, predict with MC dropout and report a sensible result, with no
// console error.
import { existsSync } from 'node:fs';
import { serveStatic } from '../../tasks/web/serve.js';
import { chrome, WEBGPU_FLAGS, launch, watch } from '../web/chromium.js';

export async function runBrowserExample(dir: string): Promise<string> {
  if (!existsSync(chrome)) throw new Error(`no Chromium at ${chrome}; install it (apt-get install -y chromium) or set CHROME_PATH`);
  const served = await serveStatic(dir, 0);
  const browser = await launch(WEBGPU_FLAGS);
  try {
    const page = await browser.newPage();
    const errors = watch(page);
    await page.goto(`${served.url}index.html`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), { timeout: 300_000, polling: 200 });
    const { state, result, out } = await page.evaluate(() => ({ state: document.body.dataset.state, result: document.body.dataset.result, out: document.querySelector('#out')?.textContent ?? '' }));
    if (state !== 'done') throw new Error(`the browser example failed:\n${out}`);
    if (errors.length) throw new Error(`the browser example logged errors: ${errors.join('; ')}`);
    const r = JSON.parse(result ?? '{}') as { accuracy: number; meanKeep: number };
    if (!(r.accuracy > 0.8)) throw new Error(`the browser example reached only ${(100 * r.accuracy).toFixed(1)} % accuracy:\n${out}`);
    if (!(r.meanKeep > 0 && r.meanKeep < 1)) throw new Error(`keep probabilities out of (0, 1): ${r.meanKeep}`);
    return out.trim().split('\n').join(' | ');
  } finally {
    await browser.close();
    await served.close();
  }
}
