// Gaussian random fields on the torus [0, 2pi]^2 (docs/method.md section 1).
import { BackendOption, resolveSpectralBackend } from '../backend';
import { callNative, native } from '../binding';
import { allocateFloats, expected, requireEvenResolution, requireInteger, requireKnownKeys, requireObject, requirePositive } from '../validate';

export interface GaussianRandomFieldArgs {
  resolution: number;
  count: number;
  /** Smoothness exponent (2.5 for the Navier-Stokes data, 4 for EKI's initial ensemble). */
  alpha: number;
  /** Inverse length scale (7 for the Navier-Stokes data, 3 for EKI). */
  tau: number;
  seed: number;
  /** Field b is Philox stream stream + b (default 0): the same field whatever the batch. */
  stream?: number;
  backend?: BackendOption;
}

// Largest mode amplitude times R^2 that leaves float32 fields room (a field
// value is at most R^2 times the largest amplitude times a few sigma).
const FLOAT32_ROOM = 3.4e38 / 1e3;

/**
 * The mode amplitudes a_k of the spectrum (R x (R/2 + 1), see
 * native grfModeAmplitudes), refused before any work when they are not
 * finite (tau^(alpha - 1) overflows: alpha = 500, tau = 7 gives NaN) or would
 * overflow float32 fields, which would come out NaN or infinite.
 */
export function grfSpectrum(resolution: number, alpha: number, tau: number): Float64Array {
  const amplitudes = native.grfModeAmplitudes(resolution, alpha, tau);
  for (const a of amplitudes) {
    if (!Number.isFinite(a) || a * resolution * resolution > FLOAT32_ROOM) {
      throw new RangeError(expected('alpha and tau whose spectrum has finite float32 fields', 'alpha and tau',
        `alpha ${alpha}, tau ${tau} (a mode amplitude of ${a} at resolution ${resolution})`, true));
    }
  }
  return amplitudes;
}

/**
 * `count` samples (count x R x R, row-major) of the zero-mean stationary
 * Gaussian field with sqrt eigenvalues
 * `R^2 sigma sqrt(2 / L^2) (4 pi^2 / L^2 |k|^2 + tau^2)^(-alpha / 2)`,
 * `sigma = tau^(alpha - 1)`, `L = 2 pi`. The mean and Nyquist modes are zero.
 */
export async function gaussianRandomField(args: GaussianRandomFieldArgs): Promise<Float32Array> {
  requireKnownKeys(requireObject(args, 'gaussianRandomField(args)'),
    ['resolution', 'count', 'alpha', 'tau', 'seed', 'stream', 'backend'], 'gaussianRandomField');
  const resolution = requireEvenResolution(args.resolution);
  const count = requireInteger(args.count, 'count', 1);
  const alpha = requirePositive(args.alpha, 'alpha');
  const tau = requirePositive(args.tau, 'tau');
  grfSpectrum(resolution, alpha, tau);
  const seed = requireInteger(args.seed, 'seed', 0);
  const stream = args.stream === undefined ? 0 : requireInteger(args.stream, 'stream', 0);
  const backend = await resolveSpectralBackend(args.backend);
  const out = allocateFloats(count * resolution * resolution, 'count x resolution^2', 'the fields returned');
  await callNative(() => native.gaussianRandomField(backend, out, count, { resolution, alpha, tau, seed, stream }));
  return out;
}
