// ForwardModel.fromFunction and ForwardModel.fromWorkers (lib/forward): the
// measurements against a float64 reference, per-particle failures as
// ForwardEvaluationError, the abort signal, and workers agreeing with the
// calling thread bit for bit.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { ForwardEvaluationError, ForwardModel } from '../lib';

const MOMENTS = path.join(__dirname, 'fixtures/forward/moments.js');
const SPIN = path.join(__dirname, 'fixtures/forward/spin.js');
const ESM = path.join(__dirname, 'fixtures/forward/module.mjs');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const moments = require(MOMENTS) as ((x: Float32Array, index: number) => number[]) & {
  batched: (x: Float32Array, batch: number) => Float64Array;
};

const fieldShape: [number, number, number] = [1, 3, 4];
const d = 12, m = 3;

/** batch fields with distinct values (a fixed pseudo-random pattern). */
function fields(batch: number): Float32Array {
  return Float32Array.from({ length: batch * d }, (_, k) => Math.sin(1.3 * k + 0.2) * (1 + (k % 5)));
}

/** G(x) = [mean, mean of squares, last value + index] in float64, independent of the fixture. */
function reference(x: Float32Array, n: number, withIndex = true): number[] {
  const row = Array.from(x.subarray(n * d, (n + 1) * d));
  return [row.reduce((a, b) => a + b, 0) / d, row.reduce((a, b) => a + b * b, 0) / d, row[d - 1] + (withIndex ? n : 0)];
}

function expectRows(y: Float32Array, x: Float32Array, rows: number[], withIndex = true): void {
  for (const n of rows) {
    const want = reference(x, n, withIndex);
    for (let k = 0; k < m; k++) expect(y[n * m + k]).toBeCloseTo(want[k], 5);
  }
}

async function failure(promise: Promise<unknown>): Promise<ForwardEvaluationError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ForwardEvaluationError);
  return error as ForwardEvaluationError;
}

describe('ForwardModel.fromFunction', () => {
  it('per particle, sync or async, gives each field its measurements (float64 reference) and passes its row index', async () => {
    const x = fields(5);
    const sync = ForwardModel.fromFunction(moments, { fieldShape, measurementSize: m });
    const async = ForwardModel.fromFunction(async (f: Float32Array, i: number) => {
      await new Promise((r) => setTimeout(r, (5 - i) * 3)); // later particles answer first
      return Float64Array.from(moments(f, i));
    }, { fieldShape, measurementSize: m, concurrency: 3 });
    for (const model of [sync, async]) {
      expect(model.fieldShape).toEqual(fieldShape);
      expect(model.measurementSize).toBe(m);
      const y = await model.forward(x, 5);
      expect(y).toBeInstanceOf(Float32Array);
      expect(y.length).toBe(5 * m);
      expectRows(y, x, [0, 1, 2, 3, 4]);
    }
  });

  it('a particle that throws or answers NaN fails alone: ForwardEvaluationError lists each with its reason, NaN rows in partial', async () => {
    const x = fields(6);
    x[1 * d] = -999;
    x[4 * d] = -998;
    const model = ForwardModel.fromFunction(moments, { fieldShape, measurementSize: m });
    const error = await failure(model.forward(x, 6));
    expect(error.failures).toEqual([
      { index: 1, reason: 'threw Error: particle 1 refused' },
      { index: 4, reason: 'returned a non-finite value (NaN) at measurement 1' },
    ]);
    expect(error.message).toBe('2 of 6 forward evaluations failed (particle 1: threw Error: particle 1 refused; '
      + 'particle 4: returned a non-finite value (NaN) at measurement 1)');
    expect(Array.from(error.partial.subarray(m, 2 * m))).toEqual([NaN, NaN, NaN]);
    expect(Array.from(error.partial.subarray(4 * m, 5 * m))).toEqual([NaN, NaN, NaN]);
    expectRows(error.partial, x, [0, 2, 3, 5]);
  });

  it('a per-particle answer that is not m finite float32 numbers fails that particle, saying what it was', async () => {
    const answers: unknown[] = [[1, 2], 'abc', [1, 2, 1e39], null, [1, 2, 3]];
    const model = ForwardModel.fromFunction((_f: Float32Array, i: number) => answers[i] as number[], { fieldShape, measurementSize: m });
    const error = await failure(model.forward(fields(5), 5));
    expect(error.failures).toEqual([
      { index: 0, reason: 'returned 2 numbers; expected 3' },
      { index: 1, reason: "returned 'abc'; expected 3 numbers" },
      { index: 2, reason: 'returned a non-finite value (1e+39) at measurement 2' },
      { index: 3, reason: 'returned null; expected 3 numbers' },
    ]);
    expect(Array.from(error.partial.subarray(4 * m))).toEqual([1, 2, 3]);
    // m = 1: a plain number is one measurement.
    const scalar = ForwardModel.fromFunction((f: Float32Array) => f[0] * 2, { fieldShape, measurementSize: 1 });
    expect(Array.from(await scalar.forward(fields(2), 2))).toEqual([fields(2)[0] * 2, fields(2)[d] * 2].map(Math.fround));
  });

  it('batched: one call for the batch; non-finite rows fail, its own ForwardEvaluationError passes on, a wrong length rejects', async () => {
    const x = fields(4);
    let calls = 0;
    const model = ForwardModel.fromFunction((xs: Float32Array, batch: number) => { calls++; return moments.batched(xs, batch); },
      { fieldShape, measurementSize: m, batched: true });
    expectRows(await model.forward(x, 4), x, [0, 1, 2, 3], false);
    expect(calls).toBe(1);

    const nan = x.slice();
    nan[2 * d] = -998;
    const error = await failure(model.forward(nan, 4));
    expect(error.failures).toEqual([{ index: 2, reason: 'returned a non-finite value (NaN) at measurement 1' }]);
    expectRows(error.partial, nan, [0, 1, 3], false);

    const own = ForwardModel.fromFunction((xs: Float32Array, batch: number) => {
      const y = Float32Array.from(moments.batched(xs, batch));
      y.fill(NaN, 3, 6);
      throw new ForwardEvaluationError('one blew up', [{ index: 1, time: 0.25, reason: 'blew up' }], y);
    }, { fieldShape, measurementSize: m, batched: true });
    const passed = await failure(own.forward(x, 4));
    expect(passed.failures).toEqual([{ index: 1, time: 0.25, reason: 'blew up' }]);

    const short = ForwardModel.fromFunction(() => new Float32Array(5), { fieldShape, measurementSize: m, batched: true });
    await expect(short.forward(x, 4)).rejects.toThrow(
      'Expected batch x measurementSize = 4 x 3 = 12 numbers from the forward function but received 5 numbers');
    const broken = ForwardModel.fromFunction(() => { throw new Error('no licence'); }, { fieldShape, measurementSize: m, batched: true });
    await expect(broken.forward(x, 4)).rejects.toThrow('no licence');
  });

  it('a synchronous per-particle function leaves the event loop turning (10 ms interval keeps firing)', async () => {
    const busy = (f: Float32Array) => {
      const until = performance.now() + 2;
      while (performance.now() < until) { /* 2 ms of work */ }
      return [f[0], f[1], f[2]];
    };
    const model = ForwardModel.fromFunction(busy, { fieldShape, measurementSize: m });
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 10);
    const started = Date.now();
    await model.forward(fields(100), 100);
    const elapsed = Date.now() - started;
    clearInterval(timer);
    // 100 x 2 ms in one stretch would fire the interval at most once.
    expect(elapsed).toBeGreaterThan(190);
    expect(ticks).toBeGreaterThanOrEqual(Math.floor(elapsed / 10 / 4));
  });

  it('stops calling the function once the signal aborts, and rejects with an AbortError', async () => {
    const controller = new AbortController();
    let calls = 0;
    const model = ForwardModel.fromFunction(async (f: Float32Array) => {
      if (++calls === 3) controller.abort();
      return [f[0], f[1], f[2]];
    }, { fieldShape, measurementSize: m });
    await expect(model.forward(fields(10), 10, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls).toBe(3);
  });

  it('rejects bad options and arguments with the house message, naming them', () => {
    const ok = { fieldShape, measurementSize: m };
    expect(() => ForwardModel.fromFunction('f' as never, ok)).toThrow(
      "Expected a function for ForwardModel.fromFunction fn but received 'f'");
    expect(() => ForwardModel.fromFunction(moments, { ...ok, batchd: true } as never)).toThrow(
      "Expected one of 'fieldShape', 'measurementSize', 'batched', 'concurrency' for an option of ForwardModel.fromFunction but received 'batchd'");
    expect(() => ForwardModel.fromFunction(moments, { ...ok, fieldShape: [3, 4] } as never)).toThrow(
      'Expected [C, H, W], three integers >= 1 for ForwardModel.fromFunction fieldShape but received [3, 4]');
    expect(() => ForwardModel.fromFunction(moments, { fieldShape } as never)).toThrow(
      'Expected an integer >= 1 for ForwardModel.fromFunction measurementSize but received undefined');
    expect(() => ForwardModel.fromFunction(moments, { ...ok, batched: 'yes' } as never)).toThrow(
      "Expected true or false for ForwardModel.fromFunction batched but received 'yes'");
    expect(() => ForwardModel.fromFunction(moments, { ...ok, concurrency: 0 })).toThrow(
      'Expected an integer >= 1 for ForwardModel.fromFunction concurrency but received 0');
    const model = ForwardModel.fromFunction(moments, ok);
    return Promise.all([
      expect(model.forward(new Float32Array(5), 1)).rejects.toThrow('Expected batch x 1 x 3 x 4 = 12 floats for x.length but received 5'),
      expect(model.forward(new Float32Array(12), 0)).rejects.toThrow('Expected an integer >= 1 for batch but received 0'),
      expect(model.forward([1] as never, 1)).rejects.toThrow('Expected a Float32Array for x but received Array(1)'),
    ]);
  });
});

describe('ForwardModel.fromWorkers', () => {
  const models: ReturnType<typeof ForwardModel.fromWorkers>[] = [];
  afterAll(() => Promise.all(models.map((w) => w.dispose())));
  const workers = (modulePath: string, options: Parameters<typeof ForwardModel.fromWorkers>[1]) => {
    const model = ForwardModel.fromWorkers(modulePath, options);
    models.push(model);
    return model;
  };

  it('gives bit for bit what fromFunction gives with the same function, failures and reasons included, for 1 and 2 threads', async () => {
    const x = fields(11);
    x[3 * d] = -999;
    x[8 * d] = -998;
    const local = await failure(ForwardModel.fromFunction(moments, { fieldShape, measurementSize: m }).forward(x, 11));
    expect(local.failures.map((f) => f.index)).toEqual([3, 8]);
    expectRows(local.partial, x, [0, 1, 2, 4, 5, 6, 7, 9, 10]);
    for (const [concurrency, chunkSize] of [[1, undefined], [2, 1], [2, 4]] as const) {
      const model = workers(MOMENTS, { fieldShape, measurementSize: m, concurrency, chunkSize });
      const remote = await failure(model.forward(x, 11));
      expect(remote.failures).toEqual(local.failures);
      expect(Buffer.from(remote.partial.buffer)).toEqual(Buffer.from(local.partial.buffer));
      expect(model.threads).toBe(concurrency);
    }
    // And without failures: a plain Float32Array.
    const clean = fields(7);
    const y = await models[models.length - 1].forward(clean, 7);
    expect(y).toEqual(await ForwardModel.fromFunction(moments, { fieldShape, measurementSize: m }).forward(clean, 7));
  });

  it('batched, through a named export, matches fromFunction batched; an ES module default export loads too', async () => {
    const x = fields(6);
    const model = workers(MOMENTS, { fieldShape, measurementSize: m, batched: true, exportName: 'batched', concurrency: 2 });
    const local = ForwardModel.fromFunction(moments.batched, { fieldShape, measurementSize: m, batched: true });
    expect(await model.forward(x, 6)).toEqual(await local.forward(x, 6));
    const sum = workers(ESM, { fieldShape, measurementSize: 1, concurrency: 1 });
    const y = await sum.forward(x.subarray(0, 2 * d), 2);
    for (let n = 0; n < 2; n++) expect(y[n]).toBeCloseTo(x.subarray(n * d, (n + 1) * d).reduce((a, b) => a + b, 0), 5);
  });

  it('an abort ends the worker threads (a function that never returns included) before the call rejects; the model works again after', async () => {
    const marker = path.join(os.tmpdir(), `enkg-spin-${process.pid}`); // spin.js appends a line here as it starts
    fs.rmSync(marker, { force: true });
    const model = workers(SPIN, { fieldShape, measurementSize: m, concurrency: 2 });
    const controller = new AbortController();
    const pending = model.forward(fields(4), 4, { signal: controller.signal });
    const deadline = Date.now() + 60000;
    const spinning = () => (fs.existsSync(marker) ? fs.readFileSync(marker, 'utf8').split('\n').length - 1 : 0);
    while (spinning() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(spinning()).toBe(2); // both threads are inside the function
    expect(model.threads).toBe(2);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    expect(model.threads).toBe(0);
    fs.rmSync(marker, { force: true });
    const again = workers(MOMENTS, { fieldShape, measurementSize: m, concurrency: 1 });
    const aborted = new AbortController();
    aborted.abort();
    await expect(again.forward(fields(2), 2, { signal: aborted.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expectRows(await again.forward(fields(2), 2), fields(2), [0, 1]);
    await again.dispose();
    expect(again.threads).toBe(0);
  });

  it('a module without a function rejects the call saying what it exports; a missing module or bad option throws at once', async () => {
    const model = workers(path.join(__dirname, 'fixtures/forward/moments.js'), { fieldShape, measurementSize: m, exportName: 'nothing', concurrency: 1 });
    await expect(model.forward(fields(1), 1)).rejects.toThrow(
      "Expected an export named 'nothing' that is a function in " + MOMENTS + ' but it exports { batched }');
    expect(model.threads).toBe(0);
    expect(() => ForwardModel.fromWorkers('no/such/module.js', { fieldShape, measurementSize: m })).toThrow(
      "Expected a path to a JavaScript module for ForwardModel.fromWorkers modulePath but received 'no/such/module.js' (no such file)");
    expect(() => ForwardModel.fromWorkers(MOMENTS, { fieldShape, measurementSize: m, chunkSize: 0 })).toThrow(
      'Expected an integer >= 1 for ForwardModel.fromWorkers chunkSize but received 0');
    expect(() => ForwardModel.fromWorkers(MOMENTS, { fieldShape, measurementSize: m, threads: 2 } as never)).toThrow(
      "for an option of ForwardModel.fromWorkers but received 'threads'");
  });
});
