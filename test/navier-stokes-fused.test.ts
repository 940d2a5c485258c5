// The fused Navier-Stokes kernel (native/core/navier_stokes_fused.h), which
// is the GPU's fast path, run on the CPU: the whole Navier-Stokes suite, the
// FFTW solver's numbers, and a race check (every phase walked backwards).
import { gaussianRandomField, NavierStokes2D } from '../lib';
import { native } from '../lib/binding';
import { defineNavierStokesSuite } from './suites/navier-stokes.suite';

defineNavierStokesSuite('cpu', 'fused');

async function fields(R: number, count: number, seed: number): Promise<Float32Array> {
  const w = await gaussianRandomField({ resolution: R, count, alpha: 2.5, tau: 7, seed, backend: 'cpu' });
  return w.map((v) => v * 20);
}

function maxRelative(a: Float32Array, b: Float32Array): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

describe("NavierStokes2D kernel 'fused' on the CPU", () => {
  it.each([
    [16, 'float32', 1], [64, 'float32', 1], [128, 'float32', 0.25], [32, 'float64', 1],
  ] as const)('matches the FFTW solver at %i^2 (%s, T = %f): same steps, 1e-5 relative', async (R, precision, time) => {
    const B = R === 128 ? 2 : 4;
    const w0 = await fields(R, B, 21);
    const opts = { resolution: R, time, precision, backend: 'cpu' } as const;
    const library = await new NavierStokes2D({ ...opts, kernel: 'library' }).solveDetailed(w0, B);
    const fused = await new NavierStokes2D({ ...opts, kernel: 'fused' }).solveDetailed(w0, B);
    expect(library.kernel).toBe('library');
    expect(fused.kernel).toBe('fused');
    expect(fused.failures).toEqual([]);
    expect(fused.steps).toBe(library.steps);
    expect(maxRelative(fused.fields, library.fields)).toBeLessThan(precision === 'float64' ? 1e-12 : 1e-5);
  });

  it('gives bit-identical results with every phase walked backwards (no item depends on another)', async () => {
    for (const [R, time] of [[16, 0.5], [32, 0.25], [128, 0.02]]) {
      const w0 = await fields(R, 2, 22);
      const run = async (itemOrder: 'forward' | 'reverse'): Promise<Float32Array> => {
        const out = new Float32Array(w0.length);
        await native.navierStokesSolve('cpu', w0, 2, {
          resolution: R, reynolds: 200, time, adaptive: true, dt: 1e-3, dtMode: 'sample', forcing: 'kolmogorov',
          precision: 'float32', kernel: 'fused', itemOrder,
        }, out);
        return out;
      };
      const forward = await run('forward');
      expect(Buffer.from((await run('reverse')).buffer).equals(Buffer.from(forward.buffer))).toBe(true);
      expect(forward.every(Number.isFinite)).toBe(true);
    }
  });

  it("runs the library kernel on the CPU unless asked ('auto')", async () => {
    const w0 = await fields(16, 1, 23);
    expect((await new NavierStokes2D({ resolution: 16, time: 0.1, backend: 'cpu' }).solveDetailed(w0, 1)).kernel).toBe('library');
  });

  it('says why it cannot run: dtMode batch, resolutions other than powers of two from 16 to 128, unknown kernels', async () => {
    const w0 = await fields(16, 1, 24);
    await expect(new NavierStokes2D({ resolution: 16, dtMode: 'batch', kernel: 'fused', backend: 'cpu' }).solve(w0, 1))
      .rejects.toThrow(/kernel 'fused'.*dtMode 'batch'/);
    await expect(new NavierStokes2D({ resolution: 12, kernel: 'fused', backend: 'cpu' }).solve(new Float32Array(144), 1))
      .rejects.toThrow(/powers of two from 16 to 128, not 12/);
    await expect(new NavierStokes2D({ resolution: 256, kernel: 'fused', backend: 'cpu' }).solve(new Float32Array(256 * 256), 1))
      .rejects.toThrow(RangeError);
    expect(() => new NavierStokes2D({ resolution: 16, kernel: 'fast' as never })).toThrow(/kernel/);
  });
});
