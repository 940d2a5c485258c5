// Distance localization of the Kalman step: the Gaspari-Cohn taper, the
// localized step against a dense float64 reference, the plain step when the
// taper is all ones, and the geometry a localized run needs.
import {
  EnKG, GaussianRandomFieldPrior, gaspariCohn, gaussianRandomField, kalmanStep, localizedKalmanStep, taperMatrix,
} from '../lib';
import { gridGeometry } from '../lib/problems/navier-stokes-inverse';
import { LinearForwardModel } from './helpers/linear';
import { testRandom } from './helpers/reference';

describe('gaspariCohn', () => {
  it('is 1 at 0, continuous at 1, 0 from 2 on, and decreasing in between', () => {
    expect(gaspariCohn(0)).toBe(1);
    expect(gaspariCohn(1 - 1e-12)).toBeCloseTo(gaspariCohn(1 + 1e-12), 9);
    expect(gaspariCohn(1)).toBeCloseTo(5 / 24, 12);
    expect(gaspariCohn(2)).toBe(0);
    expect(gaspariCohn(3.5)).toBe(0);
    for (let z = 0; z < 2; z += 0.01) expect(gaspariCohn(z + 0.01)).toBeLessThanOrEqual(gaspariCohn(z) + 1e-12);
  });
});

describe('taperMatrix on the torus', () => {
  it('measures distance across the periodic boundary', () => {
    const g = gridGeometry(8, 2);
    const rho = taperMatrix(g, 0.25);
    const m = 16;
    // Field point (0, 7) is 1/8 from measurement (0, 0) across the edge, as far as (0, 1).
    expect(rho[(0 * 8 + 7) * m + 0]).toBeCloseTo(gaspariCohn(0.125 / 0.25), 6);
    expect(rho[(0 * 8 + 1) * m + 0]).toBeCloseTo(gaspariCohn(0.125 / 0.25), 6);
    expect(rho[0]).toBe(1);
  });
});

/** The localized step computed directly in float64: dx = (rho o Xc^T Yc / N) R^T, normalized. */
function reference(x: Float32Array, y: Float32Array, r: Float32Array, N: number, rho: Float32Array, w: number, normalize: string): Float64Array {
  const d = x.length / N, m = y.length / N;
  const xbar = new Float64Array(d), ybar = new Float64Array(m);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) xbar[j] += x[n * d + j] / N;
    for (let l = 0; l < m; l++) ybar[l] += y[n * m + l] / N;
  }
  const K = new Float64Array(d * m);
  for (let j = 0; j < d; j++) for (let l = 0; l < m; l++) for (let n = 0; n < N; n++) K[j * m + l] += (x[n * d + j] - xbar[j]) * (y[n * m + l] - ybar[l]) / N;
  const dxLoc = new Float64Array(N * d), dxPlain = new Float64Array(N * d);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) {
      for (let l = 0; l < m; l++) {
        dxLoc[n * d + j] += rho[j * m + l] * K[j * m + l] * r[n * m + l];
        dxPlain[n * d + j] += K[j * m + l] * r[n * m + l];
      }
    }
  }
  let c2 = 0;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < N; k++) {
      let s = 0;
      for (let l = 0; l < m; l++) s += r[n * m + l] * (y[k * m + l] - ybar[l]) / N;
      c2 += s * s;
    }
  }
  const norm = (a: Float64Array) => Math.sqrt(a.reduce((s, v) => s + v * v, 0));
  let eta = w / Math.sqrt(c2);
  if (normalize === 'unlocalized') eta *= norm(dxPlain) / norm(dxLoc);
  return Float64Array.from(x, (v, k) => v - eta * dxLoc[k]);
}

describe('localizedKalmanStep', () => {
  const N = 5, d = 12, m = 6;
  const g = testRandom(8);
  const x = Float32Array.from({ length: N * d }, () => g.normal());
  const y = Float32Array.from({ length: N * m }, () => g.normal());
  const r = Float32Array.from({ length: N * m }, () => g.normal());
  const rho = Float32Array.from({ length: d * m }, () => Math.abs(g.normal()) % 1);

  it.each(['unlocalized', 'coefficient'] as const)('matches the dense float64 formula (%s normalization)', async (normalize) => {
    const { particles } = await localizedKalmanStep(x, y, r, N, rho, 0.7, normalize);
    const expected = reference(x, y, r, N, rho, 0.7, normalize);
    for (let k = 0; k < particles.length; k++) expect(particles[k]).toBeCloseTo(expected[k], 4);
  });

  it('with a taper of ones is the plain Kalman step of the native kernel', async () => {
    const ones = new Float32Array(d * m).fill(1);
    const local = await localizedKalmanStep(x, y, r, N, ones, 0.7, 'coefficient');
    const plain = await kalmanStep({ particles: x, measurements: y, residuals: r, ensembleSize: N, stepScale: 0.7, backend: 'cpu' });
    expect(local.coefNorm).toBeCloseTo(plain.coefNorm, 5);
    for (let k = 0; k < x.length; k++) expect(local.particles[k]).toBeCloseTo(plain.particles[k], 4);
  });
});

describe('EnKG with localization', () => {
  async function problem(withGeometry: boolean) {
    const R = 8;
    const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2.5, tau: 3, scale: 0.4 });
    // Observe every second point (a selection matrix), so the geometry is the grid's.
    const A = new Float64Array(16 * 64);
    for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) A[(a * 4 + b) * 64 + (2 * a) * 8 + 2 * b] = 1;
    const forward = new LinearForwardModel([1, R, R], A, 16);
    const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2.5, tau: 3, seed: 5, backend: 'cpu' });
    for (let k = 0; k < 64; k++) truth[k] /= 0.4;
    return { prior, forward, observation: Float32Array.from(forward.apply(truth)), ...(withGeometry ? { geometry: gridGeometry(R, 2) } : {}) };
  }

  it('needs the problem\'s geometry, and says so', async () => {
    await expect(new EnKG({ ensembleSize: 4, steps: 4, localization: { halfWidth: 0.2 } }).solve(await problem(false)))
      .rejects.toThrow("EnKG localization needs the problem's geometry");
    expect(() => new EnKG({ localization: { halfWidth: 0.9 } }))
      .toThrow('Expected a half-width in (0, 0.5] (a fraction of the domain) for EnKG localization.halfWidth but received 0.9');
  });

  it('runs, records its configuration, and fits the data', async () => {
    const p = await problem(true);
    const enkg = new EnKG({ ensembleSize: 8, steps: 10, updates: 2, localization: { halfWidth: 0.2 } });
    expect(enkg.config.localization).toEqual({ halfWidth: 0.2, normalize: 'unlocalized' });
    const result = await enkg.solve(p, { seed: 1 });
    expect(result.particles.every(Number.isFinite)).toBe(true);
    expect(result.trace[result.trace.length - 1].misfit).toBeLessThan(result.trace[0].misfit);
  });
});
