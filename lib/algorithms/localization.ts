// Distance localization of the Kalman step (docs/method.md section 2, "the
// rank limit"): the cross-covariance K = Xc^T Yc / N between field points
// and measurements is multiplied entry by entry by a taper rho(j, l) that
// falls from 1 at distance 0 to 0 at twice a half-width c (Gaspari and Cohn
// 1999), before it is applied to each particle's residual:
//   dx^n = (rho o K) r^n.
// Far-apart pairs, whose sample covariance is mostly noise at small N, stop
// moving each other, and the update is no longer confined to the span of
// the N - 1 deviations. The problem supplies where its field values and its
// measurements sit (ProblemGeometry); distances are taken on the torus.
// Runs apply the step in the addon (localized-step.ts); localizedKalmanStep
// below is the TypeScript reference it is tested against.
import { yieldToLoop } from '../chunked';
import type { ProblemGeometry } from '../types';
import { expected, requireKnownKeys, requireNumber, requireObject, requireOneOf } from '../validate';

export type { ProblemGeometry } from '../types';


export type StepNormalization = 'unlocalized' | 'coefficient';

/**
 * How the taper is applied (localized-step.ts): 'dense' multiplies the
 * d x m cross-covariance by the d x m taper (any geometry); 'fft' convolves
 * with the taper on the problem's periodic grid, without any d x m array
 * (geometries on a grid only); 'auto' (default) picks the faster for the
 * sizes, as measured (bench/localization.ts).
 */
export type LocalizationMethod = 'auto' | 'dense' | 'fft';
export const LOCALIZATION_METHODS: readonly LocalizationMethod[] = ['auto', 'dense', 'fft'];
export const STEP_NORMALIZATIONS: readonly StepNormalization[] = ['unlocalized', 'coefficient'];

export interface LocalizationOptions {
  /** c, the taper's half-width as a fraction of the domain: the taper is 0 from 2c on. */
  halfWidth: number;
  /**
   * How long the localized step is: 'unlocalized' (default) rescales it to
   * the Frobenius norm the unlocalized step (stepScale / ||C||_F) C Xc would
   * have had; 'coefficient' keeps the plain stepScale / ||C||_F, which makes
   * localized steps shorter (measured: 3-30x on Navier-Stokes, and worse).
   */
  normalize?: StepNormalization;
  /** How the taper is applied (default 'auto'); the step is the same up to rounding. */
  method?: LocalizationMethod;
  /**
   * Centre the taper on where each measurement's sensitivity sits for the
   * ensemble's current mean (the problem's geometry.measurementSources; for
   * a flow, the measurement points carried back along the mean's
   * trajectory) instead of on the measurement points, rebuilt at every
   * step. Default false. Needs the dense taper (method 'auto' or 'dense').
   */
  follow?: boolean;
}

/** Localization as a configuration records it: `follow` only when on. */
export type ResolvedLocalization = Required<Omit<LocalizationOptions, 'follow'>> & { follow?: true };

export function readLocalization(value: unknown, owner: string): ResolvedLocalization | null {
  if (value === undefined || value === null) return null;
  const o = requireObject(value, `${owner} localization`) as unknown as LocalizationOptions;
  const halfWidth = requireNumber(o.halfWidth, `${owner} localization.halfWidth`, 0);
  if (!(halfWidth > 0 && halfWidth <= 0.5)) {
    throw new RangeError(expected('a half-width in (0, 0.5] (a fraction of the domain)', `${owner} localization.halfWidth`, halfWidth));
  }
  requireKnownKeys(o as unknown as Record<string, unknown>, ['halfWidth', 'normalize', 'method', 'follow'], `${owner} localization`);
  const normalize = o.normalize === undefined ? 'unlocalized'
    : requireOneOf(o.normalize, STEP_NORMALIZATIONS, `${owner} localization.normalize`);
  const method = o.method === undefined ? 'auto' : requireOneOf(o.method, LOCALIZATION_METHODS, `${owner} localization.method`);
  if (o.follow !== undefined && typeof o.follow !== 'boolean') {
    throw new TypeError(expected('a boolean', `${owner} localization.follow`, o.follow));
  }
  if (o.follow && method === 'fft') {
    throw new RangeError(expected("method 'auto' or 'dense' (a taper that follows the flow has no grid form)",
      `${owner} localization.method`, method));
  }
  return { halfWidth, normalize, method, ...(o.follow ? { follow: true as const } : {}) };
}

/**
 * A localized algorithm's problem must say where its values sit: d and m
 * coordinate pairs, and with `follow`, where its measurements' sensitivities
 * sit (measurementSources).
 */
export function requireGeometry(run: { problem: { geometry?: ProblemGeometry }; d: number; m: number }, owner: string, follow = false): ProblemGeometry {
  const g = run.problem.geometry;
  if (g === undefined) {
    throw new RangeError(`${owner} localization needs the problem's geometry (problem.geometry: where its field values and measurements sit); this problem has none`);
  }
  if (!(g.fieldPoints instanceof Float64Array) || g.fieldPoints.length !== 2 * run.d) {
    throw new RangeError(expected(`2 d = ${2 * run.d} coordinates (a Float64Array)`, 'problem.geometry.fieldPoints', g.fieldPoints?.length));
  }
  if (!(g.measurementPoints instanceof Float64Array) || g.measurementPoints.length !== 2 * run.m) {
    throw new RangeError(expected(`2 m = ${2 * run.m} coordinates (a Float64Array)`, 'problem.geometry.measurementPoints', g.measurementPoints?.length));
  }
  if (follow && typeof g.measurementSources !== 'function') {
    throw new RangeError(`${owner} localization.follow needs problem.geometry.measurementSources (where each measurement's sensitivity sits for a given field); this problem's geometry has none`);
  }
  return g;
}

/** The Gaspari-Cohn fifth-order piecewise rational taper at z = distance / c: 1 at 0, 0 from 2 on. */
export function gaspariCohn(z: number): number {
  const a = Math.abs(z);
  if (a >= 2) return 0;
  if (a <= 1) return -0.25 * a ** 5 + 0.5 * a ** 4 + 0.625 * a ** 3 - (5 / 3) * a ** 2 + 1;
  return (1 / 12) * a ** 5 - 0.5 * a ** 4 + 0.625 * a ** 3 + (5 / 3) * a ** 2 - 5 * a + 4 - 2 / (3 * a);
}

/** The distance on the unit torus between two points (row, column pairs in [0, 1)). */
export function torusDistance(a0: number, a1: number, b0: number, b1: number): number {
  const wrap = (t: number) => {
    const u = Math.abs(t) % 1;
    return Math.min(u, 1 - u);
  };
  return Math.hypot(wrap(a0 - b0), wrap(a1 - b1));
}

const tapers = new WeakMap<ProblemGeometry, Map<number, Float32Array>>();

/** rho, d x m (row j: field point j), for half-width c on the torus; cached per geometry and c. */
export function taperMatrix(geometry: ProblemGeometry, c: number): Float32Array {
  let byWidth = tapers.get(geometry);
  if (!byWidth) tapers.set(geometry, (byWidth = new Map()));
  const cached = byWidth.get(c);
  if (cached) return cached;
  const { fieldPoints: p, measurementPoints: q } = geometry;
  const d = p.length / 2, m = q.length / 2;
  const rho = new Float32Array(d * m);
  for (let j = 0; j < d; j++) {
    for (let l = 0; l < m; l++) {
      rho[j * m + l] = gaspariCohn(torusDistance(p[2 * j], p[2 * j + 1], q[2 * l], q[2 * l + 1]) / c);
    }
  }
  byWidth.set(c, rho);
  return rho;
}


/**
 * The localized Kalman step in TypeScript, the reference that the native
 * kernels (localized-step.ts) are tested against, on host arrays (N rows each):
 * x^n <- x^n - eta (rho o K) r^n with K = Xc^T Yc / N, and eta from the
 * normalization (see LocalizationOptions). Returns the new particles and
 * ||C||_F of the unlocalized coefficient matrix C = R Yc^T / N (0: no step).
 * Work ~ 2 N d m multiply-adds, done in slices of field points that yield
 * to the event loop.
 */
export async function localizedKalmanStep(particles: Float32Array, measurements: Float32Array, residuals: Float32Array,
  N: number, rho: Float32Array, stepScale: number, normalize: StepNormalization): Promise<{ particles: Float32Array; coefNorm: number }> {
  const m = measurements.length / N, d = particles.length / N;
  if (rho.length !== d * m) throw new RangeError(expected(`a taper of d x m = ${d} x ${m}`, 'the problem\'s geometry', rho.length));
  const xbar = new Float64Array(d), ybar = new Float64Array(m);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) xbar[j] += particles[n * d + j] / N;
    for (let l = 0; l < m; l++) ybar[l] += measurements[n * m + l] / N;
  }
  const Xc = new Float64Array(N * d), Yc = new Float64Array(N * m);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) Xc[n * d + j] = particles[n * d + j] - xbar[j];
    for (let l = 0; l < m; l++) Yc[n * m + l] = measurements[n * m + l] - ybar[l];
  }
  // C (N x N) and the Gram matrix Xc Xc^T give ||C||_F and ||C Xc||_F.
  const C = new Float64Array(N * N), G = new Float64Array(N * N);
  for (let n = 0; n < N; n++) {
    if (n > 0 && n % Math.max(1, Math.floor(2 ** 21 / (N * m))) === 0) await yieldToLoop();
    for (let k = 0; k < N; k++) {
      let s = 0;
      for (let l = 0; l < m; l++) s += residuals[n * m + l] * Yc[k * m + l];
      C[n * N + k] = s / N;
    }
  }
  for (let a = 0; a < N; a++) {
    if (a > 0 && a % Math.max(1, Math.floor(2 ** 21 / (N * d))) === 0) await yieldToLoop();
    for (let b = a; b < N; b++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += Xc[a * d + j] * Xc[b * d + j];
      G[a * N + b] = G[b * N + a] = s;
    }
  }
  let coefNorm2 = 0;
  for (const v of C) coefNorm2 += v * v;
  const coefNorm = Math.sqrt(coefNorm2);
  if (coefNorm === 0 || !Number.isFinite(coefNorm)) {
    if (!Number.isFinite(coefNorm)) throw new RangeError(expected('residuals whose coefficient matrix is finite', 'residuals', coefNorm));
    return { particles: particles.slice(), coefNorm: 0 };
  }
  let unlocalized2 = 0;
  for (let n = 0; n < N; n++) {
    for (let a = 0; a < N; a++) {
      const ca = C[n * N + a];
      if (ca === 0) continue;
      for (let b = 0; b < N; b++) unlocalized2 += ca * C[n * N + b] * G[a * N + b];
    }
  }
  // dx (N x d) = (rho o K) R^T, K = Xc^T Yc / N, one field point's row of K at a time.
  const dx = new Float64Array(N * d);
  const row = new Float64Array(m);
  const slice = Math.max(1, Math.floor(2 ** 21 / (N * m)));
  for (let start = 0; start < d; start += slice) {
    if (start > 0) await yieldToLoop();
    for (let j = start; j < Math.min(d, start + slice); j++) {
      row.fill(0);
      for (let k = 0; k < N; k++) {
        const xk = Xc[k * d + j] / N;
        if (xk === 0) continue;
        for (let l = 0; l < m; l++) row[l] += xk * Yc[k * m + l];
      }
      for (let l = 0; l < m; l++) row[l] *= rho[j * m + l];
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let l = 0; l < m; l++) s += row[l] * residuals[n * m + l];
        dx[n * d + j] = s;
      }
    }
  }
  let localized2 = 0;
  for (const v of dx) localized2 += v * v;
  let eta = stepScale / coefNorm;
  if (normalize === 'unlocalized' && localized2 > 0) eta *= Math.sqrt(unlocalized2 / localized2);
  const out = new Float32Array(N * d);
  for (let k = 0; k < out.length; k++) out[k] = particles[k] - eta * dx[k];
  return { particles: out, coefNorm };
}
