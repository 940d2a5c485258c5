// Policies of a run, as types: what a failed forward evaluation does, and
// the misfit (noise model) that turns measurements into residuals and into
// the misfit reported in progress, trace and results.
import type { FailurePolicy, MisfitModel } from '../types';
import { expected, requireFloat32Array, requireNumber, requireObject } from '../validate';

export type { FailurePolicy, MisfitModel } from '../types';


export interface FailurePolicyOptions {
  /** Below this fraction of successful evaluations in one ensemble call the run fails (exclude: 0, resample: 0.5). */
  minSuccessFraction?: number;
}

function fraction(options: FailurePolicyOptions | undefined, fallback: number, owner: string): number {
  const o = options === undefined ? {} : requireObject(options, `${owner} options`) as FailurePolicyOptions;
  if (o.minSuccessFraction === undefined) return fallback;
  const f = requireNumber(o.minSuccessFraction, `${owner} minSuccessFraction`, 0);
  if (f > 1) throw new RangeError(expected('a fraction in [0, 1]', `${owner} minSuccessFraction`, f));
  return f;
}

export class ExcludeFailures implements FailurePolicy {
  readonly kind = 'exclude';
  readonly minSuccessFraction: number;
  constructor(options?: FailurePolicyOptions) {
    this.minSuccessFraction = fraction(options, 0, 'ExcludeFailures');
  }
}

export class AbortOnFailure implements FailurePolicy {
  readonly kind = 'abort';
  readonly minSuccessFraction = 1;
}

export class ResampleFailures implements FailurePolicy {
  readonly kind = 'resample';
  readonly minSuccessFraction: number;
  constructor(options?: FailurePolicyOptions) {
    this.minSuccessFraction = fraction(options, 0.5, 'ResampleFailures');
  }
}

/** The policy of `onForwardFailure`: a FailurePolicy, or the names 'exclude' and 'abort' for the default ones. */
export function failurePolicy(value: unknown): FailurePolicy {
  if (value === undefined || value === 'exclude') return new ExcludeFailures();
  if (value === 'abort') return new AbortOnFailure();
  if (value === 'resample') return new ResampleFailures();
  const p = value as FailurePolicy | null;
  if (p !== null && typeof p === 'object' && (p.kind === 'exclude' || p.kind === 'abort' || p.kind === 'resample')
    && typeof p.minSuccessFraction === 'number' && p.minSuccessFraction >= 0 && p.minSuccessFraction <= 1) {
    return p;
  }
  throw new TypeError(expected("'exclude', 'abort', 'resample' or a FailurePolicy (ExcludeFailures, AbortOnFailure, ResampleFailures)",
    'onForwardFailure', value));
}


/**
 * The plain L2 misfit of the reference implementation: value
 * ||y - y_obs||^2 / m, residuals y - y_obs. The default.
 */
export class L2Misfit implements MisfitModel {
  readonly observation: Float32Array;
  constructor(observation: Float32Array) {
    this.observation = requireFloat32Array(observation, 'L2Misfit observation');
  }

  value(y: Float32Array, batch: number): Float64Array {
    const obs = this.observation, m = obs.length;
    const out = new Float64Array(batch);
    for (let n = 0; n < batch; n++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += (y[n * m + k] - obs[k]) ** 2;
      out[n] = s / m;
    }
    return out;
  }

  gradient(y: Float32Array, batch: number): Float32Array {
    const obs = this.observation, m = obs.length;
    const r = new Float32Array(batch * m);
    for (let n = 0; n < batch; n++) for (let k = 0; k < m; k++) r[n * m + k] = y[n * m + k] - obs[k];
    return r;
  }
}

/**
 * Independent Gaussian measurement noise of std sigma_k (one number, or one
 * per measurement): value sum_k ((y_k - y_obs,k) / sigma_k)^2 / m (the
 * reduced chi-squared: about 1 for a fit at the noise level), residuals
 * (y - y_obs) / sigma^2, so noisier measurements pull less.
 */
export class GaussianNoiseMisfit implements MisfitModel {
  readonly observation: Float32Array;
  private readonly inverseVariance: Float64Array;
  constructor(observation: Float32Array, std: number | Float32Array) {
    this.observation = requireFloat32Array(observation, 'GaussianNoiseMisfit observation');
    const m = observation.length;
    this.inverseVariance = new Float64Array(m);
    for (let k = 0; k < m; k++) {
      const s = typeof std === 'number' ? std : std[k];
      if (!(typeof s === 'number' && Number.isFinite(s) && s > 0)) {
        throw new RangeError(expected('noise stds > 0 (one, or one per measurement)', typeof std === 'number' ? 'GaussianNoiseMisfit std' : `GaussianNoiseMisfit std[${k}]`, s));
      }
      this.inverseVariance[k] = 1 / (s * s);
    }
    if (typeof std !== 'number' && std.length !== m) {
      throw new RangeError(expected(`${m} stds (one per measurement)`, 'GaussianNoiseMisfit std.length', std.length));
    }
  }

  value(y: Float32Array, batch: number): Float64Array {
    const obs = this.observation, m = obs.length, w = this.inverseVariance;
    const out = new Float64Array(batch);
    for (let n = 0; n < batch; n++) {
      let s = 0;
      for (let k = 0; k < m; k++) s += (y[n * m + k] - obs[k]) ** 2 * w[k];
      out[n] = s / m;
    }
    return out;
  }

  gradient(y: Float32Array, batch: number): Float32Array {
    const obs = this.observation, m = obs.length, w = this.inverseVariance;
    const r = new Float32Array(batch * m);
    for (let n = 0; n < batch; n++) for (let k = 0; k < m; k++) r[n * m + k] = (y[n * m + k] - obs[k]) * w[k];
    return r;
  }
}
