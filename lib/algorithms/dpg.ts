// Diffusion policy gradient (Tang et al. 2024; docs/method.md section 3): on the
// reference's VP schedule, the guidance direction is a REINFORCE estimate
// from Monte-Carlo samples x0 + r eps around the clean estimate, with
// rewards exp(-(L_j - L_ref) / Z), a leave-one-out baseline, momentum and
// normalization; it reaches x_t through the denoiser's Jacobian (jacobian.ts).
import { expected, requireOneOf } from '../validate';
import { denoiserVjp, FD_EPSILON, JACOBIAN_METHODS, JacobianMethod } from './jacobian';
import { copyInChunks } from '../chunked';
import { OptionReader } from './options';
import { Algorithm, InverseProblem, RunContext, RunState, runToEnd, SolveOptions, SolveResult } from './run';
import {
  checkStreams, forwardLosses, NOISE, normals, readVPOptions, requirePlainMisfit, streamBase, unscale, VP_KEYS,
  vpInitialParticles, vpSchedule, VPScheduleOptions, vpStep,
} from './vp-schedule';

export interface DPGOptions extends VPScheduleOptions {
  /** Independent samples run together as one batch (the reference draws 1). */
  ensembleSize?: number;
  /** M, Monte-Carlo samples per sample and step (5000). */
  mcSamples?: number;
  /** B, the scale of the normalized guidance direction in the score (200). */
  guidanceScale?: number;
  /** beta, the momentum weight; step i mixes beta (K - i - 1) / K of the previous gradient (0.1). */
  momentum?: number;
  /** The decay of the running loss average Z = lossDecay Z + (1 - lossDecay) L_ref, in [0, 1) (0.9). */
  lossDecay?: number;
  /** r_min, the floor of the sampling radius r = max(sqrt(Z / d) / 2, r_min) (0). */
  radiusMin?: number;
  /** Stochastic (true, the reference) or deterministic VP steps. */
  sde?: boolean;
  /** How J_D^T v is formed: 'auto' (exact when the prior has it, else finite differences), 'exact', 'finite-difference'. */
  jacobian?: JacobianMethod;
  /** The finite difference's relative step (cbrt of float32 epsilon, about 4.9e-3). */
  fdEpsilon?: number;
  /** Largest batch handed to the denoiser at once (default 2 ensembleSize: no call is split). */
  batchSize?: number;
  /** Largest batch handed to the forward model at once (default ensembleSize x mcSamples: no call is split). */
  forwardBatchSize?: number;
}

const DPG_KEYS = [
  'ensembleSize', 'mcSamples', 'guidanceScale', 'momentum', 'lossDecay', 'radiusMin', 'sde', 'jacobian', 'fdEpsilon',
  'batchSize', 'forwardBatchSize', ...VP_KEYS,
] as const;

/**
 * Per step i and sample: x0 = D(x / s, sigma); L_ref = L(x0) (one forward
 * call of N fields); Z = lossDecay Z + (1 - lossDecay) L_ref (Z = L_ref at
 * first); r = max(sqrt(Z / d) / 2, r_min); M samples x0 + r eps_j (one
 * forward call of N M fields; r depends on this step's L_ref, so the two
 * calls are sequential); rewards R_j = exp(-(L_j - L_ref) / Z) and
 * leave-one-out baselines b_j = (sum R - R_j) / (M - 1); the gradient of
 * mean_j (R_j - b_j) ||x0_j - x0||^2 / (2 r^2) with respect to x_t,
 * -(1 / s) J_D^T sum_j (R_j - b_j) eps_j / (M r); momentum with weight
 * momentum (K - i - 1) / K on the previous step's raw gradient; the score
 * gets guidanceScale times the negative normalized gradient, and one VP step.
 * Cost per step: N (1 + M) forward evaluations in 2 sequential calls;
 * denoiser N + 2N fields (finite difference) or N + N (exact) in 2 calls.
 */
export class DPG implements Algorithm {
  readonly name = 'dpg';
  readonly config: Required<DPGOptions>;

  constructor(options: DPGOptions = {}) {
    const o = new OptionReader(options, 'DPG', DPG_KEYS);
    const ensembleSize = o.integer('ensembleSize', 1, 1);
    const mcSamples = o.integer('mcSamples', 5000, 2);
    const sde = o.raw('sde');
    if (sde !== undefined && typeof sde !== 'boolean') throw new TypeError(expected('a boolean', 'DPG sde', sde));
    this.config = {
      ensembleSize,
      mcSamples,
      guidanceScale: o.number('guidanceScale', 200, 0),
      momentum: o.number('momentum', 0.1, 0, 1),
      lossDecay: o.number('lossDecay', 0.9, 0, 1),
      radiusMin: o.number('radiusMin', 0, 0),
      sde: sde ?? true,
      jacobian: o.raw('jacobian') === undefined ? 'auto' : requireOneOf(o.raw('jacobian'), JACOBIAN_METHODS, 'DPG jacobian'),
      fdEpsilon: o.positive('fdEpsilon', FD_EPSILON),
      batchSize: o.integer('batchSize', 2 * ensembleSize, 1),
      forwardBatchSize: o.integer('forwardBatchSize', ensembleSize * mcSamples, 1),
      ...readVPOptions(o, 'DPG'),
    };
    if (this.config.lossDecay >= 1) {
      throw new RangeError(expected('a number in [0, 1)', 'DPG lossDecay', this.config.lossDecay));
    }
    checkStreams(ensembleSize * mcSamples, 'DPG', 'ensembleSize x mcSamples');
  }

  solve(problem: InverseProblem, opts?: SolveOptions): Promise<SolveResult> {
    return runToEnd(this, problem, opts);
  }

  /**
   * x ~ N(0, (sigma(1) s(1))^2 I). The carry holds, per sample, the running
   * loss average Z (NaN before the first evaluation) and the previous step's
   * raw gradient for momentum (`hasPrevious` 0 before the first).
   */
  async init(problem: InverseProblem, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.create(problem, opts, c.batchSize);
    requirePlainMisfit(run, 'DPG');
    run.steps = c.steps;
    const N = c.ensembleSize, d = run.d;
    const schedule = vpSchedule(c);
    const x = await vpInitialParticles(run, N, schedule);
    return run.snapshot(this, x, N, {
      Z: new Float64Array(N).fill(NaN), previous: new Float32Array(N * d), hasPrevious: new Uint8Array(N),
    });
  }

  /** VP step i = state.step with the policy-gradient guidance. */
  async advance(problem: InverseProblem, state: RunState, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.resume(this, problem, state, opts, c.batchSize);
    requirePlainMisfit(run, 'DPG');
    const N = c.ensembleSize, M = c.mcSamples, d = run.d, K = c.steps, i = state.step;
    if (i >= K) return state;
    const schedule = vpSchedule(c);
    const x = await copyInChunks(state.particles);
    const Z = Float64Array.from(state.carry.Z as Float64Array);
    const previousAll = Float32Array.from(state.carry.previous as Float32Array);
    const hasPrevious = Uint8Array.from(state.carry.hasPrevious as Uint8Array);
    run.step = i + 1;
    const s = schedule.scaling[i], sigma = schedule.sigma[i];
    const xs = unscale(x, s);
    const denoised = await run.prior.denoise(xs, sigma, N);

    const ref = await forwardLosses(run, denoised, N, c.forwardBatchSize);
    const misfit = await run.misfit(ref.y, N);
    const radius = new Float64Array(N); // 0: no guidance for this sample at this step
    for (let n = 0; n < N; n++) {
      const L = ref.loss[n];
      if (!Number.isFinite(L)) continue; // keep Z; this sample is unguided this step
      Z[n] = Number.isNaN(Z[n]) ? L : c.lossDecay * Z[n] + (1 - c.lossDecay) * L;
      if (Z[n] > 0) radius[n] = Math.max(Math.sqrt(Z[n] / d) / 2, c.radiusMin);
    }
    const active: number[] = [];
    for (let n = 0; n < N; n++) if (radius[n] > 0) active.push(n);

    // Monte-Carlo samples of every particle are drawn (stream layout
    // independent of which are active); those of active particles are evaluated.
    const eps = await normals(run, d, N * M, streamBase(i, NOISE.mcSamples));
    const v = new Float32Array(N * d); // d final_loss / d x0 per particle
    if (active.length > 0) {
      const samples = new Float32Array(active.length * M * d);
      active.forEach((n, a) => {
        const r = radius[n];
        for (let j = 0; j < M; j++) {
          const src = (n * M + j) * d, dst = (a * M + j) * d;
          for (let k = 0; k < d; k++) samples[dst + k] = denoised[n * d + k] + r * eps[src + k];
        }
      });
      const mc = await forwardLosses(run, samples, active.length * M, c.forwardBatchSize);
      await run.timed('policy-gradient', async () => {
        active.forEach((n, a) => this.reinforce(mc.loss.subarray(a * M, (a + 1) * M), ref.loss[n], Z[n], radius[n],
          eps.subarray(n * M * d, (n + 1) * M * d), v.subarray(n * d, (n + 1) * d)));
      });
    }
    const jtv = await denoiserVjp(run.prior, xs, sigma, v, N, { method: c.jacobian, epsilon: c.fdEpsilon });

    // Momentum on the raw gradients (1 / s) J^T v, then normalization per sample.
    const beta = c.momentum * (K - i - 1) / K;
    const direction = new Float32Array(N * d);
    for (const n of active) {
      const grad = jtv.slice(n * d, (n + 1) * d);
      for (let k = 0; k < d; k++) grad[k] /= s;
      const prev = hasPrevious[n] ? previousAll.subarray(n * d, (n + 1) * d) : undefined;
      const mixed = new Float64Array(d);
      for (let k = 0; k < d; k++) mixed[k] = prev === undefined ? grad[k] : beta * prev[k] + (1 - beta) * grad[k];
      previousAll.set(grad, n * d);
    hasPrevious[n] = 1;
      let norm = 0;
      for (let k = 0; k < d; k++) norm += mixed[k] * mixed[k];
      const scale = -c.guidanceScale / (Math.sqrt(norm) + 1e-7);
      for (let k = 0; k < d; k++) direction[n * d + k] = scale * mixed[k];
    }

    const noise = c.sde ? await normals(run, d, N, streamBase(i, NOISE.sde)) : undefined;
    await run.timed('sde-step', async () => {
      // The guided score is the prior's plus `direction`: vpStep takes the
      // prior's part; the guidance enters with the same factor f (halved
      // for deterministic steps, as the reference's f score / 2).
      vpStep(schedule, i, x, denoised, noise);
      const f = c.sde ? schedule.factor[i] : schedule.factor[i] / 2;
      for (let k = 0; k < x.length; k++) x[k] += f * direction[k];
    });
    run.trace.push({ step: run.step, sigma, misfit });
    run.progress('guided');
    return run.snapshot(this, x, N, { Z, previous: previousAll, hasPrevious });
  }

  /**
   * v = d/dx0 of mean_j (R_j - b_j) ||x0 + r eps_j - x0||^2 / (2 r^2)
   *   = -sum_j (R_j - b_j) eps_j / (M' r)
   * over the M' samples that evaluated (at least 2, else v stays 0). The
   * exponents -(L_j - L_ref) / Z are at most L_ref / Z <= 1 / (1 - lossDecay)
   * (L_j >= 0), so the rewards cannot overflow.
   */
  private reinforce(losses: Float64Array, lossRef: number, Z: number, r: number, eps: Float32Array, v: Float32Array): void {
    const M = losses.length, d = v.length;
    const rewards = new Float64Array(M);
    let total = 0, count = 0;
    for (let j = 0; j < M; j++) {
      if (!Number.isFinite(losses[j])) continue;
      rewards[j] = Math.exp(-(losses[j] - lossRef) / Z);
      total += rewards[j];
      count++;
    }
    if (count < 2) return;
    const acc = new Float64Array(d);
    for (let j = 0; j < M; j++) {
      if (!Number.isFinite(losses[j])) continue;
      const w = rewards[j] - (total - rewards[j]) / (count - 1);
      for (let k = 0; k < d; k++) acc[k] += w * eps[j * d + k];
    }
    for (let k = 0; k < d; k++) v[k] = -acc[k] / (count * r);
  }
}
