// Navier-Stokes 2D (docs/method.md section 4.1): the pseudo-spectral solver as a
// batched forward model. Recover the initial vorticity from the (subsampled,
// noisy) vorticity at time T.
import { BackendOption, resolveSpectralBackend } from '../backend';
import { callNative, native } from '../binding';
import { randomNormal } from '../random';
import {
  expected, requireEvenResolution, requireFloat32Array, requireInteger, requireKnownKeys, requireNumber, requireObject,
  requireOneOf, requirePositive,
} from '../validate';
import { abortError } from '../abort';
import { forChunks, forRows } from '../chunked';
import { ForwardEvaluationError, ForwardModel, ForwardOptions, SampleFailure } from './forward-model';

export interface NavierStokes2DOptions {
  resolution: number;
  /** Re (default 200). */
  reynolds?: number;
  /** T, the time of the observation (default 1). */
  time?: number;
  /** Observation subsampling in each direction (default 2). */
  downsample?: number;
  /** Std of the Gaussian observation noise, physical units (default 0). */
  noiseStd?: number;
  /** Normalized -> physical: w = scale * x (default 10). */
  scale?: number;
  /** Adaptive CFL step (default true; false when only `dt` is given). */
  adaptive?: boolean;
  /** Fixed step when not adaptive. */
  dt?: number;
  /** 'sample' (default): each field its own step; 'batch': the smallest step of the batch (the reference). */
  dtMode?: 'sample' | 'batch';
  /** 'kolmogorov' (default): f = -4 cos(4 y); 'none'. */
  forcing?: 'kolmogorov' | 'none';
  /** Working precision (default 'float32', as the reference runs). */
  precision?: 'float32' | 'float64';
  backend?: BackendOption;
  /**
   * Time-step budget per field. A field that would need more (a wild input
   * whose CFL step collapses) stops and is reported as a failure instead of
   * stalling the batch. Default: `STEP_BUDGET_PER_CELL_TIME x resolution x
   * time` of the solve (at least 1), about 50 times what the prior's fields
   * need (9-11 x resolution steps per unit time); 0: no budget.
   */
  maxSteps?: number;
  /**
   * How the fields are advanced (default 'auto'). 'library': whole batches
   * through FFTW (CPU) or cuFFT (GPU) between element-wise passes. 'fused':
   * each field carried through its whole solve by one worker with its own
   * transforms (on a GPU one thread block, in shared memory; on the CPU a
   * slow reference run of that algorithm, one thread per field); it needs
   * dtMode 'sample' and a power-of-two resolution from 16 to 128
   * (on a GPU, float64 up to 64). 'auto': fused
   * on a GPU where it applies, else library.
   */
  kernel?: 'auto' | 'library' | 'fused';
}

/** The default step budget per grid cell along an axis and per unit time (see maxSteps). */
export const STEP_BUDGET_PER_CELL_TIME = 500;

const OPTION_KEYS = [
  'resolution', 'reynolds', 'time', 'downsample', 'noiseStd', 'scale', 'adaptive', 'dt', 'dtMode', 'forcing',
  'precision', 'backend', 'maxSteps', 'kernel',
] as const;

export interface SolveFieldOptions {
  /** The end time (default: the model's `time`). */
  time?: number;
  /** Stops the solve early with an AbortError. */
  signal?: AbortSignal;
}

export interface SolveDetails {
  /** batch x R x R, physical units; NaN rows for failed fields. */
  fields: Float32Array;
  failures: SampleFailure[];
  /**
   * Time steps taken by the longest-running field (in dtMode 'batch', the
   * steps the batch took together). Steps a finished field sits out are not
   * counted, on any backend.
   */
  steps: number;
  /** The kernel that ran (see NavierStokes2DOptions.kernel). */
  kernel: 'library' | 'fused';
}

export class NavierStokes2D implements ForwardModel {
  readonly resolution: number;
  readonly reynolds: number;
  readonly time: number;
  readonly downsample: number;
  readonly noiseStd: number;
  readonly scale: number;
  readonly adaptive: boolean;
  readonly dt: number | undefined;
  readonly dtMode: 'sample' | 'batch';
  readonly forcing: 'kolmogorov' | 'none';
  readonly precision: 'float32' | 'float64';
  readonly backend: BackendOption;
  /** The step budget asked for; undefined: the default, which depends on each solve's time. */
  readonly maxSteps: number | undefined;
  readonly kernel: 'auto' | 'library' | 'fused';
  readonly fieldShape: [1, number, number];
  readonly measurementSize: number;

  constructor(opts: NavierStokes2DOptions) {
    requireKnownKeys(requireObject(opts, 'NavierStokes2D(options)'), OPTION_KEYS, 'NavierStokes2D');
    this.resolution = requireEvenResolution(opts.resolution);
    this.reynolds = opts.reynolds === undefined ? 200 : requirePositive(opts.reynolds, 'reynolds');
    this.time = opts.time === undefined ? 1 : requireNumber(opts.time, 'time', 0);
    this.downsample = opts.downsample === undefined ? 2 : requireInteger(opts.downsample, 'downsample', 1);
    if (this.resolution % this.downsample !== 0) {
      throw new RangeError(expected(`a divisor of resolution = ${this.resolution}`, 'downsample', this.downsample));
    }
    this.noiseStd = opts.noiseStd === undefined ? 0 : requireNumber(opts.noiseStd, 'noiseStd', 0);
    this.scale = opts.scale === undefined ? 10 : requirePositive(opts.scale, 'scale');
    this.dt = opts.dt === undefined ? undefined : requirePositive(opts.dt, 'dt');
    if (opts.adaptive !== undefined && typeof opts.adaptive !== 'boolean') {
      throw new TypeError(expected('a boolean', 'adaptive', opts.adaptive));
    }
    this.adaptive = opts.adaptive ?? this.dt === undefined;
    if (!this.adaptive && this.dt === undefined) {
      throw new TypeError(expected('a fixed step dt when adaptive is false', 'dt', undefined));
    }
    this.dtMode = opts.dtMode === undefined ? 'sample' : requireOneOf(opts.dtMode, ['sample', 'batch'] as const, 'dtMode');
    this.forcing = opts.forcing === undefined ? 'kolmogorov' : requireOneOf(opts.forcing, ['kolmogorov', 'none'] as const, 'forcing');
    this.precision = opts.precision === undefined ? 'float32' : requireOneOf(opts.precision, ['float32', 'float64'] as const, 'precision');
    this.backend = opts.backend ?? 'auto';
    if (!['auto', 'cpu', 'cuda'].includes(this.backend)) {
      throw new TypeError(expected("'cpu', 'cuda' or 'auto'", 'backend', this.backend));
    }
    this.maxSteps = opts.maxSteps === undefined ? undefined : requireInteger(opts.maxSteps, 'maxSteps', 0);
    this.kernel = opts.kernel === undefined ? 'auto' : requireOneOf(opts.kernel, ['auto', 'library', 'fused'] as const, 'kernel');
    this.fieldShape = [1, this.resolution, this.resolution];
    this.measurementSize = (this.resolution / this.downsample) ** 2;
  }

  /**
   * Evolves `batch` fields (physical units) to `time` (default: the model's
   * T); failed fields are reported, not hidden. `signal` stops the solve
   * within a time step or two (an AbortError); the fused GPU kernel, one
   * launch per solve, finishes its launch first.
   */
  async solveDetailed(w0: Float32Array, batch: number, opts: SolveFieldOptions = {}): Promise<SolveDetails> {
    requireFloat32Array(w0, 'w0');
    requireInteger(batch, 'batch', 1);
    requireKnownKeys(requireObject(opts, 'solve(options)'), ['time', 'signal'], 'solve');
    const time = opts.time === undefined ? this.time : requireNumber(opts.time, 'time', 0);
    const signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(expected('an AbortSignal', 'signal', signal));
    const R = this.resolution;
    if (w0.length !== batch * R * R) {
      throw new RangeError(expected(`batch x resolution^2 = ${batch} x ${R * R} = ${batch * R * R} floats`, 'w0.length', w0.length));
    }
    const backend = await resolveSpectralBackend(this.backend);
    const maxSteps = this.stepBudget(time);
    const fields = new Float32Array(w0.length);
    if (signal?.aborted) throw abortError(signal, 'The Navier-Stokes solve');
    const cancel = new Int32Array(1);
    const stop = () => { cancel[0] = 1; };
    signal?.addEventListener('abort', stop, { once: true });
    const { failures, steps, kernel, cancelled } = await callNative(() => native.navierStokesSolve(backend, w0, batch, {
      resolution: R, reynolds: this.reynolds, time, adaptive: this.adaptive, dt: this.dt ?? 1e-3,
      dtMode: this.dtMode, forcing: this.forcing, precision: this.precision, maxSteps, kernel: this.kernel,
      ...(signal ? { cancel } : {}),
    }, fields)).finally(() => signal?.removeEventListener('abort', stop));
    if (cancelled || signal?.aborted) throw abortError(signal!, 'The Navier-Stokes solve');
    return {
      fields,
      steps,
      kernel,
      failures: failures.map(({ index, time, stepLimit }) => ({
        index, time,
        reason: stepLimit ? `it needed more than maxSteps = ${maxSteps} time steps (stopped at t = ${time.toPrecision(4)})`
          : `the vorticity became non-finite at t = ${time.toPrecision(4)}`,
      })),
    };
  }

  /** The step budget of a solve to `time`: maxSteps as given, else the default (see NavierStokes2DOptions.maxSteps). */
  stepBudget(time: number): number {
    if (this.maxSteps !== undefined) return this.maxSteps;
    return Math.max(1, Math.ceil(STEP_BUDGET_PER_CELL_TIME * this.resolution * time));
  }

  /** Like solveDetailed, but rejects with a ForwardEvaluationError when any field fails. */
  async solve(w0: Float32Array, batch: number, opts: SolveFieldOptions = {}): Promise<Float32Array> {
    const { fields, failures } = await this.solveDetailed(w0, batch, opts);
    if (failures.length > 0) throw failureError(failures, batch, fields);
    return fields;
  }

  /** Normalized fields -> noiseless observations (the solution at T, subsampled), batch x m. */
  async forward(x: Float32Array, batch: number, opts: ForwardOptions = {}): Promise<Float32Array> {
    requireFloat32Array(x, 'x');
    requireInteger(batch, 'batch', 1);
    const R2 = this.resolution * this.resolution;
    if (x.length !== batch * R2) throw new RangeError(expected(`batch x resolution^2 = ${batch} x ${R2} = ${batch * R2} floats`, 'x.length', x.length));
    requireKnownKeys(requireObject(opts, 'forward(options)'), ['signal'], 'forward');
    // One pass scales to physical units and finds the first non-finite value.
    // In stretches that keep the event loop turning (lib/chunked.ts).
    const w0 = new Float32Array(x.length);
    let bad = -1;
    await forChunks(x.length, (start, end) => {
      for (let i = start; i < end; i++) {
        const v = x[i];
        if (bad < 0 && !Number.isFinite(v)) bad = i;
        w0[i] = v * this.scale;
      }
    });
    if (bad >= 0) {
      const field = Math.floor(bad / R2);
      throw new RangeError(expected('finite values', 'x', `${x[bad]} at field ${field} (element ${bad - field * R2} of that field)`, true));
    }
    const { fields, failures } = await this.solveDetailed(w0, batch, opts);
    const y = await this.subsample(fields, batch);
    if (failures.length > 0) throw failureError(failures, batch, y);
    return y;
  }

  /** forward(x) plus N(0, noiseStd^2) noise; sample b draws from Philox stream b of `seed`. */
  async observe(x: Float32Array, opts: { seed: number; signal?: AbortSignal }): Promise<Float32Array> {
    requireFloat32Array(x, 'x');
    requireKnownKeys(requireObject(opts, 'observe(options)'), ['seed', 'signal'], 'observe');
    const seed = requireInteger(opts.seed, 'seed', 0);
    const R2 = this.resolution * this.resolution;
    if (x.length === 0 || x.length % R2 !== 0) {
      throw new RangeError(expected(`a positive multiple of resolution^2 = ${R2}`, 'x.length', x.length));
    }
    const batch = x.length / R2;
    const y = await this.forward(x, batch, opts.signal ? { signal: opts.signal } : {});
    if (this.noiseStd > 0) {
      const noise = await randomNormal({ count: this.measurementSize, streams: batch, seed, backend: 'cpu' });
      for (let i = 0; i < y.length; i++) y[i] += this.noiseStd * noise[i];
    }
    return y;
  }

  /**
   * Where the fluid seen at each of `points` at time T (the model's `time`)
   * was at time 0, for the flow started from the normalized field `x` (one
   * field): the points carried back along x's trajectory (native
   * flowTraceBack; docs/method.md section 2, "A taper that follows the
   * flow"). The trajectory is solved in `snapshots` pieces (default 16) and
   * traced with `substeps` Heun steps per piece (default 4). Points are
   * (row, column) pairs in units of the domain, as ProblemGeometry's.
   */
  async traceBack(x: Float32Array, points: Float64Array, opts: { snapshots?: number; substeps?: number; signal?: AbortSignal } = {}): Promise<Float64Array> {
    requireFloat32Array(x, 'x');
    const R = this.resolution, R2 = R * R;
    if (x.length !== R2) throw new RangeError(expected(`one field of resolution^2 = ${R2} floats`, 'x.length', x.length));
    if (!(points instanceof Float64Array) || points.length === 0 || points.length % 2 !== 0) {
      throw new RangeError(expected('a Float64Array of (row, column) pairs', 'points', points));
    }
    requireKnownKeys(requireObject(opts, 'traceBack(options)'), ['snapshots', 'substeps', 'signal'], 'traceBack');
    const S = opts.snapshots === undefined ? 16 : requireInteger(opts.snapshots, 'snapshots', 1);
    const substeps = opts.substeps === undefined ? 4 : requireInteger(opts.substeps, 'substeps', 1);
    const snapshots = new Float32Array((S + 1) * R2);
    for (let i = 0; i < R2; i++) snapshots[i] = x[i] * this.scale;
    for (let k = 1; k <= S; k++) {
      const w = await this.solve(snapshots.slice((k - 1) * R2, k * R2), 1, { time: this.time / S, ...(opts.signal ? { signal: opts.signal } : {}) });
      snapshots.set(w, k * R2);
    }
    const out = new Float64Array(points.length);
    await callNative(() => native.flowTraceBack(snapshots, S + 1, R, this.time, points, substeps, out));
    return out;
  }

  private async subsample(fields: Float32Array, batch: number): Promise<Float32Array> {
    const R = this.resolution, s = this.downsample, r = R / s;
    const y = new Float32Array(batch * r * r);
    await forRows(batch, R * R, (first, end) => {
      for (let b = first; b < end; b++) {
        for (let i = 0; i < r; i++) {
          for (let j = 0; j < r; j++) y[(b * r + i) * r + j] = fields[(b * R + i * s) * R + j * s];
        }
      }
    });
    return y;
  }
}

function failureError(failures: SampleFailure[], batch: number, partial: Float32Array): ForwardEvaluationError {
  const list = failures.slice(0, 5).map((f) => `field ${f.index} (${f.reason})`).join(', ');
  const more = failures.length > 5 ? ` and ${failures.length - 5} more` : '';
  return new ForwardEvaluationError(
    `Navier-Stokes solve failed for ${failures.length} of ${batch} fields: ${list}${more}`, failures, partial);
}
