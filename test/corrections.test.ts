// The small-ensemble corrections that need no geometry: the regularized gain
// (the addon's and the TypeScript reference) against the Kalman analysis
// written out in float64 (m x m solve), its adaptive alpha against the
// discrepancy it targets, the addon against the reference, the
// sampling-error correction against its formula, and both inside EKI and
// EnKG runs.
import { EKI, EnKG, GaussianNoiseMisfit, GaussianRandomFieldPrior } from '../lib';
import { callNative, native } from '../lib/binding';
import {
  regularizedResiduals, regularizedResidualsReference, relaxDeviations, ResolvedGain, secFactors, symmetricEigen,
} from '../lib/algorithms/corrections';
import { LinearForwardModel, randomMatrix, solveDense } from './helpers/linear';
import { maxRelativeError, testRandom } from './helpers/reference';

const GAINS = [['the addon', regularizedResiduals], ['the TypeScript reference', regularizedResidualsReference]] as const;

function deviations(rows: Float32Array, N: number): Float64Array {
  const w = rows.length / N, mean = new Float64Array(w), out = new Float64Array(rows.length);
  for (let n = 0; n < N; n++) for (let j = 0; j < w; j++) mean[j] += rows[n * w + j] / N;
  for (let n = 0; n < N; n++) for (let j = 0; j < w; j++) out[n * w + j] = rows[n * w + j] - mean[j];
  return out;
}

describe('symmetricEigen', () => {
  it('diagonalizes a symmetric matrix with orthonormal vectors', () => {
    const n = 9, rnd = testRandom(3);
    const A = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) A[i * n + j] = A[j * n + i] = rnd.normal();
    const { values, vectors: V } = symmetricEigen(A, n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let av = 0, vv = 0;
        for (let k = 0; k < n; k++) {
          av += A[i * n + k] * V[k * n + j];
          vv += V[k * n + i] * V[k * n + j];
        }
        expect(av).toBeCloseTo(values[j] * V[i * n + j], 9);
        expect(vv).toBeCloseTo(i === j ? 1 : 0, 9);
      }
    }
  });
});

describe.each(GAINS)('the regularized gain (%s)', (_, gainResiduals) => {
  // N particles, m measurements with per-measurement noise stds: the misfit's residuals are W (y - y_obs), W = Gamma^-1.
  const N = 7, m = 12, d = 5;
  const rnd = testRandom(11);
  const x = rnd.normals(N * d), y = rnd.normals(N * m), obs = rnd.normals(m, 0.5);
  const std = Float32Array.from({ length: m }, (_, l) => 0.3 + 0.1 * l);
  const misfit = new GaussianNoiseMisfit(obs, std);
  const r = misfit.gradient(y, N);

  /** Cxy (Cyy + alpha Gamma)^-1 (y^n - y_obs), the Kalman analysis increment of particle n, in float64. */
  function analysis(alpha: number, n: number): Float64Array {
    const Xc = deviations(x, N), Yc = deviations(y, N);
    const M = new Float64Array(m * m);
    for (let a = 0; a < m; a++) {
      for (let b = 0; b < m; b++) {
        for (let k = 0; k < N; k++) M[a * m + b] += Yc[k * m + a] * Yc[k * m + b] / N;
      }
      M[a * m + a] += alpha * std[a] ** 2;
    }
    const e = Float64Array.from({ length: m }, (_, l) => y[n * m + l] - obs[l]);
    const z = solveDense(M, e);
    const dx = new Float64Array(d);
    for (let j = 0; j < d; j++) for (let l = 0; l < m; l++) for (let k = 0; k < N; k++) dx[j] += Xc[k * d + j] * Yc[k * m + l] / N * z[l];
    return dx;
  }

  /** K rt^n with K = Xc^T Yc / N: the step the Kalman kernels take with the transformed residuals. */
  function step(rt: Float32Array, n: number): Float64Array {
    const Xc = deviations(x, N), Yc = deviations(y, N);
    const dx = new Float64Array(d);
    for (let j = 0; j < d; j++) for (let l = 0; l < m; l++) for (let k = 0; k < N; k++) dx[j] += Xc[k * d + j] * Yc[k * m + l] / N * rt[n * m + l];
    return dx;
  }

  it('with a fixed alpha is the Kalman analysis of noise alpha Gamma', async () => {
    for (const alpha of [0.1, 1, 20]) {
      const { residuals: rt, alpha: used } = await gainResiduals(y, r, N, { alpha, rho: 0.5 }, null);
      expect(used).toBe(alpha);
      for (const n of [0, 3, 6]) {
        const want = analysis(alpha, n), got = step(rt, n);
        for (let j = 0; j < d; j++) expect(got[j]).toBeCloseTo(want[j], 4);
      }
    }
  });

  it("adaptive: the linearized step removes the fraction 1 - rho^2 of what the ensemble's span can remove", async () => {
    const sizes = Float64Array.from(misfit.value(y, N), (v) => v * m);
    const Yc = deviations(y, N);
    const C = new Float64Array(m * m);
    for (let a = 0; a < m; a++) for (let b = 0; b < m; b++) for (let k = 0; k < N; k++) C[a * m + b] += Yc[k * m + a] * Yc[k * m + b] / N;
    /** sum_n ||e^n - Cyy (Cyy + alpha Gamma)^-1 e^n||^2 in Gamma's metric: the squared residual after a linearized step. */
    const after = (alpha: number) => {
      const M = C.slice();
      for (let a = 0; a < m; a++) M[a * m + a] += alpha * std[a] ** 2;
      let total = 0;
      for (let n = 0; n < N; n++) {
        const e = Float64Array.from({ length: m }, (_, l) => y[n * m + l] - obs[l]);
        const z = solveDense(M, e);
        for (let a = 0; a < m; a++) {
          let pred = 0;
          for (let b = 0; b < m; b++) pred += C[a * m + b] * z[b];
          total += (e[a] - pred) ** 2 / std[a] ** 2;
        }
      }
      return total;
    };
    let before = 0;
    for (const v of sizes) before += v;
    // N = 7 < m = 12: even alpha -> 0 leaves a good part of the residual (outside the ensemble's span).
    const reachable = before - after(1e-9);
    expect(reachable).toBeLessThan(0.95 * before);
    for (const rho of [0.3, 0.5, 0.8]) {
      const { alpha } = await gainResiduals(y, r, N, { alpha: 'adaptive', rho }, sizes);
      expect((before - after(alpha)) / reachable).toBeCloseTo(1 - rho * rho, 5);
    }
  });

  it('adaptive needs the misfit values, and says so', async () => {
    await expect(gainResiduals(y, r, N, { alpha: 'adaptive', rho: 0.5 }, null)).rejects.toThrow("needs the misfit's values");
  });
});

describe('the regularized gain in the addon against the TypeScript reference', () => {
  /** N particles of m measurements; residuals of a Gaussian noise misfit (quadratic) or, `plain`, independent of y. */
  function inputs(N: number, m: number, seed: number, plain = false) {
    const rnd = testRandom(seed);
    const y = rnd.normals(N * m), obs = rnd.normals(m, 0.5, 0.3);
    const std = Float32Array.from({ length: m }, (_, l) => 0.2 + 0.05 * (l % 7));
    const misfit = new GaussianNoiseMisfit(obs, std);
    const r = plain ? rnd.normals(N * m, 1, 0.4) : misfit.gradient(y, N);
    // As the Kalman step gives them (kalman-step.ts residualSizes): the misfit's values times m, else ||r^n||^2.
    const sizes = plain ? new Float64Array(N) : Float64Array.from(misfit.value(y, N), (v) => v * m);
    if (plain) for (let n = 0; n < N; n++) for (let l = 0; l < m; l++) sizes[n] += r[n * m + l] ** 2;
    return { y, r, sizes };
  }

  async function expectSame(y: Float32Array, r: Float32Array, N: number, gain: ResolvedGain, sizes: Float64Array | null) {
    const got = await regularizedResiduals(y, r, N, gain, sizes);
    const want = await regularizedResidualsReference(y, r, N, gain, sizes);
    if (gain.alpha === 'adaptive') expect(Math.abs(got.alpha - want.alpha) / want.alpha).toBeLessThan(1e-8);
    else expect(got.alpha).toBe(gain.alpha);
    expect(maxRelativeError(got.residuals, want.residuals)).toBeLessThan(1e-5);
    return got;
  }

  // N < m, N = m and N > m (S then has N - m zero eigenvalues at least), a quadratic misfit and residuals unrelated to y.
  it.each([[5, 40, false], [16, 16, false], [40, 12, false], [96, 30, false], [12, 30, true], [50, 9, true]])(
    'gives the same rt and alpha at N = %i, m = %i (plain residuals: %s), fixed and adaptive', async (N, m, plain) => {
      const { y, r, sizes } = inputs(N, m, 100 * N + m, plain);
      for (const gain of [{ alpha: 0.3, rho: 0.5 }, { alpha: 7, rho: 0.5 }, { alpha: 'adaptive', rho: 0.5 }, { alpha: 'adaptive', rho: 0.85 }] as const) {
        const got = await expectSame(y, r, N, gain, sizes);
        expect(got.residuals.every(Number.isFinite)).toBe(true);
      }
      // sizes are not read with a fixed alpha.
      await expectSame(y, r, N, { alpha: 2, rho: 0.5 }, null);
    });

  it('at target 0 (no misfit to remove) both take alpha = 1e12 tr(S), the top of the bisection', async () => {
    const N = 10, m = 8;
    const { y, r } = inputs(N, m, 77);
    const got = await expectSame(y, r, N, { alpha: 'adaptive', rho: 0.5 }, new Float64Array(N));
    expect(got.alpha).toBeGreaterThan(1e10);
  });

  it('at tr(S) = 0 (the measurements do not vary, so K = 0 and the step is 0) both take alpha = 1 and keep rt = r finite', async () => {
    const N = 6, m = 5;
    const y = new Float32Array(N * m).fill(0.25);
    const gain = { alpha: 'adaptive', rho: 0.5 } as const;
    const r = Float32Array.from({ length: N * m }, (_, k) => 0.5 + k);
    const got = await expectSame(y, r, N, gain, new Float64Array(N).fill(1));
    expect(got.alpha).toBe(1);
    expect(Array.from(got.residuals)).toEqual(Array.from(r));
    const reference = await regularizedResidualsReference(y, r, N, gain, new Float64Array(N).fill(1));
    expect(reference.alpha).toBe(1);
    expect(Array.from(reference.residuals)).toEqual(Array.from(r));
  });

  it('refuses bad arguments before any work, naming them', async () => {
    const N = 4, m = 3, y = new Float32Array(N * m), r = new Float32Array(N * m), gain = { alpha: 1, rho: 0.5 };
    await expect(regularizedResiduals([0] as never, r, N, gain, null)).rejects.toThrow(new TypeError(
      'Expected a Float32Array for measurements but received Array(1)'));
    await expect(regularizedResiduals(y, r, 1, gain, null)).rejects.toThrow(new RangeError(
      'Expected an integer >= 2 for ensembleSize but received 1'));
    await expect(regularizedResiduals(y, r.subarray(1), N, gain, null)).rejects.toThrow(new RangeError(
      'Expected N x m, like measurements = 4 x 3 = 12 floats for residuals.length but received 11'));
    await expect(regularizedResiduals(y, r, N, { alpha: -1, rho: 0.5 }, null)).rejects.toThrow(new RangeError(
      "Expected a finite number > 0 or 'adaptive' for gain.alpha but received -1"));
    await expect(regularizedResiduals(y, r, N, { alpha: 'auto' as never, rho: 0.5 }, null)).rejects.toThrow(new TypeError(
      "Expected a finite number > 0 or 'adaptive' for gain.alpha but received 'auto'"));
    await expect(regularizedResiduals(y, r, N, { alpha: 1, rho: 1 }, null)).rejects.toThrow(new RangeError(
      'Expected a fraction in (0, 1) for gain.rho but received 1'));
    await expect(regularizedResiduals(y, r, N, gain, new Float64Array(3))).rejects.toThrow(new RangeError(
      'Expected ensembleSize = 4 squared residual norms for sizes.length but received 3'));
    await expect(regularizedResiduals(y, r, N, gain, [1, 1, 1, 1] as never)).rejects.toThrow(new TypeError(
      'Expected a Float64Array or null for sizes but received Array(4)'));
  });

  it('the addon checks its arguments again, with the same wording', async () => {
    const N = 4, m = 3, y = new Float32Array(N * m), r = new Float32Array(N * m), out = new Float32Array(N * m);
    const sizes = new Float64Array(N);
    const call = (...args: unknown[]) => callNative(() => (native.regularizedResiduals as (...a: unknown[]) => Promise<unknown>)(...args));
    // Errors the addon throws where the call is made belong to the main realm, not jest's: matched by message.
    await expect(call(y, r, 1, 1, 0.5, null, out)).rejects.toThrow('Expected an ensembleSize of at least 2 for ensembleSize but received 1');
    await expect(call(y, r, 20000, 1, 0.5, null, out)).rejects.toThrow(
      "Expected an ensembleSize of at most 16384 (the regularized gain's eigensolver counts its workspace in 32-bit integers) for ensembleSize but received 20000");
    await expect(call(y, r.subarray(1), N, 1, 0.5, null, out)).rejects.toThrow(
      'Expected N x m = 12 floats (the length of measurements) for residuals.length but received 11');
    await expect(call(y, r, N, 0, 0.5, null, out)).rejects.toThrow("Expected a finite number > 0 or 'adaptive' for alpha but received 0");
    await expect(call(y, r, N, 'auto', 0.5, null, out)).rejects.toThrow("Expected a finite number > 0 or 'adaptive' for alpha but received 'auto'");
    await expect(call(y, r, N, 1, 0, null, out)).rejects.toThrow('Expected a fraction in (0, 1) for rho but received 0');
    await expect(call(y, r, N, 'adaptive', 0.5, null, out)).rejects.toThrow(
      "Expected a Float64Array of the particles' squared residual norms (the adaptive gain needs them) for sizes but received null");
    await expect(call(y, r, N, 'adaptive', 0.5, new Float64Array(5), out)).rejects.toThrow(
      'Expected ensembleSize = 4 squared residual norms for sizes.length but received 5');
    await expect(call(y, r, N, 1, 0.5, null, out.subarray(1))).rejects.toThrow(
      'Expected N x m = 12 floats (the length of measurements) for out.length but received 11');
    await expect(call(y, r, N, 1, 0.5, null, y)).rejects.toThrow(
      'Expected an array that does not share memory with measurements for out but received one that does');
    await expect(call(y, r, N, 'adaptive', 0.5, Float64Array.of(1, 2, NaN, 4), out)).rejects.toThrow(
      'Expected finite values >= 0 (squared residual norms) for sizes but received NaN at particle 2');
    await expect(call(y, r, N, 'adaptive', 0.5, Float64Array.of(1, -2.5, 3, 4), out)).rejects.toThrow(
      'Expected finite values >= 0 (squared residual norms) for sizes but received -2.5 at particle 1');
  });

  it('refuses non-finite measurements, residuals and sizes, naming the particle', async () => {
    const N = 5, m = 4, { y, r, sizes } = inputs(N, m, 3);
    const gain = { alpha: 'adaptive', rho: 0.5 } as const;
    const badY = y.slice();
    badY[2 * m + 3] = NaN;
    await expect(regularizedResiduals(badY, r, N, gain, sizes)).rejects.toThrow(new RangeError(
      'Expected finite values for measurements but received NaN at particle 2 (element 3 of that particle)'));
    const badR = r.slice();
    badR[m + 1] = -Infinity;
    await expect(regularizedResiduals(y, badR, N, gain, sizes)).rejects.toThrow(new RangeError(
      'Expected finite values for residuals but received -Infinity at particle 1 (element 1 of that particle)'));
    const badSizes = sizes.slice();
    badSizes[4] = Infinity;
    await expect(regularizedResiduals(y, r, N, gain, badSizes)).rejects.toThrow(new RangeError(
      'Expected finite values >= 0 (squared residual norms) for sizes but received Infinity at particle 4'));
    badSizes[4] = -1;
    await expect(regularizedResiduals(y, r, N, gain, badSizes)).rejects.toThrow(new RangeError(
      'Expected finite values >= 0 (squared residual norms) for sizes but received -1 at particle 4'));
  });
});

describe('the regularized gain options', () => {
  it('refuses bad options before any work', () => {
    expect(() => new EnKG({ gain: { alpha: -1 } })).toThrow('EnKG gain.alpha');
    expect(() => new EKI({ gain: { rho: 1.5 } })).toThrow('Expected a fraction in (0, 1) for EKI gain.rho but received 1.5');
    expect(() => new EKI({ gain: { beta: 1 } as never })).toThrow('beta');
    expect(() => new EnKG({ sec: 'yes' as never })).toThrow('Expected true or false for EnKG sec');
  });
});

describe('the sampling-error correction', () => {
  it('scales each cross-covariance entry by Q^2 / (1 + Q^2) of its sample correlation', async () => {
    const N = 20, d = 3, m = 4, rnd = testRandom(5);
    const x = rnd.normals(N * d);
    const y = new Float32Array(N * m);
    // Measurement 0 is field value 0 (correlation 1), measurement 1 nearly so, 2 and 3 independent noise.
    for (let n = 0; n < N; n++) {
      y[n * m] = x[n * d];
      y[n * m + 1] = x[n * d + 1] + 0.1 * rnd.normal();
      y[n * m + 2] = rnd.normal();
      y[n * m + 3] = rnd.normal();
    }
    const f = await secFactors(x, y, N);
    const Xc = deviations(x, N), Yc = deviations(y, N);
    for (let j = 0; j < d; j++) {
      for (let l = 0; l < m; l++) {
        let sxy = 0, sxx = 0, syy = 0;
        for (let n = 0; n < N; n++) {
          sxy += Xc[n * d + j] * Yc[n * m + l];
          sxx += Xc[n * d + j] ** 2;
          syy += Yc[n * m + l] ** 2;
        }
        const rr = Math.min(1 - 1e-7, Math.max(-1 + 1e-7, sxy / Math.sqrt(sxx * syy)));
        const s = 1 / Math.sqrt(N - 3);
        const sigma = (Math.tanh(Math.atanh(rr) + s) - Math.tanh(Math.atanh(rr) - s)) / 2;
        const q2 = (rr / sigma) ** 2;
        expect(f[j * m + l]).toBeCloseTo(q2 / (1 + q2), 5);
      }
    }
    expect(f[0]).toBeGreaterThan(0.99);
    expect(f[1 * m + 1]).toBeGreaterThan(0.9);
    // A distance taper folds in by product.
    const base = Float32Array.from({ length: d * m }, (_, k) => (k % 3) / 2);
    const both = await secFactors(x, y, N, base);
    for (let k = 0; k < d * m; k++) expect(both[k]).toBeCloseTo(f[k] * base[k], 6);
  });
});

describe('relaxation to prior perturbations', () => {
  it("keeps the step's mean and blends each deviation with the one before the step", async () => {
    const N = 5, d = 3, rnd = testRandom(21);
    const before = rnd.normals(N * d), after = rnd.normals(N * d, 0.1, 2);
    const relaxed = after.slice();
    await relaxDeviations(before, relaxed, N, 0.3);
    const mb = deviations(before, N), ma = deviations(after, N), mr = deviations(relaxed, N);
    for (let j = 0; j < d; j++) {
      let meanAfter = 0, meanRelaxed = 0;
      for (let n = 0; n < N; n++) {
        meanAfter += after[n * d + j] / N;
        meanRelaxed += relaxed[n * d + j] / N;
        expect(mr[n * d + j]).toBeCloseTo(0.7 * ma[n * d + j] + 0.3 * mb[n * d + j], 5);
      }
      expect(meanRelaxed).toBeCloseTo(meanAfter, 5);
    }
  });

  it('is recorded in the configuration when on, and a value outside [0, 1) is refused', () => {
    expect(new EnKG({ relaxation: 0.5 }).config).toMatchObject({ relaxation: 0.5 });
    expect('relaxation' in new EnKG({}).config).toBe(false);
    expect(() => new EKI({ relaxation: 1 })).toThrow('Expected a fraction in [0, 1) for EKI relaxation but received 1');
  });
});

describe('EKI and EnKG with the corrections', () => {
  const R = 4, d = R * R, m = 6;
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2, tau: 2, scale: 1 });
  const forward = new LinearForwardModel([1, R, R], randomMatrix(m, d, 4), m);
  const truth = Float32Array.from({ length: d }, (_, k) => Math.sin(k));
  const observation = Float32Array.from(forward.apply(truth));
  const std = 0.2;

  it('one EKI iteration with gain alpha 1 is the ensemble Kalman analysis of the noise model', async () => {
    const N = 10, rnd = testRandom(9);
    const initial = rnd.normals(N * d);
    const misfit = new GaussianNoiseMisfit(observation, std);
    const eki = new EKI({ ensembleSize: N, iterations: 1, initial, gain: { alpha: 1 } });
    expect(eki.config.gain).toEqual({ alpha: 1, rho: 0.5 });
    const result = await eki.solve({ prior, forward, observation, misfit });
    // Dense: x^n - Cxy (Cyy + Gamma)^-1 (G x^n - y_obs).
    const y = await forward.forward(initial, N);
    const Xc = deviations(initial, N), Yc = deviations(y, N);
    const M = new Float64Array(m * m);
    for (let a = 0; a < m; a++) {
      for (let b = 0; b < m; b++) for (let k = 0; k < N; k++) M[a * m + b] += Yc[k * m + a] * Yc[k * m + b] / N;
      M[a * m + a] += std * std;
    }
    for (let n = 0; n < N; n++) {
      const z = solveDense(M, Float64Array.from({ length: m }, (_, l) => y[n * m + l] - observation[l]));
      for (let j = 0; j < d; j++) {
        let dx = 0;
        for (let l = 0; l < m; l++) for (let k = 0; k < N; k++) dx += Xc[k * d + j] * Yc[k * m + l] / N * z[l];
        expect(result.particles[n * d + j]).toBeCloseTo(initial[n * d + j] - dx, 4);
      }
    }
    expect(result.trace[0].alpha).toBe(1);
  });

  it('EnKG with the adaptive gain and with SEC fits the data of a linear problem', async () => {
    for (const options of [{ gain: { alpha: 'adaptive' as const } }, { sec: true }, { sec: true, gain: {} }]) {
      const enkg = new EnKG({ ensembleSize: 12, steps: 12, updates: 2, ...options });
      const result = await enkg.solve({ prior, forward, observation }, { seed: 2 });
      expect(result.particles.every(Number.isFinite)).toBe(true);
      const first = result.trace[0].misfit, last = result.trace[result.trace.length - 1].misfit;
      expect(last).toBeLessThan(0.35 * first);
      if ('gain' in options) expect(result.trace.every((t) => (t.alpha ?? 0) > 0)).toBe(true);
    }
  });

  it('the adaptive gain refuses, before any work, a misfit model without values', async () => {
    const misfit = { gradient: (yy: Float32Array) => yy.slice() };
    const calls = forward.calls;
    await expect(new EnKG({ ensembleSize: 4, steps: 6, gain: {} }).solve({ prior, forward, observation, misfit }))
      .rejects.toThrow("adaptive regularized gain needs the misfit's values");
    expect(forward.calls).toBe(calls);
  });
});
