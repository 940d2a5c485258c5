// The ensemble-kernel suite, run once per backend (test/*.test.ts for the
// CPU, test/cuda/ for CUDA). Every expectation compares against the float64
// reference in test/helpers/reference.ts or a closed form.
import {
  Ensemble, ensembleCovarianceTrace, ensembleMean, kalmanStep, randomNormal, BackendName,
} from '../../lib';
import {
  maxRelativeError, referenceCovarianceTrace, referenceKalmanStep, referenceMean, testRandom,
} from '../helpers/reference';

const SHAPES: Array<[string, number, number, number]> = [
  ['N = 2, d = 1, m = 1', 2, 1, 1],
  ['N > d (N = 40, d = 3, m = 5)', 40, 3, 5],
  ['N < d (N = 6, d = 300, m = 20)', 6, 300, 20],
  ['m = 1 (N = 16, d = 50, m = 1)', 16, 50, 1],
  ['d = 1 (N = 12, d = 1, m = 30)', 12, 1, 30],
  ['mid-size (N = 64, d = 1000, m = 200)', 64, 1000, 200],
];

export function defineKalmanSuite(backend: BackendName): void {
  describe(`kalmanStep on ${backend}`, () => {
    describe.each(SHAPES)('%s', (_label, N, d, m) => {
      const g = testRandom(N * 7919 + d * 31 + m);
      const particles = g.normals(N * d, 1.5, 0.25);
      const measurements = g.normals(N * m, 2, -1);
      const residuals = g.normals(N * m);
      const reference = referenceKalmanStep(particles, measurements, residuals, N, 0.8);

      it.each(['auto', 'coefficient', 'cross-covariance'] as const)(
        'matches the float64 reference within 1e-5 (ordering %s)', async (ordering) => {
          const result = await kalmanStep({
            particles, measurements, residuals, ensembleSize: N, stepScale: 0.8, backend, ordering,
          });
          expect(maxRelativeError(result.particles, reference.particles)).toBeLessThan(1e-5);
          expect(Math.abs(result.coefNorm - reference.coefNorm) / reference.coefNorm).toBeLessThan(1e-5);
          if (ordering !== 'auto') expect(result.ordering).toBe(ordering);
        });
    });

    it('leaves its inputs untouched and returns a new array', async () => {
      const g = testRandom(5);
      const particles = g.normals(8 * 20), measurements = g.normals(8 * 4), residuals = g.normals(8 * 4);
      const copies = [particles.slice(), measurements.slice(), residuals.slice()];
      const result = await kalmanStep({ particles, measurements, residuals, ensembleSize: 8, stepScale: 1, backend });
      expect(result.particles).not.toBe(particles);
      expect(particles).toEqual(copies[0]);
      expect(measurements).toEqual(copies[1]);
      expect(residuals).toEqual(copies[2]);
    });

    it('gives the same step with both product orderings', async () => {
      const g = testRandom(11);
      const N = 24, d = 90, m = 45;
      const args = { particles: g.normals(N * d), measurements: g.normals(N * m), residuals: g.normals(N * m), ensembleSize: N, stepScale: 2, backend };
      const a = await kalmanStep({ ...args, ordering: 'coefficient' });
      const b = await kalmanStep({ ...args, ordering: 'cross-covariance' });
      expect(maxRelativeError(a.particles, b.particles)).toBeLessThan(1e-5);
      expect(Math.abs(a.coefNorm - b.coefNorm) / b.coefNorm).toBeLessThan(1e-5);
    });

    it('picks the cheaper ordering: N^2 (m + d) against 2 N m d plus the norm', async () => {
      const g = testRandom(12);
      // N = 4, d = m = 500: 4^2 * 1000 = 16e3 << 2 * 4 * 500 * 500 = 2e6.
      const wide = await kalmanStep({
        particles: g.normals(4 * 500), measurements: g.normals(4 * 500), residuals: g.normals(4 * 500),
        ensembleSize: 4, stepScale: 1, backend,
      });
      expect(wide.ordering).toBe('coefficient');
      // N = 2000, d = 3, m = 2: 2000^2 * 5 = 2e7 >> 2 * 2000 * 6 + 2 * 2000 * 4 = 4e4.
      const tall = await kalmanStep({
        particles: g.normals(2000 * 3), measurements: g.normals(2000 * 2), residuals: g.normals(2000 * 2),
        ensembleSize: 2000, stepScale: 1, backend,
      });
      expect(tall.ordering).toBe('cross-covariance');
    });

    it('equals x - eta Cxx J^T r for a linear forward model (statistical linearisation is exact)', async () => {
      const g = testRandom(21);
      const N = 30, d = 12, m = 7, w = 1.3;
      const A = Float64Array.from(g.normals(m * d)); // G(x) = A x, J = A
      const yObs = Float64Array.from(g.normals(m));
      const particles = g.normals(N * d);
      const measurements = new Float32Array(N * m);
      const residuals = new Float32Array(N * m);
      for (let n = 0; n < N; n++) {
        for (let i = 0; i < m; i++) {
          let s = 0;
          for (let j = 0; j < d; j++) s += A[i * d + j] * particles[n * d + j];
          measurements[n * m + i] = s;
          residuals[n * m + i] = s - yObs[i];
        }
      }
      // Cxx = Xc^T Xc / N and the preconditioned gradient Cxx A^T r^n.
      const xbar = referenceMean(particles, N);
      const Cxx = new Float64Array(d * d);
      for (let n = 0; n < N; n++) {
        for (let a = 0; a < d; a++) {
          for (let b = 0; b < d; b++) {
            Cxx[a * d + b] += (particles[n * d + a] - xbar[a]) * (particles[n * d + b] - xbar[b]) / N;
          }
        }
      }
      const grads = new Float64Array(N * d);
      for (let n = 0; n < N; n++) {
        const JtR = new Float64Array(d);
        for (let j = 0; j < d; j++) for (let i = 0; i < m; i++) JtR[j] += A[i * d + j] * residuals[n * m + i];
        for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) grads[n * d + a] += Cxx[a * d + b] * JtR[b];
      }
      const { coefNorm } = referenceKalmanStep(particles, measurements, residuals, N, w);
      const expected = Float64Array.from(particles, (x, i) => x - (w / coefNorm) * grads[i]);
      const result = await kalmanStep({ particles, measurements, residuals, ensembleSize: N, stepScale: w, backend });
      expect(maxRelativeError(result.particles, expected)).toBeLessThan(1e-5);
    });

    it('takes no step when the residuals carry no information (||C|| = 0) or stepScale = 0', async () => {
      const g = testRandom(31);
      const particles = g.normals(5 * 8);
      const zero = await kalmanStep({
        particles, measurements: g.normals(5 * 3), residuals: new Float32Array(5 * 3), ensembleSize: 5, stepScale: 2, backend,
      });
      expect(zero.coefNorm).toBe(0);
      expect(zero.particles).toEqual(particles);
      const still = await kalmanStep({
        particles, measurements: g.normals(5 * 3), residuals: g.normals(5 * 3), ensembleSize: 5, stepScale: 0, backend,
      });
      expect(still.coefNorm).toBeGreaterThan(0);
      expect(still.particles).toEqual(particles);
    });

    it('writes into a caller-provided out array', async () => {
      const g = testRandom(41);
      const particles = g.normals(6 * 10), measurements = g.normals(6 * 2), residuals = g.normals(6 * 2);
      const out = new Float32Array(60);
      const result = await kalmanStep({ particles, measurements, residuals, ensembleSize: 6, stepScale: 1, backend, out });
      expect(result.particles).toBe(out);
      const ref = referenceKalmanStep(particles, measurements, residuals, 6, 1);
      expect(maxRelativeError(out, ref.particles)).toBeLessThan(1e-5);
    });
  });

  describe(`ensemble statistics on ${backend}`, () => {
    it('ensembleMean and ensembleCovarianceTrace match float64, even far from the origin', async () => {
      const g = testRandom(51);
      const N = 300, d = 700;
      const particles = g.normals(N * d, 0.01, 1000); // mean 1000, spread 0.01
      const mean = await ensembleMean({ particles, ensembleSize: N, backend });
      expect(maxRelativeError(mean, referenceMean(particles, N))).toBeLessThan(1e-6);
      const trace = await ensembleCovarianceTrace({ particles, ensembleSize: N, backend });
      const ref = referenceCovarianceTrace(particles, N);
      expect(Math.abs(trace - ref) / ref).toBeLessThan(1e-4);
    });
  });

  describe(`Ensemble (resident particles) on ${backend}`, () => {
    it('steps like kalmanStep, and reports mean and covariance trace', async () => {
      const g = testRandom(61);
      const N = 20, d = 64, m = 16;
      const particles = g.normals(N * d, 1, 3);
      const ensemble = await Ensemble.create({ particles, ensembleSize: N, backend });
      expect(ensemble.backend).toBe(backend);
      let expected: Float64Array = Float64Array.from(particles);
      for (let step = 0; step < 3; step++) {
        const measurements = g.normals(N * m), residuals = g.normals(N * m);
        const outcome = await ensemble.kalmanStep({ measurements, residuals, stepScale: 0.5 });
        const ref = referenceKalmanStep(expected, measurements, residuals, N, 0.5);
        expect(Math.abs(outcome.coefNorm - ref.coefNorm) / ref.coefNorm).toBeLessThan(1e-5);
        expected = ref.particles;
      }
      expect(maxRelativeError(await ensemble.read(), expected)).toBeLessThan(1e-5);
      expect(maxRelativeError(await ensemble.mean(), referenceMean(expected, N))).toBeLessThan(1e-5);
      const trace = await ensemble.covarianceTrace();
      expect(Math.abs(trace - referenceCovarianceTrace(expected, N)) / trace).toBeLessThan(1e-4);
      await ensemble.dispose();
      expect(ensemble.disposed).toBe(true);
      await expect(ensemble.mean()).rejects.toThrow('The ensemble has been disposed');
    });

    it('draws particle n from Philox stream n (Ensemble.randomNormal = randomNormal rows)', async () => {
      const ensemble = await Ensemble.randomNormal({ ensembleSize: 5, particleSize: 33, seed: 77, stream: 3, backend });
      const particles = await ensemble.read();
      const rows = await randomNormal({ count: 33, seed: 77, stream: 3, streams: 5, backend });
      expect(particles).toEqual(rows);
      await ensemble.dispose();
    });
  });
}
