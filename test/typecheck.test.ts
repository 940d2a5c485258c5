// The benchmarks run through ts-node in transpile-only mode, which skips type
// checking, and `tsc -p tsconfig.json` covers only lib/: this keeps a type
// error in bench/ from waiting for the next benchmark run to show.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const root = path.join(__dirname, '..');

describe('bench/ type-checks', () => {
  it('tsc -p tsconfig.bench.json reports no errors', () => {
    const tsc = require.resolve('typescript/bin/tsc');
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.bench.json')], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      output = String((error as { stdout?: string }).stdout ?? error);
    }
    expect(output).toBe('');
  }, 120_000);
});
