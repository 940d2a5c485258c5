// Ensemble Kalman inversion (Iglesias, Law and Stuart 2013; docs/method.md
// section 3): no diffusion prior in the loop. An initial ensemble from the
// Gaussian random field of docs/method.md section 1 is moved by the same
// derivative-free Kalman correction as EnKG's (section 2), with y = G(x)
// evaluated at the particles themselves.
import { Ensemble } from '../ensemble';
import { gaussianRandomField } from '../problems/grf';
import { expected, requireFloat32Array, requireKnownKeys, requireObject, requirePositive } from '../validate';
import { copyInChunks } from '../chunked';
import { OptionReader } from './options';
import { applyKalmanStep, KalmanCorrections } from './kalman-step';
import { CorrectionOptions, correctionsConfig, CorrectionsConfig, readCorrections, requireCorrections } from './corrections';
import { Algorithm, InverseProblem, RunContext, RunState, runToEnd, SolveOptions, SolveResult } from './run';

export interface EKIGrfOptions {
  /** Smoothness exponent (4, the reference's EKI). */
  alpha?: number;
  /** Inverse length scale (3). */
  tau?: number;
  /** Initial fields are GRF samples divided by `scale` (1: the reference samples in normalized units). */
  scale?: number;
}

export interface EKIOptions extends CorrectionOptions {
  /** N, particles (512, the reference's EKI config). */
  ensembleSize?: number;
  /** U, Kalman updates (500). */
  iterations?: number;
  /** g, the step scale w of every update (2.0). */
  guidanceScale?: number;
  /** The initial ensemble: 'grf' (default) or N x d floats. */
  initial?: 'grf' | Float32Array;
  /** The GRF of the 'grf' initial ensemble. */
  grf?: EKIGrfOptions;
}

const EKI_KEYS = ['ensembleSize', 'iterations', 'guidanceScale', 'initial', 'grf', 'localization', 'sec', 'gain', 'relaxation'] as const;

/**
 * For u = 1..U: y^n = G(x^n) (one forward call of N fields),
 * r^n = y^n - y_obs (or the problem's dl/dy), C = R Yc^T / N,
 * x^n <- x^n - (g / ||C||_F) sum_k C[n, k] Xc^k. Particles stay in the affine
 * span of the initial ensemble, so for a linear G the iteration converges to
 * the least-squares solution within that span.
 * Cost: U N forward evaluations in U sequential calls; no denoiser.
 */
export class EKI implements Algorithm {
  readonly name = 'eki';
  readonly config: Required<Omit<EKIOptions, 'initial' | keyof CorrectionOptions>> & CorrectionsConfig & {
    initial: 'grf' | Float32Array; grf: Required<EKIGrfOptions>;
  };
  private readonly corrections: KalmanCorrections;

  constructor(options: EKIOptions = {}) {
    const o = new OptionReader(options, 'EKI', EKI_KEYS);
    const initial = o.raw('initial') ?? 'grf';
    if (initial !== 'grf' && !(initial instanceof Float32Array)) {
      throw new TypeError(expected("'grf' or a Float32Array (N x d)", 'EKI initial', initial));
    }
    const grf = o.raw('grf') === undefined ? {} : requireObject(o.raw('grf'), 'EKI grf');
    requireKnownKeys(grf, ['alpha', 'tau', 'scale'], 'EKI grf');
    this.corrections = readCorrections((key) => o.raw(key), 'EKI');
    this.config = {
      ensembleSize: o.integer('ensembleSize', 512, 2),
      iterations: o.integer('iterations', 500, 0),
      guidanceScale: o.number('guidanceScale', 2.0, 0),
      initial,
      grf: {
        alpha: grf.alpha === undefined ? 4 : requirePositive(grf.alpha, 'EKI grf.alpha'),
        tau: grf.tau === undefined ? 3 : requirePositive(grf.tau, 'EKI grf.tau'),
        scale: grf.scale === undefined ? 1 : requirePositive(grf.scale, 'EKI grf.scale'),
      },
      ...correctionsConfig(this.corrections),
    };
    if (initial instanceof Float32Array) {
      const bad = initial.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw new RangeError(expected('finite values', `EKI initial[${bad}]`, initial[bad]));
    }
  }

  solve(problem: InverseProblem, opts?: SolveOptions): Promise<SolveResult> {
    return runToEnd(this, problem, opts);
  }

  async init(problem: InverseProblem, opts?: SolveOptions): Promise<RunState> {
    const run = await RunContext.create(problem, opts);
    requireCorrections(run, this.corrections, 'EKI');
    run.steps = this.config.iterations;
    const x = await run.timed('init', () => this.initialEnsemble(run));
    return run.snapshot(this, x, this.config.ensembleSize);
  }

  /** Iteration u = state.step + 1: y = G(x) and one correction. */
  async advance(problem: InverseProblem, state: RunState, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.resume(this, problem, state, opts);
    const N = c.ensembleSize, u = state.step;
    if (u >= c.iterations) return state;
    const x = await copyInChunks(state.particles);
    run.step = u + 1;
    const ensemble = await Ensemble.create({ particles: x, ensembleSize: N, backend: run.backend });
    try {
      const outcome = await run.forward(x, N);
      const misfit = await run.misfit(outcome.y, N);
      // With the regularized gain every iteration takes the gain's whole step (the Levenberg-Marquardt form of EKI).
      await applyKalmanStep(run, ensemble, x, outcome, c.guidanceScale, { sigma: 0, misfit, where: `EKI iteration ${u + 1}` }, this.corrections);
    } finally {
      await ensemble.dispose();
    }
    run.progress('update');
    return run.snapshot(this, x, N);
  }

  // N x d initial particles: the given array (copied) or N GRF fields
  // (particle n is Philox stream n of the seed; drawn on the CPU so the
  // ensemble is the same on every backend).
  private async initialEnsemble(run: RunContext): Promise<Float32Array> {
    const c = this.config, N = c.ensembleSize, d = run.d;
    if (c.initial instanceof Float32Array) {
      requireFloat32Array(c.initial, 'EKI initial');
      if (c.initial.length !== N * d) {
        throw new RangeError(expected(`ensembleSize x d = ${N} x ${d} = ${N * d} floats`, 'EKI initial.length',
          c.initial.length));
      }
      return c.initial.slice();
    }
    const [channels, height, width] = run.problem.prior.shape;
    if (channels !== 1 || height !== width || height % 2 !== 0 || height < 4) {
      throw new RangeError(expected("fields of shape [1, R, R] (R even, >= 4) for EKI's GRF initial ensemble",
        'the problem\'s field shape', `[${run.problem.prior.shape.join(', ')}]`, true));
    }
    const x = await gaussianRandomField({
      resolution: height, count: N, alpha: c.grf.alpha, tau: c.grf.tau, seed: run.seed, backend: 'cpu',
    });
    if (c.grf.scale !== 1) for (let k = 0; k < x.length; k++) x[k] /= c.grf.scale;
    return x;
  }
}
