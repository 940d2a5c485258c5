// DPS with a Gaussian-smoothed gradient (docs/method.md section 3; appendix A.3 of
// the paper, Forward-GSG and Central-GSG): diffusion posterior sampling on
// the reference's VP schedule whose likelihood gradient is estimated from
// forward evaluations only, g ~ grad L(x0) at x0 = D(x_t / s, sigma), and
// carried back to x_t through the denoiser's Jacobian (jacobian.ts).
import { randomNormal } from '../random';
import {
  expected, requireFloat32Array, requireInteger, requireKnownKeys, requireObject, requireOneOf, requirePositive,
} from '../validate';
import { denoiserVjp, FD_EPSILON, JACOBIAN_METHODS, JacobianMethod } from './jacobian';
import { copyInChunks } from '../chunked';
import { OptionReader } from './options';
import { Algorithm, InverseProblem, RunContext, RunState, runToEnd, SolveOptions, SolveResult } from './run';
import {
  checkStreams, forwardLosses, guidedVpStep, NOISE, readVPOptions, requirePlainMisfit, streamBase, unscale, VP_KEYS,
  vpInitialParticles, VPScheduleOptions, vpSchedule,
} from './vp-schedule';

export type GsgScheme = 'forward' | 'central';

export interface GaussianSmoothedGradientOptions {
  scheme: GsgScheme;
  /**
   * Loss evaluations spent on the estimate per point (the reference's
   * num_queries): q directions for 'forward', q / 2 for 'central' (q even).
   */
  queries: number;
  /** mu, the smoothing radius. */
  smoothing: number;
  seed: number;
  /** First Philox stream (default 0): direction j of point p is stream + p (directions) + j. */
  stream?: number;
  /** How many points x0 holds, row after row (default 1). */
  points?: number;
}

export interface GaussianSmoothedGradient {
  /** points x d: the estimate at each point (0 where it could not be formed). */
  gradient: Float32Array;
  /** L(x0) at each point (NaN where it failed). */
  loss: Float64Array;
  /** Directions that entered each point's estimate (failed evaluations are left out). */
  used: Uint32Array;
}

/** The number of directions u_j a scheme draws for `queries` loss evaluations. */
export function gsgDirections(scheme: GsgScheme, queries: number): number {
  return scheme === 'forward' ? queries : queries / 2;
}

/**
 * The zero-order gradient of L at each point x0 (docs/method.md section 3), with
 * u_j ~ N(0, I) and J directions:
 *   forward: g = 1 / (mu J) sum_j (L(x0 + mu u_j) - L(x0)) u_j,
 *   central: g = 1 / (2 mu J) sum_j (L(x0 + mu u_j) - L(x0 - mu u_j)) u_j.
 * `loss` is called once, with points (1 + queries) rows: first the points
 * themselves (L(x0), which the forward scheme needs and DPS uses for its
 * scale), then point p's perturbations, for 'central' as (+, -) pairs.
 * Non-finite losses drop their direction (a central pair drops together);
 * without a finite L(x0) the forward scheme gives 0.
 */
export async function gaussianSmoothedGradient(loss: (x: Float32Array, batch: number) => Promise<Float64Array>,
  x0: Float32Array, opts: GaussianSmoothedGradientOptions): Promise<GaussianSmoothedGradient> {
  requireKnownKeys(requireObject(opts, 'gaussianSmoothedGradient(options)'),
    ['scheme', 'queries', 'smoothing', 'seed', 'stream', 'points'], 'gaussianSmoothedGradient');
  if (typeof loss !== 'function') throw new TypeError(expected('a function (x, batch) => losses', 'loss', loss));
  requireFloat32Array(x0, 'x0');
  const scheme = requireOneOf(opts.scheme, ['forward', 'central'] as const, 'scheme');
  const queries = requireInteger(opts.queries, 'queries', scheme === 'forward' ? 1 : 2);
  if (scheme === 'central' && queries % 2 !== 0) {
    throw new RangeError(expected("an even number (a + and a - evaluation per direction) for scheme 'central'",
      'queries', queries));
  }
  const mu = requirePositive(opts.smoothing, 'smoothing');
  const seed = requireInteger(opts.seed, 'seed', 0);
  const stream = opts.stream === undefined ? 0 : requireInteger(opts.stream, 'stream', 0);
  const P = opts.points === undefined ? 1 : requireInteger(opts.points, 'points', 1);
  if (x0.length === 0 || x0.length % P !== 0) {
    throw new RangeError(expected(`a positive multiple of ${P} floats (points x d)`, 'x0.length', x0.length));
  }
  const d = x0.length / P, J = gsgDirections(scheme, queries);

  const u = await randomNormal({ count: d, streams: P * J, seed, stream, backend: 'cpu' });
  const rows = P * (1 + queries);
  const x = new Float32Array(rows * d);
  x.set(x0);
  const sign = scheme === 'forward' ? [1] : [1, -1];
  for (let p = 0; p < P; p++) {
    for (let j = 0; j < J; j++) {
      const base = p * d, dir = (p * J + j) * d;
      for (let e = 0; e < sign.length; e++) {
        const row = (P + (p * J + j) * sign.length + e) * d;
        for (let k = 0; k < d; k++) x[row + k] = x0[base + k] + sign[e] * mu * u[dir + k];
      }
    }
  }
  const L = await loss(x, rows);
  if (!(L instanceof Float64Array) || L.length !== rows) {
    throw new RangeError(expected(`a Float64Array of ${rows} losses from loss()`, 'its result', L));
  }

  const gradient = new Float32Array(P * d), used = new Uint32Array(P);
  const acc = new Float64Array(d);
  for (let p = 0; p < P; p++) {
    acc.fill(0);
    let count = 0;
    for (let j = 0; j < J; j++) {
      const q = P + (p * J + j) * sign.length;
      const diff = scheme === 'forward' ? L[q] - L[p] : L[q] - L[q + 1];
      if (!Number.isFinite(diff)) continue;
      count++;
      const dir = (p * J + j) * d;
      for (let k = 0; k < d; k++) acc[k] += diff * u[dir + k];
    }
    used[p] = count;
    if (count === 0) continue;
    const c = 1 / (sign.length * mu * count);
    for (let k = 0; k < d; k++) gradient[p * d + k] = acc[k] * c;
  }
  return { gradient, loss: L.slice(0, P), used };
}

export interface DPSGSGOptions extends VPScheduleOptions {
  /** Independent samples run together as one batch (the reference draws 1). */
  ensembleSize?: number;
  /** 'central' (the reference's is_central: True) or 'forward'. */
  scheme?: GsgScheme;
  /** Loss evaluations per sample and step for the estimate (1024): q directions forward, q / 2 central. */
  queries?: number;
  /** mu, the smoothing radius (0.01). */
  smoothing?: number;
  /** The DPS step scale (0.01). */
  guidanceScale?: number;
  /** Stochastic (true, the reference) or deterministic VP steps. */
  sde?: boolean;
  /** How J_D^T g is formed: 'auto' (exact when the prior has it, else finite differences), 'exact', 'finite-difference'. */
  jacobian?: JacobianMethod;
  /** The finite difference's relative step (cbrt of float32 epsilon, about 4.9e-3). */
  fdEpsilon?: number;
  /** Largest batch handed to the denoiser at once (default: the largest the algorithm forms, 2 ensembleSize). */
  batchSize?: number;
  /** Largest batch handed to the forward model at once (default: all ensembleSize (1 + queries) of a step). */
  forwardBatchSize?: number;
}

const DPS_KEYS = [
  'ensembleSize', 'scheme', 'queries', 'smoothing', 'guidanceScale', 'sde', 'jacobian', 'fdEpsilon', 'batchSize',
  'forwardBatchSize', ...VP_KEYS,
] as const;

/**
 * Per step i, for every sample: x0 = D(x / s, sigma); g = GSG of L at x0
 * (one forward call of N (1 + q) fields, L(x0) included); the DPS gradient
 * of sqrt(L), J^T g / s * 0.5 / sqrt(L(x0)); then
 * x' = x scalingFactor + f score + sqrt(f) eps - guidanceScale (that gradient).
 * Cost per step: N (1 + q) forward evaluations in 1 sequential call (more
 * when forwardBatchSize splits it); denoiser N + 2N fields (finite
 * difference) or N + N (exact jvp) in 2 sequential calls.
 */
export class DPSGSG implements Algorithm {
  readonly name: 'dps-gsg-forward' | 'dps-gsg-central';
  readonly config: Required<DPSGSGOptions>;

  constructor(options: DPSGSGOptions = {}) {
    const o = new OptionReader(options, 'DPS-GSG', DPS_KEYS);
    const ensembleSize = o.integer('ensembleSize', 1, 1);
    const sde = o.raw('sde');
    if (sde !== undefined && typeof sde !== 'boolean') throw new TypeError(expected('a boolean', 'DPS-GSG sde', sde));
    const scheme = o.raw('scheme') === undefined ? 'central'
      : requireOneOf(o.raw('scheme'), ['forward', 'central'] as const, 'DPS-GSG scheme');
    const queries = o.integer('queries', 1024, scheme === 'forward' ? 1 : 2);
    if (scheme === 'central' && queries % 2 !== 0) {
      throw new RangeError(expected("an even number for scheme 'central' (a + and a - evaluation per direction)",
        'DPS-GSG queries', queries));
    }
    this.config = {
      ensembleSize,
      scheme,
      queries,
      smoothing: o.positive('smoothing', 0.01),
      guidanceScale: o.number('guidanceScale', 0.01, 0),
      sde: sde ?? true,
      jacobian: o.raw('jacobian') === undefined ? 'auto' : requireOneOf(o.raw('jacobian'), JACOBIAN_METHODS, 'DPS-GSG jacobian'),
      fdEpsilon: o.positive('fdEpsilon', FD_EPSILON),
      batchSize: o.integer('batchSize', 2 * ensembleSize, 1),
      forwardBatchSize: o.integer('forwardBatchSize', ensembleSize * (1 + queries), 1),
      ...readVPOptions(o, 'DPS-GSG'),
    };
    checkStreams(ensembleSize * gsgDirections(scheme, queries), 'DPS-GSG', 'ensembleSize x directions');
    this.name = scheme === 'forward' ? 'dps-gsg-forward' : 'dps-gsg-central';
  }

  solve(problem: InverseProblem, opts?: SolveOptions): Promise<SolveResult> {
    return runToEnd(this, problem, opts);
  }

  /** x ~ N(0, (sigma(1) s(1))^2 I): particle n is stream n of the seed. */
  async init(problem: InverseProblem, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.create(problem, opts, c.batchSize);
    requirePlainMisfit(run, 'DPS-GSG');
    run.steps = c.steps;
    const schedule = vpSchedule(c);
    return run.snapshot(this, await vpInitialParticles(run, c.ensembleSize, schedule), c.ensembleSize);
  }

  /** VP step i = state.step with the smoothed-gradient guidance. */
  async advance(problem: InverseProblem, state: RunState, opts?: SolveOptions): Promise<RunState> {
    const c = this.config;
    const run = await RunContext.resume(this, problem, state, opts, c.batchSize);
    requirePlainMisfit(run, 'DPS-GSG');
    const N = c.ensembleSize, d = run.d, m = run.m, i = state.step;
    if (i >= c.steps) return state;
    const schedule = vpSchedule(c);
    const x = await copyInChunks(state.particles);
    run.step = i + 1;
    const s = schedule.scaling[i], sigma = schedule.sigma[i];
    const xs = unscale(x, s);
    const denoised = await run.prior.denoise(xs, sigma, N);

    let baseY = new Float32Array(0);
    const estimate = await gaussianSmoothedGradient(async (rows, batch) => {
      const { loss, y } = await forwardLosses(run, rows, batch, c.forwardBatchSize);
      baseY = y.slice(0, N * m);
      return loss;
    }, denoised, {
      scheme: c.scheme, queries: c.queries, smoothing: c.smoothing, seed: run.seed,
      stream: streamBase(i, NOISE.directions), points: N,
    });
    const misfit = await run.misfit(baseY, N);

    // d sqrt(L) / d x_t = (1 / s) J_D(x / s)^T g / (2 sqrt(L)); a sample
    // whose L(x0) failed or is 0 gets no guidance this step.
    const v = estimate.gradient;
    for (let n = 0; n < N; n++) {
      const L = estimate.loss[n];
      const w = Number.isFinite(L) && L > 0 ? 0.5 / (s * Math.sqrt(L)) : 0;
      for (let k = 0; k < d; k++) v[n * d + k] *= w;
    }
    const guidance = await denoiserVjp(run.prior, xs, sigma, v, N, { method: c.jacobian, epsilon: c.fdEpsilon });

    await guidedVpStep(run, schedule, i, x, denoised, guidance, c.guidanceScale, c.sde, N);
    run.trace.push({ step: run.step, sigma, misfit });
    run.progress('guided');
    return run.snapshot(this, x, N);
  }
}
