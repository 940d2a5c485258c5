// Distance localization of the Kalman step: the Gaspari-Cohn taper, the
// localized step (the TypeScript reference and the native dense and FFT
// kernels) against a dense float64 reference, the plain step when the taper
// is all ones, grid geometries, and the geometry a localized run needs.
import {
  chooseLocalizationMethod, EKI, EnKG, gaspariCohn, gridLayout, kalmanStep,
  localizedKalmanStep, localizedKalmanStepNative, taperKernel, taperMatrix,
} from '../lib';
import { denseTaper } from '../lib/algorithms/localized-step';
import { callNative, native } from '../lib/binding';
import { gridGeometry } from '../lib';
import { gridSelectionProblem } from './helpers/linear';
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

  it('gridGeometry names a grid it cannot build', () => {
    expect(() => gridGeometry(8, 3)).toThrow(/Expected a divisor of R = 8 for gridGeometry downsample but received 3/);
    expect(() => gridGeometry(0, 1)).toThrow(/Expected an integer >= 1 for gridGeometry R but received 0/);
    expect(() => gridGeometry(8.5, 1)).toThrow(/gridGeometry R/);
    const g = gridGeometry(4, 4);
    expect(Array.from(g.measurementPoints)).toEqual([0, 0]);
    expect(g.fieldPoints.length).toBe(32);
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
  // Observe every second point (a selection matrix), so the geometry is the grid's.
  const problem = (withGeometry: boolean) => gridSelectionProblem(withGeometry ? gridGeometry(8, 2) : undefined);

  it('needs the problem\'s geometry, and says so', async () => {
    await expect(new EnKG({ ensembleSize: 4, steps: 4, localization: { halfWidth: 0.2 } }).solve(await problem(false)))
      .rejects.toThrow("EnKG localization needs the problem's geometry");
    expect(() => new EnKG({ localization: { halfWidth: 0.9 } }))
      .toThrow('Expected a half-width in (0, 0.5] (a fraction of the domain) for EnKG localization.halfWidth but received 0.9');
  });

  it('runs, records its configuration, and fits the data', async () => {
    const p = await problem(true);
    const enkg = new EnKG({ ensembleSize: 8, steps: 10, updates: 2, localization: { halfWidth: 0.2 } });
    expect(enkg.config.localization).toEqual({ halfWidth: 0.2, normalize: 'unlocalized', method: 'auto' });
    const result = await enkg.solve(p, { seed: 1 });
    expect(result.particles.every(Number.isFinite)).toBe(true);
    expect(result.trace[result.trace.length - 1].misfit).toBeLessThan(result.trace[0].misfit);
  });

  it('ends at the same particles, up to rounding, whichever way the taper is applied', async () => {
    const p = await problem(true);
    const run = (method: 'dense' | 'fft') =>
      new EnKG({ ensembleSize: 8, steps: 6, updates: 2, localization: { halfWidth: 0.2, method } }).solve(p, { seed: 3 });
    const [dense, fft] = await Promise.all([run('dense'), run('fft')]);
    const start = (await new EnKG({ ensembleSize: 8, steps: 6, updates: 2 }).solve(p, { seed: 3 })).particles;
    // Against the distance between the localized and the plain run's ends.
    expect(stepError(fft.particles, dense.particles, start)).toBeLessThan(1e-4);
  });
});

/** ||a - b|| / ||b - x||: the error of a step relative to the step's length. */
function stepError(a: ArrayLike<number>, b: ArrayLike<number>, x: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let k = 0; k < x.length; k++) {
    num += (a[k] - b[k]) ** 2;
    den += (b[k] - x[k]) ** 2;
  }
  return Math.sqrt(num / den);
}

describe('grid geometries', () => {
  it('recognises the Navier-Stokes layout and where each measurement sits', () => {
    const layout = gridLayout(gridGeometry(8, 2))!;
    expect(layout.resolution).toBe(8);
    expect(Array.from(layout.measurementIndex.slice(0, 5))).toEqual([0, 2, 4, 6, 16]);
    expect(layout.measurementIndex[15]).toBe(6 * 8 + 6);
    // A coordinate a rounding error below 1 is on grid line 0.
    const wrapped = gridGeometry(8, 2);
    wrapped.measurementPoints[2 * 1] = 1 - 1e-12;
    expect(gridLayout(wrapped)!.measurementIndex[1]).toBe(2);
  });

  it('refuses points off the grid, and then only the dense method applies', () => {
    const jittered = gridGeometry(8, 2);
    jittered.measurementPoints[7] += 0.01;
    expect(gridLayout(jittered)).toBeNull();
    expect(chooseLocalizationMethod(8, 64, 16, false)).toBe('dense');
    const odd = gridGeometry(8, 2);
    odd.fieldPoints[3] = 0.5;
    expect(gridLayout(odd)).toBeNull();
  });

  it("picks by 'auto' the FFT form for few particles or a taper too large to keep, else the dense form", () => {
    // 64x64 and 128x128 observed on every second point (bench/RESULTS.md).
    expect(chooseLocalizationMethod(16, 4096, 1024, true)).toBe('fft');
    expect(chooseLocalizationMethod(64, 4096, 1024, true)).toBe('dense');
    expect(chooseLocalizationMethod(32, 16384, 4096, true)).toBe('fft');
    expect(chooseLocalizationMethod(64, 16384, 4096, true)).toBe('dense');
    expect(chooseLocalizationMethod(128, 16384, 4096, true)).toBe('dense');
    // 256x256: a 4 GiB taper is not built.
    expect(chooseLocalizationMethod(2048, 65536, 16384, true)).toBe('fft');
    expect(chooseLocalizationMethod(2048, 65536, 16384, false)).toBe('dense');
  });

  it('has a taper kernel whose value at p_j - q_l is rho[j, l]', () => {
    const R = 8, g = gridGeometry(R, 2), rho = taperMatrix(g, 0.3), kernel = taperKernel(R, 0.3);
    const { measurementIndex } = gridLayout(g)!;
    for (let j = 0; j < R * R; j++) {
      for (let l = 0; l < 16; l++) {
        const i = measurementIndex[l];
        const u = (Math.floor(j / R) - Math.floor(i / R) + R) % R, v = ((j % R) - (i % R) + R) % R;
        expect(kernel[u * R + v]).toBeCloseTo(rho[j * 16 + l], 6);
      }
    }
  });

  it('builds the same d x m taper in the addon as in TypeScript', async () => {
    const g = gridGeometry(16, 2);
    const native = await denseTaper(g, 0.15), reference = taperMatrix(g, 0.15);
    let largest = 0;
    for (let k = 0; k < reference.length; k++) largest = Math.max(largest, Math.abs(native[k] - reference[k]));
    expect(largest).toBeLessThan(1e-6);
  });
});

describe('localizedKalmanStepNative', () => {
  const R = 8, N = 6, d = R * R, m = d / 4;
  const geometry = gridGeometry(R, 2);
  const g = testRandom(11);
  // A field mean far from zero: the step is relative to the spread, not to |x|.
  const x = g.normals(N * d, 1, 3), y = g.normals(N * m), r = g.normals(N * m);
  const args = { particles: x, measurements: y, residuals: r, ensembleSize: N, stepScale: 0.7, geometry, halfWidth: 0.2 };

  it.each([
    ['dense', 'unlocalized'], ['dense', 'coefficient'], ['fft', 'unlocalized'], ['fft', 'coefficient'],
  ] as const)('(%s, %s normalization) matches the dense float64 formula and the TypeScript reference', async (method, normalize) => {
    const rho = taperMatrix(geometry, 0.2);
    const exact = reference(x, y, r, N, rho, 0.7, normalize);
    const ts = await localizedKalmanStep(x, y, r, N, rho, 0.7, normalize);
    const got = await localizedKalmanStepNative({ ...args, normalize, method });
    expect(got.method).toBe(method);
    expect(got.coefNorm).toBeCloseTo(ts.coefNorm, 5);
    expect(stepError(got.particles, exact, x)).toBeLessThan(1e-5);
    expect(stepError(ts.particles, exact, x)).toBeLessThan(1e-5);
  });

  it('agrees with the reference over several blocks of field points (64x64, N = 24)', async () => {
    const big = gridGeometry(64, 2), n = 24, D = 4096, M = 1024;
    const h = testRandom(12);
    const bx = h.normals(n * D), by = h.normals(n * M), br = h.normals(n * M);
    // The addon's taper (equal to taperMatrix, above) saves the reference a second.
    const ts = await localizedKalmanStep(bx, by, br, n, await denseTaper(big, 0.1), 1, 'unlocalized');
    for (const method of ['dense', 'fft'] as const) {
      const got = await localizedKalmanStepNative({
        particles: bx, measurements: by, residuals: br, ensembleSize: n, stepScale: 1, geometry: big, halfWidth: 0.1, method,
      });
      expect(stepError(got.particles, ts.particles, bx)).toBeLessThan(1e-5);
    }
  }, 60_000);

  it('writes in place when out is the particles', async () => {
    const apart = await localizedKalmanStepNative({ ...args, method: 'dense' });
    for (const method of ['dense', 'fft'] as const) {
      const inPlace = x.slice();
      await localizedKalmanStepNative({ ...args, particles: inPlace, out: inPlace, method });
      expect(stepError(inPlace, apart.particles, x)).toBeLessThan(1e-5);
    }
  });

  it('takes no step when the residuals carry no information', async () => {
    const got = await localizedKalmanStepNative({ ...args, residuals: new Float32Array(N * m) });
    expect(got.coefNorm).toBe(0);
    expect(got.particles).toEqual(x);
  });

  it('refuses non-finite inputs, fft off a grid and misspelt options, with the one message form', async () => {
    const bad = x.slice();
    bad[1 * d + 3] = NaN;
    await expect(localizedKalmanStepNative({ ...args, particles: bad }))
      .rejects.toThrow('Expected finite values for particles but received NaN at particle 1 (element 3 of that particle)');
    const jittered = gridGeometry(R, 2);
    jittered.fieldPoints[0] = 0.01;
    await expect(localizedKalmanStepNative({ ...args, geometry: jittered, method: 'fft' })).rejects.toThrow(
      "Expected field points on a periodic R x R grid (field point a R + b at (a/R, b/R)) with every measurement on one of them for geometry (method 'fft') but received points off such a grid");
    await expect(localizedKalmanStepNative({ ...args, geometry: jittered, method: 'auto' })).resolves.toMatchObject({ method: 'dense' });
    await expect(localizedKalmanStepNative({ ...args, halfwidth: 0.2 } as never)).rejects.toThrow(
      "Expected one of 'particles', 'measurements', 'residuals', 'ensembleSize', 'stepScale', 'geometry', 'halfWidth', 'normalize', 'method', 'out' for an option of localizedKalmanStepNative but received 'halfwidth'");
    await expect(localizedKalmanStepNative({ ...args, halfWidth: 0.7 })).rejects.toThrow(
      'Expected a half-width in (0, 0.5] (a fraction of the domain) for halfWidth but received 0.7');
    expect(() => new EnKG({ localization: { halfWidth: 0.2, method: 'sparse' as never } })).toThrow(
      "Expected one of 'auto', 'dense', 'fft' for EnKG localization.method but received 'sparse'");
    // SEC damps each field-measurement pair by its own factor: only the matrix form can carry that.
    expect(() => new EnKG({ sec: true, localization: { halfWidth: 0.2, method: 'fft' } })).toThrow(
      "Expected method 'auto' or 'dense' (with sec the taper is applied as a matrix) for EnKG localization.method but received 'fft'");
    expect(() => new EKI({ sec: true, localization: { halfWidth: 0.2, method: 'fft' } })).toThrow(/EKI localization.method/);
    expect(new EnKG({ sec: true, localization: { halfWidth: 0.2, method: 'dense' } }).config.sec).toBe(true);
  });
});

describe('the native localized step checks its arguments again', () => {
  const N = 4, R = 8, d = 64, m = 16;
  const g = testRandom(13);
  const x = g.normals(N * d), y = g.normals(N * m), r = g.normals(N * m), out = new Float32Array(N * d);
  const kernel = taperKernel(R, 0.2), index = Int32Array.from({ length: m }, (_, l) => 4 * l);

  it('refuses a taper of the wrong size, a grid index off the grid, a non-finite kernel and an unknown normalization', async () => {
    await expect(callNative(() => native.localizedKalmanStep(x, y, r, N, 1, 'unlocalized', new Float32Array(d * m - 1), out)))
      .rejects.toThrow('Expected d x m = 64 x 16 floats for rho.length but received 1023');
    const off = index.slice();
    off[3] = 64;
    await expect(callNative(() => native.localizedKalmanStepGrid(x, y, r, N, 1, 'unlocalized', R, kernel, off, out)))
      .rejects.toThrow('Expected grid indices in [0, 64) for measurementIndex but received 64 at measurement 3');
    const nan = kernel.slice();
    nan[5] = NaN;
    await expect(callNative(() => native.localizedKalmanStepGrid(x, y, r, N, 1, 'unlocalized', R, nan, index, out)))
      .rejects.toThrow('Expected finite values for kernel but received NaN at grid 0 (element 5 of that grid)');
    await expect(callNative(() => native.localizedKalmanStepGrid(x, y, r, N, 1, 'unlocalized', 6, kernel, index, out)))
      .rejects.toThrow('Expected an even resolution R with R^2 = d = 64 for resolution but received 6');
    await expect(callNative(() => native.localizedKalmanStep(x, y, r, N, 1, 'plain' as never, new Float32Array(d * m), out)))
      .rejects.toThrow("Expected 'unlocalized' or 'coefficient' for normalize but received 'plain'");
  });
});
