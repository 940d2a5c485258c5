// The ensemble Kalman correction of docs/method.md section 2 and the ensemble
// statistics around it, on host arrays. Each call validates its arguments
// here, then runs on the chosen backend in a native async worker.
import { BackendOption, resolveBackend } from '../backend';
import { callNative, native, NativeOrdering } from '../binding';
import {
  requireFloat32Array, requireInteger, requireKnownKeys, requireNumber, requireObject, requireOneOf, rowLength,
} from '../validate';

export type Ordering = 'coefficient' | 'cross-covariance';
export const ORDERINGS: readonly NativeOrdering[] = ['auto', 'coefficient', 'cross-covariance'];

export interface KalmanStepArgs {
  /** N x d, row-major: one particle per row. Not modified. */
  particles: Float32Array;
  /** N x m: G(x0) of each particle. */
  measurements: Float32Array;
  /** N x m: dl/dy of each particle (y - y_obs for the plain L2 misfit). */
  residuals: Float32Array;
  /** N, at least 2. */
  ensembleSize: number;
  /** The guidance scale w_i (finite, >= 0). */
  stepScale: number;
  backend?: BackendOption;
  /** Force a product ordering (default 'auto': the cheaper for N, d, m). */
  ordering?: NativeOrdering;
  /** d, checked against particles.length when given. */
  particleSize?: number;
  /** m, checked against measurements.length when given. */
  measurementSize?: number;
  /** Where to write the new particles (N x d); a new array by default. */
  out?: Float32Array;
}

export interface KalmanStepResult {
  particles: Float32Array;
  /** ||C||_F of the coefficient matrix C = R Yc^T / N (0 means no step was taken). */
  coefNorm: number;
  ordering: Ordering;
}

const KALMAN_KEYS = [
  'particles', 'measurements', 'residuals', 'ensembleSize', 'stepScale', 'backend', 'ordering',
  'particleSize', 'measurementSize', 'out',
] as const;

/**
 * One derivative-free Kalman correction (docs/method.md section 2):
 * `C = R Yc^T / N`, `dx = C Xc`, `x <- x - (stepScale / ||C||_F) dx`.
 * Returns new particles; the inputs are untouched. When `||C||_F = 0`
 * (no residual correlates with the measurement spread) the step is zero.
 */
export async function kalmanStep(args: KalmanStepArgs): Promise<KalmanStepResult> {
  const options = requireObject(args, 'kalmanStep(args)');
  requireKnownKeys(options, KALMAN_KEYS, 'kalmanStep');
  const particles = requireFloat32Array(args.particles, 'particles');
  const measurements = requireFloat32Array(args.measurements, 'measurements');
  const residuals = requireFloat32Array(args.residuals, 'residuals');
  const N = requireInteger(args.ensembleSize, 'ensembleSize', 2);
  const stepScale = requireNumber(args.stepScale, 'stepScale', 0);
  const ordering = args.ordering === undefined ? 'auto' : requireOneOf(args.ordering, ORDERINGS, 'ordering');
  const d = rowLength(particles, N, 'particles', 'N x d',
    args.particleSize === undefined ? undefined : requireInteger(args.particleSize, 'particleSize', 1));
  const m = rowLength(measurements, N, 'measurements', 'N x m',
    args.measurementSize === undefined ? undefined : requireInteger(args.measurementSize, 'measurementSize', 1));
  rowLength(residuals, N, 'residuals', 'N x m, like measurements', m);
  const out = args.out === undefined ? new Float32Array(N * d) : requireFloat32Array(args.out, 'out');
  rowLength(out, N, 'out', 'N x d, like particles', d);
  const backend = await resolveBackend(args.backend);
  const outcome = await callNative(() =>
    native.kalmanStep(backend, particles, measurements, residuals, N, stepScale, out, ordering));
  return { particles: out, coefNorm: outcome.coefNorm, ordering: outcome.ordering };
}

export interface EnsembleStatArgs {
  /** N x d, row-major (pass measurements here for tr(Cyy)). */
  particles: Float32Array;
  ensembleSize: number;
  backend?: BackendOption;
}

const STAT_KEYS = ['particles', 'ensembleSize', 'backend'] as const;

function statArgs(args: EnsembleStatArgs, name: string): { particles: Float32Array; N: number; d: number } {
  const options = requireObject(args, `${name}(args)`);
  requireKnownKeys(options, STAT_KEYS, name);
  const particles = requireFloat32Array(args.particles, 'particles');
  const N = requireInteger(args.ensembleSize, 'ensembleSize', 2);
  const d = rowLength(particles, N, 'particles', 'N x d');
  return { particles, N, d };
}

/** The ensemble mean, d floats (accumulated in double precision). */
export async function ensembleMean(args: EnsembleStatArgs): Promise<Float32Array> {
  const { particles, N, d } = statArgs(args, 'ensembleMean');
  const backend = await resolveBackend(args.backend);
  const out = new Float32Array(d);
  await callNative(() => native.ensembleMean(backend, particles, N, out));
  return out;
}

/**
 * The trace of the ensemble covariance, `(1/N) sum_n ||x^n - xbar||^2`:
 * tr(Cxx) for particles, tr(Cyy) when given the measurements. The 1/N
 * normalisation matches C in docs/method.md section 2.
 */
export async function ensembleCovarianceTrace(args: EnsembleStatArgs): Promise<number> {
  const { particles, N } = statArgs(args, 'ensembleCovarianceTrace');
  const backend = await resolveBackend(args.backend);
  return callNative(() => native.ensembleCovarianceTrace(backend, particles, N));
}

/** The ordering kalmanStep picks for these shapes (cheaper multiply-add count). */
export function chooseOrdering(ensembleSize: number, particleSize: number, measurementSize: number): Ordering {
  return native.chooseOrdering(
    requireInteger(ensembleSize, 'ensembleSize', 1), requireInteger(particleSize, 'particleSize', 1),
    requireInteger(measurementSize, 'measurementSize', 1));
}
