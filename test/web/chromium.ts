// Headless Chromium with WebGPU on its software adapter (SwiftShader), for the page's browser
// test and the package check's browser example: the system's /usr/bin/chromium or CHROME_PATH
// (puppeteer-core downloads no browser).
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

export const chrome = process.env.CHROME_PATH ?? '/usr/bin/chromium';
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--enable-features=Vulkan'];

export function launch(extra: string[]): Promise<Browser> {
  return puppeteer.launch({
    executablePath: chrome, headless: true,
    // --no-sandbox: CI runs as root, where Chromium refuses its sandbox
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--window-size=1280,1000', ...extra],
    defaultViewport: { width: 1280, height: 1000 },
    // a loaded 2-core host can keep the page busy compiling pipelines for minutes
    protocolTimeout: 900_000,
  });
}

/** Console errors, uncaught exceptions and failed requests of a page. */
export function watch(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => errors.push(`uncaught: ${(e as Error).message ?? String(e)}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`));
  page.on('response', (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`); });
  return errors;
}
