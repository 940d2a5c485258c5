// ForwardModel.fromWorkers: the function a module exports, run in a pool of
// worker threads (piscina) so the main thread's event loop stays free and
// particles evaluate on every core.
//
// Why a pool of its own rather than the prior's worker: OnnxDenoiser's
// worker owns an ONNX session and answers one request at a time; putting
// forward evaluations in its queue would serialise them behind the prior.
// Each fromWorkers model owns one piscina pool of `concurrency` threads,
// started at its first forward() call and kept (idle threads do not keep
// the process alive) until dispose() or an abort.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { Piscina } from 'piscina';

import { abortError } from '../abort';
import { ForwardModel, ForwardOptions, SampleFailure } from '../problems/forward-model';
import { expected } from '../validate';
import { EvaluatedRows } from './evaluate';
import {
  AdapterShape, booleanOption, defaultConcurrency, forwardArgs, integerOption, readAdapterOptions, runQueue, settle,
} from './options';
import type { WorkerSetup, WorkerTask } from './worker-entry';

export interface FromWorkersOptions extends AdapterShape {
  /** As in fromFunction: the export is fn(field, index) (default) or fn(x, batch) (true). */
  batched?: boolean;
  /** Worker threads (default: one per core). */
  concurrency?: number;
  /**
   * Particles per task sent to a worker (default: the batch split into 4
   * tasks per thread per particle function, one task per thread when batched).
   */
  chunkSize?: number;
  /** The export to call (default: module.exports when it is a function, else the default export). */
  exportName?: string;
}

export interface WorkerForwardModel extends ForwardModel {
  /** Worker threads alive now (0 before the first call, after dispose() and after an abort). */
  readonly threads: number;
  /** Ends the worker threads; a later forward() starts new ones. */
  dispose(): Promise<void>;
}

const KEYS = ['batched', 'concurrency', 'chunkSize', 'exportName'] as const;

// The worker's entry, next to this file: worker-entry.js in dist/. Run from
// TypeScript sources (ts-jest, ts-node) it is worker-entry.ts, which the
// worker loads through ts-node's transpile-only hook.
const ENTRY = path.join(__dirname, `worker-entry${path.extname(__filename)}`);
const ENTRY_EXEC_ARGV = path.extname(__filename) === '.ts'
  ? [...process.execArgv, '--require', require.resolve('ts-node/register/transpile-only')] : undefined;

/** Particles per task when the caller does not say. */
function defaultChunkSize(batch: number, concurrency: number, batched: boolean): number {
  return Math.max(1, Math.ceil(batch / (batched ? concurrency : 4 * concurrency)));
}

class WorkerForward implements WorkerForwardModel {
  readonly fieldShape: [number, number, number];
  readonly measurementSize: number;
  private pool?: Piscina;
  private readonly setup: WorkerSetup;

  constructor(readonly modulePath: string, private readonly shape: AdapterShape, private readonly d: number,
    batched: boolean, private readonly concurrency: number, private readonly chunkSize: number | undefined,
    exportName: string | undefined) {
    this.fieldShape = shape.fieldShape;
    this.measurementSize = shape.measurementSize;
    this.setup = { modulePath, exportName, batched, d, m: shape.measurementSize };
  }

  get threads(): number {
    return this.pool?.threads.length ?? 0;
  }

  async forward(x: Float32Array, batch: number, options?: ForwardOptions): Promise<Float32Array> {
    const args = forwardArgs(this.shape, this.d, x, batch, options);
    const { signal } = args;
    if (signal?.aborted) throw abortError(signal, 'The forward evaluation');
    const m = this.measurementSize, d = this.d;
    const size = this.chunkSize ?? defaultChunkSize(args.batch, this.concurrency, this.setup.batched);
    const chunks = Math.ceil(args.batch / size);
    const pool = this.pool ??= new Piscina({
      filename: ENTRY, minThreads: this.concurrency, maxThreads: this.concurrency, workerData: this.setup,
      execArgv: ENTRY_EXEC_ARGV,
    });
    // One controller per call: the caller's abort, or one chunk's error,
    // stops the others.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const y = new Float32Array(args.batch * m);
    const failures: SampleFailure[] = [];
    try {
      await runQueue(chunks, this.concurrency, async (c) => {
        const first = c * size, n = Math.min(size, args.batch - first);
        const part = args.x.slice(first * d, (first + n) * d);
        const task: WorkerTask = { x: part, n, first };
        let rows: EvaluatedRows;
        try {
          rows = await pool.run(task, { transferList: [part.buffer], signal: stop.signal }) as EvaluatedRows;
        } catch (error) {
          stop.abort();
          throw error;
        }
        y.set(rows.y, first * m);
        failures.push(...rows.failures);
      });
    } catch (error) {
      // Aborted tasks end the threads running them; the pool is ended whole
      // so that no thread it started outlives the call.
      await this.dispose();
      if (signal?.aborted) throw abortError(signal, 'The forward evaluation');
      const message = error instanceof Error ? error.message : String(error);
      throw Object.assign(new Error(`The forward function of ${this.modulePath} failed in a worker thread: ${message}`),
        { cause: error });
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    return settle(y, args.batch, m, failures);
  }

  async dispose(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }
}

/**
 * A ForwardModel whose function is the export of the JavaScript module at
 * `modulePath` (CommonJS or ES module, loadable by Node without a build
 * step), called as fromFunction would call it, in `concurrency` worker
 * threads. The particles go to the workers in chunks, their buffers
 * transferred; failures are reported as by fromFunction. An abort ends the
 * pool's threads before the call rejects.
 */
export function fromWorkers(modulePath: string, options: FromWorkersOptions): WorkerForwardModel {
  const owner = 'ForwardModel.fromWorkers';
  if (typeof modulePath !== 'string' || modulePath.length === 0) {
    throw new TypeError(expected('a path to a JavaScript module', `${owner} modulePath`, modulePath));
  }
  const resolved = path.resolve(modulePath);
  if (!fs.statSync(resolved, { throwIfNoEntry: false })?.isFile()) {
    throw new Error(expected('a path to a JavaScript module', `${owner} modulePath`, `'${modulePath}' (no such file)`, true));
  }
  const { options: o, shape, d } = readAdapterOptions(options, owner, KEYS);
  const exportName = o.exportName;
  if (exportName !== undefined && (typeof exportName !== 'string' || exportName.length === 0)) {
    throw new TypeError(expected('the name of an export', `${owner} exportName`, exportName));
  }
  const chunkSize = o.chunkSize === undefined ? undefined : integerOption(o, 'chunkSize', owner, 1, 1);
  return new WorkerForward(resolved, shape, d, booleanOption(o, 'batched', owner),
    integerOption(o, 'concurrency', owner, defaultConcurrency(), 1), chunkSize, exportName as string | undefined);
}
