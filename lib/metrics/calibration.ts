// Calibration of an ensemble against the truth (docs/method.md section 5):
// the continuous ranked probability score and the spread-skill ratio. Both
// read every particle, so they run in slices that yield to the event loop.
import { yieldToLoop } from '../chunked';
import { expected } from '../validate';
import { checkShapes } from './error';

/** Grid points per slice between yields: about 5 ms of work at N = 2048. */
const SLICE_WORK = 1 << 21;



/**
 * The ensemble's CRPS averaged over the field's points:
 * `CRPS_j = (1/N) sum_n |x^n_j - x*_j| - (1/(2 N^2)) sum_{n,n'} |x^n_j - x^n'_j|`,
 * the second sum taken from the sorted values as `2 sum_i (2i - N - 1) x_(i)`
 * (O(N log N) per point). Lower is better; 0 only for an ensemble collapsed
 * on the truth. Same units as the field.
 */
export async function crps(particles: Float32Array, count: number, truth: Float32Array): Promise<number> {
  const d = checkShapes(particles, count, truth);
  const N = count;
  const column = new Float64Array(N);
  const slice = Math.max(1, Math.floor(SLICE_WORK / (N * Math.max(1, Math.log2(N)))));
  let total = 0;
  for (let start = 0; start < d; start += slice) {
    if (start > 0) await yieldToLoop();
    for (let j = start; j < Math.min(d, start + slice); j++) {
      let skill = 0;
      for (let n = 0; n < N; n++) {
        column[n] = particles[n * d + j];
        skill += Math.abs(column[n] - truth[j]);
      }
      column.sort();
      let pairs = 0;
      for (let i = 0; i < N; i++) pairs += (2 * (i + 1) - N - 1) * column[i];
      total += skill / N - pairs / (N * N);
    }
  }
  return total / d;
}

/**
 * The spread-skill ratio `sqrt((N + 1) / N) * spread / RMSE`: spread is the
 * root of the ensemble variance (1/(N-1) normalisation) averaged over the
 * points, RMSE the root-mean-square error of the ensemble mean. The factor
 * makes a calibrated ensemble (truth and particles exchangeable) score 1;
 * below 1 the ensemble is over-confident (collapsed), above 1 under-confident.
 */
export async function spreadSkillRatio(particles: Float32Array, count: number, truth: Float32Array): Promise<number> {
  const d = checkShapes(particles, count, truth);
  const N = count;
  if (N < 2) throw new RangeError(expected('an ensemble of at least 2 particles', 'count', N));
  const slice = Math.max(1, Math.floor(SLICE_WORK / N));
  let variance = 0, squaredError = 0;
  for (let start = 0; start < d; start += slice) {
    if (start > 0) await yieldToLoop();
    for (let j = start; j < Math.min(d, start + slice); j++) {
      let sum = 0;
      for (let n = 0; n < N; n++) sum += particles[n * d + j];
      const mean = sum / N;
      let s2 = 0;
      for (let n = 0; n < N; n++) s2 += (particles[n * d + j] - mean) ** 2;
      variance += s2 / (N - 1);
      squaredError += (mean - truth[j]) ** 2;
    }
  }
  const spread = Math.sqrt(variance / d), rmse = Math.sqrt(squaredError / d);
  if (rmse === 0) return spread === 0 ? 1 : Infinity;
  return Math.sqrt((N + 1) / N) * spread / rmse;
}
