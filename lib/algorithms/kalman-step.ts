// The Kalman step (kalmanStep, docs/method.md section 2) as EnKG and EKI
// apply it inside a run:
// on the resident ensemble when every forward evaluation succeeded, else on
// the particles that evaluated (the failed ones sit this update out), with
// the trace entry of docs/method.md's diagnostics (tr(Cxx), tr(Cyy)).
import { Ensemble, ensembleCovarianceTrace, kalmanStep } from '../ensemble';
import { yieldToLoop } from '../chunked';
import { randomNormal } from '../random';
import type { LocalizationOptions } from './localization';
import { localizedKalmanStepNative } from './localized-step';
import { ForwardOutcome, packRows, RunContext, unpackRows } from './run';
import { NOISE, streamBase } from './vp-schedule';

export interface StepLabel {
  /** The noise level the step belongs to (0 for EKI); the trace's step number is the run's. */
  sigma: number;
  misfit: number;
  /** How the error names the step ('step 3', 'EKI iteration 7'). */
  where: string;
}

/** x <- x - (stepScale / ||C||_F) C Xc with the measurements of `outcome`; updates x in place. */
export async function applyKalmanStep(run: RunContext, ensemble: Ensemble, x: Float32Array, outcome: ForwardOutcome,
  stepScale: number, label: StepLabel, localization: Required<LocalizationOptions> | null = null): Promise<void> {
  const N = ensemble.ensembleSize, d = run.d, m = run.m;
  const { y, ok, okCount } = outcome;
  await run.timed('kalman', async () => {
    if (ok !== undefined && okCount < 2) {
      throw new Error(`Only ${okCount} of ${N} forward evaluations succeeded at ${label.where}; `
        + 'an ensemble update needs at least 2 (see the solve result\'s failures)');
    }
    const xs = ok === undefined ? x : packRows(x, d, ok);
    const ys = ok === undefined ? y : packRows(y, m, ok);
    const n = ok === undefined ? N : okCount;
    const residuals = await run.residuals(ys, n);
    const [spreadX, spreadY] = await Promise.all([
      ensembleCovarianceTrace({ particles: xs, ensembleSize: n, backend: run.backend }),
      ensembleCovarianceTrace({ particles: ys, ensembleSize: n, backend: run.backend }),
    ]);
    let coefNorm: number;
    if (localization) {
      // In the addon on every backend: the arrays are on the host here, and
      // no GPU kernel of the localized step exists (localized-step.ts).
      const step = await localizedKalmanStepNative({
        particles: xs, measurements: ys, residuals, ensembleSize: n, stepScale, geometry: run.problem.geometry!,
        halfWidth: localization.halfWidth, normalize: localization.normalize, method: localization.method,
        ...(ok === undefined ? { out: x } : {}),
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
    run.trace.push({
      step: run.step, sigma: label.sigma, misfit: label.misfit, coefNorm, spreadX: Math.sqrt(spreadX), spreadY: Math.sqrt(spreadY),
    });
  });
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
