// Test entry point: starts the device once (quietly), runs every compiled *.test.js suite with
// uvu (and *.long.test.js under LBD_LONG=1), then prints one "N passed, N failed" line.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getGpu, setQuiet } from '../engine/device.js';

const here = dirname(fileURLToPath(import.meta.url));
const long = process.env.LBD_LONG === '1';
const filter = process.argv[2];

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return walk(p);
    const ok = f.endsWith('.test.js') && (long || !f.endsWith('.long.test.js'));
    return ok && (!filter || p.includes(filter)) ? [p] : [];
  });
}

setQuiet(true);
const g = await getGpu();
console.log(`device: ${g.info.name} (${g.info.backend}${g.info.subgroupSize ? `, subgroup ${g.info.subgroupSize}` : ''})`);

// Capture uvu's totals so the closing line can be plain.
let captured = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  captured += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
  if (captured.length > 4096) captured = captured.slice(-4096);
  return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stdout.write;

const files = walk(here).sort();
const { run } = (await import('uvu/run')) as { run: (s: { name: string; file: string }[], o: { bail?: boolean }) => Promise<void> };
await run(files.map((file) => ({ name: file.slice(here.length + 1), file })), {});
process.stdout.write = write;
const strip = captured.replace(/\x1b\[[0-9;]*m/g, '');
const total = Number(/Total:\s+(\d+)/.exec(strip)?.[1] ?? 0);
const passed = Number(/Passed:\s+(\d+)/.exec(strip)?.[1] ?? 0);
console.log(`${passed} passed, ${total - passed} failed`);
process.exit(process.exitCode ?? (total === passed ? 0 : 1));
