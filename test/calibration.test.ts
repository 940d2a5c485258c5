// CRPS and the spread-skill ratio against direct float64 formulas and the
// properties that define them.
import { crps, spreadSkillRatio } from '../lib/metrics/calibration';

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

describe('crps', () => {
  it('equals the pairwise definition computed directly in float64', async () => {
    const rand = lcg(3);
    const N = 7, d = 13;
    const particles = Float32Array.from({ length: N * d }, () => gaussian(rand));
    const truth = Float32Array.from({ length: d }, () => gaussian(rand));
    let expected = 0;
    for (let j = 0; j < d; j++) {
      let a = 0, b = 0;
      for (let n = 0; n < N; n++) {
        a += Math.abs(particles[n * d + j] - truth[j]);
        for (let k = 0; k < N; k++) b += Math.abs(particles[n * d + j] - particles[k * d + j]);
      }
      expected += a / N - b / (2 * N * N);
    }
    expect(await crps(particles, N, truth)).toBeCloseTo(expected / d, 10);
  });

  it('is the absolute error for a collapsed ensemble and zero on the truth', async () => {
    const truth = Float32Array.from([1, -2, 0.5]);
    const shifted = Float32Array.from([1.5, -2.5, 1, 1.5, -2.5, 1]);
    expect(await crps(shifted, 2, truth)).toBeCloseTo(0.5, 10);
    expect(await crps(Float32Array.from([...truth, ...truth]), 2, truth)).toBe(0);
  });

  it('names the mismatched argument', async () => {
    await expect(crps(new Float32Array(5), 2, new Float32Array(3))).rejects.toThrow(
      'Expected count x truth.length = 6 floats for particles.length but received 5');
  });
});

describe('spreadSkillRatio', () => {
  it('is close to 1 when the truth is one more draw from the ensemble\'s distribution', async () => {
    const rand = lcg(11);
    const N = 8, d = 40000;
    const particles = Float32Array.from({ length: N * d }, () => gaussian(rand));
    const truth = Float32Array.from({ length: d }, () => gaussian(rand));
    expect(await spreadSkillRatio(particles, N, truth)).toBeCloseTo(1, 1);
  });

  it('matches sqrt((N+1)/N) s / sqrt(1 + s^2 / N) for particles of std s around a unit-variance truth', async () => {
    const rand = lcg(5);
    const N = 8, d = 4000;
    const truth = Float32Array.from({ length: d }, () => gaussian(rand));
    const narrow = Float32Array.from({ length: N * d }, () => 0.1 * gaussian(rand));
    const wide = Float32Array.from({ length: N * d }, () => 10 * gaussian(rand));
    const closedForm = (s: number) => Math.sqrt((N + 1) / N) * s / Math.sqrt(1 + s * s / N);
    expect(await spreadSkillRatio(narrow, N, truth)).toBeCloseTo(closedForm(0.1), 2); // over-confident: 0.106
    expect(await spreadSkillRatio(wide, N, truth)).toBeCloseTo(closedForm(10), 1); // over-dispersed: 2.89
  });

  it('needs two particles', async () => {
    await expect(spreadSkillRatio(new Float32Array(3), 1, new Float32Array(3))).rejects.toThrow(
      'Expected an ensemble of at least 2 particles for count but received 1');
  });
});
