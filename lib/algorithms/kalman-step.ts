// The Kalman step (kalmanStep, docs/method.md section 2) as EnKG and EKI
// apply it inside a run:
// on the resident ensemble when every forward evaluation succeeded, else on
// the particles that evaluated (the failed ones sit this update out), with
// the trace entry of docs/method.md's diagnostics (tr(Cxx), tr(Cyy)).
import { Ensemble, ensembleCovarianceTrace, kalmanStep } from '../ensemble';
import { forRows, yieldToLoop } from '../chunked';
import { randomNormal } from '../random';
import { regularizedResiduals, relaxDeviations, ResolvedGain, secFactors } from './corrections';
import { ResolvedLocalization, torusDistance } from './localization';
import { buildTaper, denseTaper, localizedKalmanStepNative, taperedKalmanStep } from './localized-step';
import { ForwardOutcome, packRows, RunContext, unpackRows } from './run';
import { ForwardEvaluationError } from '../problems/forward-model';
import type { ProblemGeometry } from '../types';
import { expected } from '../validate';
import { NOISE, streamBase } from './vp-schedule';

export interface StepLabel {
  /** The noise level the step belongs to (0 for EKI); the trace's step number is the run's. */
  sigma: number;
  misfit: number;
  /** How the error names the step ('step 3', 'EKI iteration 7'). */
  where: string;
}

/** The small-ensemble corrections of a Kalman step (docs/method.md section 2); all off by default. */
export interface KalmanCorrections {
  /** Distance localization: a Gaspari-Cohn taper on the problem's geometry. */
  localization: ResolvedLocalization | null;
  /** The sampling-error correction of the cross-covariance (corrections.ts). */
  sec: boolean;
  /** The regularized gain in place of the 1 / ||C||_F step length (corrections.ts). */
  gain: ResolvedGain | null;
  /** Relaxation to prior perturbations after the step, a in [0, 1) (corrections.ts; 0: off). */
  relaxation: number;
  /**
   * With the gain: whether its step is capped at the length of the plain
   * step (stepScale / ||C||_F) C Xc. EnKG caps (its steps move x_t, and an
   * uncapped gain fitting x0(x_t) at a high noise level moves x_t far out
   * of the prior's reach: measured, it diverged); EKI takes the whole step.
   */
  capGain?: boolean;
}

export const NO_CORRECTIONS: KalmanCorrections = { localization: null, sec: false, gain: null, relaxation: 0 };

/**
 * x <- x - (stepScale / ||C||_F) C Xc with the measurements of `outcome`,
 * or with the regularized gain x <- x - Xc^T (S + alpha I)^-1 Yc r / N
 * (capped at the plain step's length if `capGain`); the cross-covariance
 * tapered by localization and/or the sampling-error correction. Updates x
 * in place. `evaluatedAt` (N x d, default x) holds the fields the forward
 * model was evaluated at (EnKG's clean estimates x0(x_t)): a taper that
 * follows the flow is centred for their mean.
 */
export async function applyKalmanStep(run: RunContext, ensemble: Ensemble, x: Float32Array, outcome: ForwardOutcome,
  stepScale: number, label: StepLabel, corrections: KalmanCorrections = NO_CORRECTIONS, evaluatedAt: Float32Array = x): Promise<void> {
  const N = ensemble.ensembleSize, d = run.d, m = run.m;
  const { y, ok, okCount } = outcome;
  const { localization, sec, gain, relaxation } = corrections;
  await run.timed('kalman', async () => {
    if (ok !== undefined && okCount < 2) {
      throw new Error(`Only ${okCount} of ${N} forward evaluations succeeded at ${label.where}; `
        + 'an ensemble update needs at least 2 (see the solve result\'s failures)');
    }
    const xs = ok === undefined ? x : packRows(x, d, ok);
    const ys = ok === undefined ? y : packRows(y, m, ok);
    const n = ok === undefined ? N : okCount;
    let residuals = await run.residuals(ys, n);
    let alpha: number | undefined;
    if (gain) {
      const sizes = await residualSizes(run, ys, residuals, n);
      const plain = residuals;
      ({ residuals, alpha } = await regularizedResiduals(ys, residuals, n, gain, sizes));
      // The kernels below step by stepScale / ||C||_F: scaled so that the step is the gain's (eta = 1), or shorter if capped.
      const gainC = await coefficients(ys, residuals, n);
      const gainNorm = frobenius(gainC);
      let eta = 1;
      if (corrections.capGain && gainNorm > 0) {
        const gram = await deviationGram(xs, n);
        const plainC = await coefficients(ys, plain, n);
        const plainNorm = frobenius(plainC);
        const plainLength = plainNorm > 0 ? (stepScale / plainNorm) * stepLength(plainC, gram, n) : 0;
        const gainLength = stepLength(gainC, gram, n);
        if (gainLength > plainLength) eta = plainLength / gainLength;
      }
      stepScale = eta * gainNorm;
    }
    const [spreadX, spreadY] = await Promise.all([
      ensembleCovarianceTrace({ particles: xs, ensembleSize: n, backend: run.backend }),
      ensembleCovarianceTrace({ particles: ys, ensembleSize: n, backend: run.backend }),
    ]);
    let coefNorm: number;
    let shift: number | undefined;
    // The particles before the step, for the relaxation (only the ones that evaluated take part in it).
    const before = relaxation > 0 ? xs.slice() : null;
    if (localization || sec) {
      // In the addon on every backend: the arrays are on the host here, and no GPU kernel of the localized step exists
      // (localized-step.ts). The sampling-error correction's taper depends on the ensemble: it is formed here (times the
      // distance taper, if any) and applied by the dense kernel.
      const out = ok === undefined ? x : undefined;
      const normalize = localization?.normalize ?? 'unlocalized';
      // A taper that follows the flow is built for this step, into a buffer the run keeps.
      let followed: Float32Array | null = null;
      if (localization?.follow) {
        const geometry = await followingGeometry(run, evaluatedAt, ok);
        shift = meanTorusDistance(geometry.measurementPoints, run.problem.geometry!.measurementPoints);
        const buffer = followTapers.get(run);
        followed = await buildTaper(geometry, localization.halfWidth, buffer);
        followTapers.set(run, followed);
      }
      const distance = followed ?? (localization ? await denseTaper(run.problem.geometry!, localization.halfWidth) : null);
      const step = sec || followed
        ? await taperedKalmanStep(xs, ys, residuals, n, stepScale, normalize, sec ? await secFactors(xs, ys, n, distance) : followed!, out)
        : await localizedKalmanStepNative({
          particles: xs, measurements: ys, residuals, ensembleSize: n, stepScale, geometry: run.problem.geometry!,
          halfWidth: localization!.halfWidth, normalize, method: localization!.method, ...(out ? { out } : {}),
        });
      if (ok !== undefined) unpackRows(step.particles, d, ok, x);
      coefNorm = step.coefNorm;
      if (ok !== undefined && run.policy.kind === 'resample') await resampleFailed(run, x, step.particles, n, ok);
    } else if (ok === undefined) {
      // The whole ensemble: the resident buffers on the backend.
      await ensemble.write(x);
      ({ coefNorm } = await ensemble.kalmanStep({ measurements: y, residuals, stepScale }));
      await ensemble.read(x);
    } else {
      const step = await kalmanStep({ particles: xs, measurements: ys, residuals, ensembleSize: n, stepScale, backend: run.backend });
      unpackRows(step.particles, d, ok, x);
      coefNorm = step.coefNorm;
      if (run.policy.kind === 'resample') await resampleFailed(run, x, step.particles, n, ok);
    }
    if (before) {
      const after = ok === undefined ? x : packRows(x, d, ok);
      await relaxDeviations(before, after, n, relaxation);
      if (ok !== undefined) unpackRows(after, d, ok, x);
    }
    run.trace.push({
      step: run.step, sigma: label.sigma, misfit: label.misfit, coefNorm, spreadX: Math.sqrt(spreadX), spreadY: Math.sqrt(spreadY),
      ...(alpha === undefined ? {} : { alpha }), ...(shift === undefined ? {} : { sourceShift: shift }),
    });
  });
}

/** The d x m taper buffer of each run whose taper follows the flow (rebuilt in it every step). */
const followTapers = new WeakMap<RunContext, Float32Array>();

/**
 * The geometry of a taper that follows the flow: the problem's field points,
 * and as measurement points the problem's measurementSources for the mean
 * of the evaluated fields (the rows with ok[n] = 1, or all). Where those
 * cannot be computed because the mean's forward solve failed
 * (ForwardEvaluationError), the problem's own geometry for this step
 * (sourceShift 0 in the trace).
 */
async function followingGeometry(run: RunContext, fields: Float32Array, ok: Uint8Array | undefined): Promise<ProblemGeometry> {
  const geometry = run.problem.geometry!, d = run.d, m = run.m, N = fields.length / d;
  const mean = new Float64Array(d);
  let count = 0;
  await forRows(N, d, (first, end) => {
    for (let n = first; n < end; n++) {
      if (ok !== undefined && !ok[n]) continue;
      count++;
      for (let j = 0; j < d; j++) mean[j] += fields[n * d + j];
    }
  });
  const centre = Float32Array.from(mean, (v) => v / count);
  let sources: Float64Array;
  try {
    sources = await geometry.measurementSources!(centre, run.signal);
  } catch (error) {
    // The mean's own forward solve failed (a wild mean field): this step's taper stays on the measurement points.
    if (error instanceof ForwardEvaluationError) return geometry;
    throw error;
  }
  if (!(sources instanceof Float64Array) || sources.length !== 2 * m) {
    throw new RangeError(expected(`2 m = ${2 * m} coordinates (a Float64Array)`, 'problem.geometry.measurementSources(x)', sources?.length));
  }
  for (let i = 0; i < sources.length; i++) {
    if (!Number.isFinite(sources[i])) {
      throw new RangeError(expected('finite coordinates', 'problem.geometry.measurementSources(x)', `${sources[i]} at element ${i}`, true));
    }
  }
  return { fieldPoints: geometry.fieldPoints, measurementPoints: sources };
}

/** The mean distance on the unit torus between matching points of two m x 2 arrays. */
function meanTorusDistance(a: Float64Array, b: Float64Array): number {
  let total = 0;
  for (let l = 0; l < a.length / 2; l++) total += torusDistance(a[2 * l], a[2 * l + 1], b[2 * l], b[2 * l + 1]);
  return total / (a.length / 2);
}

/** C = R Yc^T / N (N x N, float64): the coefficients of the step C Xc; a row at a time, yielding to the event loop between slices. */
async function coefficients(measurements: Float32Array, residuals: Float32Array, N: number): Promise<Float64Array> {
  const m = measurements.length / N;
  const ybar = new Float64Array(m);
  for (let n = 0; n < N; n++) for (let l = 0; l < m; l++) ybar[l] += measurements[n * m + l] / N;
  const C = new Float64Array(N * N);
  const rows = Math.max(1, Math.floor(2 ** 21 / (N * m)));
  for (let a = 0; a < N; a++) {
    if (a > 0 && a % rows === 0) await yieldToLoop();
    for (let b = 0; b < N; b++) {
      let s = 0;
      for (let l = 0; l < m; l++) s += residuals[a * m + l] * (measurements[b * m + l] - ybar[l]);
      C[a * N + b] = s / N;
    }
  }
  return C;
}

/** ||C||_F, the norm the kernels divide the step by. */
function frobenius(C: Float64Array): number {
  let total = 0;
  for (const v of C) total += v * v;
  return Math.sqrt(total);
}

/** G = Xc Xc^T (N x N), the Gram matrix of the particles' deviations, in slices that yield to the event loop. */
async function deviationGram(particles: Float32Array, N: number): Promise<Float64Array> {
  const d = particles.length / N;
  const xbar = new Float64Array(d);
  for (let n = 0; n < N; n++) for (let j = 0; j < d; j++) xbar[j] += particles[n * d + j] / N;
  const G = new Float64Array(N * N);
  for (let a = 0; a < N; a++) {
    if (a > 0) await yieldToLoop();
    for (let b = a; b < N; b++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += (particles[a * d + j] - xbar[j]) * (particles[b * d + j] - xbar[j]);
      G[a * N + b] = G[b * N + a] = s;
    }
  }
  return G;
}

/** ||C Xc||_F = sqrt(sum_n C_n G C_n^T): the length of the step with coefficients C. */
function stepLength(C: Float64Array, G: Float64Array, N: number): number {
  let total = 0;
  for (let n = 0; n < N; n++) {
    for (let a = 0; a < N; a++) {
      const ca = C[n * N + a];
      if (ca === 0) continue;
      for (let b = 0; b < N; b++) total += ca * C[n * N + b] * G[a * N + b];
    }
  }
  return Math.sqrt(Math.max(0, total));
}

/**
 * Each particle's squared residual norm in the misfit's metric, m l(y^n):
 * from the misfit model's value, or ||y - y_obs||^2 for the default misfit.
 * null when the model has no value (the adaptive gain then refuses at init).
 */
async function residualSizes(run: RunContext, ys: Float32Array, residuals: Float32Array, n: number): Promise<Float64Array | null> {
  const model = run.problem.misfit, m = run.m;
  if (model) return model.value ? Float64Array.from(model.value(ys, n), (v) => v * m) : null;
  const sizes = new Float64Array(n);
  for (let k = 0; k < n; k++) for (let l = 0; l < m; l++) sizes[k] += residuals[k * m + l] ** 2;
  return sizes;
}

/**
 * ResampleFailures: each particle whose evaluation failed is redrawn from the
 * Gaussian fitted to the n updated particles that evaluated,
 * x = mean + sum_k z_k (x^k - mean) / sqrt(n - 1), z ~ N(0, I_n) (exactly
 * their mean and sample covariance, in their span). The draws of the failure
 * recorded as run.failures[j] are Philox stream streamBase(step, resample) + j,
 * so a resumed run redraws the same values.
 */
async function resampleFailed(run: RunContext, x: Float32Array, updated: Float32Array, n: number, ok: Uint8Array): Promise<void> {
  const d = run.d;
  // x = sum_k w_k x^k with w_k = 1/n + (z_k - zbar) / sqrt(n - 1): the same
  // draw without forming the mean, in slices of about 4M multiply-adds that
  // yield to the event loop between them.
  const slice = Math.max(1, Math.floor(2 ** 22 / n));
  for (let f = run.failures.length - 1; f >= 0 && run.failures[f].step === run.step; f--) {
    const failure = run.failures[f];
    if (failure.resampled || ok[failure.index]) continue;
    const z = await randomNormal({ count: n, streams: 1, seed: run.seed, stream: streamBase(run.step, NOISE.resample) + f, backend: 'cpu' });
    let zbar = 0;
    for (let k = 0; k < n; k++) zbar += z[k] / n;
    const w = Float64Array.from(z, (v) => 1 / n + (v - zbar) / Math.sqrt(n - 1));
    const row = failure.index * d;
    for (let start = 0; start < d; start += slice) {
      const end = Math.min(d, start + slice);
      const acc = new Float64Array(end - start);
      for (let k = 0; k < n; k++) {
        const wk = w[k], base = k * d + start;
        for (let j = 0; j < acc.length; j++) acc[j] += wk * updated[base + j];
      }
      for (let j = 0; j < acc.length; j++) x[row + start + j] = acc[j];
      if (end < d) await yieldToLoop();
    }
    failure.resampled = true;
  }
}
