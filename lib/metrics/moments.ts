// Per-coordinate moments of an ensemble (N rows of d floats), accumulated in
// float64: the mean the error metrics need, and the mean and standard
// deviation every SolveResult reports.
import { forRows } from '../chunked';

/** Sums of the N rows of d, divided by N (float64). */
function rowMeans(particles: Float32Array, N: number, d: number): Float64Array {
  const sum = new Float64Array(d);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) sum[j] += particles[n * d + j];
  }
  for (let j = 0; j < d; j++) sum[j] /= N;
  return sum;
}

/** Per-coordinate mean of N rows of d. */
export function ensembleRowMean(particles: Float32Array, N: number, d: number): Float32Array {
  return Float32Array.from(rowMeans(particles, N, d));
}

/** Per-coordinate mean and (population) standard deviation of N rows of d, in float64. */
export function meanAndStd(particles: Float32Array, N: number, d: number): { mean: Float32Array; std: Float32Array } {
  const m = rowMeans(particles, N, d), sq = new Float64Array(d);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) {
      const e = particles[n * d + j] - m[j];
      sq[j] += e * e;
    }
  }
  const mean = Float32Array.from(m), std = new Float32Array(d);
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(sq[j] / N);
  return { mean, std };
}

/** meanAndStd in stretches of rows that keep the event loop turning (lib/chunked.ts); the same sums in the same order. */
export async function meanAndStdChunked(particles: Float32Array, N: number, d: number):
  Promise<{ mean: Float32Array; std: Float32Array }> {
  const m = await rowMeansChunked(particles, N, d), sq = new Float64Array(d);
  await forRows(N, d, (first, end) => {
    for (let n = first; n < end; n++) {
      for (let j = 0; j < d; j++) {
        const e = particles[n * d + j] - m[j];
        sq[j] += e * e;
      }
    }
  });
  const mean = Float32Array.from(m), std = new Float32Array(d);
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(sq[j] / N);
  return { mean, std };
}

async function rowMeansChunked(particles: Float32Array, N: number, d: number): Promise<Float64Array> {
  const sum = new Float64Array(d);
  await forRows(N, d, (first, end) => {
    for (let n = first; n < end; n++) {
      for (let j = 0; j < d; j++) sum[j] += particles[n * d + j];
    }
  });
  for (let j = 0; j < d; j++) sum[j] /= N;
  return sum;
}

/** ensembleRowMean in stretches of rows (see meanAndStdChunked). */
export async function ensembleRowMeanChunked(particles: Float32Array, N: number, d: number): Promise<Float32Array> {
  return Float32Array.from(await rowMeansChunked(particles, N, d));
}
