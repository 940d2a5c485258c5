// ForwardModel.fromQueue: the forward evaluations of a run farmed out through
// BullMQ (Redis) to `enkg worker` processes on any number of machines.
//
// Each forward(x, batch) is cut into chunks of particles. A chunk's fields go
// to Redis as one binary value, and a job naming that key (and the model, as
// a registered name and plain options) is added to the queue with the id
// run.step.chunk. A worker evaluates it, writes the measurements to a second
// key and completes the job with the rows that failed. The coordinator
// gathers each chunk once, in order, deleting its keys and its job, and
// settles the call like any adapter (ForwardEvaluationError for failed
// rows). BullMQ gives the crash recovery: a job whose worker dies is taken
// over by another after the stall interval, one that fails is retried up to
// `attempts` times, and a job that still fails fails its particles.
//
// While a call is in flight the coordinator renews a heartbeat key (see
// queue-protocol.ts); workers skip the jobs of a call whose heartbeat has
// lapsed, so a coordinator that dies leaves no solver time spent on its
// waiting jobs. A skip of a live call's job (its renewals were late) is
// undone here: the fields are sent again and the job retried.
import * as crypto from 'node:crypto';
import * as os from 'node:os';

import { ConnectionOptions, Job, Queue, QueueEvents } from 'bullmq';
import IORedis, { RedisOptions } from 'ioredis';

import { abortError } from '../abort';
import { ForwardModel, ForwardOptions, SampleFailure } from '../problems/forward-model';
import { expected, requireInteger, requireKnownKeys, requireObject } from '../validate';
import { AdapterShape, forwardArgs, settle } from './options';
import { PlainOptions, QUEUE_MODEL_NAMES, QUEUE_MODEL_REGISTRY, queueModelEntry, requirePlainOptions } from './queue-models';
import {
  bytesToFloats, dataKeys, floatBytes, heartbeatKey, JOB_KEEP_SECONDS, jobId, KEY_TTL_MS, PROTOCOL_VERSION, QueueJobData, readJobResult,
  wasSkipped,
} from './queue-protocol';
import { checkRedis, parseRedisUrl, RedisTarget } from './redis';

export interface FromQueueOptions {
  /** The Redis server: a URL redis[s]://[user:password@]host[:port][/db], or ioredis options. */
  connection: string | RedisOptions;
  /** The BullMQ queue the workers listen on (enkg worker --queue NAME). */
  queue: string;
  /**
   * The model the workers evaluate: a ForwardModel of a registered kind
   * (a NavierStokes2D, described by its options), a registered name with
   * plain options ({ name: 'navier-stokes', options: { resolution: 64 } }),
   * or the name of a worker's module (its file name without extension, as
   * enkg worker --model ./name.js registers it) with fieldShape and
   * measurementSize.
   */
  model: ForwardModel | string | { name: string; options?: PlainOptions };
  /** For a module's model: the shape of one field and the floats per measurement. */
  fieldShape?: [number, number, number];
  measurementSize?: number;
  /** Particles per job (default 64). */
  chunk?: number;
  /** The longest one forward call waits for its jobs, in ms, before it fails (default 1 hour). */
  timeoutMs?: number;
  /** Tries per job: a job whose evaluation throws is retried this many times in all (default 3). */
  attempts?: number;
  /**
   * The run id in job ids (default: a random one per model). Job ids also
   * carry a random token of this model instance, so a coordinator started
   * again with the same run id never meets the jobs (or results) of the one
   * before it, whose call counter started from 1 too.
   */
  runId?: string;
  /**
   * How long this coordinator may go unheard before workers skip the waiting
   * jobs of its call as those of a coordinator that died, in ms (default one
   * minute; renewed six times within it). A live coordinator whose job was
   * skipped sends it again, so a short value costs work, never particles.
   */
  heartbeatMs?: number;
}

/** What one forward call moved and waited for (the benchmark's figures). */
export interface QueueCallStats {
  jobs: number;
  /** Bytes of fields sent and measurements received. */
  bytesSent: number;
  bytesReceived: number;
  /** Per job: enqueue to gathered result, less the worker's own evaluation time, ms. */
  overheadMs: number[];
  /** Per job: the worker's evaluation time, ms. */
  evaluateMs: number[];
  /** Jobs a worker skipped as a dead coordinator's (the heartbeat was late) and that were sent again. */
  resubmitted: number;
}

export interface QueueForwardModel extends ForwardModel {
  readonly queue: string;
  readonly runId: string;
  /** Forward calls made so far (the "step" of the job ids). */
  readonly calls: number;
  /** The last call's figures, once a call has completed. */
  readonly lastCall?: QueueCallStats;
  /** Checks the server (reachable, credentials, noeviction) and opens the queue; forward() does it at its first call. */
  connect(): Promise<void>;
  /** Closes the connections; a later forward() opens them again. */
  dispose(): Promise<void>;
}

const KEYS = ['connection', 'queue', 'model', 'fieldShape', 'measurementSize', 'chunk', 'timeoutMs', 'attempts', 'runId', 'heartbeatMs'] as const;
const DEFAULT_CHUNK = 64;
const DEFAULT_TIMEOUT_MS = 3600 * 1000;
const DEFAULT_ATTEMPTS = 3;
const DEFAULT_HEARTBEAT_MS = 60_000;
/**
 * Renewals of the heartbeat within its lifetime: a key that lapses means about
 * this many renewals in a row did not reach Redis, which a GC pause or a busy
 * moment of the event loop (kept under ~20 ms by the house rules) never explains.
 */
const HEARTBEAT_RENEWALS = 6;
/** Jobs are looked at this often besides their events (an event lost in a reconnection is not waited for). */
const POLL_MS = 1000;

interface Pending {
  chunk: number;
  first: number;
  n: number;
  keys: { input: string; output: string };
  /** The chunk's fields as sent (a view of the call's input), to send again if a worker skipped the job. */
  bytes: Buffer;
  addedAt: number;
}

/** A forward call's heartbeat: renewed on a timer from the call's start until stop(). */
interface Heartbeat {
  /** Sets the key now (before a skipped job is sent again). */
  renew(): Promise<void>;
  /** Stops renewing and deletes the key (the call's jobs are all gathered or removed). */
  stop(): Promise<void>;
}

interface Connection {
  queue: Queue;
  events: QueueEvents;
  /** The particles' and measurements' keys are read and written on a connection of our own. */
  client: IORedis;
}

class QueueForward implements QueueForwardModel {
  readonly fieldShape: [number, number, number];
  readonly measurementSize: number;
  calls = 0;
  lastCall?: QueueCallStats;
  private opening?: Promise<Connection>;
  private lastRedisError?: Error;
  /** The heartbeat keys' value: who keeps them alive, for a person reading Redis. */
  private readonly owner = `${os.hostname()}:${process.pid}`;
  /** The run id and this instance's random token: what job ids, data keys and heartbeat keys start with. */
  private readonly callPrefix: string;

  constructor(private readonly target: RedisTarget, readonly queue: string, private readonly model: string,
    private readonly options: PlainOptions, private readonly shape: AdapterShape, private readonly chunk: number,
    private readonly timeoutMs: number, private readonly attempts: number, readonly runId: string, private readonly heartbeatMs: number) {
    this.fieldShape = shape.fieldShape;
    this.measurementSize = shape.measurementSize;
    this.callPrefix = `${runId}.${crypto.randomBytes(4).toString('hex')}`;
  }

  async connect(): Promise<void> {
    await this.open();
  }

  private open(): Promise<Connection> {
    this.opening ??= (async () => {
      await checkRedis(this.target);
      const onError = (error: Error) => { this.lastRedisError = error; };
      const connection = { ...this.target.options } as ConnectionOptions;
      const queue = new Queue(this.queue, { connection });
      queue.on('error', onError);
      const events = new QueueEvents(this.queue, { connection: { ...this.target.options } as ConnectionOptions });
      events.on('error', onError);
      const client = new IORedis({ ...this.target.options });
      client.on('error', onError);
      await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
      return { queue, events, client };
    })();
    this.opening.catch(() => { this.opening = undefined; });
    return this.opening;
  }

  async dispose(): Promise<void> {
    const opening = this.opening;
    this.opening = undefined;
    const c = await opening?.catch(() => undefined);
    if (c) await Promise.allSettled([c.events.close(), c.queue.close(), c.client.quit()]);
  }

  async forward(x: Float32Array, batch: number, options?: ForwardOptions): Promise<Float32Array> {
    const d = this.fieldShape[0] * this.fieldShape[1] * this.fieldShape[2], m = this.measurementSize;
    const args = forwardArgs(this.shape, d, x, batch, options);
    const { signal } = args;
    if (signal?.aborted) throw abortError(signal, 'The forward evaluation');
    const c = await this.open();
    if (signal?.aborted) throw abortError(signal, 'The forward evaluation');
    const step = ++this.calls;
    const chunks = Math.ceil(args.batch / this.chunk);
    const pending = new Map<string, Pending>();
    const stats: QueueCallStats = { jobs: chunks, bytesSent: 0, bytesReceived: 0, overheadMs: [], evaluateMs: [], resubmitted: 0 };
    const jobs: { name: string; data: QueueJobData; opts: object }[] = [];
    const alive = heartbeatKey(this.queue, this.callPrefix, step);
    const upload = c.client.pipeline();
    upload.set(alive, this.owner, 'PX', this.heartbeatMs);
    for (let k = 0; k < chunks; k++) {
      const first = k * this.chunk, n = Math.min(this.chunk, args.batch - first);
      const id = jobId(this.callPrefix, step, k);
      const keys = dataKeys(this.queue, id);
      const bytes = floatBytes(args.x.subarray(first * d, (first + n) * d));
      upload.set(keys.input, bytes, 'PX', KEY_TTL_MS);
      stats.bytesSent += bytes.length;
      pending.set(id, { chunk: k, first, n, keys, bytes, addedAt: 0 });
      jobs.push({
        name: 'forward',
        data: {
          v: PROTOCOL_VERSION, model: this.model, options: this.options, fieldShape: this.fieldShape, measurementSize: m,
          first, n, input: keys.input, output: keys.output, heartbeat: alive,
        },
        opts: {
          jobId: id, attempts: this.attempts, removeOnComplete: { age: JOB_KEEP_SECONDS }, removeOnFail: { age: JOB_KEEP_SECONDS },
        },
      });
    }
    const y = new Float32Array(args.batch * m);
    const failures: SampleFailure[] = [];
    const heartbeat = this.heartbeat(c, alive);
    try {
      await this.checked(upload.exec());
      const added = Date.now();
      for (const p of pending.values()) p.addedAt = added;
      await c.queue.addBulk(jobs);
      await this.gather(c, pending, y, failures, stats, signal, heartbeat);
    } catch (error) {
      await this.removeWaiting(c, pending);
      if (signal?.aborted) throw abortError(signal, 'The forward evaluation');
      throw error;
    } finally {
      await heartbeat.stop();
    }
    this.lastCall = stats;
    return settle(y, args.batch, m, failures);
  }

  /**
   * Renews `key` every heartbeatMs / HEARTBEAT_RENEWALS until stopped. A
   * failed renewal is only remembered (the next one may succeed; if none does,
   * workers skip the call's jobs and gather() sends them again).
   */
  private heartbeat(c: Connection, key: string): Heartbeat {
    const set = () => c.client.set(key, this.owner, 'PX', this.heartbeatMs).then(() => undefined);
    const timer = setInterval(() => { set().catch((error: Error) => { this.lastRedisError = error; }); }, this.heartbeatMs / HEARTBEAT_RENEWALS);
    timer.unref();
    return {
      renew: set,
      stop: async () => {
        clearInterval(timer);
        // Should the delete fail, the key lapses by itself within heartbeatMs.
        await c.client.del(key).catch(() => undefined);
      },
    };
  }

  /** A pipeline's result with its first command error thrown. */
  private async checked(result: Promise<[Error | null, unknown][] | null>): Promise<void> {
    for (const [error] of (await result) ?? []) if (error) throw error;
  }

  /**
   * Waits for every pending job, taking each result once (read whole, then
   * stored and removed from `pending` in one synchronous stretch), on its
   * completion event or at the next poll; rejects on timeout, abort or a
   * job gone from Redis.
   */
  private gather(c: Connection, pending: Map<string, Pending>, y: Float32Array, failures: SampleFailure[], stats: QueueCallStats,
    signal: AbortSignal | undefined, heartbeat: Heartbeat): Promise<void> {
    const m = this.measurementSize;
    const started = Date.now();
    return new Promise<void>((resolve, reject) => {
      let done = false;
      const busy = new Set<string>();
      let cleaning = 0;
      const finish = (error?: Error) => {
        if (done) return;
        done = true;
        clearInterval(poll);
        clearTimeout(timer);
        c.events.off('completed', onEvent);
        c.events.off('failed', onEvent);
        signal?.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve();
      };
      const look = async (id: string): Promise<void> => {
        const p = pending.get(id);
        if (p === undefined || busy.has(id) || done) return;
        busy.add(id);
        try {
          // The state first, then the job: a job read before its state could be
          // completed without the return value it was given on completion.
          const state = await c.queue.getJobState(id);
          const job = state === 'unknown' ? undefined : await Job.fromId(c.queue, id);
          if (job === undefined) {
            throw new Error(`Job ${id} of queue '${this.queue}' is no longer in Redis (was the server restarted without its data, `
              + 'or the job removed by hand?); the forward evaluation cannot complete');
          }
          if (state !== 'completed' && state !== 'failed') return;
          if (state === 'failed' && wasSkipped(job.failedReason)) {
            // A worker took this call for a dead coordinator's (renewals were late: a stalled
            // process, a Redis outage) and deleted the fields: renew, send them again, retry the job.
            await heartbeat.renew();
            await c.client.set(p.keys.input, p.bytes, 'PX', KEY_TTL_MS);
            await job.retry('failed', { resetAttemptsMade: true });
            stats.resubmitted++;
            return;
          }
          // Everything is read first; a Redis error here leaves the chunk pending for the next look.
          let rows: Float32Array | undefined;
          let rowFailures: SampleFailure[] = [];
          let reason: string | undefined;
          let evaluateMs = 0;
          if (state === 'failed') {
            reason = `its job ${id} failed on queue '${this.queue}' after ${job.attemptsMade} attempt(s): ${job.failedReason}`;
          } else {
            let result;
            try {
              result = readJobResult(job.returnvalue, p.first, p.n);
            } catch (error) {
              reason = `job ${id} returned a malformed result: ${(error as Error).message}`;
            }
            if (result) {
              const bytes = result.output === p.keys.output ? await c.client.getBuffer(p.keys.output) : null;
              if (bytes === null || bytes.length !== p.n * m * 4) {
                reason = `the measurements of job ${id} are ${bytes === null ? 'missing from Redis' : `${bytes.length} bytes, expected ${p.n * m * 4}`}`;
              } else {
                rows = bytesToFloats(bytes);
                rowFailures = result.failures.map((f) => ({ index: f.index, reason: f.reason, ...(typeof f.time === 'number' ? { time: f.time } : {}) }));
                evaluateMs = result.evaluateMs;
              }
            }
          }
          // Then the chunk is stored at once, and only once.
          if (!pending.delete(id)) return;
          if (rows) {
            y.set(rows, p.first * m);
            stats.bytesReceived += rows.byteLength;
            stats.evaluateMs.push(evaluateMs);
            stats.overheadMs.push(Date.now() - p.addedAt - evaluateMs);
          } else {
            rowFailures = Array.from({ length: p.n }, (_, i) => ({ index: p.first + i, reason: reason! }));
          }
          for (const f of rowFailures) {
            failures.push(f);
            y.fill(NaN, f.index * m, (f.index + 1) * m);
          }
          // Cleaning up may fail without harm: the keys expire and BullMQ drops old jobs.
          cleaning++;
          await c.client.del(p.keys.input, p.keys.output).catch(() => undefined);
          await job.remove().catch(() => undefined);
          if (--cleaning === 0 && pending.size === 0) finish();
        } finally {
          busy.delete(id);
        }
      };
      // A Redis error leaves the chunk pending (retried at the next poll, until the timeout); a job gone from Redis ends the call.
      const lookAt = (id: string) => {
        look(id).catch((error: Error) => {
          if (/no longer in Redis/.test(error.message)) finish(error);
          else this.lastRedisError = error;
        });
      };
      const onEvent = ({ jobId: id }: { jobId: string }) => { if (pending.has(id)) lookAt(id); };
      const onAbort = () => finish(abortError(signal!, 'The forward evaluation'));
      c.events.on('completed', onEvent);
      c.events.on('failed', onEvent);
      signal?.addEventListener('abort', onAbort, { once: true });
      // Polls catch what events missed (a reconnection) and notice Redis errors, which are retried until the timeout.
      const poll = setInterval(() => {
        for (const id of pending.keys()) lookAt(id);
      }, POLL_MS);
      const timer = setTimeout(() => {
        const last = this.lastRedisError ? `; the last Redis error was: ${this.lastRedisError.message}` : '';
        finish(new Error(`The forward evaluation through queue '${this.queue}' at ${this.target.label} timed out after ${Date.now() - started} ms `
          + `with ${pending.size} of ${stats.jobs} jobs unfinished (is an enkg worker --queue ${this.queue} running?)${last}`));
      }, this.timeoutMs);
      for (const id of [...pending.keys()]) lookAt(id);
    });
  }

  /** Removes the call's jobs that no worker has taken and the keys of every unfinished one (after an abort or a failure). */
  private async removeWaiting(c: Connection, pending: Map<string, Pending>): Promise<void> {
    await Promise.allSettled([...pending.entries()].map(async ([id, p]) => {
      const job = await Job.fromId(c.queue, id);
      const state = await job?.getState();
      if (job && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) await job.remove();
      await c.client.del(p.keys.input, p.keys.output);
    }));
  }
}

/**
 * A ForwardModel whose evaluations run on `enkg worker` processes listening
 * on `queue` at the Redis server `connection` (see QueueForwardModel). The
 * options are checked here; the server is checked at connect() or at the
 * first forward call, before anything is sent.
 */
export function fromQueue(options: FromQueueOptions): QueueForwardModel {
  const owner = 'ForwardModel.fromQueue';
  const o = requireObject(options, `${owner} options`);
  requireKnownKeys(o, KEYS, owner);
  const target: RedisTarget = typeof o.connection === 'string' ? parseRedisUrl(o.connection, `${owner} connection`)
    : typeof o.connection === 'object' && o.connection !== null
      ? { options: { ...(o.connection as RedisOptions) }, label: `${(o.connection as RedisOptions).host ?? 'localhost'}:${(o.connection as RedisOptions).port ?? 6379}` }
      : (() => { throw new TypeError(expected('a redis:// URL or ioredis options', `${owner} connection`, o.connection)); })();
  if (typeof o.queue !== 'string' || o.queue === '' || o.queue.includes(':')) {
    throw new TypeError(expected('a queue name (no \':\')', `${owner} queue`, o.queue));
  }
  const { name, modelOptions, shape } = resolveModel(o, owner);
  const chunk = o.chunk === undefined ? DEFAULT_CHUNK : requireInteger(o.chunk, `${owner} chunk`, 1);
  const timeoutMs = o.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : requireInteger(o.timeoutMs, `${owner} timeoutMs`, 1);
  const attempts = o.attempts === undefined ? DEFAULT_ATTEMPTS : requireInteger(o.attempts, `${owner} attempts`, 1);
  if (o.runId !== undefined && (typeof o.runId !== 'string' || !/^[A-Za-z0-9_-]+$/.test(o.runId))) {
    throw new TypeError(expected('letters, digits, _ and -', `${owner} runId`, o.runId));
  }
  const runId = (o.runId as string | undefined) ?? crypto.randomBytes(6).toString('hex');
  const heartbeatMs = o.heartbeatMs === undefined ? DEFAULT_HEARTBEAT_MS : requireInteger(o.heartbeatMs, `${owner} heartbeatMs`, 1000);
  return new QueueForward(target, o.queue, name, modelOptions, shape, chunk, timeoutMs, attempts, runId, heartbeatMs);
}

/** The model's name, its plain options and its shape, from any of the forms `model` takes. */
function resolveModel(o: Record<string, unknown>, owner: string): { name: string; modelOptions: PlainOptions; shape: AdapterShape } {
  const model = o.model;
  const what = `a ForwardModel of a registered kind (${QUEUE_MODEL_NAMES.join(', ')}), a model name or { name, options }`;
  if (typeof model === 'object' && model !== null && typeof (model as ForwardModel).forward === 'function') {
    for (const entry of QUEUE_MODEL_REGISTRY) {
      const described = entry.describe(model as ForwardModel);
      if (described) return { name: entry.name, modelOptions: described, shape: shapeOf(model as ForwardModel) };
    }
    throw new TypeError(expected(what, `${owner} model`, `a ${(model as object).constructor?.name ?? 'ForwardModel'} (workers cannot rebuild it from data; `
      + 'pass the name of a worker module with fieldShape and measurementSize)', true));
  }
  const spec = typeof model === 'string' ? { name: model, options: undefined } : model as { name?: unknown; options?: unknown } | null;
  if (typeof spec !== 'object' || spec === null || typeof spec.name !== 'string' || spec.name === '') {
    throw new TypeError(expected(what, `${owner} model`, model));
  }
  if (typeof model === 'object') requireKnownKeys(spec as Record<string, unknown>, ['name', 'options'], `${owner} model`);
  const modelOptions = requirePlainOptions(spec.options, `${owner} model.options`);
  const entry = queueModelEntry(spec.name);
  if (entry) return { name: entry.name, modelOptions, shape: shapeOf(entry.create(modelOptions)) };
  const fs = o.fieldShape;
  if (!Array.isArray(fs) || fs.length !== 3 || !fs.every((n) => Number.isSafeInteger(n) && n >= 1)) {
    throw new TypeError(expected('[C, H, W], three integers >= 1 (a module\'s model needs its shape)', `${owner} fieldShape`, fs));
  }
  const measurementSize = requireInteger(o.measurementSize, `${owner} measurementSize`, 1);
  return { name: spec.name, modelOptions, shape: { fieldShape: [fs[0], fs[1], fs[2]], measurementSize } };
}

function shapeOf(model: ForwardModel): AdapterShape {
  return { fieldShape: [...model.fieldShape] as [number, number, number], measurementSize: model.measurementSize };
}
