// The ensemble Kalman correction as EnKG and EKI apply it inside a solve:
// on the resident ensemble when every forward evaluation succeeded, else on
// the particles that evaluated (the failed ones sit this update out), with
// the trace entry of SPEC.md's diagnostics (tr(Cxx), tr(Cyy)).
import { Ensemble, ensembleCovarianceTrace, kalmanStep } from '../ensemble';
import { ForwardOutcome, packRows, RunContext, unpackRows } from './run';

export interface UpdateLabel {
  /** The trace's step number and the noise level it belongs to (0 for EKI). */
  step: number;
  sigma: number;
  misfit: number;
  /** How the error names the step ('step 3', 'EKI iteration 7'). */
  where: string;
}

/** x <- x - (stepScale / ||C||_F) C Xc with the measurements of `outcome`; updates x in place. */
export async function ensembleUpdate(run: RunContext, ensemble: Ensemble, x: Float32Array, outcome: ForwardOutcome,
  stepScale: number, label: UpdateLabel): Promise<void> {
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
    if (ok === undefined) {
      // The whole ensemble: the resident buffers on the backend.
      await ensemble.write(x);
      ({ coefNorm } = await ensemble.kalmanStep({ measurements: y, residuals, stepScale }));
      await ensemble.read(x);
    } else {
      const step = await kalmanStep({ particles: xs, measurements: ys, residuals, ensembleSize: n, stepScale, backend: run.backend });
      unpackRows(step.particles, d, ok, x);
      coefNorm = step.coefNorm;
    }
    run.trace.push({
      step: label.step, sigma: label.sigma, misfit: label.misfit, coefNorm, spreadX: Math.sqrt(spreadX), spreadY: Math.sqrt(spreadY),
    });
  });
}
