// Gaussian random fields on the torus [0, 2pi]^2 (SPEC.md section 1).
import { BackendOption, resolveBackend } from '../backend';
import { callNative, native } from '../binding';
import { expected, requireInteger, requireKnownKeys, requireNumber, requireObject } from '../validate';

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
  const alpha = requireNumber(args.alpha, 'alpha', 0);
  const tau = requireNumber(args.tau, 'tau', 0);
  if (alpha === 0) throw new RangeError(expected('a positive number', 'alpha', alpha));
  if (tau === 0) throw new RangeError(expected('a positive number', 'tau', tau));
  const seed = requireInteger(args.seed, 'seed', 0);
  const stream = args.stream === undefined ? 0 : requireInteger(args.stream, 'stream', 0);
  const backend = cpuFallback(await resolveBackend(args.backend), args.backend);
  const out = new Float32Array(count * resolution * resolution);
  await callNative(() => native.gaussianRandomField(backend, out, count, { resolution, alpha, tau, seed, stream }));
  return out;
}

export function requireEvenResolution(value: unknown): number {
  const R = requireInteger(value, 'resolution', 4);
  if (R % 2 !== 0) throw new RangeError(expected('an even integer >= 4', 'resolution', R));
  return R;
}

/**
 * The CUDA Navier-Stokes and GRF kernels are not yet verified on a GPU, so
 * 'auto' keeps them on the CPU (buildInfo().navierStokesCuda says when that
 * changes); an explicit 'cuda' selects them.
 */
export function cpuFallback(resolved: 'cpu' | 'cuda', option: unknown): 'cpu' | 'cuda' {
  if (resolved === 'cuda' && (option === undefined || option === 'auto') && !native.buildInfo().navierStokesCuda) return 'cpu';
  return resolved;
}
