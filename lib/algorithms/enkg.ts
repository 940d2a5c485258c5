// Ensemble Kalman Diffusion Guidance (docs/method.md section 2, Algorithm 2 of the
// paper): particles follow the prior's probability-flow ODE, and on the
// guided steps a derivative-free Kalman correction, computed from forward
// evaluations at each particle's clean estimate, pulls them toward the data.
import { Ensemble } from '../ensemble';
import { karrasSigmas, odeToClean } from '../prior/edm';
import { copyInChunks, forChunks } from '../chunked';
import { randomNormal } from '../random';
import { expected, requireInteger, requireKnownKeys, requireNumber, requireObject, requirePositive } from '../validate';
import { OptionReader } from './options';
import { CorrectionOptions, correctionsConfig, CorrectionsConfig, readCorrections, requireCorrections } from './corrections';
import { applyKalmanStep, KalmanCorrections } from './kalman-step';
import { Algorithm, InverseProblem, RunContext, RunState, runToEnd, SolveOptions, SolveResult } from './run';
import { NOISE, streamBase } from './vp-schedule';

/**
 * One restart pass (EnKGOptions.restarts): every particle is re-noised to
 * noise level `sigma` (x + sigma z, z fresh standard normal noise) and
 * follows a guided run of `steps` Karras steps from sigma down to sigmaMin,
 * with the guidance scale `guidanceScale` (default: the run's g) and at most
 * `maxOdeSteps` Euler steps per clean estimate x0(x_t) (default: the run's).
 */
export interface RestartPass {
  sigma: number;
  steps: number;
  guidanceScale?: number;
  maxOdeSteps?: number;
}

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
  /**
   * Restart passes after the K steps (docs/method.md section 2, "Restarts"),
   * in order: each re-noises the particles it is given to its sigma and runs
   * its own guided grid down to sigmaMin, so its Kalman steps linearize the
   * forward model around an ensemble that already fits the data. Thresholds,
   * step scale and ODE steps count within each pass. Default none (the
   * paper's method).
   */
  restarts?: RestartPass[];
}

/** Where global step i falls: pass p (0: the first run), step j of that pass's grid of `steps`. */
interface PassStep {
  pass: number;
  j: number;
  steps: number;
  sigmaMax: number;
  /** g of the pass. */
  guidanceScale: number;
  /** The cap on odeToClean's Euler steps in the pass. */
  maxOdeSteps: number;
}

const ENKG_KEYS = [
  'ensembleSize', 'steps', 'guidanceScale', 'updates', 'thresholdStart', 'thresholdEnd', 'minRatio',
  'sigmaMax', 'sigmaMin', 'rho', 'maxOdeSteps', 'batchSize', 'localization', 'sec', 'gain', 'relaxation', 'restarts',
] as const;

/**
 * The command line's form of `restarts`: 'SIGMA:STEPS[:G[:L]][,...]'
 * (e.g. '10:15'; '1:10:4' for a pass with guidance scale 4; '1:10:4:1' or,
 * with the run's g, '1:10::1' for one whose clean estimates take at most
 * L Euler steps), or 'none' for no passes. `name` is the flag, for the
 * message.
 */
export function parseRestarts(text: string, name: string): RestartPass[] {
  if (text.trim() === 'none') return [];
  const form = 'SIGMA:STEPS[:G[:L]][,SIGMA:STEPS[:G[:L]]...] (per pass a noise level > 0, an integer >= 1, optionally a guidance'
    + " scale >= 0 and optionally a cap L >= 1 on the Euler steps of its clean estimates, G left empty for the run's own;"
    + " e.g. 10:15, 1:10:4 or 1:10::1) or 'none'";
  return text.split(',').map((pass) => {
    const parts = pass.split(':').map((v) => v.trim());
    const [sigma, steps, g, cap] = parts.map((v) => (v === '' ? NaN : Number(v)));
    const gGiven = parts.length >= 3 && parts[2] !== '';
    if (parts.length < 2 || parts.length > 4 || !(sigma > 0) || !Number.isFinite(sigma) || !Number.isInteger(steps) || steps < 1
      || (gGiven && !(g >= 0 && Number.isFinite(g))) || (parts.length === 3 && !gGiven)
      || (parts.length === 4 && !(Number.isInteger(cap) && cap >= 1))) {
      throw new RangeError(expected(form, name, text));
    }
    const read: RestartPass = { sigma, steps };
    if (gGiven) read.guidanceScale = g;
    if (parts.length === 4) read.maxOdeSteps = cap;
    return read;
  });
}

/** parseRestarts' inverse: '2:10,1:10:4,1:10::1' ('none' for no passes). */
export function formatRestarts(passes: readonly RestartPass[]): string {
  if (passes.length === 0) return 'none';
  return passes.map((p) => {
    const g = p.guidanceScale === undefined ? '' : `${p.guidanceScale}`;
    const tail = p.maxOdeSteps !== undefined ? `:${g}:${p.maxOdeSteps}` : g === '' ? '' : `:${g}`;
    return `${p.sigma}:${p.steps}${tail}`;
  }).join(',');
}

/** The restarts option checked: an array of { sigma > sigmaMin, steps >= 1, guidanceScale? >= 0, maxOdeSteps? >= 1 }, each pass named in the error. */
function readRestarts(value: unknown, sigmaMin: number): RestartPass[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new TypeError(expected('an array of { sigma, steps, guidanceScale?, maxOdeSteps? }', 'EnKG restarts', value));
  return value.map((pass: unknown, p) => {
    const name = `EnKG restarts[${p}]`;
    const o = requireObject(pass, name) as Record<string, unknown>;
    requireKnownKeys(o, ['sigma', 'steps', 'guidanceScale', 'maxOdeSteps'], name);
    const sigma = requirePositive(o.sigma, `${name}.sigma`);
    if (!(sigma > sigmaMin)) throw new RangeError(expected(`a noise level above sigmaMin (${sigmaMin})`, `${name}.sigma`, sigma));
    const read: RestartPass = { sigma, steps: requireInteger(o.steps, `${name}.steps`, 1) };
    if (o.guidanceScale !== undefined) read.guidanceScale = requireNumber(o.guidanceScale, `${name}.guidanceScale`, 0);
    if (o.maxOdeSteps !== undefined) read.maxOdeSteps = requireInteger(o.maxOdeSteps, `${name}.maxOdeSteps`, 1);
    return read;
  });
}

export class EnKG implements Algorithm {
  readonly name = 'enkg';
  readonly config: Required<Omit<EnKGOptions, keyof CorrectionOptions | 'restarts'>> & CorrectionsConfig & { restarts?: RestartPass[] };
  private readonly corrections: KalmanCorrections;
  /** The first run and the restart passes: the grid each pass steps through. */
  private readonly passes: Omit<PassStep, 'pass' | 'j'>[];

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
    // Recorded only when given: a configuration without restarts, and its checkpoints, read as before they existed.
    const restarts = readRestarts(o.raw('restarts'), this.config.sigmaMin);
    if (restarts.length > 0) this.config.restarts = restarts;
    this.passes = [
      { sigmaMax: this.config.sigmaMax, steps: this.config.steps, guidanceScale: this.config.guidanceScale, maxOdeSteps: this.config.maxOdeSteps },
      ...restarts.map((r) => ({
        sigmaMax: r.sigma, steps: r.steps,
        guidanceScale: r.guidanceScale ?? this.config.guidanceScale,
        maxOdeSteps: r.maxOdeSteps ?? this.config.maxOdeSteps,
      })),
    ];
    if (this.config.sigmaMin > this.config.sigmaMax) {
      throw new RangeError(`Expected sigmaMin <= sigmaMax for EnKG but received sigmaMin ${this.config.sigmaMin} > sigmaMax ${this.config.sigmaMax}`);
    }
    // A configuration that would guide nothing would run the prior alone and
    // report success with 0 forward evaluations: refused before any work.
    if (this.config.updates === 0) {
      throw new RangeError(expected('at least 1 Kalman correction per guided step', 'EnKG updates', 0));
    }
    // Every pass must guide: one that would not is the prior alone, a setting that was surely not meant.
    const { thresholdStart, thresholdEnd } = this.config;
    this.passes.forEach(({ steps: K }, p) => {
      let guided = 0;
      for (let j = 0; j < K; j++) if (this.guidedAt(j, K)) guided++;
      if (guided === 0) {
        throw new RangeError(expected('a grid with at least one guided step i, thresholdStart K < i < K - floor(thresholdEnd K)',
          p === 0 ? 'EnKG steps' : `EnKG restarts[${p - 1}].steps`,
          `${K} with thresholdStart ${thresholdStart} and thresholdEnd ${thresholdEnd} (no step is guided)`, true));
      }
    });
  }

  /** Steps of the whole run: K, plus each restart pass's. */
  totalSteps(): number {
    return this.passes.reduce((total, pass) => total + pass.steps, 0);
  }

  /** Which pass global step i (0-based) belongs to, and its index in that pass's grid. */
  private locate(i: number): PassStep {
    let j = i;
    for (const [pass, grid] of this.passes.entries()) {
      if (j < grid.steps || pass === this.passes.length - 1) return { pass, j, ...grid };
      j -= grid.steps;
    }
    throw new Error('unreachable: EnKG has at least one pass');
  }

  private guidedAt(j: number, K: number): boolean {
    const { thresholdStart, thresholdEnd } = this.config;
    return j > thresholdStart * K && j < K - Math.floor(thresholdEnd * K);
  }

  /**
   * Whether step i (0-based, over the whole run) is guided: j of its pass's
   * grid of K steps has thresholdStart K < j < K - floor(thresholdEnd K).
   */
  guided(i: number): boolean {
    const { j, steps } = this.locate(i);
    return this.guidedAt(j, steps);
  }

  /** The number of guided steps of the run, restarts included (forward evaluations = updates x N x this). */
  guidedSteps(): number {
    let count = 0;
    for (let i = 0; i < this.totalSteps(); i++) if (this.guided(i)) count++;
    return count;
  }

  /** w_i: g, or g (1 - q)(K - j)/K + q with a minimum ratio q > 0 (j, K, g: step i's pass's). */
  stepScale(i: number): number {
    const { minRatio: q } = this.config;
    const { j, steps: K, guidanceScale: g } = this.locate(i);
    return q > 0 ? g * (1 - q) * (K - j) / K + q : g;
  }

  /** M_i = min(1 + floor((K - j)/4), maxOdeSteps): Euler steps of odeToClean at step i (j, K, cap: its pass's). */
  odeSteps(i: number): number {
    const { j, steps: K, maxOdeSteps } = this.locate(i);
    return Math.min(1 + Math.floor((K - j) / 4), maxOdeSteps);
  }

  solve(problem: InverseProblem, opts?: SolveOptions): Promise<SolveResult> {
    return runToEnd(this, problem, opts);
  }

  /** x^n ~ N(0, sigmaMax^2 I): particle n is Philox stream n of the seed. */
  async init(problem: InverseProblem, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.create(problem, opts, c.batchSize);
    requireCorrections(run, this.corrections, 'EnKG');
    run.steps = this.totalSteps();
    const N = c.ensembleSize;
    const x = await run.timed('init', () => randomNormal({ count: run.d, streams: N, seed: run.seed, backend: 'cpu' }));
    await forChunks(x.length, (start, end) => { for (let k = start; k < end; k++) x[k] *= c.sigmaMax; });
    return run.snapshot(this, x, N);
  }

  /**
   * Step i = state.step: at the start of a restart pass the re-noising; the
   * corrections if the step is guided; then one Euler step of the ODE.
   */
  async advance(problem: InverseProblem, state: RunState, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.resume(this, problem, state, opts, c.batchSize);
    const N = c.ensembleSize, i = state.step;
    if (i >= this.totalSteps()) return state;
    const at = this.locate(i);
    const sigmas = karrasSigmas({ steps: at.steps, sigmaMax: at.sigmaMax, sigmaMin: c.sigmaMin, rho: c.rho });
    let x: Float32Array = await copyInChunks(state.particles);
    run.step = i + 1;
    const sigma = sigmas[at.j];
    if (at.pass > 0 && at.j === 0) {
      // Restart: x + sigma z, particle n's noise Philox stream streamBase(i, restart) + n of the seed.
      const z = await run.timed('restart', () => randomNormal({
        count: run.d, streams: N, seed: run.seed, stream: streamBase(i, NOISE.restart), backend: 'cpu',
      }));
      await forChunks(x.length, (start, end) => { for (let k = start; k < end; k++) x[k] += sigma * z[k]; });
    }
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
      const next = sigmas[at.j + 1];
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
