// Small-ensemble corrections of the Kalman step that need no geometry
// (docs/method.md section 2, "Small ensembles"): a sampling-error correction
// of the cross-covariance, and a regularized gain in place of the
// 1 / ||C||_F step length. Distance localization is in localization.ts;
// all three meet in applyKalmanStep (kalman-step.ts), one path for EnKG and
// EKI.
import { callNative, native } from '../binding';
import { yieldToLoop } from '../chunked';
import type { InverseProblem } from '../types';
import {
  expected, requireFloat32Array, requireInteger, requireKnownKeys, requireNumber, requireObject, rowLength,
} from '../validate';
import type { KalmanCorrections } from './kalman-step';
import { LocalizationOptions, readLocalization, requireGeometry, ResolvedLocalization } from './localization';

/** The small-ensemble corrections an EnKG or EKI configuration takes; all off by default (the paper's methods). */
export interface CorrectionOptions {
  /**
   * Distance localization of the Kalman step (localization.ts): a
   * Gaspari-Cohn taper of half-width c on the cross-covariance; needs the
   * problem's geometry.
   */
  localization?: LocalizationOptions | null;
  /** The sampling-error correction of the cross-covariance (secFactors): no geometry needed. */
  sec?: boolean;
  /** The regularized gain (regularizedResiduals) in place of the 1 / ||C||_F step length. */
  gain?: RegularizedGainOptions | null;
  /**
   * Relaxation to prior perturbations (Zhang et al. 2004), a in [0, 1):
   * after each Kalman step every particle's deviation from the mean is
   * (1 - a) times its new deviation plus a times its deviation before the
   * step, which keeps the ensemble from collapsing faster than its mean
   * moves (relaxDeviations). Default 0 (off).
   */
  relaxation?: number;
}

/**
 * How a configuration records them: `localization` always (null when off,
 * as before these corrections existed), `sec` and `gain` only when on, so a
 * configuration without them, and its checkpoints, read as they did.
 */
export interface CorrectionsConfig {
  localization: ResolvedLocalization | null;
  sec?: true;
  gain?: ResolvedGain;
  relaxation?: number;
}

export function correctionsConfig(c: KalmanCorrections): CorrectionsConfig {
  return {
    localization: c.localization, ...(c.sec ? { sec: true as const } : {}), ...(c.gain ? { gain: c.gain } : {}),
    ...(c.relaxation > 0 ? { relaxation: c.relaxation } : {}),
  };
}

export interface RegularizedGainOptions {
  /**
   * alpha in (S + alpha I)^-1, S the ensemble's N x N measurement Gram in
   * the misfit's metric (alpha = 1 with GaussianNoiseMisfit is the Kalman
   * gain of that noise); or 'adaptive' (default): the alpha at which the
   * step, linearized, removes the fraction 1 - rho^2 of the misfit.
   */
  alpha?: number | 'adaptive';
  /** rho of the adaptive rule: the fraction of the residual's norm a step leaves (default 0.5). */
  rho?: number;
}

export interface ResolvedGain {
  alpha: number | 'adaptive';
  rho: number;
}

const GAIN_KEYS = ['alpha', 'rho'] as const;

export function readGain(value: unknown, owner: string): ResolvedGain | null {
  if (value === undefined || value === null) return null;
  const o = requireObject(value, `${owner} gain`) as RegularizedGainOptions;
  requireKnownKeys(o as Record<string, unknown>, GAIN_KEYS, `${owner} gain`);
  let alpha: number | 'adaptive' = 'adaptive';
  if (o.alpha !== undefined && o.alpha !== 'adaptive') {
    alpha = requireNumber(o.alpha, `${owner} gain.alpha`, 0);
    if (!(alpha > 0)) throw new RangeError(expected("a number > 0 or 'adaptive'", `${owner} gain.alpha`, o.alpha));
  }
  const rho = o.rho === undefined ? 0.5 : requireNumber(o.rho, `${owner} gain.rho`, 0);
  if (!(rho > 0 && rho < 1)) throw new RangeError(expected('a fraction in (0, 1)', `${owner} gain.rho`, o.rho));
  return { alpha, rho };
}

/** The corrections of an EnKG or EKI configuration: its `localization`, `sec` and `gain` options. */
export function readCorrections(raw: (key: string) => unknown, owner: string): KalmanCorrections {
  const relaxation = raw('relaxation') === undefined ? 0 : requireNumber(raw('relaxation'), `${owner} relaxation`, 0);
  if (!(relaxation < 1)) throw new RangeError(expected('a fraction in [0, 1)', `${owner} relaxation`, relaxation));
  const localization = readLocalization(raw('localization'), owner), sec = readSec(raw('sec'), owner);
  if (sec && localization?.method === 'fft') {
    // SEC damps each field-measurement pair by its own factor: a d x m matrix, never a grid convolution.
    throw new RangeError(expected("method 'auto' or 'dense' (with sec the taper is applied as a matrix)", `${owner} localization.method`, localization.method));
  }
  return { localization, sec, gain: readGain(raw('gain'), owner), relaxation };
}

/** Checks, before any work, that the problem supplies what the corrections need. */
export function requireCorrections(run: { problem: InverseProblem; d: number; m: number }, c: KalmanCorrections, owner: string): void {
  if (c.localization) requireGeometry(run, owner, c.localization.follow);
  if (c.gain?.alpha === 'adaptive' && run.problem.misfit && !run.problem.misfit.value) {
    throw new RangeError(`${owner}'s adaptive regularized gain needs the misfit's values (problem.misfit.value), which this problem's misfit model lacks; give gain.alpha a number`);
  }
}

export function readSec(value: unknown, owner: string): boolean {
  if (value === undefined || value === null || value === false) return false;
  if (value === true) return true;
  throw new TypeError(expected('true or false', `${owner} sec`, value));
}

/** Means and deviations of N rows of width w, in float64. */
function centred(rows: Float32Array, N: number, w: number): Float64Array {
  const mean = new Float64Array(w);
  for (let n = 0; n < N; n++) for (let j = 0; j < w; j++) mean[j] += rows[n * w + j];
  for (let j = 0; j < w; j++) mean[j] /= N; // summed, then divided: equal rows centre to exactly 0 (as in the addon)
  const c = new Float64Array(N * w);
  for (let n = 0; n < N; n++) for (let j = 0; j < w; j++) c[n * w + j] = rows[n * w + j] - mean[j];
  return c;
}

/**
 * Sampling-error correction (Flowerdew 2015, the automatic form that needs
 * only N): each entry of the field-measurement cross-covariance is scaled by
 * Q^2 / (1 + Q^2), where Q = r / sigma_r compares its sample correlation r
 * with the spread a correlation of that size has over N samples (from
 * Fisher's transform, atanh r ~ N(atanh rho, 1 / (N - 3))). Entries that are
 * indistinguishable from sampling noise are damped most. Returns the factor
 * matrix, d x m (row j: field value j), to multiply the cross-covariance
 * with, as a distance taper would be; `base` (a distance taper) is folded in.
 */
export async function secFactors(particles: Float32Array, measurements: Float32Array, N: number,
  base: Float32Array | null = null): Promise<Float32Array> {
  if (N < 4) throw new RangeError(expected('at least 4 particles for the sampling-error correction', 'ensemble size', N));
  const d = particles.length / N, m = measurements.length / N;
  const Xc = centred(particles, N, d), Yc = centred(measurements, N, m);
  const sx = new Float64Array(d), sy = new Float64Array(m);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) sx[j] += Xc[n * d + j] ** 2;
    for (let l = 0; l < m; l++) sy[l] += Yc[n * m + l] ** 2;
  }
  for (let j = 0; j < d; j++) sx[j] = Math.sqrt(sx[j]);
  for (let l = 0; l < m; l++) sy[l] = Math.sqrt(sy[l]);
  const spread = 1 / Math.sqrt(N - 3), limit = 1 - 1e-7;
  const out = new Float32Array(d * m);
  const row = new Float64Array(m);
  const slice = Math.max(1, Math.floor(2 ** 21 / (N * m)));
  for (let j = 0; j < d; j++) {
    if (j > 0 && j % slice === 0) await yieldToLoop();
    row.fill(0);
    for (let n = 0; n < N; n++) {
      const xv = Xc[n * d + j];
      if (xv === 0) continue;
      for (let l = 0; l < m; l++) row[l] += xv * Yc[n * m + l];
    }
    for (let l = 0; l < m; l++) {
      const denom = sx[j] * sy[l];
      // A constant field value or measurement has no correlation to correct: its covariance is 0 anyway.
      let factor = 0;
      if (denom > 0) {
        const r = Math.max(-limit, Math.min(limit, row[l] / denom));
        const s = Math.atanh(r);
        const sigmaR = (Math.tanh(s + spread) - Math.tanh(s - spread)) / 2;
        const q2 = (r / sigmaR) ** 2;
        factor = q2 / (1 + q2);
      }
      out[j * m + l] = base === null ? factor : factor * base[j * m + l];
    }
  }
  return out;
}

/**
 * Symmetric eigendecomposition of an n x n matrix (row-major, float64) by
 * cyclic Jacobi rotations: returns the eigenvalues and the eigenvectors as
 * the columns of V. n is an ensemble size (at most a few hundred).
 */
export function symmetricEigen(A: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = A.slice();
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (const x of a) scale += x * x;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off <= 1e-26 * scale || off === 0) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p], vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i];
  return { values, vectors: v };
}

/**
 * The regularized gain as transformed residuals. With the N x N Gram
 * S = Yc Rc^T / N of the centred measurements and centred residuals (for a
 * quadratic misfit r = W (y - y_obs), Rc = W Yc, so S is Yc W Yc^T / N), the
 * Kalman-type step
 *   dx^n = Xc^T (S + alpha I)^-1 Yc r^n / N
 * equals the plain step's dx^n = K rt^n with K = Xc^T Yc / N and
 *   rt^n = (r^n - Rc^T (S + alpha I)^-1 Yc r^n / N) / alpha
 * (Woodbury), so localization and the sampling-error correction apply to
 * it unchanged. The step is then taken at its own length (no 1 / ||C||_F).
 *
 * The adaptive alpha follows the discrepancy rule of regularizing ensemble
 * Kalman methods (Iglesias 2016): the alpha at which the linearized step
 * removes the fraction 1 - rho^2 of the squared residual, summed over
 * particles (`sizes[n]`: particle n's squared residual norm in the
 * misfit's metric), but counted against what the ensemble's span can
 * remove at all. With N below the number of directions the data determine,
 * the plain rule's target is out of reach, alpha would fall to 0, and the
 * step would follow the ensemble's noisiest directions without bound
 * (with that rule the first, uncapped version diverged on Navier-Stokes;
 * bench/RESULTS.md).
 *
 * Computed in the addon (native/cpu/gain_cpu.cc: OpenBLAS products and
 * LAPACK's dsyevd, in double precision, off the main thread);
 * regularizedResidualsReference below is the TypeScript it is tested
 * against. `sizes` may be null with a numeric alpha. Rejects, before any
 * work, on arrays of the wrong type or shape and negative or non-finite sizes; the
 * addon refuses non-finite measurements or residuals.
 */
export async function regularizedResiduals(measurements: Float32Array, residuals: Float32Array, N: number,
  gain: ResolvedGain, sizes: Float64Array | null): Promise<{ residuals: Float32Array; alpha: number }> {
  const ensembleSize = requireInteger(N, 'ensembleSize', 2);
  const Y = requireFloat32Array(measurements, 'measurements');
  const R = requireFloat32Array(residuals, 'residuals');
  const m = rowLength(Y, ensembleSize, 'measurements', 'N x m');
  rowLength(R, ensembleSize, 'residuals', 'N x m, like measurements', m);
  const { alpha, rho } = requireResolvedGain(gain);
  if (alpha === 'adaptive' && sizes === null) throw new RangeError(ADAPTIVE_NEEDS_SIZES);
  if (sizes !== null) {
    if (!(sizes instanceof Float64Array)) throw new TypeError(expected('a Float64Array or null', 'sizes', sizes));
    if (sizes.length !== ensembleSize) {
      throw new RangeError(expected(`ensembleSize = ${ensembleSize} squared residual norms`, 'sizes.length', sizes.length));
    }
    for (let n = 0; n < ensembleSize; n++) {
      // Squared norms: a negative one would pick the largest alpha without a word.
      if (!(Number.isFinite(sizes[n]) && sizes[n] >= 0)) {
        throw new RangeError(expected('finite values >= 0 (squared residual norms)', 'sizes', `${sizes[n]} at particle ${n}`, true));
      }
    }
  }
  const out = new Float32Array(ensembleSize * m);
  const result = await callNative(() => native.regularizedResiduals(Y, R, ensembleSize, alpha, rho, sizes, out));
  return { residuals: out, alpha: result.alpha };
}

const ADAPTIVE_NEEDS_SIZES = "The adaptive regularized gain needs the misfit's values (problem.misfit.value); give gain.alpha a number";

/** A ResolvedGain as readGain makes it: alpha a finite number > 0 or 'adaptive', rho in (0, 1). */
function requireResolvedGain(value: unknown): ResolvedGain {
  const gain = requireObject(value, 'gain');
  const { alpha, rho } = gain;
  if (alpha !== 'adaptive') {
    if (typeof alpha !== 'number') throw new TypeError(expected("a finite number > 0 or 'adaptive'", 'gain.alpha', alpha));
    if (!(Number.isFinite(alpha) && alpha > 0)) throw new RangeError(expected("a finite number > 0 or 'adaptive'", 'gain.alpha', alpha));
  }
  if (typeof rho !== 'number') throw new TypeError(expected('a fraction in (0, 1)', 'gain.rho', rho));
  if (!(rho > 0 && rho < 1)) throw new RangeError(expected('a fraction in (0, 1)', 'gain.rho', rho));
  return { alpha, rho };
}

/**
 * regularizedResiduals in TypeScript, float64: the reference the addon is
 * tested against. It holds the main thread for the eigensolver (cyclic
 * Jacobi, about N^3 per sweep: seconds at N = 2048) and the N^3 products;
 * only the forming of S yields to the event loop.
 */
export async function regularizedResidualsReference(measurements: Float32Array, residuals: Float32Array, N: number,
  gain: ResolvedGain, sizes: Float64Array | null): Promise<{ residuals: Float32Array; alpha: number }> {
  const m = measurements.length / N;
  const Yc = centred(measurements, N, m), Rc = centred(residuals, N, m);
  // S (symmetrized) and s_n = Yc r^n, both N x N.
  const S = new Float64Array(N * N), Sv = new Float64Array(N * N);
  for (let a = 0; a < N; a++) {
    if (a > 0 && a % Math.max(1, Math.floor(2 ** 20 / (N * m))) === 0) await yieldToLoop();
    for (let b = 0; b < N; b++) {
      let g = 0, s = 0;
      for (let l = 0; l < m; l++) {
        g += Yc[a * m + l] * Rc[b * m + l];
        s += Yc[a * m + l] * residuals[b * m + l];
      }
      S[a * N + b] = g / N;
      Sv[b * N + a] = s; // row b: s_b = Yc r^b
    }
  }
  for (let a = 0; a < N; a++) {
    for (let b = a + 1; b < N; b++) S[a * N + b] = S[b * N + a] = (S[a * N + b] + S[b * N + a]) / 2;
  }
  const { values: lambda, vectors: V } = symmetricEigen(S, N);
  for (let i = 0; i < N; i++) lambda[i] = Math.max(0, lambda[i]);
  // t_n = V^T s_n.
  const t = new Float64Array(N * N);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < N; i++) {
      let acc = 0;
      for (let k = 0; k < N; k++) acc += V[k * N + i] * Sv[n * N + k];
      t[n * N + i] = acc;
    }
  }
  let trace = 0;
  for (const l of lambda) trace += l;
  let alpha: number;
  if (gain.alpha !== 'adaptive') {
    alpha = gain.alpha;
  } else {
    if (sizes === null) throw new RangeError(ADAPTIVE_NEEDS_SIZES);
    // The linearized reduction of sum_n ||e^n||^2 at alpha: sum_i q_i (lambda_i + 2 alpha) / (lambda_i + alpha)^2 / N with
    // q_i = sum_n t_ni^2, decreasing in alpha; at alpha -> 0 it is all the ensemble's span can remove, sum over
    // lambda_i > 0 of q_i / lambda_i / N.
    const q = new Float64Array(N);
    for (let n = 0; n < N; n++) for (let i = 0; i < N; i++) q[i] += t[n * N + i] ** 2;
    const reduction = (al: number) => {
      let s = 0;
      for (let i = 0; i < N; i++) if (lambda[i] > 0 || al > 0) s += q[i] * (lambda[i] + 2 * al) / ((lambda[i] + al) ** 2);
      return s / N;
    };
    let total = 0;
    for (const v of sizes) total += v;
    const floor = Math.max(trace, 1e-300) * 1e-12;
    const reachable = Math.min(total, reduction(floor));
    const target = (1 - gain.rho ** 2) * Math.min(total, reachable);
    let lo = Math.log(floor), hi = Math.log(Math.max(trace, 1e-300) * 1e12);
    if (!(trace > 0)) {
      // The measurements do not vary: K = 0 and the step is 0 at any alpha; 1 keeps rt = r finite.
      alpha = 1;
    } else if (!(target > 0)) {
      alpha = Math.exp(hi);
    } else {
      for (let it = 0; it < 100; it++) {
        const mid = (lo + hi) / 2;
        if (reduction(Math.exp(mid)) > target) lo = mid; else hi = mid;
      }
      alpha = Math.exp((lo + hi) / 2);
    }
  }
  // u_n = (S + alpha I)^-1 s_n = V diag(1 / (lambda + alpha)) t_n; rt^n = (r^n - Rc^T u_n / N) / alpha.
  const out = new Float32Array(N * m);
  const u = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    u.fill(0);
    for (let k = 0; k < N; k++) {
      let acc = 0;
      for (let i = 0; i < N; i++) acc += V[k * N + i] * t[n * N + i] / (lambda[i] + alpha);
      u[k] = acc;
    }
    for (let l = 0; l < m; l++) {
      let acc = 0;
      for (let k = 0; k < N; k++) acc += Rc[k * m + l] * u[k];
      out[n * m + l] = (residuals[n * m + l] - acc / N) / alpha;
    }
  }
  return { residuals: out, alpha };
}

/**
 * Relaxation to prior perturbations, in place on `after` (N rows of d):
 * x^n <- mean(after) + (1 - a) (after^n - mean(after)) + a (before^n - mean(before)).
 * The mean is the step's; only the spread is relaxed toward the spread
 * before the step.
 */
export async function relaxDeviations(before: Float32Array, after: Float32Array, N: number, a: number): Promise<void> {
  const d = after.length / N;
  const meanBefore = new Float64Array(d), meanAfter = new Float64Array(d);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) {
      meanBefore[j] += before[n * d + j] / N;
      meanAfter[j] += after[n * d + j] / N;
    }
    if ((n + 1) % 256 === 0) await yieldToLoop();
  }
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) {
      const k = n * d + j;
      after[k] = meanAfter[j] + (1 - a) * (after[k] - meanAfter[j]) + a * (before[k] - meanBefore[j]);
    }
    if ((n + 1) % 256 === 0) await yieldToLoop();
  }
}
