// `npm run test:swiftshader`: the engine, layer and model suites on SwiftShader, the software
// Vulkan driver Chromium ships — a second CPU adapter beside lavapipe, with 4-lane subgroups,
// other limits (12 storage buffers a stage, 256 invocations a workgroup, 1 GiB bindings), no
// shader-f16, coarser builtins and its own shader compiler. Two runs: the adapter's own choices
// (subgroup GEMMs, row convolutions, one-subgroup batch norm at 4 lanes), then LBD_KERNELS=gpu
// (the tiled, double-buffered GEMMs and batch norm's split passes: every workgroup-memory kernel,
// 16-64 four-lane subgroups to a workgroup taking turns at each barrier). Filters name the suites
// to run instead of the default set (`npm run test:swiftshader -- engine/ops`).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The suites of each run. SwiftShader spends most of a suite compiling pipelines (0.2-2.5 s each
 * against lavapipe's 0.05-0.2), so the default set is what covers every kernel family in a few
 * minutes (docs/kernels.md §8): the op registry (every op, forward and backward), products and
 * convolutions in every structure the suites force, batch norm's forms, the numerics at the
 * edges, LBD's estimators and the baselines' noise kernels, and the models' training steps.
 */
const ADAPTER_CHOICES = ['engine/ops', 'engine/matmul', 'engine/conv', 'engine/norm', 'engine/numerics', 'layers/lbd', 'layers/baselines', 'models/'];
/** Under LBD_KERNELS=gpu: the suites whose products, convolutions and batch norms take the automatic path. */
const GPU_STRUCTURES = ['engine/ops', 'engine/norm', 'layers/lbd', 'models/vgg', 'models/tiramisu', 'models/vae'];

const ICD = 'vk_swiftshader_icd.json';

/** SwiftShader's Vulkan ICD file: from the Debian package's file list, else the usual install folders. */
export function findSwiftShaderIcd(): string | null {
  for (const pkg of ['chromium-common', 'chromium']) {
    try {
      const files = execFileSync('dpkg', ['-L', pkg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const hit = files.split('\n').find((l) => l.endsWith(`/${ICD}`) && existsSync(l));
      if (hit) return hit;
    } catch { /* no dpkg, or the package is not installed */ }
  }
  // /usr/lib*/chromium*/, /opt/google/chrome*/ and the like
  for (const root of ['/usr/lib', '/usr/lib64', '/usr/local/lib', '/opt', '/opt/google']) {
    let dirs: string[] = [];
    try { dirs = readdirSync(root).filter((d) => /chrom/i.test(d)); } catch { continue; }
    for (const d of dirs) if (existsSync(join(root, d, ICD))) return join(root, d, ICD);
  }
  return null;
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const icd = findSwiftShaderIcd();
  if (!icd) {
    console.error(`test:swiftshader: SwiftShader's Vulkan driver (${ICD}) was not found; it comes with Chromium: apt-get install chromium`);
    process.exit(1);
  }
  const picked = process.argv.slice(2);
  const runs: [string, string[]][] = [['auto', picked.length ? picked : ADAPTER_CHOICES], ['gpu', picked.length ? picked : GPU_STRUCTURES]];
  const runner = join(dirname(fileURLToPath(import.meta.url)), 'run.js');
  let failed = false;
  for (const [kernels, suites] of runs) {
    console.log(`\nSwiftShader (${icd}), LBD_KERNELS=${kernels}: ${suites.join(' ')}`);
    const t0 = performance.now();
    const r = spawnSync(process.execPath, ['--no-use-osr', runner, ...suites], {
      stdio: 'inherit',
      env: { ...process.env, VK_ICD_FILENAMES: icd, VK_DRIVER_FILES: icd, LBD_EXPECT_ADAPTER: 'swiftshader', LBD_KERNELS: kernels },
    });
    console.log(`LBD_KERNELS=${kernels}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    failed ||= r.status !== 0;
  }
  process.exit(failed ? 1 : 0);
}
