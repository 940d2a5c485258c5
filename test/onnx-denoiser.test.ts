// OnnxDenoiser on the tiny fixtures of tools/prior/make_test_fixtures.py:
// the network is evaluated again in TypeScript from its weights.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { OnnxDenoiser, parseExecutionProviders, sampleODE } from '../lib';
import { maxRelativeError, testRandom } from './helpers/reference';

const FIXTURES = path.join(__dirname, 'fixtures', 'onnx');
const fixture = (name: string): string => path.join(FIXTURES, name);
const weights = JSON.parse(fs.readFileSync(fixture('tiny-denoiser.json'), 'utf8')) as { weight: number[]; bias: number; sigma_data: number };

/** D(x, s) = c_skip x + c_out tanh(conv3x3(c_in x) + b), zero padding, on 8 x 8 fields. */
function tinyNetwork(x: Float32Array, sigmas: number[]): Float64Array {
  const out = new Float64Array(x.length);
  const sd = weights.sigma_data;
  sigmas.forEach((s, b) => {
    const cSkip = sd * sd / (s * s + sd * sd), cOut = s * sd / Math.sqrt(s * s + sd * sd), cIn = 1 / Math.sqrt(s * s + sd * sd);
    for (let i = 0; i < 8; i++) {
      for (let j = 0; j < 8; j++) {
        let acc = weights.bias;
        for (let di = -1; di <= 1; di++) {
          for (let dj = -1; dj <= 1; dj++) {
            const ii = i + di, jj = j + dj;
            if (ii < 0 || ii >= 8 || jj < 0 || jj >= 8) continue;
            acc += weights.weight[(di + 1) * 3 + (dj + 1)] * cIn * x[b * 64 + ii * 8 + jj];
          }
        }
        out[b * 64 + i * 8 + j] = cSkip * x[b * 64 + i * 8 + j] + cOut * Math.tanh(acc);
      }
    }
  });
  return out;
}

describe('OnnxDenoiser', () => {
  let prior: OnnxDenoiser;
  beforeAll(async () => {
    prior = await OnnxDenoiser.load(fixture('tiny-denoiser.onnx'), { executionProviders: ['cpu'], maxBatch: 3 });
  });
  afterAll(async () => {
    await prior.dispose();
  });

  it('reads the shape and metadata from the file', () => {
    expect(prior.shape).toEqual([1, 8, 8]);
    expect(prior.executionProvider).toBe('cpu');
    expect(prior.metadata).toMatchObject({ sigma_data: '0.5', sigma_max: '80', resolution: '8' });
  });

  it('runs one intra-op thread per logical core unless told otherwise, and refuses a count below 1 by name', async () => {
    expect(prior.threads).toBe(os.availableParallelism());
    const one = await OnnxDenoiser.load(fixture('tiny-denoiser.onnx'), { executionProviders: ['cpu'], threads: 1 });
    try {
      expect(one.threads).toBe(1);
      const x = testRandom(3).normals(2 * 64);
      expect(maxRelativeError(await one.denoise(x, 0.5, 2), await prior.denoise(x, 0.5, 2))).toBeLessThan(1e-6);
    } finally {
      await one.dispose();
    }
    await expect(OnnxDenoiser.load(fixture('tiny-denoiser.onnx'), { threads: 0 })).rejects.toThrow('for threads but received 0');
  });

  it('matches a TypeScript evaluation of the same network, across maxBatch chunks and per-field sigmas', async () => {
    const g = testRandom(1);
    const x = g.normals(7 * 64);
    const sigmas = [0.01, 0.1, 0.5, 1, 2, 10, 80];
    const before = prior.evaluations;
    const out = await prior.denoise(x, Float32Array.from(sigmas), 7);
    expect(maxRelativeError(out, tinyNetwork(x, sigmas.map(Math.fround)))).toBeLessThan(1e-5);
    expect(prior.evaluations - before).toBe(7);
  });

  it('runs off the main thread: a 10 ms interval keeps firing during a long sampling run', async () => {
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 10);
    const started = Date.now();
    const samples = await sampleODE(prior, { count: 2000, steps: 20, seed: 3 });
    const elapsed = Date.now() - started;
    clearInterval(timer);
    expect(samples.every(Number.isFinite)).toBe(true);
    expect(elapsed).toBeGreaterThan(50);
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 10 / 4));
  });

  it.each([
    ['missing-sigma.onnx', /input 'sigma' is missing/],
    ['fixed-batch.onnx', /x has a fixed batch of 2 \(x: float32 \[2, 1, 8, 8\]\); expected a dynamic batch axis/],
    ['fixed-sigma.onnx', /sigma has a fixed batch of 2 \(sigma: float32 \[2\]\); expected a dynamic batch axis/],
    ['wrong-rank.onnx', /x has rank 3 \(x: float32 \[B, 8, 8\]\); expected rank 4/],
    ['float64.onnx', /x: float64 \[B, 1, 8, 8\] is not a float32 tensor/],
  ])('refuses %s at load, saying what it has and what is expected', async (file, message) => {
    const error = await OnnxDenoiser.load(fixture(file), { executionProviders: ['cpu'] }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/does not follow the enkg prior contract \(inputs x: float32 \[B, C, H, W\]/);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses unreadable and non-ONNX files, and bad options', async () => {
    await expect(OnnxDenoiser.load(path.join(os.tmpdir(), 'no-such-prior.onnx'))).rejects.toThrow(/^Cannot read the prior .*no-such-prior.onnx: Expected a readable file for .*no-such-prior.onnx but received '.*no-such-prior.onnx' \(no such file\)$/);
    const junk = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-onnx-')), 'junk.onnx');
    fs.writeFileSync(junk, 'this is not a model');
    await expect(OnnxDenoiser.load(junk, { executionProviders: ['cpu'] })).rejects.toThrow(/junk.onnx/);
    await expect(OnnxDenoiser.load(fixture('tiny-denoiser.onnx'), { executionProviders: ['tpu' as 'cpu'] })).rejects.toThrow(
      "Expected a non-empty list of 'cuda', 'webgpu', 'cpu' for executionProviders but received Array(1)");
  });

  it("falls back from 'cuda' to the CPU with one line saying why", async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const fallback = await OnnxDenoiser.load(fixture('tiny-denoiser.onnx'), { executionProviders: ['cuda', 'cpu'] });
      if (fallback.executionProvider === 'cpu') {
        expect(warn).toHaveBeenCalledTimes(1);
        expect(String(warn.mock.calls[0][0])).toMatch(/runs on the cpu execution provider \(cuda: /);
      }
      await fallback.dispose();
      await expect(fallback.denoise(new Float32Array(64), 1, 1)).rejects.toThrow('has been disposed');
    } finally {
      warn.mockRestore();
    }
  });

  it('disposed during a call, waits for the batch in the worker and rejects the rest, naming it (the process lives on)', async () => {
    const own = await OnnxDenoiser.load(fixture('tiny-denoiser.onnx'), { executionProviders: ['cpu'], maxBatch: 2 });
    const call = own.denoise(Float32Array.from({ length: 40 * 64 }, (_, k) => Math.sin(k)), 1, 40);
    const outcome = expect(call).rejects.toThrow(/was disposed during the call \(after \d+ of 40 fields\)/);
    const first = own.dispose(), second = own.dispose();
    expect(second).toBe(first); // a second caller waits for the same shutdown
    await second;
    await outcome;
    await expect(own.denoise(new Float32Array(64), 1, 1)).rejects.toThrow('has been disposed');
  });

  it("reads --prior-provider lists: 'auto' follows the backend, names are checked", () => {
    expect(parseExecutionProviders('auto', 'cuda')).toEqual(['cuda', 'cpu']);
    expect(parseExecutionProviders('auto', 'cpu')).toEqual(['cpu']);
    expect(parseExecutionProviders('webgpu, cpu', 'cpu')).toEqual(['webgpu', 'cpu']);
    expect(() => parseExecutionProviders('gpu', 'cuda')).toThrow(
      "--prior-provider must be auto or a comma-separated list of cuda, webgpu, cpu; got 'gpu'");
    expect(() => parseExecutionProviders('cpu,', 'cpu', '--provider')).toThrow(/^--provider must be auto/);
  });

  // Where a GPU with a Vulkan driver exists this runs on WebGPU; elsewhere it
  // falls back, and the answer must be the same either way.
  it("gives the CPU's answer on 'webgpu' (or on its CPU fallback)", async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const gpu = await OnnxDenoiser.load(fixture('tiny-denoiser.onnx'), { executionProviders: ['webgpu', 'cpu'] });
      expect(['webgpu', 'cpu']).toContain(gpu.executionProvider);
      if (gpu.executionProvider === 'cpu') expect(String(warn.mock.calls[0][0])).toMatch(/runs on the cpu execution provider \(webgpu: /);
      const x = testRandom(11).normals(4 * 64);
      const sigmas = Float32Array.of(0.01, 0.3, 2, 40);
      const got = await gpu.denoise(x, sigmas, 4);
      await gpu.dispose();
      expect(maxRelativeError(got, tinyNetwork(x, Array.from(sigmas, Math.fround)))).toBeLessThan(1e-5);
    } finally {
      warn.mockRestore();
    }
  });
});
