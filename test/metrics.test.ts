// docs/method.md section 5's errors and the ensemble moments, on hand-worked cases.
import { meanAndStd, relativeL2, relativeL2Async, relativeL2Mean, relativeL2MeanAsync } from '../lib';

describe('reconstruction errors and ensemble moments', () => {
  // Two particles of d = 2 around the truth (3, 4), |truth| = 5.
  const truth = new Float32Array([3, 4]);
  const particles = new Float32Array([3, 4 + 5, 3 - 5, 4]); // errors (0, 5) and (-5, 0)

  it('relativeL2 averages ||x_n - x*|| / ||x*|| over the particles; relativeL2Mean is the error of their mean', () => {
    expect(relativeL2(particles, 2, truth)).toBeCloseTo(1, 6);
    // mean = (0.5, 6.5): error (-2.5, 2.5), norm 2.5 sqrt(2)
    expect(relativeL2Mean(particles, 2, truth)).toBeCloseTo((2.5 * Math.SQRT2) / 5, 6);
  });

  it('relativeL2Async and relativeL2MeanAsync equal a float64 reference over an ensemble spanning several stretches', async () => {
    const N = 300, d = 2000; // 600K floats: three stretches of lib/chunked.ts
    const x = new Float32Array(N * d), t = new Float32Array(d);
    for (let j = 0; j < d; j++) t[j] = Math.cos(j / 7) + 2;
    for (let i = 0; i < x.length; i++) x[i] = t[i % d] + Math.sin(i * 0.37);
    let norm = 0;
    for (let j = 0; j < d; j++) norm += t[j] * t[j];
    norm = Math.sqrt(norm);
    let each = 0;
    const mean = new Float64Array(d);
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let j = 0; j < d; j++) {
        s += (x[n * d + j] - t[j]) ** 2;
        mean[j] += x[n * d + j] / N;
      }
      each += Math.sqrt(s) / norm / N;
    }
    let meanError = 0;
    for (let j = 0; j < d; j++) meanError += (mean[j] - t[j]) ** 2;
    expect(await relativeL2Async(x, N, t)).toBeCloseTo(each, 10);
    expect(await relativeL2MeanAsync(x, N, t)).toBeCloseTo(Math.sqrt(meanError) / norm, 6);
    await expect(relativeL2Async(x, N + 1, t)).rejects.toThrow(
      new RangeError(`Expected count x truth.length = ${(N + 1) * d} floats for particles.length but received ${N * d}`));
  });

  it('meanAndStd gives the per-coordinate mean and population standard deviation', () => {
    const { mean, std } = meanAndStd(particles, 2, 2);
    expect(Array.from(mean)).toEqual([0.5, 6.5]);
    expect(Array.from(std)).toEqual([2.5, 2.5]);
  });
});
