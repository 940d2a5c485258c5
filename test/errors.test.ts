// Every bad input gets a TypeError/RangeError whose message names the
// argument, what was expected and what was received; nothing crashes.
import { Ensemble, ensembleMean, gaussianRandomField, kalmanStep, KalmanStepArgs, randomNormal } from '../lib';
import { native } from '../lib/binding';
import { testRandom } from './helpers/reference';

const g = testRandom(1);
const N = 4, d = 5, m = 3;
const good = (): KalmanStepArgs => ({
  particles: g.normals(N * d), measurements: g.normals(N * m), residuals: g.normals(N * m),
  ensembleSize: N, stepScale: 1, backend: 'cpu',
});

describe('kalmanStep argument errors', () => {
  it('rejects a particles length that is not N x d', async () => {
    await expect(kalmanStep({ ...good(), particles: new Float32Array(7) })).rejects.toThrow(new RangeError(
      'Expected a positive multiple of ensembleSize = 4 (N x d) for particles.length but received 7'));
  });

  it('rejects particles that do not match an explicit particleSize', async () => {
    await expect(kalmanStep({ ...good(), particleSize: 6 })).rejects.toThrow(new RangeError(
      'Expected N x d = 4 x 6 = 24 floats for particles.length but received 20'));
  });

  it('rejects measurements and residuals of different lengths', async () => {
    await expect(kalmanStep({ ...good(), residuals: new Float32Array(8) })).rejects.toThrow(new RangeError(
      'Expected N x m, like measurements = 4 x 3 = 12 floats for residuals.length but received 8'));
    await expect(kalmanStep({ ...good(), measurements: new Float32Array(6) })).rejects.toThrow(
      /^Expected a positive multiple of ensembleSize = 4 \(N x m\) for measurements.length but received 6$/);
  });

  it('rejects N < 2 and a non-integer N', async () => {
    await expect(kalmanStep({ ...good(), ensembleSize: 1, particles: g.normals(5), measurements: g.normals(3), residuals: g.normals(3) }))
      .rejects.toThrow(new RangeError('Expected an integer >= 2 for ensembleSize but received 1'));
    await expect(kalmanStep({ ...good(), ensembleSize: 2.5 })).rejects.toThrow(
      new RangeError('Expected an integer >= 2 for ensembleSize but received 2.5'));
  });

  it.each([
    ['particles', 2, Number.NaN, 'NaN'],
    ['measurements', 3, Number.POSITIVE_INFINITY, 'Infinity'],
    ['residuals', 1, Number.NEGATIVE_INFINITY, '-Infinity'],
  ] as const)('names the first particle with a non-finite value in %s', async (name, particle, value, text) => {
    const args = good();
    const width = name === 'particles' ? d : m;
    args[name][particle * width + 1] = value;
    args[name][(particle + 1) * width] = Number.NaN; // a later offender is not the one reported
    const error = await kalmanStep(args).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe(
      `Expected finite values for ${name} but received ${text} at particle ${particle} (element 1 of that particle)`);
    // The native rejection carries the caller's stack.
    expect((error as Error).stack).toContain('errors.test.ts');
  });

  it.each([
    [Number.NaN, RangeError, 'Expected a finite number >= 0 for stepScale but received NaN'],
    [-0.5, RangeError, 'Expected a finite number >= 0 for stepScale but received -0.5'],
    [Number.POSITIVE_INFINITY, RangeError, 'Expected a finite number >= 0 for stepScale but received Infinity'],
    ['1', TypeError, "Expected a finite number >= 0 for stepScale but received '1'"],
  ])('rejects stepScale %p', async (stepScale, type, message) => {
    await expect(kalmanStep({ ...good(), stepScale: stepScale as number })).rejects.toThrow(new type(message));
  });

  it('rejects arrays of the wrong type, unknown options and unknown backends', async () => {
    await expect(kalmanStep({ ...good(), particles: new Float64Array(20) as unknown as Float32Array })).rejects.toThrow(
      new TypeError('Expected a Float32Array for particles but received Float64Array(20)'));
    await expect(kalmanStep({ ...good(), stepsize: 1 } as unknown as KalmanStepArgs)).rejects.toThrow(
      /^Expected one of 'particles', .* for an option of kalmanStep but received 'stepsize'$/);
    await expect(kalmanStep({ ...good(), backend: 'gpu' as 'cpu' })).rejects.toThrow(
      new TypeError("Expected 'cpu', 'cuda' or 'auto' for backend but received 'gpu'"));
    await expect(kalmanStep({ ...good(), ordering: 'fast' as 'auto' })).rejects.toThrow(
      new TypeError("Expected one of 'auto', 'coefficient', 'cross-covariance' for ordering but received 'fast'"));
    await expect(kalmanStep(undefined as unknown as KalmanStepArgs)).rejects.toThrow(
      new TypeError('Expected an options object for kalmanStep(args) but received undefined'));
  });
});

describe('the native layer checks again and never aborts', () => {
  const x = g.normals(N * d), y = g.normals(N * m), r = g.normals(N * m), out = new Float32Array(N * d);

  // Errors thrown synchronously by the addon belong to the main realm, not
  // jest's, so they are compared by name and message.
  const throwsNamed = (fn: () => unknown, name: string, message?: string): void => {
    let caught: unknown;
    try {
      fn();
    } catch (e) {
      caught = e;
    }
    expect((caught as Error | undefined)?.name).toBe(name);
    if (message !== undefined) expect((caught as Error).message).toBe(message);
  };

  it('throws TypeError/RangeError for bad arguments passed straight to the addon', () => {
    throwsNamed(() => native.kalmanStep('cpu', [1, 2] as unknown as Float32Array, y, r, N, 1, out), 'TypeError',
      'Expected a Float32Array for particles but received an Array');
    throwsNamed(() => native.kalmanStep('cpu', x, y, r, 1, 1, out), 'RangeError',
      'Expected an ensembleSize of at least 2 for ensembleSize but received 1');
    throwsNamed(() => native.kalmanStep('cpu', x, y, r, N, -1, out), 'RangeError',
      'Expected a finite, non-negative number for stepScale but received -1');
    throwsNamed(() => native.kalmanStep('cpu', x, y, r, N, 1, new Float32Array(3)), 'RangeError',
      'Expected 20 floats (the length of particles) for out.length but received 3');
    throwsNamed(() => native.kalmanStep('tpu' as 'cpu', x, y, r, N, 1, out), 'TypeError',
      "Expected 'cpu' or 'cuda' for backend but received 'tpu'");
    throwsNamed(() => native.randomNormal('cpu', new Float32Array(3), 2, 2, 0, 0), 'RangeError',
      'Expected count x streams = 4 floats for out.length but received 3');
    throwsNamed(() => native.philox4x32(new Uint32Array(3), new Uint32Array(2)), 'TypeError',
      'Expected a Uint32Array of length 4 for counter but received another value');
    // Sizes whose products overflow are refused, not wrapped into a small buffer.
    throwsNamed(() => native.benchKalman('cpu', 2 ** 40, 2 ** 40, 1, 1), 'RangeError',
      'Expected a size below 2^53 floats for N x d but received 1099511627776 x 1099511627776');
    throwsNamed(() => native.navierStokesSolve('cpu', new Float32Array(16), 1,
      { resolution: 4, reynolds: 1, time: 1, adaptive: true, dt: 1, dtMode: 'sample', forcing: 'none', precision: 'float32',
        cancel: new Float32Array(1) as unknown as Int32Array }, new Float32Array(16)), 'TypeError',
    'Expected an Int32Array of length >= 1 for cancel but received a typed array of another element type');
  });

  it('takes no pointer into a buffer that could shrink or be detached before the worker runs', async () => {
    const resizable = new ArrayBuffer(64, { maxByteLength: 64 } as never);
    throwsNamed(() => native.randomNormal('cpu', new Float32Array(resizable), 4, 4, 1, 0), 'TypeError',
      'Expected a Float32Array over a fixed-length buffer for out but received one over a resizable ArrayBuffer');
    // An options getter that tries to detach the array runs after the
    // binding pinned it: the transfer copies (Node 20) or is refused (Node
    // >= 21), and the array the worker fills stays the caller's.
    const out = new Float32Array(16 * 16);
    const options = {
      get resolution() {
        try { structuredClone(out.buffer, { transfer: [out.buffer] }); } catch (error) {
          if ((error as Error).name !== 'DataCloneError') throw error;
        }
        return 16;
      },
      alpha: 2, tau: 3, seed: 1,
    };
    await native.gaussianRandomField('cpu', out, 1, options);
    expect(out.length).toBe(256);
    expect(out.some((v) => v !== 0)).toBe(true);
  });

  it('refuses sizes whose product would wrap around and match a small array (the kernels would write past it)', () => {
    const F = (n: number) => new Float32Array(n);
    const wrapped = 'RangeError';
    throwsNamed(() => native.randomNormal('cpu', F(1), 2 ** 32 + 1, 2 ** 32 - 1, 1, 0), wrapped,
      'Expected a size below 2^53 floats for count x streams but received 4294967297 x 4294967295');
    throwsNamed(() => new native.NativeEnsemble('cpu', 274177, 67280421310721), wrapped,
      'Expected a size below 2^53 floats for ensembleSize x particleSize but received 274177 x 67280421310721');
    throwsNamed(() => native.gaussianRandomField('cpu', F(0), 2 ** 52, { resolution: 64, alpha: 2, tau: 3, seed: 1 }), wrapped,
      'Expected a size below 2^53 floats for count x resolution^2 but received 4096 x 4503599627370496');
    throwsNamed(() => native.shellSpectrum(F(0), 2 ** 52, 64), wrapped,
      'Expected a size below 2^53 floats for batch x resolution^2 but received 4096 x 4503599627370496');
    throwsNamed(() => native.benchSgemm('cpu', 2 ** 32, 1), wrapped,
      'Expected a size below 2^53 floats for size x size but received 4294967296 x 4294967296');
  });

  it('honours byteOffset of typed-array views', async () => {
    const backing = new Float32Array(N * d + 3);
    backing.set(x, 3);
    const view = backing.subarray(3);
    const a = await kalmanStep({ particles: view, measurements: y, residuals: r, ensembleSize: N, stepScale: 1, backend: 'cpu' });
    const b = await kalmanStep({ particles: x, measurements: y, residuals: r, ensembleSize: N, stepScale: 1, backend: 'cpu' });
    expect(a.particles).toEqual(b.particles);
  });
});

describe('other entry points', () => {
  it('ensembleMean names its bad inputs', async () => {
    await expect(ensembleMean({ particles: new Float32Array(5), ensembleSize: 2, backend: 'cpu' })).rejects.toThrow(
      new RangeError('Expected a positive multiple of ensembleSize = 2 (N x d) for particles.length but received 5'));
    const bad = Float32Array.from([1, 2, 3, Number.NaN]);
    await expect(ensembleMean({ particles: bad, ensembleSize: 2, backend: 'cpu' })).rejects.toThrow(
      new RangeError('Expected finite values for particles but received NaN at particle 1 (element 1 of that particle)'));
  });

  it('randomNormal rejects a negative or fractional seed, a zero count and sizes no Float32Array holds', async () => {
    await expect(randomNormal({ count: 4, seed: -1 })).rejects.toThrow(
      new RangeError('Expected an integer >= 0 for seed but received -1'));
    await expect(randomNormal({ count: 0, seed: 1 })).rejects.toThrow(
      new RangeError('Expected an integer >= 1 for count but received 0'));
    // Sizes past what a Float32Array holds: a message naming the argument, not V8's bare one.
    await expect(randomNormal({ count: 1e12, seed: 1 })).rejects.toThrow(
      new RangeError('Expected at most 2^32 floats in all (the draws returned) for count x streams but received 1000000000000'));
    await expect(gaussianRandomField({ resolution: 4096, count: 1e6, alpha: 2, tau: 3, seed: 1 })).rejects.toThrow(
      /Expected at most 2\^32 floats in all \(the fields returned\) for count x resolution\^2/);
  });

  it('Ensemble rejects non-finite measurements without touching its particles', async () => {
    const particles = g.normals(N * d);
    const ensemble = await Ensemble.create({ particles, ensembleSize: N, backend: 'cpu' });
    const measurements = g.normals(N * m);
    measurements[2 * m] = Number.NaN;
    await expect(ensemble.kalmanStep({ measurements, residuals: g.normals(N * m), stepScale: 1 })).rejects.toThrow(
      new RangeError('Expected finite values for measurements but received NaN at particle 2 (element 0 of that particle)'));
    expect(await ensemble.read()).toEqual(particles);
    await expect(Ensemble.create({ particles: g.normals(7), ensembleSize: N, backend: 'cpu' })).rejects.toThrow(RangeError);
    await ensemble.dispose();
  });
});
