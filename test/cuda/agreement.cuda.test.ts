// CPU and CUDA give the same numbers: Philox bits exactly, normals to the
// last bit except for rare double->float rounding ties, and the Kalman step
// within float32 tolerance.
import {
  EnKG, GaussianRandomFieldPrior, gaussianRandomField, kalmanStep, NavierStokes2D, randomNormal, randomUniform,
} from '../../lib';
import { LinearForwardModel, randomMatrix } from '../helpers/linear';
import { cudaIsEmulated, describeOnBackend } from '../helpers/backends';
import { maxRelativeError, testRandom } from '../helpers/reference';

// On the CPU emulator of the CUDA backend the same checks run on smaller
// problems (fewer fields, shorter times): the logic is what it tests.
const emulated = cudaIsEmulated();

describeOnBackend('cuda')('CPU and CUDA agree', () => {
  it('draws identical uniforms and (up to ~1e-6 of values) identical normals', async () => {
    const args = { count: emulated ? 1 << 14 : 1 << 18, seed: 31337, stream: 4, streams: 4 };
    expect(await randomUniform({ ...args, backend: 'cuda' })).toEqual(await randomUniform({ ...args, backend: 'cpu' }));
    const gpu = await randomNormal({ ...args, backend: 'cuda' });
    const cpu = await randomNormal({ ...args, backend: 'cpu' });
    let differing = 0;
    for (let i = 0; i < gpu.length; i++) {
      if (gpu[i] !== cpu[i]) {
        differing++;
        expect(Math.abs(gpu[i] - cpu[i])).toBeLessThanOrEqual(2 * 2 ** -23 * Math.max(1, Math.abs(cpu[i])));
      }
    }
    expect(differing).toBeLessThanOrEqual(4);
  });

  it('takes the same Kalman step within 1e-5 on large shapes', async () => {
    const g = testRandom(3);
    const N = 256, d = 4096, m = 1024;
    const args = { particles: g.normals(N * d), measurements: g.normals(N * m), residuals: g.normals(N * m), ensembleSize: N, stepScale: 2 };
    const gpu = await kalmanStep({ ...args, backend: 'cuda' });
    const cpu = await kalmanStep({ ...args, backend: 'cpu' });
    expect(maxRelativeError(gpu.particles, cpu.particles)).toBeLessThan(1e-5);
    expect(Math.abs(gpu.coefNorm - cpu.coefNorm) / cpu.coefNorm).toBeLessThan(1e-5);
  });

  it('solves Navier-Stokes and draws GRFs alike (1e-5 relative)', async () => {
    const count = emulated ? 4 : 32, time = emulated ? 0.2 : 1;
    const args = { resolution: 64, count, alpha: 2.5, tau: 7, seed: 6 };
    const cpuGrf = await gaussianRandomField({ ...args, backend: 'cpu' });
    const gpuGrf = await gaussianRandomField({ ...args, backend: 'cuda' });
    expect(maxRelativeError(gpuGrf, cpuGrf)).toBeLessThan(1e-5);
    const w0 = cpuGrf.map((v) => v * 20);
    for (const dtMode of ['sample', 'batch'] as const) {
      const cpu = await new NavierStokes2D({ resolution: 64, time, dtMode, backend: 'cpu' }).solve(w0, count);
      const gpu = await new NavierStokes2D({ resolution: 64, time, dtMode, backend: 'cuda', kernel: 'library' }).solve(w0, count);
      expect(maxRelativeError(gpu, cpu)).toBeLessThan(1e-5);
    }
  });

  it.each([64, 128])('runs the fused kernel at %i^2 as the CPU runs it: same steps, 1e-5 relative', async (R) => {
    const count = emulated ? 3 : 64;
    const w0 = (await gaussianRandomField({ resolution: R, count, alpha: 2.5, tau: 7, seed: 7, backend: 'cpu' })).map((v) => v * 20);
    // (the CPU run of the fused kernel is slow, the emulated GPU's slower)
    const time = emulated ? (R === 128 ? 0.02 : 0.1) : R === 128 ? 0.25 : 1;
    const gpu = await new NavierStokes2D({ resolution: R, time, backend: 'cuda', kernel: 'fused' }).solveDetailed(w0, count);
    const cpuFused = await new NavierStokes2D({ resolution: R, time, backend: 'cpu', kernel: 'fused' }).solveDetailed(w0, count);
    const cpu = await new NavierStokes2D({ resolution: R, time, backend: 'cpu' }).solveDetailed(w0, count);
    expect(gpu.kernel).toBe('fused');
    expect(gpu.failures).toEqual([]);
    expect(gpu.steps).toBe(cpu.steps);
    expect(maxRelativeError(gpu.fields, cpuFused.fields)).toBeLessThan(1e-5);
    expect(maxRelativeError(gpu.fields, cpu.fields)).toBeLessThan(1e-5);
    // and identical bits on repeat, whatever order the blocks take the fields in
    const again = await new NavierStokes2D({ resolution: R, time, backend: 'cuda', kernel: 'fused' }).solveDetailed(w0, count);
    expect(Buffer.from(again.fields.buffer).equals(Buffer.from(gpu.fields.buffer))).toBe(true);
  });

  it.each([[32, 'float32'], [64, 'float32'], [64, 'float64']] as const)(
    'gives the fused kernel the same bits with its state in shared or in global memory (%i^2, %s)', async (R, precision) => {
      const w0 = (await gaussianRandomField({ resolution: R, count: 3, alpha: 2.5, tau: 7, seed: 9, backend: 'cpu' })).map((v) => v * 20);
      const before = process.env.ENKG_NS_FUSED_STATE;
      const results: Buffer[] = [];
      try {
        for (const placement of ['shared', 'global']) {
          process.env.ENKG_NS_FUSED_STATE = placement;
          const r = await new NavierStokes2D({ resolution: R, time: 0.1, precision, backend: 'cuda', kernel: 'fused' }).solveDetailed(w0, 3);
          expect(r.failures).toEqual([]);
          results.push(Buffer.from(r.fields.buffer));
        }
      } finally {
        if (before === undefined) delete process.env.ENKG_NS_FUSED_STATE;
        else process.env.ENKG_NS_FUSED_STATE = before;
      }
      expect(results[1].equals(results[0])).toBe(true);
    });

  it("chooses the fused kernel on 'auto' where it applies, and cuFFT elsewhere", async () => {
    const w0 = (await gaussianRandomField({ resolution: 64, count: 2, alpha: 2.5, tau: 7, seed: 8, backend: 'cpu' })).map((v) => v * 20);
    const solve = (opts: object) => new NavierStokes2D({ resolution: 64, time: 0.05, backend: 'cuda', ...opts }).solveDetailed(w0, 2);
    expect((await solve({})).kernel).toBe('fused');
    expect((await solve({ dtMode: 'batch' })).kernel).toBe('library');
    expect((await solve({ kernel: 'library' })).kernel).toBe('library');
    const w256 = new Float32Array(256 * 256 * 2);
    const big = await new NavierStokes2D({ resolution: 256, time: 0.01, backend: 'cuda' }).solveDetailed(w256, 2);
    expect(big.kernel).toBe('library');
    await expect(new NavierStokes2D({ resolution: 128, precision: 'float64', backend: 'cuda', kernel: 'fused' })
      .solve(new Float32Array(128 * 128), 1)).rejects.toThrow(/float64 up to 64\^2/);
  });

  it('runs EnKG to the same particles within float tolerance, and bit-identically on repeat', async () => {
    const R = 8, m = 16;
    const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2, tau: 3 });
    const forward = new LinearForwardModel([1, R, R], randomMatrix(m, R * R, 7), m);
    const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2, tau: 3, seed: 5 });
    const problem = { prior, forward, observation: Float32Array.from(forward.apply(truth)) };
    const enkg = new EnKG({ ensembleSize: 64, steps: 12 });
    const gpu = await enkg.solve(problem, { seed: 2, backend: 'cuda' });
    const again = await enkg.solve(problem, { seed: 2, backend: 'cuda' });
    const cpu = await enkg.solve(problem, { seed: 2, backend: 'cpu' });
    expect(Buffer.from(gpu.particles.buffer).equals(Buffer.from(again.particles.buffer))).toBe(true);
    // 20 corrections, each within ~1e-6 relative of the CPU's, compound through the ODE.
    expect(maxRelativeError(gpu.particles, cpu.particles)).toBeLessThan(1e-3);
  });
});
