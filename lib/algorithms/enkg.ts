// Ensemble Kalman Diffusion Guidance (docs/method.md section 2, Algorithm 2 of the
// paper): particles follow the prior's probability-flow ODE, and on the
// guided steps a derivative-free Kalman correction, computed from forward
// evaluations at each particle's clean estimate, pulls them toward the data.
import { Ensemble } from '../ensemble';
import { karrasSigmas, odeToClean } from '../prior/edm';
import { copyInChunks, forChunks } from '../chunked';
import { randomNormal } from '../random';
import { expected } from '../validate';
import { OptionReader } from './options';
import { CorrectionOptions, correctionsConfig, CorrectionsConfig, readCorrections, requireCorrections } from './corrections';
import { applyKalmanStep, KalmanCorrections } from './kalman-step';
import { Algorithm, InverseProblem, RunContext, RunState, runToEnd, SolveOptions, SolveResult } from './run';

export interface EnKGOptions extends CorrectionOptions {
  /** N, particles (reference: 2048 for Navier-Stokes). */
  ensembleSize?: number;
  /** K, steps of the Karras grid (80). */
  steps?: number;
  /** g, the guidance scale (2.0). */
  guidanceScale?: number;
  /** U, Kalman corrections per guided step (2). */
  updates?: number;
  /** Guidance is active for thresholdStart K < i < K - floor(thresholdEnd K) (0.05 and 0.05). */
  thresholdStart?: number;
  thresholdEnd?: number;
  /** q: with q > 0 the step scale decays linearly, w_i = g (1 - q)(K - i)/K + q (0: constant g). */
  minRatio?: number;
  sigmaMax?: number;
  sigmaMin?: number;
  rho?: number;
  /** Cap on the Euler steps of odeToClean, M_i = min(1 + floor((K - i)/4), maxOdeSteps) (20). */
  maxOdeSteps?: number;
  /** Largest batch handed to the denoiser at once (default: the whole ensemble). */
  batchSize?: number;
}

const ENKG_KEYS = [
  'ensembleSize', 'steps', 'guidanceScale', 'updates', 'thresholdStart', 'thresholdEnd', 'minRatio',
  'sigmaMax', 'sigmaMin', 'rho', 'maxOdeSteps', 'batchSize', 'localization', 'sec', 'gain', 'relaxation',
] as const;

export class EnKG implements Algorithm {
  readonly name = 'enkg';
  readonly config: Required<Omit<EnKGOptions, keyof CorrectionOptions>> & CorrectionsConfig;
  private readonly corrections: KalmanCorrections;

  constructor(options: EnKGOptions = {}) {
    const o = new OptionReader(options, 'EnKG', ENKG_KEYS);
    const ensembleSize = o.integer('ensembleSize', 2048, 2);
    this.corrections = { ...readCorrections((key) => o.raw(key), 'EnKG'), capGain: true };
    this.config = {
      ensembleSize,
      steps: o.integer('steps', 80, 1),
      guidanceScale: o.number('guidanceScale', 2.0, 0),
      updates: o.integer('updates', 2, 0),
      thresholdStart: o.number('thresholdStart', 0.05, 0, 1),
      thresholdEnd: o.number('thresholdEnd', 0.05, 0, 1),
      minRatio: o.number('minRatio', 0, 0, 1),
      sigmaMax: o.positive('sigmaMax', 80),
      sigmaMin: o.positive('sigmaMin', 0.002),
      rho: o.positive('rho', 7),
      maxOdeSteps: o.integer('maxOdeSteps', 20, 1),
      batchSize: o.integer('batchSize', ensembleSize, 1),
      ...correctionsConfig(this.corrections),
    };
    if (this.config.sigmaMin > this.config.sigmaMax) {
      throw new RangeError(`Expected sigmaMin <= sigmaMax for EnKG but received sigmaMin ${this.config.sigmaMin} > sigmaMax ${this.config.sigmaMax}`);
    }
    // A configuration that would guide nothing would run the prior alone and
    // report success with 0 forward evaluations: refused before any work.
    if (this.config.updates === 0) {
      throw new RangeError(expected('at least 1 Kalman correction per guided step', 'EnKG updates', 0));
    }
    if (this.guidedSteps() === 0) {
      const { steps: K, thresholdStart, thresholdEnd } = this.config;
      throw new RangeError(expected('a grid with at least one guided step i, thresholdStart K < i < K - floor(thresholdEnd K)',
        'EnKG steps', `${K} with thresholdStart ${thresholdStart} and thresholdEnd ${thresholdEnd} (no step is guided)`, true));
    }
  }

  /** Whether step i (0-based) is guided: thresholdStart K < i < K - floor(thresholdEnd K). */
  guided(i: number): boolean {
    const { steps: K, thresholdStart, thresholdEnd } = this.config;
    return i > thresholdStart * K && i < K - Math.floor(thresholdEnd * K);
  }

  /** The number of guided steps of the grid (forward evaluations = updates x N x this). */
  guidedSteps(): number {
    let count = 0;
    for (let i = 0; i < this.config.steps; i++) if (this.guided(i)) count++;
    return count;
  }

  /** w_i: g, or g (1 - q)(K - i)/K + q with a minimum ratio q > 0. */
  stepScale(i: number): number {
    const { guidanceScale: g, minRatio: q, steps: K } = this.config;
    return q > 0 ? g * (1 - q) * (K - i) / K + q : g;
  }

  /** M_i = min(1 + floor((K - i)/4), maxOdeSteps): Euler steps of odeToClean at step i. */
  odeSteps(i: number): number {
    const { steps: K, maxOdeSteps } = this.config;
    return Math.min(1 + Math.floor((K - i) / 4), maxOdeSteps);
  }

  solve(problem: InverseProblem, opts?: SolveOptions): Promise<SolveResult> {
    return runToEnd(this, problem, opts);
  }

  /** x^n ~ N(0, sigmaMax^2 I): particle n is Philox stream n of the seed. */
  async init(problem: InverseProblem, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.create(problem, opts, c.batchSize);
    requireCorrections(run, this.corrections, 'EnKG');
    run.steps = c.steps;
    const N = c.ensembleSize;
    const x = await run.timed('init', () => randomNormal({ count: run.d, streams: N, seed: run.seed, backend: 'cpu' }));
    await forChunks(x.length, (start, end) => { for (let k = start; k < end; k++) x[k] *= c.sigmaMax; });
    return run.snapshot(this, x, N);
  }

  /** Step i = state.step: the corrections if the step is guided, then one Euler step of the ODE. */
  async advance(problem: InverseProblem, state: RunState, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.resume(this, problem, state, opts, c.batchSize);
    const N = c.ensembleSize, i = state.step;
    if (i >= c.steps) return state;
    const sigmas = karrasSigmas({ steps: c.steps, sigmaMax: c.sigmaMax, sigmaMin: c.sigmaMin, rho: c.rho });
    let x: Float32Array = await copyInChunks(state.particles);
    run.step = i + 1;
    const sigma = sigmas[i];
    if (this.guided(i)) {
      // The correction runs on the backend with its buffers resident; the
      // denoiser and the forward model take host arrays, so the particles
      // cross once each way per correction.
      const ensemble = await Ensemble.create({ particles: x, ensembleSize: N, backend: run.backend });
      try {
        for (let u = 0; u < c.updates; u++) await this.kalmanStep(run, ensemble, x, i, sigma, N);
      } finally {
        await ensemble.dispose();
      }
    }
    // Prior step: one Euler step of the probability-flow ODE from sigma_i to sigma_{i+1}.
    const denoised = await run.prior.denoise(x, sigma, N);
    await run.timed('prior-step', async () => {
      const next = sigmas[i + 1];
      if (next === 0) {
        x = denoised;
      } else {
        const h = (next - sigma) / sigma, xi = x;
        await forChunks(xi.length, (start, end) => {
          for (let k = start; k < end; k++) xi[k] += h * (xi[k] - denoised[k]);
        });
      }
    });
    run.progress(this.guided(i) ? 'guided' : 'prior');
    return run.snapshot(this, x, N);
  }

  // One Kalman step at step i (in place).
  private async kalmanStep(run: RunContext, ensemble: Ensemble, x: Float32Array, i: number, sigma: number, N: number): Promise<void> {
    const c = this.config;
    const x0 = await odeToClean(run.prior, x, { sigmaStart: sigma, steps: this.odeSteps(i), sigmaMin: c.sigmaMin, rho: c.rho });
    const outcome = await run.forward(x0, N);
    const misfit = await run.misfit(outcome.y, N);
    await applyKalmanStep(run, ensemble, x, outcome, this.stepScale(i), { sigma, misfit, where: `step ${i + 1}` }, this.corrections, x0);
  }
}
