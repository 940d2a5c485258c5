// What the forward-model adapters share: their common options (field shape,
// measurement size, concurrency), the check of forward()'s arguments, the
// one default for concurrency, and how per-particle failures become the
// ForwardEvaluationError the algorithms' failure policy reads.
import * as os from 'node:os';

import { ForwardEvaluationError, SampleFailure } from '../problems/forward-model';
import { expected, requireFloat32Array, requireInteger, requireKnownKeys, requireObject } from '../validate';

/** The shape every adapter declares: one field [C, H, W] in, m floats out. */
export interface AdapterShape {
  fieldShape: [number, number, number];
  measurementSize: number;
}

/** Workers or processes at once when the caller does not say: one per core. */
export function defaultConcurrency(): number {
  return os.availableParallelism();
}

/**
 * Reads an adapter's options object: rejects unknown keys, checks fieldShape
 * and measurementSize (always required) and returns the object for the
 * adapter's own keys.
 */
export function readAdapterOptions(value: unknown, owner: string, keys: readonly string[]): {
  options: Record<string, unknown>; shape: AdapterShape; d: number;
} {
  const options = requireObject(value, `${owner} options`);
  requireKnownKeys(options, ['fieldShape', 'measurementSize', ...keys], owner);
  const fs = options.fieldShape;
  if (!Array.isArray(fs) || fs.length !== 3 || !fs.every((n) => Number.isSafeInteger(n) && n >= 1)) {
    throw new TypeError(expected('[C, H, W], three integers >= 1', `${owner} fieldShape`,
      Array.isArray(fs) ? `[${fs.map(String).join(', ')}]` : fs, Array.isArray(fs)));
  }
  const measurementSize = requireInteger(options.measurementSize, `${owner} measurementSize`, 1);
  const fieldShape: [number, number, number] = [fs[0], fs[1], fs[2]];
  return { options, shape: { fieldShape, measurementSize }, d: fs[0] * fs[1] * fs[2] };
}

/** An optional integer option >= min, or its fallback. */
export function integerOption(options: Record<string, unknown>, key: string, owner: string, fallback: number, min: number): number {
  const value = options[key];
  return value === undefined ? fallback : requireInteger(value, `${owner} ${key}`, min);
}

/** An optional boolean option, or false. */
export function booleanOption(options: Record<string, unknown>, key: string, owner: string): boolean {
  const value = options[key];
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw new TypeError(expected('true or false', `${owner} ${key}`, value));
  return value;
}

/** Checks forward(x, batch, options): batch >= 1 fields of d floats each, and an AbortSignal if any. */
export function forwardArgs(shape: AdapterShape, d: number, x: unknown, batch: unknown, options: unknown): {
  x: Float32Array; batch: number; signal?: AbortSignal;
} {
  const n = requireInteger(batch, 'batch', 1);
  const fields = requireFloat32Array(x, 'x');
  if (fields.length !== n * d) {
    throw new RangeError(expected(`batch x ${shape.fieldShape.join(' x ')} = ${n * d} floats`, 'x.length', fields.length));
  }
  if (options === undefined) return { x: fields, batch: n };
  const o = requireObject(options, 'forward options');
  requireKnownKeys(o, ['signal'], 'forward options');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw new TypeError(expected('an AbortSignal', 'signal', o.signal));
  }
  return { x: fields, batch: n, signal: o.signal as AbortSignal | undefined };
}

/**
 * `y` when no particle failed, else a ForwardEvaluationError naming the
 * failures (sorted by index), with `y` (NaN in their rows) as its partial.
 */
export function settle(y: Float32Array, batch: number, measurementSize: number, failures: SampleFailure[]): Float32Array {
  if (failures.length === 0) return y;
  failures.sort((a, b) => a.index - b.index);
  for (const f of failures) y.fill(NaN, f.index * measurementSize, (f.index + 1) * measurementSize);
  const shown = failures.slice(0, 3).map((f) => `particle ${f.index}: ${f.reason}`).join('; ');
  const more = failures.length > 3 ? `; and ${failures.length - 3} more` : '';
  throw new ForwardEvaluationError(`${failures.length} of ${batch} forward evaluations failed (${shown}${more})`, failures, y);
}

/**
 * Runs task(0) .. task(count - 1), at most `concurrency` at once, starting
 * no new task once `stop()` says so. Resolves when every started task has
 * settled; rejects with the first task's error after the others settle.
 */
export async function runQueue(count: number, concurrency: number, task: (i: number) => Promise<void>,
  stop: () => boolean = () => false): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (next < count && failed === undefined && !stop()) {
      const i = next++;
      try {
        await task(i);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  if (failed !== undefined) throw failed.error;
}
