// Evaluating a user's JavaScript forward function over a run of particles,
// the same way on the main thread (ForwardModel.fromFunction) and in a worker
// thread (ForwardModel.fromWorkers), so both give the same measurements and
// the same failures. Worker-safe: imports nothing that loads the addon.
import { setImmediate as nextTurn } from 'node:timers/promises';

import { abortError } from '../abort';
import { describe } from '../validate';

/** One particle's measurements: m numbers (a typed array or an array), or a number when m = 1. */
export type ForwardRow = ArrayLike<number> | number;

/** G for one field (d = C x H x W floats, read-only); `index` is its row in the batch. */
export type ParticleFunction = (x: Float32Array, index: number) => ForwardRow | Promise<ForwardRow>;

/**
 * G for `batch` fields (batch x C x H x W floats, read-only) -> batch x m
 * numbers. It may throw a ForwardEvaluationError (failures with the row
 * indices of this call, partial with NaN rows) to fail some fields only.
 */
export type BatchFunction = (x: Float32Array, batch: number, options: { signal?: AbortSignal }) =>
  ArrayLike<number> | Promise<ArrayLike<number>>;

export interface RowFailure {
  index: number;
  reason: string;
  time?: number;
}

/** y (n x m, NaN in failed rows) and the failures, indexed from `first`. */
export interface EvaluatedRows {
  y: Float32Array;
  failures: RowFailure[];
}

export interface EvaluateOptions {
  signal?: AbortSignal;
  /** Particle calls in flight at once (async functions); default 1. */
  concurrency?: number;
}

/** Yield to the event loop after this long of synchronous calls. */
const SLICE_MS = 10;

/** Stores value as row n of y; returns why not when it is not m finite float32 numbers. */
function storeRow(value: unknown, y: Float32Array, n: number, m: number): string | undefined {
  const row = typeof value === 'number' && m === 1 ? [value] : value;
  const length = (row as { length?: unknown } | null | undefined)?.length;
  if (typeof row !== 'object' || row === null || typeof length !== 'number') {
    return `returned ${describe(value)}; expected ${m} numbers`;
  }
  if (length !== m) return `returned ${length} numbers; expected ${m}`;
  const values = row as ArrayLike<unknown>;
  for (let k = 0; k < m; k++) {
    const v = values[k];
    if (typeof v !== 'number') return `returned ${describe(v)} at measurement ${k}; expected a number`;
    y[n * m + k] = v;
    // Checked after the float32 rounding: 1e39 is finite in float64, not here.
    if (!Number.isFinite(y[n * m + k])) return `returned a non-finite value (${v}) at measurement ${k}`;
  }
  return undefined;
}

function reasonOf(error: unknown): string {
  return `threw ${error instanceof Error ? `${error.name}: ${error.message}` : describe(error)}`;
}

/** fn(field, first + i) for each of n fields of d floats in x; a throw or a bad row fails that particle only. */
export async function evaluateParticles(fn: ParticleFunction, x: Float32Array, n: number, d: number, m: number,
  first: number, options: EvaluateOptions = {}): Promise<EvaluatedRows> {
  const { signal } = options;
  const y = new Float32Array(n * m).fill(NaN);
  const failures: RowFailure[] = [];
  let next = 0;
  let sliceStart = performance.now();
  const lane = async (): Promise<void> => {
    while (next < n) {
      if (signal?.aborted) throw abortError(signal, 'The forward evaluation');
      const i = next++;
      let reason: string | undefined;
      try {
        reason = storeRow(await fn(x.subarray(i * d, (i + 1) * d), first + i), y, i, m);
      } catch (error) {
        reason = reasonOf(error);
      }
      if (reason !== undefined) {
        y.fill(NaN, i * m, (i + 1) * m);
        failures.push({ index: first + i, reason });
      }
      // A synchronous function never returns to the event loop by itself.
      if (performance.now() - sliceStart > SLICE_MS) {
        await nextTurn();
        sliceStart = performance.now();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency ?? 1, n) }, lane));
  failures.sort((a, b) => a.index - b.index);
  return { y, failures };
}

/** A ForwardEvaluationError, recognised by shape (its class does not cross a worker boundary). */
function isEvaluationError(error: unknown): error is Error & { failures: RowFailure[]; partial: Float32Array } {
  const e = error as { failures?: unknown; partial?: unknown } | null;
  return typeof e === 'object' && e !== null && Array.isArray(e.failures) && e.partial instanceof Float32Array;
}

/**
 * fn(x, n) once for n fields. A ForwardEvaluationError fails its rows (its
 * indices are this call's rows, shifted by `first`); rows with non-finite
 * values fail too; any other throw, or a result of the wrong length, rejects.
 */
export async function evaluateBatch(fn: BatchFunction, x: Float32Array, n: number, m: number, first: number,
  options: EvaluateOptions = {}): Promise<EvaluatedRows> {
  const failed = new Map<number, RowFailure>();
  let values: ArrayLike<number>;
  try {
    values = await fn(x, n, options.signal ? { signal: options.signal } : {});
  } catch (error) {
    if (!isEvaluationError(error)) throw error;
    for (const f of error.failures) {
      if (!Number.isSafeInteger(f.index) || f.index < 0 || f.index >= n) {
        throw new RangeError(`The forward function's ForwardEvaluationError names particle ${f.index} of a batch of ${n}`);
      }
      failed.set(f.index, { ...f, index: f.index, reason: String(f.reason) });
    }
    values = error.partial;
  }
  const length = (values as { length?: unknown } | null | undefined)?.length;
  if (length !== n * m) {
    throw new RangeError(`Expected batch x measurementSize = ${n} x ${m} = ${n * m} numbers from the forward function `
      + `but received ${typeof length === 'number' ? `${length} numbers` : describe(values)}`);
  }
  // A copy (the caller's array is left alone); V8 copies typed arrays in bulk.
  const y = new Float32Array(values as ArrayLike<number>);
  for (let i = 0; i < n; i++) {
    if (failed.has(i)) continue;
    for (let k = 0; k < m; k++) {
      if (!Number.isFinite(y[i * m + k])) {
        failed.set(i, { index: i, reason: `returned a non-finite value (${values[i * m + k]}) at measurement ${k}` });
        break;
      }
    }
  }
  const failures = [...failed.values()].sort((a, b) => a.index - b.index).map((f) => ({ ...f, index: first + f.index }));
  for (const f of failures) y.fill(NaN, (f.index - first) * m, (f.index - first + 1) * m);
  return { y, failures };
}
