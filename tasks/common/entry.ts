// What every task's entry point does around its main: Dawn's start-up warnings filtered out of
// stderr (by re-running itself as a child), a UserError printed as one line with exit code 2,
// anything else with its stack and exit code 1.
import { spawn } from 'node:child_process';
import { UserError } from './errors.js';
import { environment, showDawnWarnings, filteredChildOf, parentStderrColumns } from './environment.js';
import { GpuLimitError } from '../../engine/device.js';

/**
 * Dawn prints two warnings on every start (it lowers maxDynamicUniformBuffersPerPipelineLayout and
 * maxDynamicStorageBuffersPerPipelineLayout to 16) straight to file descriptor 2 from native code,
 * out of JavaScript's reach; they mean nothing to a user. So an entry point re-runs itself as a
 * child whose stderr passes through this process with those two lines removed
 * (LBD_DAWN_WARNINGS=show turns this off). Signals are passed on and the child's exit code or
 * signal is this process's; a child whose parent dies (kill -9) kills itself within a second.
 * Returns true in the parent, which has nothing else to do.
 */
function filterDawnWarnings(): boolean {
  if (showDawnWarnings()) return false;
  const parent = filteredChildOf();
  if (parent) {
    setInterval(() => { if (process.ppid !== Number(parent)) process.kill(process.pid, 'SIGKILL'); }, 1000).unref();
    const columns = parentStderrColumns();
    // the parent's stderr is a terminal: progress bars may draw as on one
    if (columns) Object.assign(process.stderr, { isTTY: true, columns });
    return false;
  }
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: { ...environment(), LBD_FILTERED_CHILD: String(process.pid), ...(process.stderr.isTTY ? { LBD_STDERR_COLUMNS: String(process.stderr.columns ?? 80) } : {}) },
  });
  const mark = 'Warning: maxDynamic';
  let tail = '';
  child.stderr!.on('data', (d: Buffer) => {
    const text = (tail + d.toString()).replace(DAWN_WARNING, '');
    const cut = text.lastIndexOf('\n') + 1, rest = text.slice(cut);
    // an unfinished last line that is, or may become, one of the warnings waits for its end
    tail = rest && (mark.startsWith(rest) || rest.startsWith(mark)) ? rest : '';
    const out = tail ? text.slice(0, cut) : text;
    if (out) process.stderr.write(out);
  });
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, () => child.kill(sig));
  child.on('close', (code, signal) => {
    if (tail) process.stderr.write(tail);
    if (signal) {
      for (const sig of signals) process.removeAllListeners(sig);
      process.kill(process.pid, signal);
    } else process.exit(code ?? 1);
  });
  return true;
}

const DAWN_WARNING = /^Warning: maxDynamic(Uniform|Storage)BuffersPerPipelineLayout artificially reduced[^\n]*\n/gm;

/**
 * Runs a task's main: a UserError prints `task: message` on one line and exits 2; anything else
 * prints its stack and exits 1.
 */
export async function runMain(task: string, main: () => Promise<void>): Promise<void> {
  if (filterDawnWarnings()) return;
  try {
    await main();
  } catch (e) {
    // a limit of this adapter (a tensor over its largest binding, out of memory) is no bug: one line
    if (e instanceof UserError || e instanceof GpuLimitError) {
      process.stderr.write(`${task}: ${e.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`${task}: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  }
}
