// Philox4x32-10 draws, run once per backend.
import { BackendName, randomNormal, randomUniform } from '../../lib';

export function defineRandomSuite(backend: BackendName): void {
  describe(`random numbers on ${backend}`, () => {
    it('normal draws have mean 0 and variance 1 within 5 standard errors (10^6 draws)', async () => {
      const n = 1_000_000;
      const z = await randomNormal({ count: n, seed: 2024, backend });
      let sum = 0, sum2 = 0, sum4 = 0;
      for (const v of z) { sum += v; sum2 += v * v; sum4 += v ** 4; }
      const mean = sum / n, variance = sum2 / n - mean * mean;
      expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
      expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
      expect(Math.abs(sum4 / n - 3)).toBeLessThan(5 * Math.sqrt(96 / n)); // kurtosis of a Gaussian
    });

    it('uniform draws lie in (0, 1) with mean 1/2 and variance 1/12', async () => {
      const n = 400_000;
      const u = await randomUniform({ count: n, seed: 7, backend });
      let sum = 0, sum2 = 0, min = 1, max = 0;
      for (const v of u) { sum += v; sum2 += v * v; min = Math.min(min, v); max = Math.max(max, v); }
      expect(min).toBeGreaterThan(0);
      expect(max).toBeLessThan(1);
      expect(Math.abs(sum / n - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
      expect(Math.abs(sum2 / n - sum * sum / n / n - 1 / 12)).toBeLessThan(5e-3);
    });

    it('gives each stream the same values whatever the batch of streams or the count drawn', async () => {
      const together = await randomNormal({ count: 37, seed: 99, stream: 10, streams: 8, backend });
      for (let s = 0; s < 8; s++) {
        const alone = await randomNormal({ count: 37, seed: 99, stream: 10 + s, backend });
        expect(together.subarray(s * 37, (s + 1) * 37)).toEqual(alone);
      }
      const longer = await randomNormal({ count: 101, seed: 99, stream: 12, backend });
      expect(longer.subarray(0, 37)).toEqual(together.subarray(2 * 37, 3 * 37));
    });

    it('gives different seeds and different streams uncorrelated values', async () => {
      const n = 100_000;
      const a = await randomNormal({ count: n, seed: 1, backend });
      const b = await randomNormal({ count: n, seed: 2, backend });
      const c = await randomNormal({ count: n, seed: 1, stream: 1, backend });
      const corr = (x: Float32Array, y: Float32Array): number => {
        let s = 0;
        for (let i = 0; i < n; i++) s += x[i] * y[i];
        return s / n;
      };
      expect(Math.abs(corr(a, b))).toBeLessThan(5 / Math.sqrt(n));
      expect(Math.abs(corr(a, c))).toBeLessThan(5 / Math.sqrt(n));
      expect(await randomNormal({ count: n, seed: 1, backend })).toEqual(a);
    });
  });
}
