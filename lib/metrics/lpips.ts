// The LPIPS hook: a perceptual distance computed by a network the user
// supplies as ONNX (enkg ships no LPIPS weights). The contract is LPIPS's
// own: two float32 inputs [B, 3, H, W] in [-1, 1] (in the network's input
// order), one output of B distances (any shape of B values). Grey-scale
// images are repeated over the network's channels.
//
// onnxruntime-node's run() blocks the thread it runs on, so the network
// runs in a worker thread (as OnnxDenoiser's prior does), `batchSize`
// images per run().
import * as fs from 'node:fs';
import { Worker } from 'node:worker_threads';

import type { ImageShape } from './image';
import { expected, requireFloat32Array, requireInteger, requireKnownKeys, requireObject } from '../validate';

export interface LpipsOptions {
  /** Channels the network takes (default 3, LPIPS's RGB). */
  channels?: number;
  /** Images per run() (default 8). */
  batchSize?: number;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ort);
(async () => {
  let session;
  try {
    session = await ort.InferenceSession.create(workerData.path);
  } catch (error) {
    parentPort.postMessage({ type: 'error', message: String(error && error.message || error).split('\\n')[0] });
    return;
  }
  parentPort.postMessage({ type: 'ready', inputs: session.inputNames.length, outputs: session.outputNames.length });
  parentPort.on('message', async (m) => {
    if (m.type === 'close') {
      try { await session.release(); } catch {}
      parentPort.close();
      return;
    }
    try {
      const a = new ort.Tensor('float32', new Float32Array(m.a), m.dims);
      const b = new ort.Tensor('float32', new Float32Array(m.b), m.dims);
      const result = await session.run({ [session.inputNames[0]]: a, [session.inputNames[1]]: b });
      const data = Float32Array.from(result[session.outputNames[0]].data);
      parentPort.postMessage({ type: 'result', id: m.id, data: data.buffer }, [data.buffer]);
    } catch (error) {
      parentPort.postMessage({ type: 'failed', id: m.id, message: String(error && error.message || error) });
    }
  });
})();
`;

type Reply = { type: 'ready'; inputs: number; outputs: number } | { type: 'error'; message: string }
  | { type: 'result'; id: number; data: ArrayBuffer } | { type: 'failed'; id: number; message: string };

export class LpipsNetwork {
  private closed = false;
  private nextId = 0;

  private constructor(private readonly worker: Worker, readonly file: string, readonly channels: number, readonly batchSize: number) {
    worker.unref();
  }

  /** Loads the network in a worker; rejects naming the file when it is missing, unreadable or has not two inputs. */
  static async load(file: string, opts: LpipsOptions = {}): Promise<LpipsNetwork> {
    requireKnownKeys(requireObject(opts, 'LpipsNetwork.load(options)'), ['channels', 'batchSize'], 'LpipsNetwork.load');
    const channels = opts.channels === undefined ? 3 : requireInteger(opts.channels, 'channels', 1);
    const batchSize = opts.batchSize === undefined ? 8 : requireInteger(opts.batchSize, 'batchSize', 1);
    if (typeof file !== 'string' || !fs.existsSync(file)) throw new TypeError(expected('an existing .onnx file', 'the LPIPS network', file));
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ort: require.resolve('onnxruntime-node'), path: file } });
    const ready = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }).catch(async (error: Error) => {
      await worker.terminate();
      throw new Error(`Cannot load the LPIPS network ${file}: ${error.message}`);
    });
    if (ready.type !== 'ready' || ready.inputs !== 2 || ready.outputs < 1) {
      await worker.terminate();
      throw new TypeError(expected('a network with two image inputs and a distance output', 'the LPIPS network',
        ready.type === 'ready' ? `${file} (${ready.inputs} inputs, ${ready.outputs} outputs)` : `${file} (${ready.type === 'error' ? ready.message : 'no reply'})`, true));
    }
    return new LpipsNetwork(worker, file, channels, batchSize);
  }

  private run(a: Float32Array, b: Float32Array, dims: number[]): Promise<Float32Array> {
    const id = this.nextId++;
    this.worker.ref();
    return new Promise<Float32Array>((resolve, reject) => {
      const onMessage = (m: Reply) => {
        if ((m.type !== 'result' && m.type !== 'failed') || m.id !== id) return;
        this.worker.off('message', onMessage);
        this.worker.off('error', onError);
        this.worker.unref();
        if (m.type === 'result') resolve(new Float32Array(m.data));
        else reject(new Error(`The LPIPS network ${this.file} failed: ${m.message}`));
      };
      const onError = (error: Error) => {
        this.worker.off('message', onMessage);
        reject(new Error(`The LPIPS network ${this.file} failed: ${error.message}`));
      };
      this.worker.on('message', onMessage);
      this.worker.once('error', onError);
      this.worker.postMessage({ type: 'run', id, a: a.buffer, b: b.buffer, dims }, [a.buffer as ArrayBuffer, b.buffer as ArrayBuffer]);
    });
  }

  /** The distance of each of `count` estimates (count x C x H x W, in [-1, 1]) from the truth. */
  async distance(estimates: Float32Array, count: number, truth: Float32Array, shape: ImageShape): Promise<Float64Array> {
    if (this.closed) throw new Error(`The LPIPS network ${this.file} was disposed`);
    requireFloat32Array(estimates, 'estimates');
    requireFloat32Array(truth, 'truth');
    requireInteger(count, 'count', 1);
    const [C, H, W] = shape, d = C * H * W, K = this.channels;
    if (truth.length !== d) throw new RangeError(expected(`C x H x W = ${d} floats`, 'truth.length', truth.length));
    if (estimates.length !== count * d) throw new RangeError(expected(`count x C x H x W = ${count * d} floats`, 'estimates.length', estimates.length));
    if (C !== 1 && C !== K) throw new RangeError(expected(`1 or ${K} channels (the network's)`, 'shape[0]', C));
    const out = new Float64Array(count);
    for (let start = 0; start < count; start += this.batchSize) {
      const B = Math.min(this.batchSize, count - start);
      const a = new Float32Array(B * K * H * W), b = new Float32Array(B * K * H * W);
      for (let n = 0; n < B; n++) {
        for (let k = 0; k < K; k++) {
          const c = C === 1 ? 0 : k;
          a.set(estimates.subarray((start + n) * d + c * H * W, (start + n) * d + (c + 1) * H * W), (n * K + k) * H * W);
          b.set(truth.subarray(c * H * W, (c + 1) * H * W), (n * K + k) * H * W);
        }
      }
      const values = await this.run(a, b, [B, K, H, W]);
      if (values.length !== B) {
        throw new RangeError(expected(`${B} distances (one per image)`, `the output of ${this.file}`, values.length));
      }
      for (let n = 0; n < B; n++) out[start + n] = values[n];
    }
    return out;
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
  }
}

/** LPIPS of one image against the truth with a loaded network. */
export async function lpips(network: LpipsNetwork, estimate: Float32Array, truth: Float32Array, shape: ImageShape): Promise<number> {
  return (await network.distance(estimate, 1, truth, shape))[0];
}
