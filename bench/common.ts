// What every benchmark in bench/ shares: where results go and how a run ends.
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

/** Runs a benchmark's main, printing a failure's message and setting the exit code. */
export function run(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
