// Reconstruction errors of docs/method.md section 5.
import { ensembleRowMean } from './moments';
import { expected, requireFloat32Array, requireInteger } from '../validate';

function checkShapes(particles: Float32Array, count: number, truth: Float32Array): number {
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
