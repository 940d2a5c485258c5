// The contracts every layer shares: the problem (prior, forward model,
// observation, misfit, geometry), the algorithm and its run state, the
// options and results of a solve, and the policies they name. They sit in
// this bottom module so that problems, algorithms, the CLI and the
// adapters all import down to them and never up into one another.
import type { BackendOption } from './backend';
import type { Denoiser } from './prior/denoiser';
import type { RestartPass } from './algorithms/enkg';

export interface ForwardModel {
  /** The shape of one field, [C, H, W]. */
  readonly fieldShape: [number, number, number];
  /** Floats per measurement vector, m. */
  readonly measurementSize: number;
  /**
   * G(x) for `batch` fields (batch x C x H x W, normalized units) ->
   * batch x m measurements. Rejects, never returns garbage, when a field's
   * evaluation fails (see ForwardEvaluationError). The algorithms pass
   * their abort signal in `options`: a model that can stop early rejects
   * with an AbortError; one that ignores it is simply no longer waited for.
   */
  forward(x: Float32Array, batch: number, options?: ForwardOptions): Promise<Float32Array>;
  /**
   * Optional exact gradient of a per-particle misfit with respect to the
   * field, for the gradient-based baselines; black-box models leave it out.
   */
  misfitGradient?(x: Float32Array, residuals: Float32Array, batch: number): Promise<Float32Array>;
}

export interface ForwardOptions {
  signal?: AbortSignal;
}

/** One field whose evaluation failed, and why. */
export interface SampleFailure {
  index: number;
  /** For time-stepping models: the simulated time reached. */
  time?: number;
  reason: string;
}

/**
 * What happens to a particle whose forward evaluation fails (the model
 * rejected it, or returned non-finite values):
 * - ExcludeFailures: it sits out the update it failed in and carries on
 *   unchanged (the default);
 * - AbortOnFailure: the solve rejects with the ForwardEvaluationError;
 * - ResampleFailures: after the update of the particles that evaluated, it is
 *   redrawn from the Gaussian fitted to them (their mean and sample
 *   covariance, drawn in their span as x = mean + sum_k z_k (x^k - mean) /
 *   sqrt(n - 1), z ~ N(0, I)), as EnsembleKalmanProcesses.jl's
 *   SampleSuccGauss does. Only the ensemble methods (EnKG, EKI) resample; the
 *   one-sample baselines leave a failed sample unguided for that step.
 * Every policy fails the run with a clear error when fewer than
 * `minSuccessFraction` of an ensemble evaluation's particles succeed (and an
 * ensemble update always needs two).
 */
export interface FailurePolicy {
  readonly kind: 'exclude' | 'abort' | 'resample';
  readonly minSuccessFraction: number;
}

/**
 * The misfit l(y) of a measurement y against the observation: its value per
 * particle (reported as the run's misfit) and its gradient dl/dy (the
 * residuals of the Kalman step). Scale matters only across components: the
 * Kalman step is normalized by ||C||_F.
 */
export interface MisfitModel {
  /** l(y^n) per particle (batch values; NaN for a row that is not finite). */
  value(y: Float32Array, batch: number): Float64Array;
  /** dl/dy per particle, batch x m. */
  gradient(y: Float32Array, batch: number): Float32Array;
}

/**
 * Where a problem's field values and measurements sit, in units of a
 * periodic domain [0, 1)^2. Treated as immutable: tapers are built once per
 * geometry object and kept with it, so a changed geometry must be a new object.
 */
export interface ProblemGeometry {
  /** d x 2 coordinates (row, column) of the field's values, in [0, 1). */
  fieldPoints: Float64Array;
  /** m x 2 coordinates of the measurements. */
  measurementPoints: Float64Array;
  /**
   * Optional: where in the field each measurement's sensitivity is centred
   * when the field is `x` (d values, as the algorithms hold it), m x 2
   * coordinates in [0, 1). For a problem that transports its field (a
   * flow), the measurement points carried back along x's trajectory.
   * Localization with `follow` centres its taper there, around the
   * ensemble's mean, rebuilt at every step (docs/method.md section 2).
   */
  measurementSources?(x: Float32Array, signal?: AbortSignal): Promise<Float64Array>;
}

export interface InverseProblem {
  prior: Denoiser;
  forward: ForwardModel;
  /** y_obs, forward.measurementSize floats. */
  observation: Float32Array;
  /**
   * The misfit (noise model, see policies.ts): `gradient` gives dl/dy per
   * particle (batch x m), `value` the misfit reported in progress, trace and
   * results. Default: the plain L2 misfit of the reference (L2Misfit:
   * residuals y - y_obs, value ||y - y_obs||^2 / m).
   */
  misfit?: Pick<MisfitModel, 'gradient'> & Partial<Pick<MisfitModel, 'value'>>;
  /** Where field values and measurements sit (for distance localization; localization.ts). */
  geometry?: ProblemGeometry;
}

/**
 * Step numbers are the same everywhere: step k (1..K) is the k-th step of a
 * run, in progress events, trace entries and failures alike, and a run
 * state's `step` is the number of steps done (0 after init, K at the end).
 */
export interface ProgressEvent {
  /** The step just finished, 1..steps. */
  step: number;
  steps: number;
  phase: string;
  /** Mean over particles of ||G(x0) - y_obs||^2 / m (NaN before the first forward evaluation). */
  misfit: number;
  elapsedMs: number;
}

export interface SolveOptions {
  seed?: number;
  backend?: BackendOption;
  signal?: AbortSignal;
  onProgress?(e: ProgressEvent): void;
  /**
   * What a failed forward evaluation of a particle does (policies.ts):
   * ExcludeFailures (default, or 'exclude') leaves that particle out of the
   * update it failed in; ResampleFailures ('resample') redraws it from the
   * Gaussian fitted to the particles that evaluated; AbortOnFailure ('abort')
   * rejects the solve with the ForwardEvaluationError. Failures are recorded
   * in the result's `failures` either way.
   */
  onForwardFailure?: 'exclude' | 'abort' | 'resample' | FailurePolicy;
  /**
   * Save the run state to `dir` (file state.enkgrun, written atomically)
   * after init and every `every` steps (default 1) and at the end; `resume`
   * (lib/algorithms/resume.ts) continues it, in this process or another.
   * `meta` is kept beside the state (the CLI keeps its command line there).
   */
  checkpoint?: CheckpointOption;
}

export interface CheckpointOption {
  dir: string;
  every?: number;
  meta?: Record<string, unknown>;
}

export interface CostRecord {
  forwardEvaluations: number;
  forwardSequential: number;
  denoiserEvaluations: number;
  denoiserSequential: number;
  wallSeconds: number;
  phaseSeconds: Record<string, number>;
  peakRssBytes: number;
}

export interface TraceEntry {
  /** The step (1..K) the entry belongs to. */
  step: number;
  sigma: number;
  misfit: number;
  coefNorm?: number;
  /** sqrt(tr(Cxx)): the ensemble's spread in field space. */
  spreadX?: number;
  /** sqrt(tr(Cyy)): its spread in measurement space. */
  spreadY?: number;
  /** The regularized gain's alpha, when the step used one. */
  alpha?: number;
  /**
   * With a taper that follows the flow: the mean distance (in units of the
   * domain) between the measurement points and where the taper was centred.
   */
  sourceShift?: number;
}

export interface ForwardFailure extends SampleFailure {
  /** The step (1..K) in which the evaluation failed. */
  step: number;
  /** Set when the ResampleFailures policy redrew the particle. */
  resampled?: true;
}

export interface SolveResult {
  /** N x d, normalized units. */
  particles: Float32Array;
  mean: Float32Array;
  std: Float32Array;
  cost: CostRecord;
  trace: TraceEntry[];
  /** Particles whose forward evaluation failed (see SolveOptions.onForwardFailure). */
  failures: ForwardFailure[];
}

export interface Algorithm {
  readonly name: string;
  /** Every option, defaults filled in: what a run state records and a resume checks. */
  readonly config: object;
  /** init, then advance until the last step, then the result (runToEnd). */
  solve(problem: InverseProblem, opts?: SolveOptions): Promise<SolveResult>;
  /** The run before its first step: particles drawn, nothing evaluated yet. */
  init(problem: InverseProblem, opts?: SolveOptions): Promise<RunState>;
  /** One step of the run; returns the next state and leaves `state` as it was. */
  advance(problem: InverseProblem, state: RunState, opts?: SolveOptions): Promise<RunState>;
}

/** Arrays a run state may carry besides the particles. */
export type StateArray = Float32Array | Float64Array | Uint8Array;

/**
 * A run between two steps, as plain data: everything `advance` needs to
 * continue it and nothing else. All random draws are keyed by (seed, step,
 * purpose, particle) (counter-based Philox streams), so the step index is the
 * random generator's position. A state can be saved and loaded
 * (lib/algorithms/checkpoint.ts) and continued in another process with
 * identical results.
 */
export interface RunState {
  /** The algorithm's registry name and its full configuration. */
  algorithm: string;
  config: object;
  seed: number;
  /** Steps done: 0 after init, `steps` when the run is finished. */
  step: number;
  steps: number;
  /** N particles of d floats (normalized units). */
  particles: Float32Array;
  ensembleSize: number;
  /** What the algorithm carries from one step to the next besides the particles (DPG's running losses, ...). */
  carry: Record<string, StateArray>;
  cost: CostRecord;
  trace: TraceEntry[];
  failures: ForwardFailure[];
  /** The last data misfit (NaN before the first forward evaluation). */
  misfit: number;
}

/** What runToEnd may do between steps. */
export interface StepHooks {
  /** Called after every step with the new state (a checkpoint writer, a driver that stops at a boundary). */
  afterStep?(state: RunState): Promise<void> | void;
  /** Checked before each step: true stops the run at this boundary (the state so far is returned unfinished). */
  stopRequested?(): boolean;
}

/** The sizes a user sets from the command line. */
export interface AlgorithmSizes {
  /** Particles (N); 1 for the single-sample baselines. */
  ensemble: number;
  /** EnKG: diffusion steps K; EKI: iterations; DPS/DPG/SCG: VP steps. */
  steps: number;
  /** EnKG only: corrections per guided step (U). */
  updates?: number;
  /** EnKG only: restart passes after the K steps (EnKGOptions.restarts; [] for none). */
  restarts?: RestartPass[];
}
