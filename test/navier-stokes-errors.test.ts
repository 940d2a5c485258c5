// Bad input to the Navier-Stokes model, the GRF sampler and `enkg data`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { gaussianRandomField, NavierStokes2D, NavierStokes2DOptions, readNpy } from '../lib';
import { main } from '../lib/cli/main';
import * as grfModule from '../lib/problems/grf';

describe('NavierStokes2D argument errors', () => {
  it.each([
    [{ resolution: 63 }, RangeError, 'Expected an even integer >= 4 for resolution but received 63'],
    [{ resolution: 64, reynolds: -1 }, RangeError, 'Expected a finite number > 0 for reynolds but received -1'],
    [{ resolution: 64, reynolds: 0 }, RangeError, 'Expected a finite number > 0 for reynolds but received 0'],
    [{ resolution: 64, time: -0.5 }, RangeError, 'Expected a finite number >= 0 for time but received -0.5'],
    [{ resolution: 64, downsample: 3 }, RangeError, 'Expected a divisor of resolution = 64 for downsample but received 3'],
    [{ resolution: 64, adaptive: false }, TypeError, 'Expected a fixed step dt when adaptive is false for dt but received undefined'],
    [{ resolution: 64, dtMode: 'fast' }, TypeError, "Expected one of 'sample', 'batch' for dtMode but received 'fast'"],
    [{ resolution: 64, viscosity: 1 }, TypeError, /^Expected one of 'resolution', .* for an option of NavierStokes2D but received 'viscosity'$/],
  ])('rejects %j', (options, type, message) => {
    expect(() => new NavierStokes2D(options as unknown as NavierStokes2DOptions)).toThrow(type);
    expect(() => new NavierStokes2D(options as unknown as NavierStokes2DOptions)).toThrow(message);
  });

  it('rejects a w0 of the wrong length, and NaN in w0 naming the sample', async () => {
    const ns = new NavierStokes2D({ resolution: 8, backend: 'cpu' });
    await expect(ns.solve(new Float32Array(65), 1)).rejects.toThrow(
      new RangeError('Expected batch x resolution^2 = 1 x 64 = 64 floats for w0.length but received 65'));
    const w0 = new Float32Array(3 * 64);
    w0[2 * 64 + 5] = Number.NaN;
    await expect(ns.solve(w0, 3)).rejects.toThrow(
      new RangeError('Expected finite values for w0 but received NaN at field 2 (element 5 of that field)'));
    // forward() names its own argument, x.
    await expect(ns.forward(w0, 3)).rejects.toThrow(
      new RangeError('Expected finite values for x but received NaN at field 2 (element 5 of that field)'));
    await expect(ns.forward(new Float32Array(65), 1)).rejects.toThrow(
      new RangeError('Expected batch x resolution^2 = 1 x 64 = 64 floats for x.length but received 65'));
    await expect(ns.solve(new Float32Array(64), 1, { time: -1 })).rejects.toThrow(
      new RangeError('Expected a finite number >= 0 for time but received -1'));
  });

  it('rejects an explicit CUDA backend for the Navier-Stokes kernels with the reason', async () => {
    const ns = new NavierStokes2D({ resolution: 8, backend: 'cuda' });
    await expect(ns.solve(new Float32Array(64), 1)).rejects.toThrow(/unavailable|not available in this build/);
  });

  it('gaussianRandomField names its bad inputs', async () => {
    await expect(gaussianRandomField({ resolution: 10, count: 0, alpha: 2, tau: 3, seed: 1 })).rejects.toThrow(
      new RangeError('Expected an integer >= 1 for count but received 0'));
    await expect(gaussianRandomField({ resolution: 10, count: 1, alpha: 0, tau: 3, seed: 1 })).rejects.toThrow(
      new RangeError('Expected a finite number > 0 for alpha but received 0'));
  });
});

describe('NavierStokes2D maxSteps', () => {
  it('stops a field that would need more steps than the budget and reports it, in both dtModes, while the others finish', async () => {
    const R = 32;
    const calm = await gaussianRandomField({ resolution: R, count: 2, alpha: 2.5, tau: 7, seed: 4 });
    const w0 = calm.map((v, i) => (i < R * R ? v * 20 : v * 2000)); // field 1: 100x stronger, tiny CFL steps
    for (const dtMode of ['sample', 'batch'] as const) {
      const unlimited = new NavierStokes2D({ resolution: R, time: 0.5, dtMode: 'sample' });
      const reference = (await unlimited.solveDetailed(w0.subarray(0, R * R), 1)).fields;
      const limited = new NavierStokes2D({ resolution: R, time: 0.5, dtMode, maxSteps: 400 });
      const { fields, failures } = await limited.solveDetailed(w0, 2);
      // In lockstep ('batch') field 0 takes field 1's tiny steps and runs out with it.
      expect(failures.map((f) => f.index)).toEqual(dtMode === 'sample' ? [1] : [0, 1]);
      const failure = failures[failures.length - 1];
      expect(failure).toMatchObject({ index: 1, reason: expect.stringMatching(/more than maxSteps = 400 time steps \(stopped at t = /) });
      expect(failure.time).toBeGreaterThan(0);
      expect(failure.time).toBeLessThan(0.5);
      expect(fields.subarray(R * R).every(Number.isNaN)).toBe(true);
      if (dtMode === 'sample') expect(fields.subarray(0, R * R)).toEqual(reference);
      else expect(fields.subarray(0, R * R).every(Number.isNaN)).toBe(true);
    }
    expect(() => new NavierStokes2D({ resolution: R, maxSteps: -1 })).toThrow('Expected an integer >= 0 for maxSteps but received -1');
  });

  it('has a default budget, 500 x resolution x time, that stops a field 10^4 times too strong instead of running for minutes', async () => {
    const R = 16;
    const model = new NavierStokes2D({ resolution: R });
    expect(model.maxSteps).toBeUndefined();
    expect([model.stepBudget(1), model.stepBudget(0.25), model.stepBudget(0)]).toEqual([8000, 2000, 1]);
    expect(new NavierStokes2D({ resolution: R, maxSteps: 0 }).stepBudget(1)).toBe(0);
    const calm = await gaussianRandomField({ resolution: R, count: 2, alpha: 2.5, tau: 7, seed: 4 });
    const w0 = calm.map((v, i) => (i < R * R ? v * 10 : v * 1e5));
    const { failures } = await model.solveDetailed(w0, 2);
    expect(failures).toEqual([expect.objectContaining({ index: 1, reason: expect.stringContaining('more than maxSteps = 8000 time steps') })]);
    const short = await model.solveDetailed(w0, 2, { time: 0.1 });
    expect(short.failures[0].reason).toContain('more than maxSteps = 800 time steps');
  });
});

describe('enkg data navier-stokes', () => {
  const quiet = async (argv: string[]): Promise<number> => {
    const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      return await main(argv);
    } finally {
      error.mockRestore();
      write.mockRestore();
    }
  };

  it('writes float32 [N, 1, R, R] fields; --time 0 writes the GRF fields themselves', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-data-'));
    const grf = path.join(dir, 'grf.npy'), evolved = path.join(dir, 'ns.npy');
    expect(await quiet(['data', 'navier-stokes', '--count', '5', '--resolution', '16', '--seed', '3', '--out', grf,
      '--time', '0', '--batch', '2', '--backend', 'cpu'])).toBe(0);
    const a = await readNpy(grf);
    expect(a.shape).toEqual([5, 1, 16, 16]);
    expect(a.dtype).toBe('<f4');
    expect(a.data).toEqual(await gaussianRandomField({ resolution: 16, count: 5, alpha: 2.5, tau: 7, seed: 3, backend: 'cpu' }));
    expect(await quiet(['data', 'navier-stokes', '--count', '5', '--resolution', '16', '--seed', '3', '--out', evolved,
      '--time', '0.2', '--backend', 'cpu'])).toBe(0);
    const b = await readNpy(evolved);
    const expected = await new NavierStokes2D({ resolution: 16, time: 0.2, backend: 'cpu' }).solve(a.data as Float32Array, 5);
    expect(b.data).toEqual(expected);
  });

  it('says what is missing or unknown, as usage errors (exit 2)', async () => {
    const usage = (args: string[], message: string) => expect(main(['data', 'navier-stokes', ...args])).rejects.toMatchObject({
      name: 'UsageError', message: expect.stringContaining(message),
    });
    const base = ['--count', '2', '--resolution', '16', '--seed', '1', '--out', path.join(os.tmpdir(), 'enkg-never-written.npy')];
    await usage(['--count', '5'], '--resolution is required');
    await usage([...base, '--seed', '1.5'], "--seed must be an integer >= 0, got '1.5'");
    await usage([...base, '--alpha=-1'], "--alpha must be a number > 0, got '-1'");
    await usage([...base, '--tau', '0'], "--tau must be a number > 0, got '0'");
    await usage([...base, '--resolution', '15'], 'resolution');
    await usage([...base, '--backend', 'gpu'], "--backend must be cpu, cuda or auto, got 'gpu'");
    await usage([...base, '--out', os.tmpdir()], `Expected a file name (new, or an earlier file to replace with --force) for --out but received '${os.tmpdir()}' (a folder)`);
    expect(fs.existsSync(path.join(os.tmpdir(), 'enkg-never-written.npy'))).toBe(false);
    expect(await quiet(['data', 'burgers'])).toBe(2);
    await expect(main(['data', 'navier-stokes', '--frobnicate'])).rejects.toThrow("Unknown option '--frobnicate'");
  });

  it('never leaves a truncated file, nor replaces a good one, when a run fails half-way', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-data-fail-'));
    const out = path.join(dir, 'fields.npy');
    fs.writeFileSync(out, 'the previous, good file');
    // The second batch's solve fails (its GRF draw is made to throw).
    const grf = jest.spyOn(grfModule, 'gaussianRandomField');
    grf.mockImplementationOnce(jest.requireActual('../lib/problems/grf').gaussianRandomField)
      .mockImplementationOnce(() => Promise.reject(new Error('simulated failure')));
    try {
      await expect(quiet(['data', 'navier-stokes', '--count', '4', '--resolution', '16', '--seed', '1', '--out', out,
        '--time', '0', '--batch', '2', '--backend', 'cpu', '--force'])).rejects.toThrow('simulated failure');
    } finally {
      grf.mockRestore();
    }
    expect(fs.readFileSync(out, 'utf8')).toBe('the previous, good file');
    expect(fs.readdirSync(dir)).toEqual(['fields.npy']);
    await expect(main(['data', 'navier-stokes', '--count', '4', '--resolution', '16', '--seed', '1', '--out', out,
      '--time', '0', '--batch', '2', '--backend', 'cpu'])).rejects.toMatchObject({
      name: 'UsageError', message: `Expected a new file name for --out but received '${out}' (it exists; pass --force to replace it)`,
    });
    expect(await quiet(['data', 'navier-stokes', '--count', '4', '--resolution', '16', '--seed', '1', '--out', out,
      '--time', '0', '--batch', '2', '--backend', 'cpu', '--force'])).toBe(0);
    expect((await readNpy(out)).shape).toEqual([4, 1, 16, 16]);
    expect(fs.readdirSync(dir)).toEqual(['fields.npy']);
  });
});
