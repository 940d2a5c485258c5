// A diffusion prior exported to ONNX (the contract of docs/method.md section 1),
// run by onnxruntime-node in a worker thread: InferenceSession.run blocks the
// thread it runs on, so the event loop stays free while a batch denoises.
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';

import { forChunks } from '../chunked';
import { PROTOBUF_MAX_BYTES, readBoundedFile } from '../io/input-file';
import { expected, requireInteger, requireKnownKeys, requireObject } from '../validate';
import { denoiseArgs, Denoiser, fieldSize } from './denoiser';
import { onnxMetadata } from './onnx-metadata';

/**
 * ONNX Runtime's execution providers a prior can run on: 'cuda' (needs the
 * CUDA provider files, which the default offline install skips; README),
 * 'webgpu' (bundled with onnxruntime-node; runs on any GPU with a Vulkan
 * driver on Linux) and 'cpu'.
 */
export type ExecutionProvider = 'cuda' | 'webgpu' | 'cpu';
export const EXECUTION_PROVIDERS: readonly ExecutionProvider[] = ['cuda', 'webgpu', 'cpu'];

/**
 * The providers to try for a prior, from a comma-separated list such as
 * 'webgpu,cpu' (the --prior-provider flags), or 'auto': the CUDA provider then
 * the CPU when the numerical backend is CUDA, the CPU alone otherwise.
 * (WebGPU is asked for by name: where only a software Vulkan driver exists it
 * would load and run slower than the CPU provider.)
 */
export function parseExecutionProviders(text: string, backend: 'cpu' | 'cuda', name = '--prior-provider'): ExecutionProvider[] {
  if (text === 'auto') return backend === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
  const list = text.split(',').map((p) => p.trim());
  const unknown = list.find((p) => !(EXECUTION_PROVIDERS as readonly string[]).includes(p));
  if (unknown !== undefined) {
    throw new TypeError(`${name} must be auto or a comma-separated list of ${EXECUTION_PROVIDERS.join(', ')}; got '${text}'`);
  }
  return list as ExecutionProvider[];
}

export interface OnnxDenoiserOptions {
  /** Tried in order (default ['cuda', 'cpu']); the first that loads is used. */
  executionProviders?: ExecutionProvider[];
  /** Largest batch sent to the network at once (default 256). */
  maxBatch?: number;
  /**
   * Intra-op threads of the session (default: one per logical core,
   * os.availableParallelism(); ONNX Runtime's own choice counts physical
   * cores, which on a 2-vCPU machine is one thread: 1.6x slower there,
   * bench/RESULTS.md "Priors").
   */
  threads?: number;
}

interface ValueInfo {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: Array<number | string>;
}

type WorkerMessage =
  | { type: 'ready'; provider: ExecutionProvider; fallback?: string; inputs: ValueInfo[]; outputs: ValueInfo[] }
  | { type: 'error'; message: string }
  | { type: 'result'; id: number; data: ArrayBuffer; dims: number[] }
  | { type: 'failed'; id: number; message: string };

// The worker owns the session. It is plain JavaScript (run with eval) so it
// works the same from compiled dist/ and from ts-node / ts-jest sources.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
// A provider that may be missing is tried quietly: its failure is reported
// once, in the fallback line (errors still arrive as exceptions).
if (workerData.providers.length > 1) ort.env.logLevel = 'fatal';
const describe = (list) => list.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape ? Array.from(m.shape) : undefined }));
(async () => {
  let session, provider, fallback;
  for (const ep of workerData.providers) {
    try {
      const options = { executionProviders: [ep] };
      if (workerData.threads) options.intraOpNumThreads = workerData.threads;
      session = await ort.InferenceSession.create(workerData.path, options);
      provider = ep;
      break;
    } catch (error) {
      const message = String(error && error.message || error).split('\\n')[0];
      fallback = (fallback ? fallback + '; ' : '') + ep + ': ' + message;
    }
  }
  if (!session) {
    parentPort.postMessage({ type: 'error', message: fallback });
    return;
  }
  parentPort.postMessage({ type: 'ready', provider, fallback, inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) });
  parentPort.on('message', async (m) => {
    if (m.type === 'close') {
      try { await session.release(); } catch {}
      parentPort.close();
      return;
    }
    try {
      const x = new ort.Tensor('float32', new Float32Array(m.x), m.shape);
      const sigma = new ort.Tensor('float32', new Float32Array(m.sigma), [m.shape[0]]);
      const out = (await session.run({ x, sigma })).denoised;
      const data = Float32Array.from(out.data);
      parentPort.postMessage({ type: 'result', id: m.id, data: data.buffer, dims: Array.from(out.dims) }, [data.buffer]);
    } catch (error) {
      parentPort.postMessage({ type: 'failed', id: m.id, message: String(error && error.message || error) });
    }
  });
})();
`;

function contractError(path: string, problem: string): Error {
  return new Error(
    `${path} does not follow the enkg prior contract (inputs x: float32 [B, C, H, W] and sigma: float32 [B], ` +
      `output denoised: float32 [B, C, H, W], B dynamic): ${problem}`);
}

const describeValue = (v: ValueInfo): string => `${v.name}: ${v.type ?? '?'} [${(v.shape ?? []).join(', ')}]`;

/** Checks the session's inputs and outputs against the contract; returns [C, H, W]. */
function checkContract(path: string, inputs: ValueInfo[], outputs: ValueInfo[]): [number, number, number] {
  const x = inputs.find((v) => v.name === 'x');
  const sigma = inputs.find((v) => v.name === 'sigma');
  const denoised = outputs.find((v) => v.name === 'denoised');
  const has = `it has inputs ${inputs.map(describeValue).join(', ') || 'none'} and outputs ${outputs.map(describeValue).join(', ') || 'none'}`;
  if (x === undefined || sigma === undefined) throw contractError(path, `${has}; input ${x ? "'sigma'" : "'x'"} is missing`);
  if (denoised === undefined) throw contractError(path, `${has}; output 'denoised' is missing`);
  if (inputs.length !== 2) throw contractError(path, `${has}; expected exactly the inputs x and sigma`);
  for (const v of [x, sigma, denoised]) {
    if (!v.isTensor || v.type !== 'float32') throw contractError(path, `${describeValue(v)} is not a float32 tensor`);
  }
  const xs = x.shape ?? [];
  if (xs.length !== 4) throw contractError(path, `x has rank ${xs.length} (${describeValue(x)}); expected rank 4`);
  if (typeof xs[0] === 'number' && xs[0] > 0) {
    throw contractError(path, `x has a fixed batch of ${xs[0]} (${describeValue(x)}); expected a dynamic batch axis`);
  }
  const chw = xs.slice(1);
  if (!chw.every((n) => typeof n === 'number' && n > 0)) {
    throw contractError(path, `x has symbolic C, H or W (${describeValue(x)}); expected fixed sizes`);
  }
  const ss = sigma.shape ?? [];
  if (ss.length !== 1) throw contractError(path, `sigma has shape [${ss.join(', ')}]; expected [B]`);
  if (typeof ss[0] === 'number' && ss[0] > 0) {
    throw contractError(path, `sigma has a fixed batch of ${ss[0]} (${describeValue(sigma)}); expected a dynamic batch axis`);
  }
  const ds = denoised.shape ?? [];
  if (ds.length !== 4 || ds.slice(1).some((n, i) => typeof n === 'number' && n !== chw[i])) {
    throw contractError(path, `denoised is ${describeValue(denoised)}; expected the shape of x`);
  }
  return chw as [number, number, number];
}

export class OnnxDenoiser implements Denoiser {
  private count = 0;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: Float32Array) => void; reject: (e: Error) => void }>();
  private closed = false;
  private disposing?: Promise<void>;
  /** Requests posted to the worker and not yet answered (dispose waits for them). */
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(
    readonly path: string,
    private readonly worker: Worker,
    readonly shape: [number, number, number],
    readonly executionProvider: ExecutionProvider,
    readonly metadata: Record<string, string>,
    readonly maxBatch: number,
    /** The session's intra-op threads (OnnxDenoiserOptions.threads). */
    readonly threads: number,
  ) {
    worker.on('message', (m: WorkerMessage) => {
      if (m.type !== 'result' && m.type !== 'failed') return;
      const request = this.pending.get(m.id);
      if (request === undefined) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.type === 'result') request.resolve(new Float32Array(m.data));
      else request.reject(new Error(`ONNX inference failed for ${path}: ${m.message}`));
    });
    worker.on('error', (error) => this.failAll(error));
    worker.on('exit', () => this.failAll(new Error(`the ONNX worker for ${path} exited`)));
    worker.unref();
  }

  /**
   * Loads a prior. Fails with a message naming what the file has and what is
   * expected when it is unreadable or breaks the contract.
   */
  static async load(path: string, opts: OnnxDenoiserOptions = {}): Promise<OnnxDenoiser> {
    if (typeof path !== 'string') throw new TypeError(expected('a path to an .onnx file', 'path', path));
    requireKnownKeys(requireObject(opts, 'OnnxDenoiser.load(options)'), ['executionProviders', 'maxBatch', 'threads'], 'OnnxDenoiser.load');
    const providers = opts.executionProviders ?? ['cuda', 'cpu'];
    if (!Array.isArray(providers) || providers.length === 0 || providers.some((p) => !EXECUTION_PROVIDERS.includes(p))) {
      throw new TypeError(expected(`a non-empty list of ${EXECUTION_PROVIDERS.map((p) => `'${p}'`).join(', ')}`, 'executionProviders', providers));
    }
    const maxBatch = opts.maxBatch === undefined ? 256 : requireInteger(opts.maxBatch, 'maxBatch', 1);
    const threads = opts.threads === undefined ? os.availableParallelism() : requireInteger(opts.threads, 'threads', 1);
    let bytes: Buffer;
    try {
      bytes = await readBoundedFile(path, { maxBytes: PROTOBUF_MAX_BYTES });
    } catch (error) {
      throw new Error(`Cannot read the prior ${path}: ${(error as Error).message}`);
    }
    let metadata: Record<string, string>;
    try {
      metadata = onnxMetadata(bytes);
    } catch (error) {
      throw new Error(`${path} is not an ONNX model (${(error as Error).message})`);
    }
    const worker = new Worker(WORKER_SOURCE, {
      eval: true, workerData: { ort: require.resolve('onnxruntime-node'), path, providers, threads },
    });
    const ready = await new Promise<Extract<WorkerMessage, { type: 'ready' }>>((resolve, reject) => {
      worker.once('message', (m: WorkerMessage) => {
        if (m.type === 'ready') resolve(m);
        else reject(new Error(`Cannot load the prior ${path}: ${m.type === 'error' ? m.message : 'unexpected reply'}`));
      });
      worker.once('error', (error) => reject(new Error(`Cannot load the prior ${path}: ${error.message}`)));
    }).catch(async (error: Error) => {
      await worker.terminate();
      throw error;
    });
    let shape: [number, number, number];
    try {
      shape = checkContract(path, ready.inputs, ready.outputs);
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    if (ready.fallback && ready.provider !== providers[0]) {
      console.warn(`enkg: ${path} runs on the ${ready.provider} execution provider (${ready.fallback})`);
    }
    return new OnnxDenoiser(path, worker, shape, ready.provider, metadata, maxBatch, threads);
  }

  get evaluations(): number {
    return this.count;
  }

  async denoise(x: Float32Array, sigma: number | Float32Array, batch: number): Promise<Float32Array> {
    if (this.closed) throw new Error(`The prior ${this.path} has been disposed`);
    const args = denoiseArgs(this.shape, x, sigma, batch);
    // The network is conditioned on c_noise = ln(sigma) / 4 (EDM), which is
    // -Infinity at 0: its output there is NaN, so 0 is refused up front.
    for (const s of args.sigmas) {
      if (!(s > 0)) throw new RangeError(expected('noise levels > 0 (the network is conditioned on ln(sigma))', 'sigma', s));
    }
    const d = fieldSize(this.shape);
    const out = new Float32Array(args.batch * d);
    for (let start = 0; start < args.batch; start += this.maxBatch) {
      const n = Math.min(this.maxBatch, args.batch - start);
      if (this.closed) throw new Error(`The prior ${this.path} was disposed during the call (after ${start} of ${args.batch} fields)`);
      const chunk = args.x.slice(start * d, (start + n) * d);
      const sigmas = Float32Array.from(args.sigmas.subarray(start, start + n));
      const result = await this.run(chunk, sigmas, n);
      if (result.length !== n * d) {
        throw new Error(`${this.path} returned ${result.length} floats for a batch of ${n}; expected ${n * d}`);
      }
      let bad = -1;
      await forChunks(result.length, (first, end) => {
        for (let i = first; i < end && bad < 0; i++) if (!Number.isFinite(result[i])) bad = i;
      });
      if (bad >= 0) {
        const field = start + Math.floor(bad / d);
        throw new Error(`${this.path} returned non-finite values: ${result[bad]} at field ${field} (element ${bad % d} of that field, `
          + `sigma ${args.sigmas[field]})`);
      }
      out.set(result, start * d);
      this.count += n;
    }
    return out;
  }

  /**
   * Shuts the worker down; later calls reject, and a call in progress
   * rejects before its next batch. Waits for the batch the worker is running
   * (terminating a worker while onnxruntime runs in it aborts the process).
   */
  dispose(): Promise<void> {
    // Every caller waits for the same shutdown: a second caller that went on at once could exit the process while
    // onnxruntime still runs in the worker.
    this.disposing ??= (async () => {
      this.closed = true;
      await Promise.allSettled([...this.inFlight]);
      this.worker.postMessage({ type: 'close' });
      await this.worker.terminate();
    })();
    return this.disposing;
  }

  private run(x: Float32Array, sigma: Float32Array, batch: number): Promise<Float32Array> {
    const id = this.nextId++;
    const request = new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref(); // keep the process alive while a request is out
      this.worker.postMessage(
        { type: 'run', id, x: x.buffer, sigma: sigma.buffer, shape: [batch, ...this.shape] },
        [x.buffer as ArrayBuffer, sigma.buffer as ArrayBuffer]);
    });
    this.inFlight.add(request);
    const settled = () => { this.inFlight.delete(request); };
    request.then(settled, settled);
    return request;
  }

  private failAll(error: Error): void {
    for (const request of this.pending.values()) request.reject(error);
    this.pending.clear();
  }
}
