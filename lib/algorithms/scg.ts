// Stochastic control guidance (Huang et al. 2024; docs/method.md section 3): the
// reference's VP sampler, except that after a threshold fraction of the
// steps each sample draws `candidates` stochastic next states, denoises
// them, evaluates the loss of their clean estimates, and keeps the best.
// No gradient of anything is taken.
import { copyInChunks } from '../chunked';
import { expected } from '../validate';
import { OptionReader } from './options';
import { Algorithm, InverseProblem, RunContext, RunState, runToEnd, SolveOptions, SolveResult } from './run';
import {
  checkStreams, forwardLosses, NOISE, normals, readVPOptions, requirePlainMisfit, streamBase, unscale, VP_KEYS,
  vpInitialParticles, vpSchedule, VPScheduleOptions, vpStep,
} from './vp-schedule';

export interface SCGOptions extends VPScheduleOptions {
  /** Independent samples run together as one batch (the reference draws 1). */
  ensembleSize?: number;
  /** C, candidate next states per sample and guided step (512, the Navier-Stokes config). */
  candidates?: number;
  /** Guidance starts at step floor(threshold K) (0.25). */
  threshold?: number;
  /** Largest batch handed to the denoiser at once (default ensembleSize x candidates: no call is split). */
  batchSize?: number;
  /** Largest batch handed to the forward model at once (default ensembleSize x candidates). */
  forwardBatchSize?: number;
}

const SCG_KEYS = ['ensembleSize', 'candidates', 'threshold', 'batchSize', 'forwardBatchSize', ...VP_KEYS] as const;

/**
 * Steps i < floor(threshold K): one VP SDE step. Steps
 * floor(threshold K) <= i < K - 1: C candidates x_j = x scalingFactor +
 * f score + sqrt(f) eps_j, their clean estimates D(x_j / s_{i+1},
 * sigma_{i+1}) (one denoiser call of N C fields), L of those (one forward
 * call of N C fields), keep the argmin. The last step returns the clean
 * estimate D(x / s, sigma). The winner's clean estimate is exactly the next
 * step's D(x / s, sigma), so it is reused rather than recomputed.
 * Cost, with G = max(0, K - 1 - floor(threshold K)) guided steps:
 * forward G N C evaluations in G calls; denoiser (K - G) N + G N C fields
 * in K calls.
 */
export class SCG implements Algorithm {
  readonly name = 'scg';
  readonly config: Required<SCGOptions>;

  constructor(options: SCGOptions = {}) {
    const o = new OptionReader(options, 'SCG', SCG_KEYS);
    const ensembleSize = o.integer('ensembleSize', 1, 1);
    const candidates = o.integer('candidates', 512, 1);
    this.config = {
      ensembleSize,
      candidates,
      threshold: o.number('threshold', 0.25, 0, 1),
      batchSize: o.integer('batchSize', ensembleSize * candidates, 1),
      forwardBatchSize: o.integer('forwardBatchSize', ensembleSize * candidates, 1),
      ...readVPOptions(o, 'SCG'),
    };
    checkStreams(ensembleSize * candidates, 'SCG', 'ensembleSize x candidates');
    // No guided step would sample the prior alone with 0 forward evaluations.
    if (this.firstGuidedStep >= this.config.steps - 1) {
      throw new RangeError(expected('a grid with at least one guided step i, floor(threshold K) <= i < K - 1', 'SCG steps',
        `${this.config.steps} with threshold ${this.config.threshold} (no step is guided)`, true));
    }
  }

  /** The first guided step, floor(threshold K). */
  get firstGuidedStep(): number {
    return Math.floor(this.config.threshold * this.config.steps);
  }

  /** Whether step i (0-based) selects among candidates: floor(threshold K) <= i < K - 1. */
  guided(i: number): boolean {
    return i >= this.firstGuidedStep && i < this.config.steps - 1;
  }

  solve(problem: InverseProblem, opts?: SolveOptions): Promise<SolveResult> {
    return runToEnd(this, problem, opts);
  }

  async init(problem: InverseProblem, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.create(problem, opts, c.batchSize);
    requirePlainMisfit(run, 'SCG');
    run.steps = c.steps;
    const schedule = vpSchedule(c);
    return run.snapshot(this, await vpInitialParticles(run, c.ensembleSize, schedule), c.ensembleSize);
  }

  /**
   * Step i = state.step. After a guided step the carry holds `cached`,
   * D(x / s_i, sigma_i) of the chosen candidates (already computed with
   * them), which the next step uses instead of denoising again.
   */
  async advance(problem: InverseProblem, state: RunState, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.resume(this, problem, state, opts, c.batchSize);
    requirePlainMisfit(run, 'SCG');
    const N = c.ensembleSize, C = c.candidates, d = run.d, m = run.m, K = c.steps, i = state.step;
    if (i >= K) return state;
    const schedule = vpSchedule(c);
    const x = await copyInChunks(state.particles);
    run.step = i + 1;
    const s = schedule.scaling[i], sigma = schedule.sigma[i];
    const cached = state.carry.cached as Float32Array | undefined;
    const denoised = cached ? cached.slice() : await run.prior.denoise(unscale(x, s), sigma, N);
    if (i === K - 1) {
      run.progress('prior');
      return run.snapshot(this, denoised, N);
    }
    if (!this.guided(i)) {
      const noise = await normals(run, d, N, streamBase(i, NOISE.sde));
      await run.timed('sde-step', async () => vpStep(schedule, i, x, denoised, noise));
      run.progress('prior');
      return run.snapshot(this, x, N);
    }

    // Candidate j of particle n is the SDE step with noise stream n C + j.
    const noise = await normals(run, d, N * C, streamBase(i, NOISE.candidates));
    const candidates = new Float32Array(N * C * d);
    await run.timed('sde-step', async () => {
      for (let n = 0; n < N; n++) {
        for (let j = 0; j < C; j++) {
          const row = (n * C + j) * d;
          const next = x.slice(n * d, (n + 1) * d);
          vpStep(schedule, i, next, denoised.subarray(n * d, (n + 1) * d), noise.subarray(row, row + d));
          candidates.set(next, row);
        }
      }
    });
    const sNext = schedule.scaling[i + 1], sigmaNext = schedule.sigma[i + 1];
    const clean = await run.prior.denoise(unscale(candidates, sNext), sigmaNext, N * C);
    const { loss, y } = await forwardLosses(run, clean, N * C, c.forwardBatchSize);

    // Keep each particle's lowest finite loss; if all its candidates
    // failed, candidate 0 (an unguided stochastic step) carries on.
    const chosenY = new Float32Array(N * m).fill(NaN);
    const next = new Float32Array(N * d), nextClean = new Float32Array(N * d);
    for (let n = 0; n < N; n++) {
      let best = -1;
      for (let j = 0; j < C; j++) {
        const L = loss[n * C + j];
        if (Number.isFinite(L) && (best < 0 || L < loss[n * C + best])) best = j;
      }
      const row = n * C + Math.max(best, 0);
      next.set(candidates.subarray(row * d, (row + 1) * d), n * d);
      nextClean.set(clean.subarray(row * d, (row + 1) * d), n * d);
      if (best >= 0) chosenY.set(y.subarray(row * m, (row + 1) * m), n * m);
    }
    run.trace.push({ step: run.step, sigma, misfit: await run.misfit(chosenY, N) });
    run.progress('guided');
    return run.snapshot(this, next, N, { cached: nextClean });
  }
}
