// Phase retrieval through FFTW (the addon's paddedDftMagnitude and its
// adjoint) against the TypeScript DFT (method 'direct', itself checked
// against a float64 direct DFT in imaging.test.ts), and the argument checks
// of the native ops in TypeScript and again in C++.
import * as path from 'node:path';

import { PhaseRetrieval, randomNormal } from '../lib';
import { native, NativeAddon } from '../lib/binding';

// The addon itself, without binding.ts's checks in front (lib/binding.ts loads ENKG_ADDON_PATH first too).
const raw = require(process.env.ENKG_ADDON_PATH ?? path.resolve(__dirname, '..', 'build', 'Release', 'enkg.node')) as NativeAddon;

async function normal(count: number, seed: number, scale = 0.5): Promise<Float32Array> {
  return (await randomNormal({ count, seed, backend: 'cpu' })).map((v) => v * scale);
}

/** max |a - b| / max |b|. */
function relativeDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  expect(scale).toBeGreaterThan(0);
  return diff / scale;
}

describe('PhaseRetrieval through FFTW', () => {
  it.each([
    ['32x32 images, oversample 2 (the default)', [1, 32, 32], 2, 4],
    ['2-channel odd 3x5 images, oversample 2', [2, 3, 5], 2, 3],
    ['2-channel odd 3x5 images, oversample 1.5', [2, 3, 5], 1.5, 3],
    ['odd 7x9 images, oversample 1 (no padding)', [1, 7, 9], 1, 2],
    ['2-channel 6x10 images, oversample 2.5', [2, 6, 10], 2.5, 2],
  ] as const)('matches the TypeScript DFT to 1e-5 relative, forward and gradient: %s', async (_, shape, oversample, batch) => {
    const fftw = new PhaseRetrieval({ shape: [...shape], oversample, method: 'fftw' });
    const direct = new PhaseRetrieval({ shape: [...shape], oversample, method: 'direct' });
    expect(new PhaseRetrieval({ shape: [...shape], oversample }).method).toBe('fftw');
    const x = await normal(batch * fftw.imageSize, 51);
    const r = await normal(batch * fftw.measurementSize, 52);
    expect(relativeDiff(await fftw.forward(x, batch), await direct.forward(x, batch))).toBeLessThan(1e-5);
    expect(relativeDiff(await fftw.misfitGradient(x, r, batch), await direct.misfitGradient(x, r, batch))).toBeLessThan(1e-5);
  });

  it('takes the subgradient 0 where the spectrum vanishes (a zero image), as the TypeScript path does', async () => {
    for (const method of ['fftw', 'direct'] as const) {
      const model = new PhaseRetrieval({ shape: [1, 4, 6], method });
      const g = await model.misfitGradient(new Float32Array(24), await normal(model.measurementSize, 53), 1);
      expect(Array.from(g)).toEqual(new Array(24).fill(0));
      expect(Array.from(await model.forward(new Float32Array(24), 1))).toEqual(new Array(model.measurementSize).fill(0));
    }
  });

  it('reads views at their byteOffset and leaves the inputs as they were', async () => {
    const model = new PhaseRetrieval({ shape: [1, 5, 5] });
    const frame = { shape: [1, 5, 5] as [number, number, number], frame: model.frame, offset: model.offset };
    const x = await normal(2 * 25, 54), r = await normal(2 * model.measurementSize, 55);
    const xBacking = new Float32Array(3 + x.length), rBacking = new Float32Array(5 + r.length);
    xBacking.set(x, 3);
    rBacking.set(r, 5);
    const xView = xBacking.subarray(3), rView = rBacking.subarray(5);
    const outBacking = new Float32Array(7 + 2 * model.measurementSize).fill(9);
    await native.paddedDftMagnitude(xView, 2, frame, outBacking.subarray(7));
    expect(Array.from(outBacking.subarray(0, 7))).toEqual(new Array(7).fill(9));
    expect(Array.from(outBacking.subarray(7))).toEqual(Array.from(await model.forward(x, 2)));
    const gBacking = new Float32Array(2 + 50).fill(9);
    await native.paddedDftMagnitudeAdjoint(xView, rView, 2, frame, gBacking.subarray(2));
    expect(Array.from(gBacking.subarray(0, 2))).toEqual([9, 9]);
    expect(Array.from(gBacking.subarray(2))).toEqual(Array.from(await model.misfitGradient(x, r, 2)));
    expect(Array.from(xView)).toEqual(Array.from(x));
    expect(Array.from(rView)).toEqual(Array.from(r));
  });

  it('names a non-finite pixel or residual by its image, as the TypeScript path does, and stops on abort', async () => {
    const x = new Float32Array(3 * 1024), r = new Float32Array(3 * 4096);
    x[2 * 1024 + 9] = Number.NaN;
    r[4096 + 5] = Number.POSITIVE_INFINITY;
    for (const method of ['fftw', 'direct'] as const) {
      const model = new PhaseRetrieval({ method });
      await expect(model.forward(x, 3)).rejects.toThrow(
        new RangeError('Expected finite values for x but received NaN at image 2 (element 9 of that image)'));
      await expect(model.misfitGradient(new Float32Array(3 * 1024), r, 3)).rejects.toThrow(
        new RangeError('Expected finite values for residuals but received Infinity at image 1 (element 5 of that image)'));
      const controller = new AbortController();
      controller.abort();
      await expect(model.forward(new Float32Array(1024), 1, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
      await expect(model.misfitGradient(new Float32Array(1024), new Float32Array(4096), 1, { signal: controller.signal }))
        .rejects.toMatchObject({ name: 'AbortError' });
    }
    expect(() => new PhaseRetrieval({ method: 'fft' as 'fftw' })).toThrow(
      new TypeError("Expected one of 'auto', 'fftw', 'direct' for method but received 'fft'"));
  });
});

describe('paddedDftMagnitude(Adjoint) argument checks', () => {
  const F = (n: number) => new Float32Array(n);
  const good = { shape: [2, 3, 5] as [number, number, number], frame: [6, 10] as [number, number], offset: [1, 2] as [number, number] };
  type Frame = typeof good;
  const bad = (change: Record<string, unknown>) => ({ ...good, ...change }) as unknown as Frame;
  // [what is wrong, the call on an addon, the message]; each runs against binding.ts's checks and the addon's own.
  const cases: Array<[string, (a: NativeAddon) => unknown, string, string]> = [
    ['batch 0', (a) => a.paddedDftMagnitude(F(30), 0, good, F(120)), 'RangeError', 'batch'],
    ['a frame that is not an object', (a) => a.paddedDftMagnitude(F(30), 1, [6, 10] as unknown as Frame, F(120)), 'TypeError',
      'Expected a frame object { shape, frame, offset } for frame but received'],
    ['a shape of two numbers', (a) => a.paddedDftMagnitude(F(30), 1, bad({ shape: [3, 5] }), F(120)), 'TypeError',
      'Expected [C, H, W], three integers in [1, 32768] for shape but received'],
    ['a shape holding a string', (a) => a.paddedDftMagnitude(F(30), 1, bad({ shape: [2, '3', 5] }), F(120)), 'TypeError',
      "Expected [C, H, W], three integers in [1, 32768] for shape but received an Array holding '3'"],
    ['a fractional side', (a) => a.paddedDftMagnitude(F(30), 1, bad({ shape: [2, 3.5, 5] }), F(120)), 'RangeError',
      'Expected [C, H, W], three integers in [1, 32768] for shape but received [2, 3.5, 5]'],
    ['a frame smaller than the image', (a) => a.paddedDftMagnitude(F(30), 1, bad({ frame: [2, 10] }), F(40)), 'RangeError',
      'Expected a frame [P, Q] with P >= H = 3 and Q >= W = 5 for frame but received [2, 10]'],
    ['a frame over 2^26 pixels', (a) => a.paddedDftMagnitude(F(30), 1, bad({ frame: [32768, 32768], offset: [0, 0] }), F(1)),
      'RangeError', 'Expected a frame of at most 2^26 pixels for frame but received [32768, 32768]'],
    ['a negative offset', (a) => a.paddedDftMagnitude(F(30), 1, bad({ offset: [-1, 0] }), F(120)), 'RangeError',
      'Expected [top, left], two integers in [0, 32768] for offset but received [-1, 0]'],
    ['an offset that puts the image past the frame', (a) => a.paddedDftMagnitude(F(30), 1, bad({ offset: [4, 0] }), F(120)),
      'RangeError', 'Expected an offset [top, left] with top <= P - H = 3 and left <= Q - W = 5 for offset but received [4, 0]'],
    ['x of the wrong length', (a) => a.paddedDftMagnitude(F(29), 1, good, F(120)), 'RangeError',
      'Expected batch x C x H x W = 30 floats for x.length but received 29'],
    ['x not a Float32Array', (a) => a.paddedDftMagnitude(new Float64Array(30) as unknown as Float32Array, 1, good, F(120)),
      'TypeError', 'Expected a Float32Array for x but received'],
    ['out of the wrong length', (a) => a.paddedDftMagnitude(F(60), 2, good, F(120)), 'RangeError',
      'Expected batch x C x P x Q = 240 floats for out.length but received 120'],
    ['out sharing x\'s memory', (a) => { const m = F(150); return a.paddedDftMagnitude(m.subarray(0, 30), 1, good, m.subarray(29, 149)); },
      'RangeError', 'Expected an array that does not share memory with x for out but received one that does'],
    ['residuals of the wrong length', (a) => a.paddedDftMagnitudeAdjoint(F(30), F(119), 1, good, F(30)), 'RangeError',
      'Expected batch x C x P x Q = 120 floats for residuals.length but received 119'],
    ['a gradient out of the wrong length', (a) => a.paddedDftMagnitudeAdjoint(F(30), F(120), 1, good, F(120)), 'RangeError',
      'Expected batch x C x H x W = 30 floats for out.length but received 120'],
    ['a gradient out inside the residuals', (a) => { const m = F(120); return a.paddedDftMagnitudeAdjoint(F(30), m, 1, good, m.subarray(0, 30)); },
      'RangeError', 'Expected an array that does not share memory with residuals for out but received one that does'],
  ];
  const run = (a: NativeAddon, call: (a: NativeAddon) => unknown): Error => {
    try {
      call(a);
    } catch (error) {
      return error as Error;
    }
    throw new Error('the call did not throw');
  };

  it.each(cases)('binding.ts refuses %s before the addon sees it', (_, call, name, message) => {
    const error = run(native, call);
    expect(error.name).toBe(name);
    expect(error.message.startsWith(`Expected `)).toBe(true);
    expect(error.message).toContain(message.startsWith('Expected') ? message : ` for ${message} `);
  });

  it.each(cases)('the addon refuses %s on its own, in the same words', (_, call, name, message) => {
    const error = run(raw, call);
    expect(error.name).toBe(name);
    expect(error.message).toContain(message.startsWith('Expected') ? message : ` for ${message} `);
  });

  it('rejects non-finite values in the worker, naming the image', async () => {
    const x = F(60);
    x[30 + 4] = Number.NaN;
    await expect(raw.paddedDftMagnitude(x, 2, good, F(240))).rejects.toMatchObject({
      message: 'Expected finite values for x but received NaN at image 1 (element 4 of that image)' });
  });
});
