// The stationary Gaussian random field of docs/method.md section 1 as an exact
// prior: its covariance is diagonal in Fourier space, so
// D(x, s) = F^-1 [lambda_k / (lambda_k + s^2)] F x, a per-wavenumber filter
// (native FFT, double precision), and the Jacobian is the same filter.
import { callNative, native } from '../binding';
import {
  expected, requireEvenResolution, requireFloat32Array, requireKnownKeys, requireObject, requirePositive,
} from '../validate';
import { denoiseArgs, Denoiser } from './denoiser';
import { grfSpectrum } from '../problems/grf';

export interface GaussianRandomFieldPriorOptions {
  resolution: number;
  alpha: number;
  tau: number;
  /** Prior fields are GRF samples divided by `scale` (default 1; 10 mimics the vorticity normalization). */
  scale?: number;
}

export class GaussianRandomFieldPrior implements Denoiser {
  readonly shape: [number, number, number];
  readonly resolution: number;
  readonly alpha: number;
  readonly tau: number;
  readonly scale: number;
  /**
   * lambda_k: the prior variance of mode k of the real FFT (R x (R/2 + 1)),
   * in units of white noise of unit variance per pixel; 0 for the mean and
   * Nyquist modes, which the GRF sampler leaves empty.
   */
  readonly eigenvalues: Float64Array;
  private count = 0;

  constructor(opts: GaussianRandomFieldPriorOptions) {
    requireKnownKeys(requireObject(opts, 'GaussianRandomFieldPrior(options)'), ['resolution', 'alpha', 'tau', 'scale'],
      'GaussianRandomFieldPrior');
    this.resolution = requireEvenResolution(opts.resolution);
    this.alpha = requirePositive(opts.alpha, 'alpha');
    this.tau = requirePositive(opts.tau, 'tau');
    this.scale = opts.scale === undefined ? 1 : requirePositive(opts.scale, 'scale');
    this.shape = [1, this.resolution, this.resolution];
    // E|x_hat(k)|^2 = R^4 a_k^2 / (2 scale^2); white noise of unit variance
    // has E|eps_hat(k)|^2 = R^2 per mode.
    const R = this.resolution;
    this.eigenvalues = grfSpectrum(R, this.alpha, this.tau).map((a) => (R * R * a * a) / (2 * this.scale ** 2));
  }

  get evaluations(): number {
    return this.count;
  }

  async denoise(x: Float32Array, sigma: number | Float32Array, batch: number): Promise<Float32Array> {
    const args = denoiseArgs(this.shape, x, sigma, batch);
    this.count += args.batch;
    return this.filter(args.x, args.sigmas, args.batch);
  }

  /** D is linear in x, so (dD/dx) v = D applied to v. */
  async jvp(x: Float32Array, sigma: number, v: Float32Array, batch: number): Promise<Float32Array> {
    const args = denoiseArgs(this.shape, x, sigma, batch);
    requireFloat32Array(v, 'v');
    if (v.length !== x.length) throw new RangeError(expected(`${x.length} floats (the length of x)`, 'v.length', v.length));
    this.count += args.batch;
    return this.filter(v, args.sigmas, args.batch);
  }

  private async filter(x: Float32Array, sigmas: Float64Array, batch: number): Promise<Float32Array> {
    const H = this.eigenvalues.length;
    const shared = sigmas.every((s) => s === sigmas[0]);
    const gains = new Float64Array(shared ? H : H * batch);
    for (let b = 0; b < (shared ? 1 : batch); b++) {
      const s2 = sigmas[b] ** 2;
      for (let p = 0; p < H; p++) {
        const l = this.eigenvalues[p];
        gains[b * H + p] = l === 0 ? 0 : l / (l + s2);
      }
    }
    const out = new Float32Array(x.length);
    await callNative(() => native.spectralFilter(x, batch, this.resolution, gains, out));
    return out;
  }
}
