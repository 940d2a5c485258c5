// What travels through the queue between ForwardModel.fromQueue (the
// coordinator) and `enkg worker`: a BullMQ job per chunk of particles whose
// data is small JSON (the model's name and plain options, the chunk's rows,
// the names of two Redis keys), while the fields and the measurements are
// binary values (little-endian float32, as typed arrays hold them) in those
// keys. Job ids carry the run, the forward call ("step") and the chunk, so
// a job added twice is one job and a retried job writes the same key.
//
// While a forward call is in flight its coordinator keeps a heartbeat key
// alive (a short expiry, renewed several times within it). A worker that
// takes a job whose heartbeat has lapsed skips it: it deletes the job's
// fields and fails it as "coordinator gone" without evaluating, so the
// jobs of a coordinator that died cost no solver time. A live coordinator
// that finds one of its jobs skipped (its renewals were late: a stalled
// process, a Redis outage) sends the fields again and retries the job, so a
// skip never loses a live call's work.
import { expected } from '../validate';
import { PlainOptions } from './queue-models';

/** Bumped when the job data changes shape; a worker refuses other versions. */
export const PROTOCOL_VERSION = 1;

/** Particle keys expire after this long unless gathered first (a coordinator that died leaves none behind for good). */
export const KEY_TTL_MS = 24 * 3600 * 1000;

/** Finished jobs that nobody gathers are removed by BullMQ after this long (seconds). */
export const JOB_KEEP_SECONDS = 24 * 3600;

export interface QueueJobData {
  v: number;
  /** The model's registered name (or a worker module's name). */
  model: string;
  options: PlainOptions;
  fieldShape: [number, number, number];
  measurementSize: number;
  /** Row of the forward call where the chunk starts, and its particles. */
  first: number;
  n: number;
  /** The key holding n fields, and the key the worker writes n x m measurements to. */
  input: string;
  output: string;
  /** The coordinator's heartbeat key for this call; a job without one is always evaluated. */
  heartbeat?: string;
}

export interface QueueRowFailure {
  index: number;
  reason: string;
  time?: number;
}

/** A job's return value: where its measurements are, which rows failed, and the evaluation's own time. */
export interface QueueJobResult {
  output: string;
  failures: QueueRowFailure[];
  evaluateMs: number;
  worker: string;
}

/** The job id of chunk `chunk` of forward call `step` of run `run` (BullMQ ids may not contain ':'). */
export function jobId(run: string, step: number, chunk: number): string {
  return `${run}.${step}.${chunk}`;
}

/** The heartbeat key that the coordinator of forward call `step` of run `run` keeps alive while the call is in flight. */
export function heartbeatKey(queue: string, run: string, step: number): string {
  return `enkg:${queue}:${run}.${step}:alive`;
}

/** How a skipped job's failure reason starts; the coordinator tells a skip from a failure by it. */
export const COORDINATOR_GONE = 'coordinator gone';

/** Whether a failed job was skipped because its coordinator's heartbeat had lapsed. */
export function wasSkipped(failedReason: string | undefined): boolean {
  return typeof failedReason === 'string' && failedReason.startsWith(`${COORDINATOR_GONE}: `);
}

/** The keys of a job's particles and measurements. */
export function dataKeys(queue: string, id: string): { input: string; output: string } {
  return { input: `enkg:${queue}:${id}:x`, output: `enkg:${queue}:${id}:y` };
}

const isCount = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;

/** The job's data checked field by field; throws naming the first that is wrong. */
export function readJobData(data: unknown): QueueJobData {
  if (typeof data !== 'object' || data === null) throw new TypeError(expected('job data (an object)', 'the job', data));
  const d = data as Record<string, unknown>;
  if (d.v !== PROTOCOL_VERSION) throw new TypeError(expected(`protocol version ${PROTOCOL_VERSION}`, 'the job\'s v', d.v));
  if (typeof d.model !== 'string' || d.model === '') throw new TypeError(expected('a model name', 'the job\'s model', d.model));
  if (typeof d.options !== 'object' || d.options === null || Array.isArray(d.options)) {
    throw new TypeError(expected('an object of plain options', 'the job\'s options', d.options));
  }
  const fs = d.fieldShape;
  if (!Array.isArray(fs) || fs.length !== 3 || !fs.every((v) => isCount(v, 1))) {
    throw new TypeError(expected('[C, H, W], three integers >= 1', 'the job\'s fieldShape', fs));
  }
  if (!isCount(d.measurementSize, 1)) throw new TypeError(expected('an integer >= 1', 'the job\'s measurementSize', d.measurementSize));
  if (!isCount(d.first, 0)) throw new TypeError(expected('an integer >= 0', 'the job\'s first', d.first));
  if (!isCount(d.n, 1)) throw new TypeError(expected('an integer >= 1', 'the job\'s n', d.n));
  for (const key of ['input', 'output'] as const) {
    if (typeof d[key] !== 'string' || !(d[key] as string).startsWith('enkg:')) {
      throw new TypeError(expected('a key enkg:...', `the job's ${key}`, d[key]));
    }
  }
  if (d.heartbeat !== undefined && (typeof d.heartbeat !== 'string' || !d.heartbeat.startsWith('enkg:'))) {
    throw new TypeError(expected('a key enkg:... or nothing', 'the job\'s heartbeat', d.heartbeat));
  }
  return data as QueueJobData;
}

/** A job's return value checked against its chunk; throws naming what is wrong. */
export function readJobResult(value: unknown, first: number, n: number): QueueJobResult {
  const r = value as Partial<QueueJobResult> | null;
  if (typeof r !== 'object' || r === null || typeof r.output !== 'string' || !Array.isArray(r.failures)) {
    throw new TypeError(expected('{ output, failures }', 'the job\'s result', value));
  }
  for (const f of r.failures) {
    if (typeof f !== 'object' || f === null || !isCount(f.index, first) || f.index >= first + n || typeof f.reason !== 'string') {
      throw new TypeError(expected(`failures of rows ${first}..${first + n - 1} with a reason`, 'the job\'s result', JSON.stringify(f), true));
    }
  }
  return { output: r.output, failures: r.failures, evaluateMs: Number(r.evaluateMs) || 0, worker: String(r.worker ?? '') };
}

/** Bytes of a float32 array as a Buffer, no copy. */
export function floatBytes(x: Float32Array): Buffer {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
}

/** A Buffer of float32 values as a Float32Array (copied: a Buffer's offset need not be 4-aligned). */
export function bytesToFloats(buffer: Buffer): Float32Array {
  const out = new Float32Array(buffer.length / 4);
  new Uint8Array(out.buffer).set(buffer);
  return out;
}
