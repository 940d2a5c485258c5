// The variance-preserving sampler frame shared by the DPS-GSG, DPG and SCG
// baselines (docs/method.md section 3): the reference's VP schedule and SDE step,
// the layout of the baselines' Philox streams, and batched evaluation of the
// data loss L(x0) = ||G(x0) - y_obs||^2 through a RunContext.
import { randomNormal } from '../random';
import { expected } from '../validate';
import { OptionReader } from './options';
import { RunContext } from './run';

export interface VPScheduleOptions {
  /** K, steps of the sampler (1000). */
  steps?: number;
  /** beta_d and beta_min of the VP noise schedule (19.9 and 0.1). */
  betaD?: number;
  betaMin?: number;
  /** The last grid time t_{K-1}: t runs linearly from 1 down to it (1e-3). */
  tEnd?: number;
  /**
   * The level the last step lands on, t_K = sigma^-1(sigmaFinal) (0.01: the
   * reference Scheduler's sigma_min, which its VP configs leave at the default).
   */
  sigmaFinal?: number;
}

export const VP_KEYS = ['steps', 'betaD', 'betaMin', 'tEnd', 'sigmaFinal'] as const;

/** The reference's time grid with everything one SDE step needs, precomputed once. */
export interface VPSchedule {
  steps: number;
  /** t_i, i = 0..K (K + 1 values; t_K = sigma^-1(sigmaFinal)). */
  t: Float64Array;
  /** sigma(t_i) = sqrt(exp(betaD t^2 / 2 + betaMin t) - 1): the EDM noise level of x / s. */
  sigma: Float64Array;
  /** s(t_i) = 1 / sqrt(exp(betaD t^2 / 2 + betaMin t)). */
  scaling: Float64Array;
  /** 1 - s'(t_i) / s(t_i) (t_i - t_{i+1}), i = 0..K-1. */
  scalingFactor: Float64Array;
  /** f_i = max(0, 2 s^2 sigma sigma' (t_i - t_{i+1})), i = 0..K-1. */
  factor: Float64Array;
  /** The standard deviation of the initial particles, sigma(1) s(1) (just under 1). */
  initialStd: number;
}

/** The largest K the stream layout allows (see streamBase). */
export const MAX_VP_STEPS = 100_000;

/** Reads the schedule options of a baseline (defaults: the reference's Navier-Stokes configs). */
export function readVPOptions(o: OptionReader, owner: string): Required<VPScheduleOptions> {
  const options = {
    steps: o.integer('steps', 1000, 1),
    betaD: o.positive('betaD', 19.9),
    betaMin: o.positive('betaMin', 0.1),
    tEnd: o.positive('tEnd', 1e-3),
    sigmaFinal: o.positive('sigmaFinal', 0.01),
  };
  if (options.steps > MAX_VP_STEPS) {
    throw new RangeError(expected(`an integer in [1, ${MAX_VP_STEPS}]`, `${owner} steps`, options.steps));
  }
  if (options.tEnd >= 1) throw new RangeError(expected('a number in (0, 1)', `${owner} tEnd`, options.tEnd));
  const last = vpSigma(options.tEnd, options.betaD, options.betaMin);
  if (options.sigmaFinal >= last) {
    throw new RangeError(expected(`a level below sigma(tEnd) = ${last.toPrecision(4)}`, `${owner} sigmaFinal`,
      options.sigmaFinal));
  }
  return options;
}

function exponent(t: number, betaD: number, betaMin: number): number {
  return (betaD * t * t) / 2 + betaMin * t;
}

/** sigma(t) = sqrt(exp(betaD t^2 / 2 + betaMin t) - 1). */
export function vpSigma(t: number, betaD = 19.9, betaMin = 0.1): number {
  return Math.sqrt(Math.expm1(exponent(t, betaD, betaMin)));
}

/** The inverse of vpSigma: t = (sqrt(betaMin^2 + 2 betaD log(sigma^2 + 1)) - betaMin) / betaD. */
export function vpTime(sigma: number, betaD = 19.9, betaMin = 0.1): number {
  return (Math.sqrt(betaMin * betaMin + 2 * betaD * Math.log1p(sigma * sigma)) - betaMin) / betaD;
}

/**
 * The VP grid of the reference: t_i = 1 - i / (K - 1) (1 - tEnd) for
 * i = 0..K-1 (t_0 = 1 when K = 1), t_K = sigma^-1(sigmaFinal).
 * With beta(t) = betaD t + betaMin, s'/s = -beta / 2 and
 * 2 s^2 sigma sigma' = beta, so scalingFactor = 1 + beta dt / 2 and
 * f = beta dt; they are computed in those exact forms.
 */
export function vpSchedule(opts: Required<VPScheduleOptions>): VPSchedule {
  const { steps: K, betaD, betaMin, tEnd, sigmaFinal } = opts;
  const t = new Float64Array(K + 1), sigma = new Float64Array(K + 1), scaling = new Float64Array(K + 1);
  for (let i = 0; i < K; i++) t[i] = K === 1 ? 1 : 1 - (i / (K - 1)) * (1 - tEnd);
  t[K] = vpTime(sigmaFinal, betaD, betaMin);
  for (let i = 0; i <= K; i++) {
    sigma[i] = vpSigma(t[i], betaD, betaMin);
    scaling[i] = Math.exp(-exponent(t[i], betaD, betaMin) / 2);
  }
  const scalingFactor = new Float64Array(K), factor = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    const dt = t[i] - t[i + 1], beta = betaD * t[i] + betaMin;
    scalingFactor[i] = 1 + (beta / 2) * dt;
    factor[i] = Math.max(0, beta * dt);
  }
  return { steps: K, t, sigma, scaling, scalingFactor, factor, initialStd: sigma[0] * scaling[0] };
}

/** x / s, the denoiser's input at scaling s. */
export function unscale(x: Float32Array, s: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let k = 0; k < x.length; k++) out[k] = x[k] / s;
  return out;
}

/**
 * The SDE step of the reference at step i, in place on x:
 * x' = x scalingFactor + f score + sqrt(f) eps with
 * score = (D(x / s, sigma) - x / s) / (sigma^2 s); without `noise` it is the
 * reference's deterministic variant x scalingFactor + f score / 2.
 * `denoised` is D(x / s, sigma) for every particle.
 */
export function vpStep(schedule: VPSchedule, i: number, x: Float32Array, denoised: Float32Array,
  noise?: Float32Array): void {
  const s = schedule.scaling[i], sigma = schedule.sigma[i];
  const a = schedule.scalingFactor[i], f = schedule.factor[i], root = Math.sqrt(f);
  const c = 1 / (sigma * sigma * s);
  const drift = noise ? f : f / 2;
  for (let k = 0; k < x.length; k++) {
    const score = (denoised[k] - x[k] / s) * c;
    x[k] = x[k] * a + drift * score + (noise ? root * noise[k] : 0);
  }
}

/**
 * What each Philox stream of a baseline is for. Draws of purpose p at step
 * i start at stream streamBase(i, p); particle n's draws follow at
 * + n * (draws per particle), so a particle's randomness depends on the seed,
 * the step and its index, never on the ensemble size.
 */
export const NOISE = { init: 0, sde: 1, directions: 2, mcSamples: 3, candidates: 4, resample: 5, restart: 6 } as const;

/** The first Philox stream of purpose `purpose` at step `step`: (8 step + purpose) 2^32. */
export function streamBase(step: number, purpose: number): number {
  return (step * 8 + purpose) * 2 ** 32;
}

/**
 * `streams` consecutive Philox streams of `count` standard normals from the
 * solve's seed, starting at `stream`; drawn on the CPU so that a result is
 * the same on every backend.
 */
export function normals(run: RunContext, count: number, streams: number, stream: number): Promise<Float32Array> {
  return randomNormal({ count, streams, seed: run.seed, stream, backend: 'cpu' });
}

/** Draws per particle and step must fit the 2^32 streams streamBase leaves each purpose. */
export function checkStreams(perStep: number, owner: string, what: string): void {
  if (perStep >= 2 ** 32) {
    throw new RangeError(expected('fewer than 2^32 random draws per step', `${owner} ${what}`, perStep));
  }
}

/** The outcome of evaluating L at a batch of fields. */
export interface LossEvaluation {
  /** L_n = ||G(x_n) - y_obs||^2 (float64; NaN where the evaluation failed). */
  loss: Float64Array;
  /** batch x m measurements (rows of failed fields NaN). */
  y: Float32Array;
  okCount: number;
}

/**
 * L(x) = ||G(x) - y_obs||^2 for `batch` fields, the reference's data loss
 * (summed over the measurement, not averaged). The fields go to the forward
 * model in calls of at most `maxBatch` (each call is one sequential
 * evaluation in the cost record); failed fields get NaN.
 */
export async function forwardLosses(run: RunContext, x: Float32Array, batch: number, maxBatch: number): Promise<LossEvaluation> {
  const d = run.d, m = run.m, obs = run.problem.observation;
  const y = new Float32Array(batch * m), loss = new Float64Array(batch);
  let okCount = 0;
  for (let start = 0; start < batch; start += maxBatch) {
    const n = Math.min(maxBatch, batch - start);
    const outcome = await run.forward(x.subarray(start * d, (start + n) * d), n);
    y.set(outcome.y, start * m);
    okCount += outcome.okCount;
  }
  for (let b = 0; b < batch; b++) {
    let s = 0;
    for (let k = 0; k < m; k++) {
      const e = y[b * m + k] - obs[k];
      s += e * e;
    }
    loss[b] = s; // NaN for a failed row
  }
  return { loss, y, okCount };
}

/** Rejects a problem whose misfit the zero-order baselines cannot honour (they need loss values, not dl/dy). */
export function requirePlainMisfit(run: RunContext, owner: string): void {
  if (run.problem.misfit !== undefined) {
    throw new TypeError(`${owner} evaluates the loss ||G(x0) - y_obs||^2 itself and cannot use problem.misfit `
      + '(a gradient dl/dy only); leave problem.misfit out for this algorithm');
  }
}

/**
 * The VP baselines' starting particles, x ~ N(0, (sigma(1) s(1))^2 I):
 * particle n is stream n of the init purpose.
 */
export async function vpInitialParticles(run: RunContext, count: number, schedule: VPSchedule): Promise<Float32Array> {
  const x = await run.timed('init', () => normals(run, run.d, count, streamBase(0, NOISE.init)));
  for (let k = 0; k < x.length; k++) x[k] *= schedule.initialStd;
  return x;
}

/**
 * A DPS step (DPS-GSG's and DPS's): one VP step of x from `denoised`
 * (stochastic when `sde`), minus `guidanceScale` times `guidance`, in place.
 */
export async function guidedVpStep(run: RunContext, schedule: VPSchedule, i: number, x: Float32Array, denoised: Float32Array,
  guidance: Float32Array, guidanceScale: number, sde: boolean, count: number): Promise<void> {
  const noise = sde ? await normals(run, run.d, count, streamBase(i, NOISE.sde)) : undefined;
  await run.timed('sde-step', async () => {
    vpStep(schedule, i, x, denoised, noise);
    for (let k = 0; k < x.length; k++) x[k] -= guidanceScale * guidance[k];
  });
}
