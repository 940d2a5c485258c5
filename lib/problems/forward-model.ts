// The contract between a problem's forward model and the algorithms: a
// batched, black-box map from normalized fields to measurements.
import * as adapters from '../forward';
import type { ForwardModel as ForwardModelContract, SampleFailure } from '../types';

export type { ForwardOptions, SampleFailure } from '../types';

/** The contract of lib/types.ts; this module adds the adapters as ForwardModel's static members. */
export type ForwardModel = ForwardModelContract;

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
