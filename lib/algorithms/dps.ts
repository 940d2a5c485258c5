// DPS with the forward model's exact gradient (docs/method.md section 3):
// the derivative-based reference point the black-box methods are measured
// against, on problems whose forward model is differentiable and says so by
// exposing `misfitGradient` (the imaging models do). Same VP sampler and
// step as DPS-GSG, with the zero-order estimate of grad L replaced by the
// exact 2 J_G(x0)^T (G(x0) - y_obs).
import { copyInChunks } from '../chunked';
import { expected, requireOneOf } from '../validate';
import { denoiserVjp, FD_EPSILON, JACOBIAN_METHODS, JacobianMethod } from './jacobian';
import { OptionReader } from './options';
import { Algorithm, InverseProblem, RunContext, RunState, runToEnd, SolveOptions, SolveResult } from './run';
import {
  checkStreams, forwardLosses, guidedVpStep, readVPOptions, requirePlainMisfit, unscale, VP_KEYS, vpInitialParticles,
  vpSchedule, VPScheduleOptions,
} from './vp-schedule';

export interface DPSOptions extends VPScheduleOptions {
  /** Independent samples run together as one batch (1). */
  ensembleSize?: number;
  /** zeta, the step on grad ||G(x0) - y_obs|| (1: the DPS paper's scale for its image tasks). */
  guidanceScale?: number;
  /** Stochastic (true) or deterministic VP steps. */
  sde?: boolean;
  /** How J_D^T g is formed: 'auto' (exact when the prior has it, else finite differences), 'exact', 'finite-difference'. */
  jacobian?: JacobianMethod;
  /** The finite difference's relative step. */
  fdEpsilon?: number;
  /** Largest batch handed to the denoiser at once (default 2 ensembleSize). */
  batchSize?: number;
  /** Largest batch handed to the forward model at once (default ensembleSize). */
  forwardBatchSize?: number;
}

const KEYS = ['ensembleSize', 'guidanceScale', 'sde', 'jacobian', 'fdEpsilon', 'batchSize', 'forwardBatchSize', ...VP_KEYS] as const;

function requireGradient(run: RunContext): void {
  if (typeof run.problem.forward.misfitGradient !== 'function') {
    throw new TypeError('DPS needs the forward model\'s exact gradient (forward.misfitGradient); this model is a black box: '
      + 'use a derivative-free algorithm (enkg, eki, dps-gsg-*, dpg, scg)');
  }
}

/**
 * Per step i and sample: x0 = D(x / s, sigma); y = G(x0) (one forward call
 * of N fields); g = 2 J_G(x0)^T (y - y_obs) from forward.misfitGradient;
 * the gradient of sqrt(L) with respect to x_t, (1 / s) J_D^T g / (2 sqrt(L));
 * then x' = x scalingFactor + f score + sqrt(f) eps - guidanceScale (that
 * gradient). Cost per step: N forward evaluations and one gradient call;
 * denoiser N + 2N fields (finite difference) or N + N (exact jvp).
 */
export class DPS implements Algorithm {
  readonly name = 'dps';
  readonly config: Required<DPSOptions>;

  constructor(options: DPSOptions = {}) {
    const o = new OptionReader(options, 'DPS', KEYS);
    const ensembleSize = o.integer('ensembleSize', 1, 1);
    const sde = o.raw('sde');
    if (sde !== undefined && typeof sde !== 'boolean') throw new TypeError(expected('a boolean', 'DPS sde', sde));
    this.config = {
      ensembleSize,
      guidanceScale: o.number('guidanceScale', 1, 0),
      sde: sde ?? true,
      jacobian: o.raw('jacobian') === undefined ? 'auto' : requireOneOf(o.raw('jacobian'), JACOBIAN_METHODS, 'DPS jacobian'),
      fdEpsilon: o.positive('fdEpsilon', FD_EPSILON),
      batchSize: o.integer('batchSize', 2 * ensembleSize, 1),
      forwardBatchSize: o.integer('forwardBatchSize', ensembleSize, 1),
      ...readVPOptions(o, 'DPS'),
    };
    checkStreams(ensembleSize, 'DPS', 'ensembleSize');
  }

  solve(problem: InverseProblem, opts?: SolveOptions): Promise<SolveResult> {
    return runToEnd(this, problem, opts);
  }

  async init(problem: InverseProblem, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.create(problem, opts, c.batchSize);
    requirePlainMisfit(run, 'DPS');
    requireGradient(run);
    run.steps = c.steps;
    const schedule = vpSchedule(c);
    return run.snapshot(this, await vpInitialParticles(run, c.ensembleSize, schedule), c.ensembleSize);
  }

  async advance(problem: InverseProblem, state: RunState, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.resume(this, problem, state, opts, c.batchSize);
    requirePlainMisfit(run, 'DPS');
    requireGradient(run);
    const N = c.ensembleSize, d = run.d, m = run.m, i = state.step;
    if (i >= c.steps) return state;
    const schedule = vpSchedule(c);
    const x = await copyInChunks(state.particles);
    run.step = i + 1;
    const s = schedule.scaling[i], sigma = schedule.sigma[i];
    const xs = unscale(x, s);
    const denoised = await run.prior.denoise(xs, sigma, N);
    const { loss, y } = await forwardLosses(run, denoised, N, c.forwardBatchSize);
    const misfit = await run.misfit(y, N);

    // g = 2 J^T (y - y_obs); a sample whose evaluation failed (NaN row) or fits exactly gets no guidance.
    const obs = run.problem.observation;
    const r = new Float32Array(N * m);
    for (let n = 0; n < N; n++) {
      const ok = Number.isFinite(loss[n]) && loss[n] > 0;
      for (let k = 0; k < m; k++) r[n * m + k] = ok ? y[n * m + k] - obs[k] : 0;
    }
    const jtr = await run.timed('gradient', () => run.problem.forward.misfitGradient!(denoised, r, N));
    if (!(jtr instanceof Float32Array) || jtr.length !== N * d) {
      throw new RangeError(expected(`batch x d = ${N * d} floats from forward.misfitGradient`, 'its result', jtr));
    }
    const v = new Float32Array(N * d);
    for (let n = 0; n < N; n++) {
      const L = loss[n];
      // d sqrt(L) / d x0 = 2 J^T r / (2 sqrt(L)); then / s for x_t = s x.
      const w = Number.isFinite(L) && L > 0 ? 1 / (s * Math.sqrt(L)) : 0;
      for (let k = 0; k < d; k++) v[n * d + k] = w * jtr[n * d + k];
    }
    const guidance = await denoiserVjp(run.prior, xs, sigma, v, N, { method: c.jacobian, epsilon: c.fdEpsilon });
    await guidedVpStep(run, schedule, i, x, denoised, guidance, c.guidanceScale, c.sde, N);
    run.trace.push({ step: run.step, sigma, misfit });
    run.progress('guided');
    return run.snapshot(this, x, N);
  }
}
