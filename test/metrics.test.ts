// docs/method.md section 5's errors and the ensemble moments, on hand-worked cases.
import { meanAndStd, relativeL2, relativeL2Mean } from '../lib';

describe('reconstruction errors and ensemble moments', () => {
  // Two particles of d = 2 around the truth (3, 4), |truth| = 5.
  const truth = new Float32Array([3, 4]);
  const particles = new Float32Array([3, 4 + 5, 3 - 5, 4]); // errors (0, 5) and (-5, 0)

  it('relativeL2 averages ||x_n - x*|| / ||x*|| over the particles; relativeL2Mean is the error of their mean', () => {
    expect(relativeL2(particles, 2, truth)).toBeCloseTo(1, 6);
    // mean = (0.5, 6.5): error (-2.5, 2.5), norm 2.5 sqrt(2)
    expect(relativeL2Mean(particles, 2, truth)).toBeCloseTo((2.5 * Math.SQRT2) / 5, 6);
  });

  it('meanAndStd gives the per-coordinate mean and population standard deviation', () => {
    const { mean, std } = meanAndStd(particles, 2, 2);
    expect(Array.from(mean)).toEqual([0.5, 6.5]);
    expect(Array.from(std)).toEqual([2.5, 2.5]);
  });
});
