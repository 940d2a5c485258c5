// The worker side of ForwardModel.fromQueue (run by `enkg worker`): a BullMQ
// Worker that evaluates each job's chunk of particles with the one model it
// was started with (a registered model rebuilt from the job's plain
// options, or the function a module exports, loaded at start), never with
// code from the queue. The heavy work runs off the event loop (the
// Navier-Stokes solver in the addon's worker threads, a module's function
// in a pool of worker threads running fromWorkers' entry), so BullMQ's lock renewal is never delayed.
//
// A job whose data is malformed, whose fields are missing from Redis, or
// that asks for another model fails at once without retries
// (UnrecoverableError); the coordinator turns that into failures of the
// chunk's particles. A model that throws fails the chunk's rows, each with
// the reason; the worker stays up either way. A job whose coordinator's
// heartbeat has lapsed (the coordinator died) is skipped before its fields
// are read: they are deleted and the job fails as "coordinator gone".
import * as os from 'node:os';
import * as path from 'node:path';

import { ConnectionOptions, Job, UnrecoverableError, Worker } from 'bullmq';
import IORedis from 'ioredis';
import { Piscina } from 'piscina';

import { BackendOption } from '../backend';
import { ForwardModel } from '../problems/forward-model';
import { describe } from '../validate';
import { QueueModelEntry } from './queue-models';
import {
  bytesToFloats, COORDINATOR_GONE, floatBytes, KEY_TTL_MS, QueueJobData, QueueJobResult, QueueRowFailure, readJobData,
} from './queue-protocol';
import { WorkerCounts, WorkerTally } from './queue-progress';
import { checkRedis, RedisTarget } from './redis';
import { EvaluatedRows } from './evaluate';
import type { WorkerSetup, WorkerTask } from './worker-entry';

/** The model a worker serves: a registry entry, or a module's exported function. */
export type ServedModel =
  | { kind: 'registered'; entry: QueueModelEntry }
  | { kind: 'module'; path: string; batched: boolean; exportName?: string };

export interface QueueWorkerOptions {
  target: RedisTarget;
  queue: string;
  model: ServedModel;
  /** Jobs evaluated at once (default 1). */
  concurrency?: number;
  /** BullMQ's lock duration and stall-check interval, ms (default 30 000): a dead worker's job is taken over after about this long. */
  lockMs?: number;
  /** The backend a registered model runs on (default auto). */
  backend?: BackendOption;
  /** The start line, Redis errors and the progress lines go here (default stderr). */
  log?: (line: string) => void;
  /** A progress line this often, ms (default one a minute). */
  progressMs?: number;
}

export interface QueueWorker {
  /** The name jobs must ask for. */
  readonly modelName: string;
  /** What it did since it started (the progress line's totals). */
  readonly counts: Readonly<WorkerCounts>;
  /** Finishes the jobs in hand, then closes (no new job is taken). */
  close(): Promise<void>;
}

/** The name under which a served model is asked for: the registry's name, or the module's file name without extension. */
export function servedModelName(model: ServedModel): string {
  return model.kind === 'registered' ? model.entry.name : path.basename(model.path).replace(/\.[^.]*$/, '');
}

// fromWorkers' thread entry, next to this file (worker-entry.js in dist/; from the
// TypeScript sources, worker-entry.ts through ts-node's transpile-only hook), as workers.ts finds it.
const WORKER_ENTRY = path.join(__dirname, `worker-entry${path.extname(__filename)}`);
const WORKER_EXEC_ARGV = path.extname(__filename) === '.ts'
  ? [...process.execArgv, '--require', require.resolve('ts-node/register/transpile-only')] : undefined;

/** A job skipped because its coordinator is gone: failed for good, counted apart from refusals. */
class CoordinatorGone extends UnrecoverableError {}

/** A progress line a minute unless asked otherwise (enkg worker --progress-ms). */
export const DEFAULT_PROGRESS_MS = 60_000;

export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const { target, queue, model } = options;
  const concurrency = options.concurrency ?? 1;
  const lockMs = options.lockMs ?? 30_000;
  const log = options.log ?? ((line: string) => console.error(line));
  const name = servedModelName(model);
  const self = `${os.hostname()}:${process.pid}`;
  await checkRedis(target);
  const data = new IORedis({ ...target.options, maxRetriesPerRequest: null });
  data.on('error', () => undefined);
  const models = new Map<string, ForwardModel>();
  const pools = new Map<string, Piscina>();
  const tally = new WorkerTally();
  let lastSkippedCall = '';

  // A registered model, built once per set of options.
  const registeredFor = (job: QueueJobData, entry: QueueModelEntry): ForwardModel => {
    const key = JSON.stringify([job.options, job.fieldShape, job.measurementSize]);
    const known = models.get(key);
    if (known) return known;
    let m: ForwardModel;
    try {
      m = entry.create({ ...job.options, ...(options.backend ? { backend: options.backend } : {}) });
    } catch (error) {
      throw new UnrecoverableError(`the options of model '${name}' were refused: ${(error as Error).message}`);
    }
    if (m.fieldShape.join() !== job.fieldShape.join() || m.measurementSize !== job.measurementSize) {
      throw new UnrecoverableError(`model '${name}' with these options takes fields [${m.fieldShape.join(', ')}] to ${m.measurementSize} `
        + `measurements; the job says [${job.fieldShape.join(', ')}] to ${job.measurementSize}`);
    }
    models.set(key, m);
    return m;
  };
  // A module's function, in a pool of worker threads (fromWorkers' entry, worker-entry.ts) per field
  // shape, called with the rows of the whole forward call (index = first + i) as fromWorkers would.
  const moduleRows = (job: QueueJobData, served: Extract<ServedModel, { kind: 'module' }>, x: Float32Array): Promise<EvaluatedRows> => {
    const d = job.fieldShape[0] * job.fieldShape[1] * job.fieldShape[2], m = job.measurementSize;
    const key = `${d}x${m}`;
    let pool = pools.get(key);
    if (pool === undefined) {
      const setup: WorkerSetup = { modulePath: served.path, exportName: served.exportName, batched: served.batched, d, m };
      pool = new Piscina({ filename: WORKER_ENTRY, minThreads: concurrency, maxThreads: concurrency, workerData: setup, execArgv: WORKER_EXEC_ARGV });
      pools.set(key, pool);
    }
    const task: WorkerTask = { x, n: job.n, first: job.first };
    return pool.run(task, { transferList: [x.buffer as ArrayBuffer] }) as Promise<EvaluatedRows>;
  };

  const evaluate = async (job: Job): Promise<QueueJobResult> => {
    tally.took();
    try {
      return await evaluateJob(job);
    } catch (error) {
      // Failed for good without an evaluation (a plain error is a Redis one, and the job is tried again).
      if (error instanceof CoordinatorGone) tally.skipped();
      else if (error instanceof UnrecoverableError) tally.refused();
      throw error;
    } finally {
      tally.released();
    }
  };

  const evaluateJob = async (job: Job): Promise<QueueJobResult> => {
    let spec: QueueJobData;
    try {
      spec = readJobData(job.data);
    } catch (error) {
      throw new UnrecoverableError(`malformed job ${job.id}: ${(error as Error).message}`);
    }
    if (spec.model !== name) {
      throw new UnrecoverableError(`worker ${self} evaluates model '${name}', not '${spec.model}' `
        + `(start enkg worker --model ${spec.model} on its own queue)`);
    }
    if (spec.heartbeat !== undefined && await data.exists(spec.heartbeat) === 0) {
      // Nobody waits for this result: free the fields and spend no solver time. (Should the
      // coordinator be alive after all, it sends the fields again and retries the job.)
      await data.del(spec.input);
      if (spec.heartbeat !== lastSkippedCall) {
        log(`enkg worker: skipping jobs ${String(job.id).replace(/\.\d+$/, '')}.*: their coordinator is gone (its heartbeat ${spec.heartbeat} has lapsed)`);
        lastSkippedCall = spec.heartbeat;
      }
      throw new CoordinatorGone(`${COORDINATOR_GONE}: job ${job.id} was skipped without evaluation on worker ${self}, `
        + `its coordinator's heartbeat ${spec.heartbeat} having lapsed; its fields were deleted`);
    }
    const d = spec.fieldShape[0] * spec.fieldShape[1] * spec.fieldShape[2], m = spec.measurementSize;
    const bytes = await data.getBuffer(spec.input);
    if (bytes === null || bytes.length !== spec.n * d * 4) {
      throw new UnrecoverableError(`the fields of job ${job.id} (key ${spec.input}) are ${bytes === null ? 'missing from Redis'
        : `${bytes.length} bytes, expected n x C x H x W x 4 = ${spec.n * d * 4}`}`);
    }
    const x = bytesToFloats(bytes);
    const forward = model.kind === 'registered' ? registeredFor(spec, model.entry) : undefined;
    const started = performance.now();
    let y: Float32Array;
    let failures: QueueRowFailure[] = [];
    try {
      if (model.kind === 'module') {
        const rows = await moduleRows(spec, model, x);
        y = rows.y;
        failures = rows.failures;
      } else {
        y = await forward!.forward(x, spec.n);
      }
    } catch (error) {
      const e = error as { failures?: unknown; partial?: unknown; message?: unknown; name?: unknown };
      if (Array.isArray(e?.failures) && e.partial instanceof Float32Array && e.partial.length === spec.n * m) {
        y = e.partial;
        failures = (e.failures as QueueRowFailure[]).map((f) => ({
          index: spec.first + f.index, reason: String(f.reason), ...(typeof f.time === 'number' ? { time: f.time } : {}),
        }));
      } else {
        const reason = `model '${name}' threw ${error instanceof Error ? `${error.name}: ${error.message}` : describe(error)} on worker ${self}`;
        y = new Float32Array(spec.n * m).fill(NaN);
        failures = Array.from({ length: spec.n }, (_, i) => ({ index: spec.first + i, reason }));
      }
    }
    const evaluateMs = performance.now() - started;
    if (y.length !== spec.n * m) throw new UnrecoverableError(`model '${name}' returned ${y.length} numbers; expected ${spec.n} x ${m}`);
    const written = await data.set(spec.output, floatBytes(y), 'PX', KEY_TTL_MS);
    if (written !== 'OK') throw new Error(`Redis did not store the measurements of job ${job.id} (SET answered ${String(written)})`);
    tally.evaluated(spec.n, failures.length);
    return { output: spec.output, failures, evaluateMs, worker: self };
  };

  const worker = new Worker(queue, evaluate, {
    connection: { ...target.options, maxRetriesPerRequest: null } as ConnectionOptions, concurrency, lockDuration: lockMs, stalledInterval: lockMs,
  });
  let lastError = '';
  worker.on('error', (error: Error) => {
    if (error.message !== lastError) log(`enkg worker: Redis error (retrying): ${error.message}`);
    lastError = error.message;
  });
  worker.on('ready', () => { lastError = ''; });
  await worker.waitUntilReady();
  log(`enkg worker: ${self} serving model '${name}' on queue '${queue}' at ${target.label} (concurrency ${concurrency})`);
  const progress = setInterval(() => log(`enkg worker: ${tally.line()}`), options.progressMs ?? DEFAULT_PROGRESS_MS);
  progress.unref();

  return {
    modelName: name,
    counts: tally.total,
    async close() {
      clearInterval(progress);
      await worker.close();
      await Promise.allSettled([...pools.values()].map((p) => p.destroy()));
      data.disconnect();
    },
  };
}
