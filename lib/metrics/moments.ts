// Per-coordinate moments of an ensemble (N rows of d floats), accumulated in
// float64: the mean the error metrics need, and the mean and standard
// deviation every SolveResult reports. Each comes in a synchronous form and
// one that runs in stretches of rows yielding to the event loop
// (lib/chunked.ts); both add the same terms in the same order.
import { forRows } from '../chunked';

/** Rows [first, end) added into sum[j]. */
function addRows(particles: Float32Array, d: number, sum: Float64Array, first: number, end: number): void {
  for (let n = first; n < end; n++) {
    for (let j = 0; j < d; j++) sum[j] += particles[n * d + j];
  }
}

/** Squared deviations of rows [first, end) from mean, added into sq[j]. */
function addSquares(particles: Float32Array, d: number, mean: Float64Array, sq: Float64Array, first: number, end: number): void {
  for (let n = first; n < end; n++) {
    for (let j = 0; j < d; j++) {
      const e = particles[n * d + j] - mean[j];
      sq[j] += e * e;
    }
  }
}

function divide(a: Float64Array, N: number): Float64Array {
  for (let j = 0; j < a.length; j++) a[j] /= N;
  return a;
}

function meanAndStdOf(mean: Float64Array, sq: Float64Array, N: number): { mean: Float32Array; std: Float32Array } {
  return { mean: Float32Array.from(mean), std: Float32Array.from(sq, (s) => Math.sqrt(s / N)) };
}

/** Per-coordinate mean of N rows of d. */
export function ensembleRowMean(particles: Float32Array, N: number, d: number): Float32Array {
  const sum = new Float64Array(d);
  addRows(particles, d, sum, 0, N);
  return Float32Array.from(divide(sum, N));
}

/** Per-coordinate mean and (population) standard deviation of N rows of d, in float64. */
export function meanAndStd(particles: Float32Array, N: number, d: number): { mean: Float32Array; std: Float32Array } {
  const m = new Float64Array(d), sq = new Float64Array(d);
  addRows(particles, d, m, 0, N);
  divide(m, N);
  addSquares(particles, d, m, sq, 0, N);
  return meanAndStdOf(m, sq, N);
}

/** meanAndStd in stretches of rows that keep the event loop turning; the same sums in the same order. */
export async function meanAndStdChunked(particles: Float32Array, N: number, d: number):
  Promise<{ mean: Float32Array; std: Float32Array }> {
  const m = new Float64Array(d), sq = new Float64Array(d);
  await forRows(N, d, (first, end) => addRows(particles, d, m, first, end));
  divide(m, N);
  await forRows(N, d, (first, end) => addSquares(particles, d, m, sq, first, end));
  return meanAndStdOf(m, sq, N);
}

/** ensembleRowMean in stretches of rows (see meanAndStdChunked). */
export async function ensembleRowMeanChunked(particles: Float32Array, N: number, d: number): Promise<Float32Array> {
  const sum = new Float64Array(d);
  await forRows(N, d, (first, end) => addRows(particles, d, sum, first, end));
  return Float32Array.from(divide(sum, N));
}
