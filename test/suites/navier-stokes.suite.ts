// The Navier-Stokes solver and GRF sampler, checked against closed forms and
// invariants; run once per backend.
import { BackendName, gaussianRandomField, NavierStokes2D } from '../../lib';
import { grfShellPower } from '../helpers/spectra';

function taylorGreen(R: number): Float32Array {
  const w = new Float32Array(R * R);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) w[i * R + j] = 2 * Math.sin((2 * Math.PI * i) / R) * Math.sin((2 * Math.PI * j) / R);
  }
  return w;
}

/** A smooth field of a few low modes, sampled on an R x R grid. */
function smoothField(R: number): Float32Array {
  const w = new Float32Array(R * R);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) {
      const x = (2 * Math.PI * i) / R, y = (2 * Math.PI * j) / R;
      w[i * R + j] = 3 * Math.sin(x) * Math.cos(2 * y) + 2 * Math.cos(3 * x + y) - 1.5 * Math.sin(2 * x - 3 * y);
    }
  }
  return w;
}

/** Real DFT coefficient (k1, k2) of an R x R field, normalised by R^2. */
function mode(w: Float32Array, R: number, k1: number, k2: number): [number, number] {
  let re = 0, im = 0;
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) {
      const phase = (-2 * Math.PI * (k1 * i + k2 * j)) / R;
      re += w[i * R + j] * Math.cos(phase);
      im += w[i * R + j] * Math.sin(phase);
    }
  }
  return [re / (R * R), im / (R * R)];
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const maxAbs = (a: ArrayLike<number>): number => maxAbsDiff(a, new Float32Array(a.length));

/**
 * `kernel` picks the solver's implementation (NavierStokes2DOptions.kernel);
 * the GRF tests run once per backend, with the default kernel.
 */
export function defineNavierStokesSuite(backend: BackendName, kernel: 'auto' | 'library' | 'fused' = 'auto'): void {
  const solver = { backend, kernel };
  // dtMode 'batch' always runs on the library kernel.
  const lockstepSolver = { backend, kernel: kernel === 'fused' ? 'library' as const : kernel };
  describe(`NavierStokes2D on ${backend}${kernel === 'auto' ? '' : ` (kernel '${kernel}')`}`, () => {
    it('decays a Taylor-Green vortex as exp(-2t/Re) within 1e-4 (float64, 64^2, no forcing)', async () => {
      const R = 64, Re = 200, T = 1;
      const ns = new NavierStokes2D({ resolution: R, reynolds: Re, time: T, forcing: 'none', precision: 'float64', ...solver });
      const w0 = taylorGreen(R);
      const w = await ns.solve(w0, 1);
      const exact = w0.map((v) => v * Math.exp((-2 * T) / Re));
      expect(maxAbsDiff(w, exact) / maxAbs(exact)).toBeLessThan(1e-4);
    });

    it('agrees at 64^2 and 128^2 on the modes both grids resolve', async () => {
      const run = async (R: number): Promise<Float32Array> => new NavierStokes2D({
        resolution: R, time: 0.5, adaptive: false, dt: 2e-3, precision: 'float64', ...solver,
      }).solve(smoothField(R), 1);
      const [coarse, fine] = await Promise.all([run(64), run(128)]);
      let worst = 0, scale = 0;
      for (let k1 = 0; k1 <= 6; k1++) {
        for (let k2 = -6; k2 <= 6; k2++) {
          const a = mode(coarse, 64, k1, k2), b = mode(fine, 128, k1, k2);
          worst = Math.max(worst, Math.hypot(a[0] - b[0], a[1] - b[1]));
          scale = Math.max(scale, Math.hypot(b[0], b[1]));
        }
      }
      expect(worst / scale).toBeLessThan(1e-4);
    });

    it('converges at second order as the time step is refined', async () => {
      const R = 32;
      const w0 = smoothField(R);
      const at = (dt: number): Promise<Float32Array> => new NavierStokes2D({
        resolution: R, time: 0.4, adaptive: false, dt, precision: 'float64', ...solver,
      }).solve(w0, 1);
      const reference = await at(1.25e-4);
      const errors = [];
      for (const dt of [8e-3, 4e-3, 2e-3]) errors.push(maxAbsDiff(await at(dt), reference));
      expect(errors[0] / errors[1]).toBeGreaterThan(3.2);
      expect(errors[1] / errors[2]).toBeGreaterThan(3.2);
    });

    it('keeps the mean vorticity at zero and, without forcing, decays the enstrophy monotonically', async () => {
      const R = 32;
      const [w0] = [await gaussianRandomField({ resolution: R, count: 1, alpha: 2.5, tau: 7, seed: 4, backend })];
      const forced = await new NavierStokes2D({ resolution: R, time: 2, ...solver }).solve(w0.map((v) => v * 20), 1);
      const mean = forced.reduce((a, b) => a + b, 0) / forced.length;
      expect(Math.abs(mean)).toBeLessThan(1e-5 * maxAbs(forced));
      const free = new NavierStokes2D({ resolution: R, time: 0.25, forcing: 'none', precision: 'float64', ...solver });
      let w = w0.map((v) => v * 20);
      let enstrophy = w.reduce((a, b) => a + b * b, 0);
      for (let k = 0; k < 8; k++) {
        w = await free.solve(w, 1);
        const next = w.reduce((a, b) => a + b * b, 0);
        expect(next).toBeLessThan(enstrophy);
        enstrophy = next;
      }
    });

    it("gives a field the same result alone and inside a batch of 16 ('sample' mode)", async () => {
      const R = 32;
      const batch = await gaussianRandomField({ resolution: R, count: 16, alpha: 2.5, tau: 7, seed: 9, backend });
      const fields = batch.map((v) => v * 20);
      const ns = new NavierStokes2D({ resolution: R, time: 0.5, ...solver });
      const together = await ns.solve(fields, 16);
      const alone = await ns.solve(fields.slice(5 * R * R, 6 * R * R), 1);
      expect(together.subarray(5 * R * R, 6 * R * R)).toEqual(alone);
      // 'batch' mode takes the smallest step of the batch, so it differs (slightly).
      const lockstep = await new NavierStokes2D({ resolution: R, time: 0.5, dtMode: 'batch', ...lockstepSolver }).solve(fields, 16);
      expect(lockstep).not.toEqual(together);
      expect(maxAbsDiff(lockstep, together) / maxAbs(together)).toBeLessThan(1e-2);
      const single = await new NavierStokes2D({ resolution: R, time: 0.5, dtMode: 'batch', ...lockstepSolver })
        .solve(fields.slice(5 * R * R, 6 * R * R), 1);
      // (alone, on the kernel the lockstep solve ran on: 'batch' mode always
      // runs the library kernel, while 'auto' picks the fused one on a GPU)
      const aloneLibrary = kernel === 'library'
        ? alone
        : await new NavierStokes2D({ resolution: R, time: 0.5, backend, kernel: 'library' }).solve(fields.slice(5 * R * R, 6 * R * R), 1);
      expect(single).toEqual(aloneLibrary);
    });

    it('counts the time steps it takes: T / dt with a fixed step, the longest field\'s with per-field steps', async () => {
      const R = 16;
      const w0 = (await gaussianRandomField({ resolution: R, count: 3, alpha: 2.5, tau: 7, seed: 5, backend })).map((v) => v * 20);
      const fixed = await new NavierStokes2D({ resolution: R, time: 0.25, adaptive: false, dt: 1 / 64, ...solver }).solveDetailed(w0, 3);
      expect(fixed.steps).toBe(16);
      const ns = new NavierStokes2D({ resolution: R, time: 0.25, ...solver });
      const alone: number[] = [];
      for (let b = 0; b < 3; b++) alone.push((await ns.solveDetailed(w0.slice(b * R * R, (b + 1) * R * R), 1)).steps);
      expect(Math.min(...alone)).toBeGreaterThan(16); // the CFL step is below 1/64 for these fields
      // (The CUDA solver runs the batch in lockstep and checks for the end
      // every 8 steps; the no-op steps a finished field sits through do not count.)
      expect((await ns.solveDetailed(w0, 3)).steps).toBe(Math.max(...alone));
      const still = await new NavierStokes2D({ resolution: R, time: 0, ...solver }).solveDetailed(w0, 3);
      expect(still.steps).toBe(0);
      expect(maxAbsDiff(still.fields, w0)).toBeLessThan(1e-5 * Math.max(...w0.map(Math.abs))); // a transform round trip
    });

    it('stops a field at exactly maxSteps (not a multiple of the CUDA check interval), as the CPU does', async () => {
      const R = 16;
      const w0 = (await gaussianRandomField({ resolution: R, count: 2, alpha: 2.5, tau: 7, seed: 6, backend })).map((v) => v * 20);
      const ns = new NavierStokes2D({ resolution: R, time: 0.2, ...solver });
      const s0 = (await ns.solveDetailed(w0.slice(0, R * R), 1)).steps;
      const s1 = (await ns.solveDetailed(w0.slice(R * R), 1)).steps;
      expect(s0).not.toBe(s1);
      const fewer = Math.min(s0, s1), slower = s0 < s1 ? 1 : 0;
      expect(fewer % 8).not.toBe(0); // else an every-8-steps check would pass by chance; pick another seed
      const full = await ns.solveDetailed(w0, 2);
      // A budget of exactly the steps the quicker field needs: it finishes, bit for bit
      // as without a budget; the other stops there and is reported.
      const limited = await new NavierStokes2D({ resolution: R, time: 0.2, ...solver, maxSteps: fewer }).solveDetailed(w0, 2);
      expect(limited.failures).toEqual([expect.objectContaining({ index: slower, reason: expect.stringContaining('maxSteps') })]);
      expect(limited.failures[0].time).toBeLessThan(0.2);
      expect(limited.steps).toBe(fewer);
      const quick = 1 - slower;
      expect(limited.fields.subarray(quick * R * R, (quick + 1) * R * R)).toEqual(full.fields.subarray(quick * R * R, (quick + 1) * R * R));
      // One step fewer: both stop.
      const short = await new NavierStokes2D({ resolution: R, time: 0.2, ...solver, maxSteps: fewer - 1 }).solveDetailed(w0, 2);
      expect(short.failures.map((f) => f.index)).toEqual([0, 1]);
      expect(short.steps).toBe(fewer - 1);
    });

    it('reports a field that blows up, with the time reached, and finishes the others', async () => {
      const R = 16;
      const good = await gaussianRandomField({ resolution: R, count: 3, alpha: 2.5, tau: 7, seed: 2, backend });
      const fields = good.slice();
      for (let x = 0; x < R * R; x++) fields[R * R + x] *= 1e5; // field 1 violently unstable at this step
      const ns = new NavierStokes2D({ resolution: R, time: 1, adaptive: false, dt: 0.05, ...solver });
      const { fields: out, failures } = await ns.solveDetailed(fields, 3);
      expect(failures).toHaveLength(1);
      expect(failures[0].index).toBe(1);
      expect(failures[0].time).toBeGreaterThan(0);
      expect(failures[0].time).toBeLessThan(1);
      expect(Number.isNaN(out[R * R])).toBe(true);
      const alone = await ns.solve(good.slice(2 * R * R), 1);
      expect(out.subarray(2 * R * R)).toEqual(alone);
      await expect(ns.solve(fields, 3)).rejects.toThrow(/^Navier-Stokes solve failed for 1 of 3 fields: field 1 \(the vorticity became non-finite at t = /);
    });

    // The library kernels look at the signal every time step (on a GPU, every
    // launch of a step); the fused GPU kernel is one launch per solve.
    const cancellable = kernel === 'library' || (backend === 'cpu' && kernel === 'auto');
    (cancellable ? it : it.skip)('stops within a few steps when its signal aborts, in both dtModes, and frees the device', async () => {
      const R = 16;
      const w0 = await gaussianRandomField({ resolution: R, count: 2, alpha: 2.5, tau: 7, seed: 6, backend });
      for (const dtMode of ['sample', 'batch'] as const) {
        // T = 10^5 takes about 10^7 steps per field: minutes, unless the solve stops.
        const ns = new NavierStokes2D({ resolution: R, time: 1e5, dtMode, ...solver });
        const controller = new AbortController();
        const run = ns.solveDetailed(w0, 2, { signal: controller.signal });
        setTimeout(() => controller.abort(), 50);
        await expect(run).rejects.toMatchObject({ name: 'AbortError', message: 'The Navier-Stokes solve was aborted' });
        // The native solve has let go of the device: the next solve runs.
        const next = await new NavierStokes2D({ resolution: R, time: 0.01, dtMode, ...solver }).solve(w0, 2);
        expect(next.every(Number.isFinite)).toBe(true);
      }
      const aborted = new AbortController();
      aborted.abort(new Error('stop'));
      await expect(new NavierStokes2D({ resolution: R, ...solver }).forward(w0, 2, { signal: aborted.signal }))
        .rejects.toMatchObject({ name: 'AbortError', cause: new Error('stop') });
    }, 30000);

    it('forward() is the solution at T of scale * x, subsampled by 2; observe() adds seeded noise', async () => {
      const R = 16;
      const x = await gaussianRandomField({ resolution: R, count: 2, alpha: 2.5, tau: 7, seed: 5, backend });
      const ns = new NavierStokes2D({ resolution: R, time: 0.3, ...solver });
      expect(ns.fieldShape).toEqual([1, R, R]);
      expect(ns.measurementSize).toBe(64);
      const y = await ns.forward(x, 2);
      const full = await ns.solve(x.map((v) => v * 10), 2);
      for (let b = 0; b < 2; b++) {
        for (let i = 0; i < 8; i++) {
          for (let j = 0; j < 8; j++) expect(y[b * 64 + i * 8 + j]).toBe(full[b * 256 + 2 * i * 16 + 2 * j]);
        }
      }
      const noisy = new NavierStokes2D({ resolution: R, time: 0.3, noiseStd: 2, ...solver });
      const o1 = await noisy.observe(x, { seed: 1 });
      expect(await noisy.observe(x, { seed: 1 })).toEqual(o1);
      let s2 = 0;
      for (let i = 0; i < o1.length; i++) s2 += (o1[i] - y[i]) ** 2;
      expect(Math.sqrt(s2 / o1.length)).toBeGreaterThan(1.5);
      expect(Math.sqrt(s2 / o1.length)).toBeLessThan(2.5);
    });
  });

  if (kernel !== 'auto') return;
  describe(`gaussianRandomField on ${backend}`, () => {
    it('matches its analytic spectrum: mean power per wavenumber shell within 5% over 2000 samples', async () => {
      const R = 32, alpha = 2.5, tau = 7;
      const fields = await gaussianRandomField({ resolution: R, count: 2000, alpha, tau, seed: 11, backend });
      const shells = grfShellPower(fields, R, 2000, alpha, tau);
      expect(shells.length).toBeGreaterThan(10);
      for (const s of shells) expect(Math.abs(s.measured / s.expected - 1)).toBeLessThan(0.05);
    });

    it('draws field n from stream n: the same field whatever the batch', async () => {
      const R = 16;
      const ten = await gaussianRandomField({ resolution: R, count: 10, alpha: 4, tau: 3, seed: 8, backend });
      const three = await gaussianRandomField({ resolution: R, count: 3, alpha: 4, tau: 3, seed: 8, stream: 4, backend });
      expect(three).toEqual(ten.subarray(4 * R * R, 7 * R * R));
    });
  });
}
