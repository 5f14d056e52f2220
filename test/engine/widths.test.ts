// The subgroup kernels are written for any subgroup width. lavapipe's width follows
// LP_NATIVE_VECTOR_WIDTH, which only takes effect before the device exists, so each width runs
// in a child process (width-check.ts): 128-, 256- and 512-bit vectors give 4-, 8- and
// 16-lane subgroups. (NVIDIA's 32 is the same code with lanes = 32; it is not reachable here.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ready } from '../helpers.js';
import { gpu, cpuVectorWidth } from '../../engine/device.js';

const test = suite('subgroup widths');
test.before(async () => { await ready; });
const here = dirname(fileURLToPath(import.meta.url));

for (const width of [128, 256, 512]) {
  test(`${width}-bit vectors (${width / 32} lanes): products, convolutions and batch norm match float64`, () => {
    if (!gpu().info.software || !/llvmpipe/i.test(gpu().info.name)) return; // only llvmpipe takes the setting
    if (width > cpuVectorWidth()) return; // this CPU has no such vectors
    const child = spawnSync(process.execPath, ['--no-use-osr', join(here, 'width-check.js')], {
      env: { ...process.env, LP_NATIVE_VECTOR_WIDTH: String(width) }, encoding: 'utf8', timeout: 300_000,
    });
    assert.is(child.status, 0, `width-check exited ${child.status}: ${child.stderr}`);
    const line = child.stdout.trim().split('\n').pop()!;
    const res = JSON.parse(line) as { subgroupSize: number; leaked: number; errors: Record<string, number> };
    assert.is(res.subgroupSize, width / 32, 'subgroup size the child saw');
    assert.is(res.leaked, 0, 'live bytes leaked in the child');
    assert.ok(Object.keys(res.errors).length >= 37, 'every check ran');
    for (const [what, e] of Object.entries(res.errors)) assert.ok(e < 1e-5, `${what} at ${width / 32} lanes: relative error ${e}`);
  });
}

test.run();
