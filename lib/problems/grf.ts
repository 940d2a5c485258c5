// Gaussian random fields on the torus [0, 2pi]^2 (docs/method.md section 1).
import { BackendOption, resolveSpectralBackend } from '../backend';
import { callNative, native } from '../binding';
import { allocateFloats, requireEvenResolution, requireInteger, requireKnownKeys, requireObject, requirePositive } from '../validate';

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
  const seed = requireInteger(args.seed, 'seed', 0);
  const stream = args.stream === undefined ? 0 : requireInteger(args.stream, 'stream', 0);
  const backend = await resolveSpectralBackend(args.backend);
  const out = allocateFloats(count * resolution * resolution, 'count x resolution^2', 'the fields returned');
  await callNative(() => native.gaussianRandomField(backend, out, count, { resolution, alpha, tau, seed, stream }));
  return out;
}
