// Analytic priors and the EDM sampler, against direct float64 computations.
import {
  GaussianMixturePrior, GaussianRandomFieldPrior, karrasSigmas, odeToClean, sampleODE,
} from '../lib';
import { solveDense } from './helpers/linear';
import { grfAmplitude, grfShellPower } from './helpers/spectra';
import { maxRelativeError, testRandom } from './helpers/reference';

/**
 * The pixel covariance of the GRF prior on an R x R grid, from docs/method.md's
 * eigenvalues: Cov(x_p, x_q) = (1/R^2) sum_k lambda_k cos(k . (p - q)) with
 * lambda_k = R^2 a_k^2 / (2 scale^2), mean and Nyquist modes empty.
 */
function grfCovariance(R: number, alpha: number, tau: number, scale: number): Float64Array {
  const d = R * R;
  const corr = new Float64Array(d); // as a function of the offset (di, dj)
  for (let k1 = -R / 2 + 1; k1 < R / 2; k1++) {
    for (let k2 = -R / 2 + 1; k2 < R / 2; k2++) {
      if (k1 === 0 && k2 === 0) continue;
      const lambda = (R * R * grfAmplitude(k1, k2, alpha, tau) ** 2) / (2 * scale * scale);
      for (let di = 0; di < R; di++) {
        for (let dj = 0; dj < R; dj++) corr[di * R + dj] += (lambda / (R * R)) * Math.cos((2 * Math.PI * (k1 * di + k2 * dj)) / R);
      }
    }
  }
  const cov = new Float64Array(d * d);
  for (let p = 0; p < d; p++) {
    for (let q = 0; q < d; q++) {
      const di = (((Math.floor(p / R) - Math.floor(q / R)) % R) + R) % R, dj = ((((p % R) - (q % R)) % R) + R) % R;
      cov[p * d + q] = corr[di * R + dj];
    }
  }
  return cov;
}

describe('GaussianRandomFieldPrior', () => {
  const R = 8, alpha = 2.5, tau = 3, scale = 2;
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha, tau, scale });
  const cov = grfCovariance(R, alpha, tau, scale);

  it.each([0.05, 0.5, 5])('denoises exactly as Sigma (Sigma + s^2 I)^-1 x (s = %p)', async (s) => {
    const g = testRandom(Math.round(s * 100));
    const x = g.normals(3 * R * R);
    const out = await prior.denoise(x, s, 3);
    for (let b = 0; b < 3; b++) {
      const xb = Float64Array.from(x.subarray(b * 64, (b + 1) * 64));
      const a = cov.slice();
      for (let i = 0; i < 64; i++) a[i * 64 + i] += s * s;
      const expected = Float64Array.from({ length: 64 }, () => 0);
      const z = solveDense(a, xb);
      for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) expected[i] += cov[i * 64 + j] * z[j];
      expect(maxRelativeError(out.subarray(b * 64, (b + 1) * 64), expected)).toBeLessThan(1e-5);
    }
  });

  it('takes one noise level per field and counts its evaluations', async () => {
    const g = testRandom(3);
    const x = g.normals(2 * 64);
    const before = prior.evaluations;
    const both = await prior.denoise(x, Float32Array.from([0.125, 3]), 2);
    expect(both.subarray(0, 64)).toEqual(await prior.denoise(x.slice(0, 64), 0.125, 1));
    expect(both.subarray(64)).toEqual(await prior.denoise(x.slice(64), 3, 1));
    expect(prior.evaluations - before).toBe(4);
  });

  it('has a jvp equal to finite differences (D is linear)', async () => {
    const g = testRandom(4);
    const x = g.normals(64), v = g.normals(64);
    const eps = 1e-2;
    const plus = await prior.denoise(x.map((xi, i) => xi + eps * v[i]), 0.7, 1);
    const minus = await prior.denoise(x.map((xi, i) => xi - eps * v[i]), 0.7, 1);
    const fd = plus.map((p, i) => (p - minus[i]) / (2 * eps));
    expect(maxRelativeError(await prior.jvp(x, 0.7, v, 1), fd)).toBeLessThan(1e-4);
  });

  it('rejects bad input with the argument named', async () => {
    await expect(prior.denoise(new Float32Array(63), 1, 1)).rejects.toThrow(
      new RangeError('Expected batch x 1 x 8 x 8 = 64 floats for x.length but received 63'));
    await expect(prior.denoise(new Float32Array(64), -1, 1)).rejects.toThrow(
      new RangeError('Expected finite noise levels >= 0 for sigma but received -1'));
    await expect(prior.denoise(new Float32Array(128), new Float32Array(3), 2)).rejects.toThrow(
      new RangeError('Expected 2 noise levels (one per field) for sigma.length but received 3'));
    expect(() => new GaussianRandomFieldPrior({ resolution: 8, alpha: 2, tau: 3, sharpness: 1 } as never)).toThrow(TypeError);
  });
});

describe('GaussianMixturePrior', () => {
  it('with one component equals the Gaussian formula', async () => {
    const cov = [[2, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 0.5]];
    const mu = [1, -2, 0.5];
    const prior = new GaussianMixturePrior({ means: [mu], covariances: [cov] });
    const x = Float32Array.from([0.3, 0.1, -1]);
    const s = 0.8;
    const a = Float64Array.from(cov.flat());
    const m = a.slice();
    for (let i = 0; i < 3; i++) m[i * 3 + i] += s * s;
    const z = solveDense(m, Float64Array.from(x, (xi, i) => xi - mu[i]));
    const expected = mu.map((mi, i) => mi + a[i * 3] * z[0] + a[i * 3 + 1] * z[1] + a[i * 3 + 2] * z[2]);
    expect(maxRelativeError(await prior.denoise(x, s, 1), expected)).toBeLessThan(1e-6);
  });

  it('in 1-D matches the posterior mean by quadrature', async () => {
    const prior = new GaussianMixturePrior({ means: [[-2], [3]], variances: [0.5, 1.5], weights: [0.3, 0.7] });
    const s = 1.2;
    const xs = Float32Array.from([-4, -1, 0.5, 2, 6]);
    const out = await prior.denoise(xs, s, 5);
    const density = (t: number): number => 0.3 * Math.exp(-((t + 2) ** 2) / 1) / Math.sqrt(0.5) + 0.7 * Math.exp(-((t - 3) ** 2) / 3) / Math.sqrt(1.5);
    xs.forEach((x, i) => {
      let num = 0, den = 0;
      for (let t = -15; t <= 15; t += 1e-3) {
        const w = density(t) * Math.exp(-((x - t) ** 2) / (2 * s * s));
        num += t * w;
        den += w;
      }
      expect(Math.abs(out[i] - num / den)).toBeLessThan(1e-5);
    });
  });

  it('has a jvp equal to finite differences', async () => {
    const prior = new GaussianMixturePrior({
      means: [[0, 1], [2, -1], [-1, -2]], covariances: [[[1, 0.3], [0.3, 0.5]], [[0.4, 0], [0, 0.4]], [[0.8, -0.2], [-0.2, 0.6]]],
      weights: [1, 2, 1],
    });
    const x = Float32Array.from([0.7, -0.4]), v = Float32Array.from([0.6, 0.8]);
    const eps = 1e-3;
    const plus = await prior.denoise(x.map((xi, i) => xi + eps * v[i]), 0.9, 1);
    const minus = await prior.denoise(x.map((xi, i) => xi - eps * v[i]), 0.9, 1);
    const fd = plus.map((p, i) => (p - minus[i]) / (2 * eps));
    expect(maxRelativeError(await prior.jvp(x, 0.9, v, 1), fd)).toBeLessThan(2e-3);
  });

  it('rejects an indefinite covariance and mismatched dimensions', () => {
    expect(() => new GaussianMixturePrior({ means: [[0, 0]], covariances: [[[1, 2], [2, 1]]] })).toThrow(
      'Expected positive semi-definite matrices for covariances[0] but received an indefinite matrix');
    expect(() => new GaussianMixturePrior({ means: [[0, 0], [1]], variances: [1, 1] })).toThrow(
      'Expected 2 numbers for means[1].length but received 1');
    expect(() => new GaussianMixturePrior({ means: [[NaN, 0]], variances: [1] })).toThrow(
      'Expected finite numbers for means[0][0] but received NaN');
    expect(() => new GaussianMixturePrior({ means: [[0, 0]], variances: [1, 1] })).toThrow(
      'Expected one entry per mean (1) for variances.length but received 2');
    expect(() => new GaussianMixturePrior({ means: [[0, 0], [1, 1]], covariances: [[[1, 0], [0, 1]]] })).toThrow(
      'Expected one entry per mean (2) for covariances.length but received 1');
    expect(() => new GaussianMixturePrior({ means: [[0]], covariances: [[[Infinity]]] })).toThrow(
      'Expected finite numbers for covariances[0][0][0] but received Infinity');
    expect(() => new GaussianMixturePrior({ means: [[0]], variances: [Infinity] })).toThrow(
      'Expected finite non-negative variances for variances[0] but received Infinity');
  });
});

describe('EDM sampler', () => {
  it('builds the Karras grid of docs/method.md section 1', () => {
    const s = karrasSigmas({ steps: 5 });
    expect(s).toHaveLength(6);
    expect(s[0]).toBeCloseTo(80, 10);
    expect(s[4]).toBeCloseTo(0.002, 12);
    expect(s[5]).toBe(0);
    const a = 80 ** (1 / 7), b = 0.002 ** (1 / 7);
    expect(s[2]).toBeCloseTo((a + 0.5 * (b - a)) ** 7, 10);
    expect(Array.from(karrasSigmas({ steps: 1, sigmaMax: 3 }))).toEqual([3, 0]);
  });

  it('odeToClean with one step is D(x, sigmaStart); with many it transports a mode by sqrt(lambda / (lambda + s^2))', async () => {
    const R = 16;
    const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2.5, tau: 3 });
    const g = testRandom(9);
    const x = g.normals(R * R);
    expect(await odeToClean(prior, x, { sigmaStart: 2, steps: 1 })).toEqual(await prior.denoise(x, 2, 1));
    // A single Fourier mode (k1, k2) = (2, 1) evolves independently of the others.
    const wave = new Float32Array(R * R);
    for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) wave[i * R + j] = Math.cos((2 * Math.PI * (2 * i + j)) / R);
    const lambda = (R * R * grfAmplitude(2, 1, 2.5, 3) ** 2) / 2;
    const sigma = 1.5;
    const clean = await odeToClean(prior, wave, { sigmaStart: sigma, steps: 200 });
    const factor = Math.sqrt(lambda / (lambda + sigma * sigma));
    expect(maxRelativeError(clean, wave.map((w) => w * factor))).toBeLessThan(0.01);
  });

  // Per mode, an Euler step multiplies x by 1 + (s' - s) s / (lambda + s^2)
  // and the last step by lambda / (lambda + s^2); from N(0, sMax^2) the
  // sampler's power is therefore known exactly.
  const eulerPower = (R: number, steps: number) => (power: number): number => {
    const lambda = R * R * power; // power = a^2 / 2 per mode in R^4 units
    const s = karrasSigmas({ steps });
    let gain = s[0];
    for (let i = 0; i < steps; i++) {
      gain *= s[i + 1] === 0 ? lambda / (lambda + s[i] ** 2) : 1 + ((s[i + 1] - s[i]) * s[i]) / (lambda + s[i] ** 2);
    }
    return (gain * gain) / (R * R);
  };

  it('sampleODE (Euler, 40 steps) with the GRF prior has exactly the Euler scheme\'s spectrum (8% per shell, 512 samples)', async () => {
    const R = 32, alpha = 2.5, tau = 7;
    const prior = new GaussianRandomFieldPrior({ resolution: R, alpha, tau });
    const samples = await sampleODE(prior, { count: 512, steps: 40, seed: 5 });
    expect(prior.evaluations).toBe(512 * 40);
    const shells = grfShellPower(samples, R, 512, alpha, tau, eulerPower(R, 40));
    for (const shell of shells) expect(Math.abs(shell.measured / shell.expected - 1)).toBeLessThan(0.08);
    // ...which is 10-20% below the prior's own spectrum: Euler is first order.
    const bias = grfShellPower(samples, R, 512, alpha, tau);
    expect(Math.max(...bias.map((b) => b.measured / b.expected))).toBeLessThan(0.95);
  });

  it('sampleODE reproduces the prior spectrum within 10% per shell (Heun at 40 steps, Euler at 200)', async () => {
    const R = 32, alpha = 2.5, tau = 7;
    const prior = new GaussianRandomFieldPrior({ resolution: R, alpha, tau });
    const heun = await sampleODE(prior, { count: 512, steps: 40, seed: 6, solver: 'heun' });
    expect(prior.evaluations).toBe(512 * 79);
    const euler = await sampleODE(prior, { count: 512, steps: 200, seed: 7 });
    for (const samples of [heun, euler]) {
      for (const shell of grfShellPower(samples, R, 512, alpha, tau)) {
        expect(Math.abs(shell.measured / shell.expected - 1)).toBeLessThan(0.1);
      }
    }
  });
});
