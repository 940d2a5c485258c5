// The contract between a problem's forward model and the algorithms: a
// batched, black-box map from normalized fields to measurements.
import * as adapters from '../forward';

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
 * A forward evaluation in which some fields failed. `failures` names them;
 * `partial` holds the whole output, with NaN in the failed fields' rows.
 */
export class ForwardEvaluationError extends Error {
  constructor(message: string, readonly failures: SampleFailure[], readonly partial: Float32Array) {
    super(message);
    this.name = 'ForwardEvaluationError';
  }
}

/**
 * The adapters that make a ForwardModel out of what a user has (lib/forward):
 * `ForwardModel.fromFunction(fn, options)`, `ForwardModel.fromWorkers(modulePath,
 * options)`, `ForwardModel.fromCommand(argv, options)` and
 * `ForwardModel.fromQueue(options)` (through BullMQ to `enkg worker`s). (The calls go
 * through wrappers because lib/forward imports this module.)
 */
export const ForwardModel = {
  fromFunction: ((fn: never, options: never) => adapters.fromFunction(fn, options)) as typeof adapters.fromFunction,
  fromWorkers: ((modulePath, options) => adapters.fromWorkers(modulePath, options)) as typeof adapters.fromWorkers,
  fromCommand: ((argv, options) => adapters.fromCommand(argv, options)) as typeof adapters.fromCommand,
  fromQueue: ((options) => adapters.fromQueue(options)) as typeof adapters.fromQueue,
};
