// What every benchmark in bench/ shares: where results go, how a run ends,
// and how the Python scripts that drive the PyTorch reference are called.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const RESULTS_DIR = path.join(__dirname, 'results');

/** Writes { date, ...fields } as JSON to `file` (default bench/results/<name>.json) and says where. */
export function writeResults(name: string, file: string | undefined, fields: Record<string, unknown>): void {
  const target = file ?? path.join(RESULTS_DIR, `${name}.json`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.writeFileSync(target, JSON.stringify({ date: new Date().toISOString(), ...fields }, null, 2));
  console.log(`\nwrote ${target}`);
}

/**
 * Runs one of bench/'s Python scripts that import the PyTorch reference from
 * ENKG_PYTORCH_DIR (with ENKG_PYTHON, default Debian's /usr/bin/python3) and
 * parses the JSON it prints; a string says why it did not run.
 */
export function runReferenceScript<T>(script: string, args: string[]): T | string {
  if (!process.env.ENKG_PYTORCH_DIR) return 'ENKG_PYTORCH_DIR not set';
  const python = process.env.ENKG_PYTHON ?? '/usr/bin/python3';
  try {
    const out = execFileSync(python, [path.join(__dirname, script), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(out) as T;
  } catch (error) {
    return `reference failed: ${((error as { stderr?: string }).stderr ?? String(error)).trim().split('\n').pop()}`;
  }
}

/** Runs a benchmark's main, printing a failure's message and setting the exit code. */
export function run(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}

/**
 * While `work` runs: the largest gap between the ticks of a 1 ms interval,
 * how long the call took to hand back its promise (the stretch it holds
 * the main thread), and how long it took in all.
 */
export async function largestGap(work: () => Promise<unknown>): Promise<{ gapMs: number; returnMs: number; callMs: number }> {
  let last = performance.now(), gap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 1);
  const t0 = performance.now();
  last = t0;
  const pending = work();
  const returnMs = performance.now() - t0;
  await pending;
  const callMs = performance.now() - t0;
  clearInterval(timer);
  gap = Math.max(gap, performance.now() - last);
  return { gapMs: gap, returnMs, callMs };
}
