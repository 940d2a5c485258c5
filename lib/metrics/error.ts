// Reconstruction errors of docs/method.md section 5.
import { forRows } from '../chunked';
import { ensembleRowMean, ensembleRowMeanChunked } from './moments';
import { expected, requireFloat32Array, requireInteger } from '../validate';

/** Checks an ensemble against one truth (count particles of truth.length floats); returns d. */
export function checkShapes(particles: Float32Array, count: number, truth: Float32Array): number {
  requireFloat32Array(particles, 'particles');
  requireFloat32Array(truth, 'truth');
  requireInteger(count, 'count', 1);
  if (particles.length !== count * truth.length) {
    throw new RangeError(expected(`count x truth.length = ${count * truth.length} floats`, 'particles.length', particles.length));
  }
  return truth.length;
}

function l2(a: Float32Array, offset: number, b: Float32Array): number {
  let s = 0;
  for (let j = 0; j < b.length; j++) s += (a[offset + j] - b[j]) ** 2;
  return Math.sqrt(s);
}

/** ||x^n - x*|| / ||x*|| averaged over the particles (the reference averages over the whole ensemble). */
export function relativeL2(particles: Float32Array, count: number, truth: Float32Array): number {
  const d = checkShapes(particles, count, truth);
  const norm = l2(new Float32Array(d), 0, truth);
  if (norm === 0) throw new RangeError('relativeL2: the truth is zero, so a relative error is undefined');
  let s = 0;
  for (let n = 0; n < count; n++) s += l2(particles, n * d, truth) / norm;
  return s / count;
}

/** ||xbar - x*|| / ||x*||: the error of the ensemble mean. */
export function relativeL2Mean(particles: Float32Array, count: number, truth: Float32Array): number {
  const d = checkShapes(particles, count, truth);
  return relativeL2(ensembleRowMean(particles, count, d), 1, truth);
}

/**
 * relativeL2 in stretches of particles that keep the event loop turning
 * (lib/chunked.ts): at N = 2048 fields of 128 x 128 the synchronous version
 * holds the thread for ~40 ms. Same value, same order of summation.
 */
export async function relativeL2Async(particles: Float32Array, count: number, truth: Float32Array): Promise<number> {
  const d = checkShapes(particles, count, truth);
  const norm = l2(new Float32Array(d), 0, truth);
  if (norm === 0) throw new RangeError('relativeL2: the truth is zero, so a relative error is undefined');
  let s = 0;
  await forRows(count, d, (first, end) => {
    for (let n = first; n < end; n++) s += l2(particles, n * d, truth) / norm;
  });
  return s / count;
}

/** relativeL2Mean in stretches of particles (see relativeL2Async). */
export async function relativeL2MeanAsync(particles: Float32Array, count: number, truth: Float32Array): Promise<number> {
  const d = checkShapes(particles, count, truth);
  return relativeL2(await ensembleRowMeanChunked(particles, count, d), 1, truth);
}
