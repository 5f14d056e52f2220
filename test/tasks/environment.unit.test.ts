// Where the code reads its environment: the engine's variables only in its tuning
// (engine/plans/tuning.ts, through kernels/env.ts's accessor), the task commands' only in
// tasks/common/environment.ts. engine/host-node.ts sets and reads llvmpipe's and EGL's own
// variables for the driver (LP_NATIVE_VECTOR_WIDTH, EGL_PLATFORM), which are not the engine's
// options. A new read elsewhere fails here, naming the file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const test = suite('environment reads');
const root = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sources(p) : f.endsWith('.ts') ? [relative(root, p)] : [];
  });
}
const files = ['engine', 'kernels', 'layers', 'models', 'tasks'].flatMap((d) => sources(join(root, d)));
/** The file's lines that are code (comment lines and doc-comment lines left out). */
const code = (f: string): string => readFileSync(join(root, f), 'utf8').split('\n').filter((l) => !/^\s*(\/\/|\*|\/\*)/.test(l)).join('\n');

test('engine variables are read by the tuning alone; the tasks\' by tasks/common/environment.ts', () => {
  assert.ok(files.length > 100, `${files.length} source files`);
  const envCalls = files.filter((f) => /\benv\(\s*['"`]/.test(code(f)));
  assert.equal(envCalls, ['engine/plans/tuning.ts'].filter((f) => envCalls.includes(f)), `env('…') outside the tuning: ${envCalls.join(', ')}`);
  // tasks/web/build.ts names process.env.NODE_ENV as a string, for the bundler to replace
  const processEnv = files.filter((f) => /process\.env\b/.test(code(f).replace(/'process\.env\.NODE_ENV'/g, '')));
  assert.equal(processEnv.sort(), ['engine/host-node.ts', 'tasks/common/environment.ts'], 'process.env outside the accessors');
  assert.match(code('kernels/env.ts'), /proc\(\)\?\.env\?\.\[name\]/, 'kernels/env.ts reads the variables through globalThis.process');
  assert.match(code('engine/plans/tuning.ts'), /read: \(name: string\) => string \| undefined = env/, 'the tuning reads through kernels/env.ts');
});

test.run();
