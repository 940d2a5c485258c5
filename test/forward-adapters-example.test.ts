// examples/heat: the C simulator against a float64 reference of the same
// heat equation, and the example script end to end at a small size (it must
// beat the prior mean by a clear margin).
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';

import { ForwardModel } from '../lib';

const ROOT = path.join(__dirname, '..');
const SOURCE = path.join(ROOT, 'examples/heat/simulator.c');

/** `steps` explicit steps of u += 0.2 laplacian(u) on the periodic R x R grid, then every `stride`-th pixel; float64. */
function heatReference(field: ArrayLike<number>, R: number, steps: number, stride: number): number[] {
  let u = Array.from(field);
  for (let s = 0; s < steps; s++) {
    const next = new Array<number>(R * R);
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) {
        const at = (a: number, b: number) => u[((a + R) % R) * R + ((b + R) % R)];
        next[i * R + j] = at(i, j) + 0.2 * (at(i + 1, j) + at(i - 1, j) + at(i, j + 1) + at(i, j - 1) - 4 * at(i, j));
      }
    }
    u = next;
  }
  const y: number[] = [];
  for (let i = 0; i < R; i += stride) for (let j = 0; j < R; j += stride) y.push(u[i * R + j]);
  return y;
}

describe('examples/heat', () => {
  let scratch: string;
  beforeAll(() => { scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-heat-test-')); });
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

  it('simulator.c, run through fromCommand, matches a float64 heat-equation reference', async () => {
    const simulator = path.join(scratch, 'heat-sim');
    execFileSync('cc', ['-O2', '-std=c99', '-o', simulator, SOURCE]);
    const R = 8, steps = 7, stride = 2, m = (R / stride) ** 2, batch = 3;
    const x = Float32Array.from({ length: batch * R * R }, (_, k) => Math.sin(0.37 * k) + Math.cos(1.1 * k * k));
    const forward = ForwardModel.fromCommand([simulator, '{input}', '{output}', String(steps), String(stride)],
      { fieldShape: [1, R, R], measurementSize: m, chunkSize: 2, concurrency: 2 });
    const y = await forward.forward(x, batch);
    for (let n = 0; n < batch; n++) {
      const want = heatReference(x.subarray(n * R * R, (n + 1) * R * R), R, steps, stride);
      want.forEach((v, k) => expect(y[n * m + k]).toBeCloseTo(v, 5));
    }
  });

  it('solve.ts recovers the field well below the prior mean\'s error (N = 64, K = 20), with no failed run', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      '-r', 'ts-node/register/transpile-only', 'examples/heat/solve.ts', '--ensemble', '64', '--steps', '20', '--concurrency', '2',
    ], { cwd: ROOT });
    expect(stdout).toMatch(/simulator runs: \d+ calls, \d+ field evaluations, 0 failed/);
    const error = Number(/relative L2 error of the posterior mean: ([0-9.]+)/.exec(stdout)?.[1]);
    // The prior mean (0) scores 1; seed 1 reaches about 0.6 here (0.46 at the
    // defaults N = 128, K = 40).
    expect(error).toBeGreaterThan(0);
    expect(error).toBeLessThan(0.75);
  });
});
