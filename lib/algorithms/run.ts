// What every inverse-problem algorithm shares: the problem and option types,
// argument checks, and a RunContext that counts the cost of a run (docs/method.md
// section 5), times its phases, honours the abort signal, and turns failed
// forward evaluations into recorded, excluded particles rather than NaN in
// the ensemble.
import { abortError, raceAbort } from '../abort';
import { BackendName, BackendOption, resolveBackend } from '../backend';
import { forChunks, forRows } from '../chunked';
import { meanAndStdChunked } from '../metrics/moments';
import { failurePolicy } from './policies';
import type {
  Algorithm, CheckpointOption, CostRecord, ForwardFailure, InverseProblem, ProgressEvent, RunState, SolveOptions, SolveResult, StateArray, StepHooks, TraceEntry, FailurePolicy,
} from '../types';

export type { Algorithm, CheckpointOption, CostRecord, ForwardFailure, InverseProblem, ProgressEvent, RunState, SolveOptions, SolveResult, StateArray, StepHooks, TraceEntry };
import { saveCheckpoint } from './checkpoint';
import { stableJson } from './stable-json';
import { Denoiser, fieldSize } from '../prior/denoiser';
import { ForwardEvaluationError, ForwardModel, SampleFailure } from '../problems/forward-model';
import {
  expected, requireFloat32Array, requireInteger, requireKnownKeys, requireObject, requireOneOf,
} from '../validate';

export { abortError };












/** Whether every step of the state's run has been taken. */
export function finished(state: RunState): boolean {
  return state.step >= state.steps;
}

/** The result of a finished (or stopped) run: particles with their mean, standard deviation and cost. */
export async function resultOf(state: RunState, d: number): Promise<SolveResult> {
  const N = state.ensembleSize;
  const { mean, std } = await meanAndStdChunked(state.particles, N, d);
  return { particles: state.particles, mean, std, cost: state.cost, trace: state.trace, failures: state.failures };
}


/**
 * solve() for every algorithm: init (or a given state), then one advance
 * per step. With `stopRequested` the loop can end early at a step boundary;
 * `state` tells whether the run finished.
 */
export async function runSteps(algorithm: Algorithm, problem: InverseProblem, opts: SolveOptions | undefined,
  hooks: StepHooks = {}, from?: RunState): Promise<RunState> {
  let state = from ?? await algorithm.init(problem, opts);
  while (!finished(state)) {
    if (hooks.stopRequested?.()) break;
    state = await algorithm.advance(problem, state, opts);
    await hooks.afterStep?.(state);
  }
  return state;
}

/** The checkpoint option checked: a folder and a positive step interval. */
export function checkCheckpointOption(value: unknown): Required<Omit<CheckpointOption, 'meta'>> & Pick<CheckpointOption, 'meta'> {
  const option = requireObject(value, 'checkpoint') as unknown as CheckpointOption;
  requireKnownKeys(option as unknown as Record<string, unknown>, ['dir', 'every', 'meta'], 'checkpoint');
  if (typeof option.dir !== 'string' || option.dir === '') throw new TypeError(expected('a folder path', 'checkpoint.dir', option.dir));
  const every = option.every === undefined ? 1 : requireInteger(option.every, 'checkpoint.every', 1);
  return { dir: option.dir, every, meta: option.meta };
}

/** Hooks that save the state to the checkpoint folder every `every` steps and at the end. */
export function checkpointHooks(problem: InverseProblem, option: CheckpointOption | undefined): StepHooks {
  if (option === undefined) return {};
  const { dir, every, meta } = checkCheckpointOption(option);
  return {
    afterStep: async (state) => {
      if (state.step % every === 0 || finished(state)) await saveCheckpoint(dir, state, problem, meta);
    },
  };
}

/** init, every step, result: the body of each algorithm's solve(). With `checkpoint`, the state is saved as it goes. */
export async function runToEnd(algorithm: Algorithm, problem: InverseProblem, opts?: SolveOptions): Promise<SolveResult> {
  const hooks = checkpointHooks(problem, opts?.checkpoint);
  let first: RunState | undefined;
  if (hooks.afterStep) {
    // The state before the first step is saved too: a run killed in step 1 resumes from there.
    first = await algorithm.init(problem, opts);
    await hooks.afterStep(first);
  }
  const state = await runSteps(algorithm, problem, opts, hooks, first);
  return await resultOf(state, checkProblem(problem).d);
}

const SOLVE_KEYS = ['seed', 'backend', 'signal', 'onProgress', 'onForwardFailure', 'checkpoint'] as const;

/** Checks a problem against itself: field shapes agree, the observation has m finite floats. */
export function checkProblem(problem: unknown): { d: number; m: number } {
  const p = requireObject(problem, 'problem') as unknown as InverseProblem;
  // Other properties are the caller's (a truth kept beside the problem, a
  // class that implements InverseProblem): they are left alone.
  if (typeof p.prior?.denoise !== 'function' || !Array.isArray(p.prior.shape)) {
    throw new TypeError(expected('a Denoiser (shape, denoise)', 'problem.prior', p.prior));
  }
  if (typeof p.forward?.forward !== 'function' || !Array.isArray(p.forward.fieldShape)) {
    throw new TypeError(expected('a ForwardModel (fieldShape, measurementSize, forward)', 'problem.forward', p.forward));
  }
  const priorShape = p.prior.shape.join(' x '), fieldShape = p.forward.fieldShape.join(' x ');
  if (priorShape !== fieldShape) {
    throw new RangeError(expected(`a prior whose field shape is the forward model's (${fieldShape})`,
      'problem.prior.shape', priorShape, true));
  }
  const m = requireInteger(p.forward.measurementSize, 'problem.forward.measurementSize', 1);
  const y = requireFloat32Array(p.observation, 'problem.observation');
  if (y.length !== m) throw new RangeError(expected(`${m} floats (forward.measurementSize)`, 'problem.observation.length', y.length));
  const bad = y.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new RangeError(expected('finite values', `problem.observation[${bad}]`, y[bad]));
  if (p.misfit !== undefined && typeof p.misfit?.gradient !== 'function') {
    throw new TypeError(expected('{ gradient(y, batch) }', 'problem.misfit', p.misfit));
  }
  return { d: fieldSize(p.prior.shape), m };
}

/** A Denoiser that counts for a RunContext and splits large batches. */
class CountingDenoiser implements Denoiser {
  readonly shape: [number, number, number];
  readonly jvp?: Denoiser['jvp'];
  constructor(private readonly run: RunContext, private readonly inner: Denoiser, private readonly maxBatch: number) {
    this.shape = inner.shape;
    if (inner.jvp) {
      const jvp = inner.jvp.bind(inner);
      this.jvp = async (x, sigma, v, batch) => {
        this.run.checkAbort();
        const out = await this.run.timed('denoiser', () => raceAbort(jvp(x, sigma, v, batch), this.run.signal));
        this.run.countDenoiser(batch);
        return await checkFinite(out, 'prior.jvp', sigma);
      };
    }
  }
  get evaluations(): number {
    return this.run.cost.denoiserEvaluations;
  }
  async denoise(x: Float32Array, sigma: number | Float32Array, batch: number): Promise<Float32Array> {
    this.run.checkAbort();
    const d = fieldSize(this.shape);
    const out = await this.run.timed('denoiser', async () => {
      if (batch <= this.maxBatch) return raceAbort(this.inner.denoise(x, sigma, batch), this.run.signal);
      const result = new Float32Array(batch * d);
      for (let start = 0; start < batch; start += this.maxBatch) {
        const n = Math.min(this.maxBatch, batch - start);
        const s = typeof sigma === 'number' ? sigma : sigma.subarray(start, start + n);
        result.set(await raceAbort(this.inner.denoise(x.subarray(start * d, (start + n) * d), s, n), this.run.signal), start * d);
        this.run.checkAbort();
      }
      return result;
    });
    this.run.countDenoiser(batch);
    return await checkFinite(out, 'prior.denoise', sigma);
  }
}

async function checkFinite(values: Float32Array, what: string, sigma: number | Float32Array): Promise<Float32Array> {
  let bad = -1;
  await forChunks(values.length, (start, end) => {
    for (let i = start; i < end && bad < 0; i++) if (!Number.isFinite(values[i])) bad = i;
  });
  if (bad >= 0) {
    const level = typeof sigma === 'number' ? sigma : 'per-field levels';
    throw new RangeError(`${what} returned a non-finite value (${values[bad]}) at index ${bad} (sigma ${level}): `
      + 'the prior does not produce finite fields for this input');
  }
  return values;
}

/** The outcome of one batched forward evaluation. */
export interface ForwardOutcome {
  /** batch x m; rows of failed particles are NaN. */
  y: Float32Array;
  /** ok[n] = 1 when particle n evaluated; undefined when all did. */
  ok?: Uint8Array;
  okCount: number;
}

/**
 * Bookkeeping for one solve: counts, phase timers, progress, abort, and the
 * forward-failure policy. Algorithms call the prior through `prior` and the
 * forward model through `forward()` so every evaluation is counted once.
 */
export class RunContext {
  readonly cost: CostRecord = {
    forwardEvaluations: 0, forwardSequential: 0, denoiserEvaluations: 0, denoiserSequential: 0,
    wallSeconds: 0, phaseSeconds: {}, peakRssBytes: 0,
  };
  readonly trace: TraceEntry[] = [];
  readonly failures: ForwardFailure[] = [];
  readonly prior: Denoiser;
  readonly d: number;
  readonly m: number;
  readonly seed: number;
  readonly signal?: AbortSignal;
  readonly policy: FailurePolicy;
  step = 0;
  steps = 0;
  lastMisfit = NaN;
  private readonly started = process.hrtime.bigint();
  /** Wall seconds spent by the run before this context (earlier steps, another process). */
  private wallBefore = 0;
  private readonly onProgress?: (e: ProgressEvent) => void;

  private constructor(readonly problem: InverseProblem, readonly backend: BackendName, opts: SolveOptions,
    maxBatch: number) {
    const { d, m } = checkProblem(problem);
    this.d = d;
    this.m = m;
    this.seed = opts.seed === undefined ? 0 : requireInteger(opts.seed, 'seed', 0);
    this.signal = opts.signal;
    this.onProgress = opts.onProgress;
    this.policy = failurePolicy(opts.onForwardFailure);
    this.prior = new CountingDenoiser(this, problem.prior, maxBatch);
  }

  /**
   * The context of one step of a run: the problem and options checked, the
   * backend resolved, and the counts, trace and failures taken over from
   * `state` (which must come from `algorithm` with the same configuration).
   */
  static async resume(algorithm: Algorithm, problem: InverseProblem, state: RunState, opts: SolveOptions | undefined,
    maxBatch = Infinity): Promise<RunContext> {
    checkState(algorithm, state);
    const run = await RunContext.create(problem, opts, maxBatch);
    if (state.seed !== run.seed) {
      throw new RangeError(expected(`the run's seed (${state.seed})`, 'seed', run.seed));
    }
    if (state.particles.length !== state.ensembleSize * run.d) {
      throw new RangeError(expected(`ensembleSize x d = ${state.ensembleSize} x ${run.d} particle floats (the problem's field)`,
        'state.particles.length', state.particles.length));
    }
    Object.assign(run.cost, structuredClone(state.cost), { phaseSeconds: { ...state.cost.phaseSeconds } });
    run.wallBefore = state.cost.wallSeconds;
    run.trace.push(...state.trace);
    run.failures.push(...state.failures);
    run.step = state.step;
    run.steps = state.steps;
    run.lastMisfit = state.misfit;
    return run;
  }

  /** Validates the problem and options (before any work) and resolves the backend. */
  static async create(problem: InverseProblem, opts: SolveOptions | undefined, maxBatch = Infinity): Promise<RunContext> {
    const options = opts === undefined ? {} : requireObject(opts, 'solve options') as SolveOptions;
    requireKnownKeys(options as Record<string, unknown>, SOLVE_KEYS, 'solve options');
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
      throw new TypeError(expected('an AbortSignal', 'signal', options.signal));
    }
    if (options.onProgress !== undefined && typeof options.onProgress !== 'function') {
      throw new TypeError(expected('a function', 'onProgress', options.onProgress));
    }
    const backend = await resolveBackend(options.backend);
    const run = new RunContext(problem, backend, options, maxBatch);
    run.checkAbort();
    return run;
  }

  checkAbort(): void {
    if (this.signal?.aborted) throw abortError(this.signal);
  }

  countDenoiser(fields: number): void {
    this.cost.denoiserEvaluations += fields;
    this.cost.denoiserSequential += 1;
  }

  async timed<T>(phase: string, work: () => Promise<T>): Promise<T> {
    const t0 = process.hrtime.bigint();
    try {
      return await work();
    } finally {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      this.cost.phaseSeconds[phase] = (this.cost.phaseSeconds[phase] ?? 0) + seconds;
    }
  }

  /**
   * G(x) for `batch` fields in one call (one sequential evaluation). A
   * ForwardEvaluationError either aborts the solve or marks its particles
   * as failed (their rows NaN, ok[n] = 0) and records them in `failures`.
   */
  async forward(x: Float32Array, batch: number): Promise<ForwardOutcome> {
    this.checkAbort();
    const { forward } = this.problem;
    const outcome = await this.timed('forward', async (): Promise<ForwardOutcome> => {
      try {
        // The signal goes to models that can stop early (NavierStokes2D
        // does); the race stops waiting for those that cannot.
        const y = await raceAbort(this.signal ? forward.forward(x, batch, { signal: this.signal }) : forward.forward(x, batch), this.signal);
        if (!(y instanceof Float32Array) || y.length !== batch * this.m) {
          throw new RangeError(expected(`batch x m = ${batch * this.m} floats from forward.forward`, 'its result', y));
        }
        return await this.screen(y, batch, []);
      } catch (error) {
        if (!(error instanceof ForwardEvaluationError) || this.policy.kind === 'abort') throw error;
        return await this.screen(error.partial, batch, error.failures);
      }
    });
    this.cost.forwardEvaluations += batch;
    this.cost.forwardSequential += 1;
    return outcome;
  }

  // Marks the rows that failed or hold non-finite values.
  private async screen(y: Float32Array, batch: number, failures: SampleFailure[]): Promise<ForwardOutcome> {
    const ok = new Uint8Array(batch).fill(1);
    const reasons = new Map<number, SampleFailure>();
    for (const f of failures) reasons.set(f.index, f);
    await forRows(batch, this.m, (first, end) => {
      for (let n = first; n < end; n++) {
        let bad = reasons.has(n);
        for (let k = 0; k < this.m && !bad; k++) bad = !Number.isFinite(y[n * this.m + k]);
        if (!bad) continue;
        ok[n] = 0;
        y.fill(NaN, n * this.m, (n + 1) * this.m);
        const failure = reasons.get(n) ?? { index: n, reason: 'the forward model returned non-finite measurements' };
        this.failures.push({ ...failure, step: this.step });
      }
    });
    const okCount = ok.reduce((a, b) => a + b, 0);
    if (okCount === batch) return { y, okCount };
    const least = this.policy.minSuccessFraction;
    if (this.policy.kind !== 'abort' && okCount < least * batch) {
      throw new ForwardEvaluationError(`Only ${okCount} of ${batch} forward evaluations succeeded at step ${this.step}, `
        + `below the failure policy's minimum success fraction ${least} (${this.policy.kind}); the error's failures list them`,
      this.failures.slice(-(batch - okCount)), y);
    }
    if (this.policy.kind === 'abort') {
      throw new ForwardEvaluationError(`${batch - okCount} of ${batch} forward evaluations failed at step ${this.step}`,
        this.failures.slice(-(batch - okCount)), y);
    }
    return { y, ok, okCount };
  }

  /** dl/dy per particle: the problem's misfit gradient, or y - y_obs. */
  async residuals(y: Float32Array, batch: number): Promise<Float32Array> {
    if (this.problem.misfit) {
      const r = this.problem.misfit.gradient(y, batch);
      if (!(r instanceof Float32Array) || r.length !== batch * this.m) {
        throw new RangeError(expected(`batch x m = ${batch * this.m} floats from misfit.gradient`, 'its result', r));
      }
      return r;
    }
    const obs = this.problem.observation, m = this.m;
    const r = new Float32Array(batch * m);
    await forRows(batch, m, (first, end) => {
      for (let n = first; n < end; n++) for (let k = 0; k < m; k++) r[n * m + k] = y[n * m + k] - obs[k];
    });
    return r;
  }

  /**
   * The mean misfit over the particles that evaluated: the problem's misfit
   * model's value when it has one, else ||y - y_obs||^2 / m (see dataMisfit).
   */
  async misfit(y: Float32Array, batch: number): Promise<number> {
    const model = this.problem.misfit;
    if (model?.value) {
      const values = model.value(y, batch);
      let total = 0, counted = 0;
      for (const v of values) {
        if (Number.isFinite(v)) {
          total += v;
          counted++;
        }
      }
      this.lastMisfit = counted > 0 ? total / counted : NaN;
    } else {
      const observation = this.problem.observation, m = observation.length;
      let total = 0, counted = 0;
      await forRows(batch, m, (first, end) => {
        const part = dataMisfit(y.subarray(first * m, end * m), end - first, observation);
        if (part.counted > 0) total += part.mean * part.counted;
        counted += part.counted;
      });
      this.lastMisfit = counted > 0 ? total / counted : NaN;
    }
    return this.lastMisfit;
  }

  get elapsedMs(): number {
    return Number(process.hrtime.bigint() - this.started) / 1e6;
  }

  progress(phase: string): void {
    this.checkAbort();
    this.onProgress?.({ step: this.step, steps: this.steps, phase, misfit: this.lastMisfit, elapsedMs: this.elapsedMs });
  }

  /** The run as a state after `this.step` steps (the arrays are taken, not copied). */
  snapshot(algorithm: Algorithm, particles: Float32Array, N: number, carry: Record<string, StateArray> = {}): RunState {
    this.cost.wallSeconds = this.wallBefore + this.elapsedMs / 1000;
    this.cost.peakRssBytes = Math.max(this.cost.peakRssBytes, process.resourceUsage().maxRSS * 1024);
    return {
      algorithm: algorithm.name, config: algorithm.config, seed: this.seed, step: this.step, steps: this.steps,
      particles, ensembleSize: N, carry, cost: { ...this.cost, phaseSeconds: { ...this.cost.phaseSeconds } },
      trace: this.trace.slice(), failures: this.failures.slice(), misfit: this.lastMisfit,
    };
  }
}

/** A state `algorithm` can continue: its own name and configuration, a step inside the run. */
export function checkState(algorithm: Algorithm, state: RunState): void {
  requireObject(state, 'state');
  if (state.algorithm !== algorithm.name) {
    throw new RangeError(`Expected a run state of ${algorithm.name} but received one of ${String(state.algorithm)}`);
  }
  const mine = stableJson(algorithm.config), theirs = stableJson(state.config);
  if (mine !== theirs) {
    throw new RangeError(`Expected a run state with this ${algorithm.name} configuration but received another: `
      + `the state has ${theirs}, the algorithm ${mine}`);
  }
  requireInteger(state.steps, 'state.steps', 0);
  requireInteger(state.step, 'state.step', 0);
  if (state.step > state.steps) throw new RangeError(expected(`a step in 0..${state.steps}`, 'state.step', state.step));
  requireFloat32Array(state.particles, 'state.particles');
}

/**
 * The data misfit ||y^n - y_obs||^2 / m averaged over the rows of y that are
 * finite (failed evaluations are NaN rows); `counted` says how many were.
 */
export function dataMisfit(y: Float32Array, batch: number, observation: Float32Array): { mean: number; counted: number } {
  const m = observation.length;
  let total = 0, counted = 0;
  for (let n = 0; n < batch; n++) {
    let s = 0;
    for (let k = 0; k < m; k++) s += (y[n * m + k] - observation[k]) ** 2;
    if (Number.isFinite(s)) {
      total += s / m;
      counted++;
    }
  }
  return { mean: counted > 0 ? total / counted : NaN, counted };
}

/** The rows of `a` (rows of `width`) whose ok flag is set, packed. */
export function packRows(a: Float32Array, width: number, ok: Uint8Array): Float32Array {
  const count = ok.reduce((s, v) => s + v, 0);
  const out = new Float32Array(count * width);
  let r = 0;
  for (let n = 0; n < ok.length; n++) if (ok[n]) out.set(a.subarray(n * width, (n + 1) * width), width * r++);
  return out;
}

/** Writes packed rows back into the ok rows of `a` (the inverse of packRows). */
export function unpackRows(packed: Float32Array, width: number, ok: Uint8Array, a: Float32Array): void {
  let r = 0;
  for (let n = 0; n < ok.length; n++) if (ok[n]) a.set(packed.subarray(width * r, width * ++r), n * width);
}
