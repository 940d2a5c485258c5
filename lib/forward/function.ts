// ForwardModel.fromFunction: a JavaScript function, per particle or per
// batch, sync or async, run on the calling thread.
import { ForwardModel, ForwardOptions } from '../problems/forward-model';
import { expected } from '../validate';
import { BatchFunction, evaluateBatch, evaluateParticles, ParticleFunction } from './evaluate';
import { AdapterShape, booleanOption, forwardArgs, integerOption, readAdapterOptions, settle } from './options';

export interface FromFunctionOptions extends AdapterShape {
  /**
   * false (default): fn(field, index) per particle, returning its m
   * measurements; true: fn(x, batch, { signal }) once per call, returning
   * batch x m.
   */
  batched?: boolean;
  /** Per-particle calls in flight at once, for async functions (default 1). */
  concurrency?: number;
}

const KEYS = ['batched', 'concurrency'] as const;

/**
 * A ForwardModel around `fn`. Per particle, a throw or a result that is not
 * m finite numbers fails that particle (ForwardEvaluationError, listing each
 * with its reason); a synchronous function gives the event loop a turn every
 * 10 ms between particles, and the abort signal is checked between them.
 * Per batch, rows with non-finite values fail, a ForwardEvaluationError the
 * function throws is passed on, and any other throw rejects the call.
 * A function whose single call takes long blocks the thread it runs on: run
 * such work with fromWorkers or fromCommand.
 */
export function fromFunction(fn: ParticleFunction, options: FromFunctionOptions & { batched?: false }): ForwardModel;
export function fromFunction(fn: BatchFunction, options: FromFunctionOptions & { batched: true }): ForwardModel;
export function fromFunction(fn: ParticleFunction | BatchFunction, options: FromFunctionOptions): ForwardModel;
export function fromFunction(fn: ParticleFunction | BatchFunction, options: FromFunctionOptions): ForwardModel {
  if (typeof fn !== 'function') throw new TypeError(expected('a function', 'ForwardModel.fromFunction fn', fn));
  const owner = 'ForwardModel.fromFunction';
  const { options: o, shape, d } = readAdapterOptions(options, owner, KEYS);
  const batched = booleanOption(o, 'batched', owner);
  const concurrency = integerOption(o, 'concurrency', owner, 1, 1);
  const m = shape.measurementSize;
  return {
    fieldShape: shape.fieldShape,
    measurementSize: m,
    async forward(x: Float32Array, batch: number, forwardOptions?: ForwardOptions): Promise<Float32Array> {
      const args = forwardArgs(shape, d, x, batch, forwardOptions);
      const { y, failures } = batched
        ? await evaluateBatch(fn as BatchFunction, args.x, args.batch, m, 0, { signal: args.signal })
        : await evaluateParticles(fn as ParticleFunction, args.x, args.batch, d, m, 0, { signal: args.signal, concurrency });
      return settle(y, args.batch, m, failures);
    },
  };
}
