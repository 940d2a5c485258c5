// The imaging forward models against independent float64 references: a
// direct reflect-padded 2D convolution for the blur, a direct DFT for phase
// retrieval, PyTorch's bicubic interpolate for super-resolution (fixture
// made by tools/imaging/bicubic_fixture.py), and central finite
// differences for every misfitGradient.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import sharp from 'sharp';

import {
  GaussianBlur, Inpainting, PhaseRetrieval, SuperResolution, ImagingOperator, randomNormal, encodeNpy,
} from '../lib';

interface BicubicCase { shape: [number, number, number]; factor: 2 | 4; input: number[]; output: number[] }
const bicubic = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures/imaging/bicubic.json'), 'utf8')) as { cases: BicubicCase[] };

async function normal(count: number, seed: number, scale = 0.5): Promise<Float32Array> {
  return (await randomNormal({ count, seed, backend: 'cpu' })).map((v) => v * scale);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

// PyTorch's 'reflect' (numpy's 'reflect'), written by repeated folding.
function reflect(i: number, n: number): number {
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

/** Direct 2D convolution with the full (non-separated) Gaussian kernel, float64. */
function blurReference(x: Float32Array, [C, H, W]: number[], size: number, std: number): Float64Array {
  const r = (size - 1) / 2;
  const k: number[][] = [];
  let total = 0;
  for (let a = 0; a < size; a++) {
    k.push([]);
    for (let b = 0; b < size; b++) {
      const v = Math.exp(-((a - r) ** 2 + (b - r) ** 2) / (2 * std * std));
      k[a].push(v);
      total += v;
    }
  }
  const y = new Float64Array(C * H * W);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        let s = 0;
        for (let a = 0; a < size; a++) {
          for (let b = 0; b < size; b++) s += (k[a][b] / total) * x[(c * H + reflect(i + a - r, H)) * W + reflect(j + b - r, W)];
        }
        y[(c * H + i) * W + j] = s;
      }
    }
  }
  return y;
}

/** |DFT| of the image zero-padded (centred) to P x Q, straight from the definition, orthonormal, float64. */
function phaseReference(x: Float32Array, [C, H, W]: number[], P: number, Q: number): Float64Array {
  const top = Math.floor((P - H) / 2), left = Math.floor((Q - W) / 2);
  const y = new Float64Array(C * P * Q);
  for (let c = 0; c < C; c++) {
    for (let k1 = 0; k1 < P; k1++) {
      for (let k2 = 0; k2 < Q; k2++) {
        let re = 0, im = 0;
        for (let n1 = 0; n1 < P; n1++) {
          for (let n2 = 0; n2 < Q; n2++) {
            const i = n1 - top, j = n2 - left;
            if (i < 0 || i >= H || j < 0 || j >= W) continue;
            const phase = -2 * Math.PI * (k1 * n1 / P + k2 * n2 / Q);
            re += x[(c * H + i) * W + j] * Math.cos(phase);
            im += x[(c * H + i) * W + j] * Math.sin(phase);
          }
        }
        y[(c * P + k1) * Q + k2] = Math.hypot(re, im) / Math.sqrt(P * Q);
      }
    }
  }
  return y;
}

describe('Inpainting', () => {
  it('observes exactly the pixels outside a seeded square box of side in [minSide, maxSide] inside the margin', async () => {
    const shape: [number, number, number] = [2, 20, 24];
    const x = await normal(2 * 20 * 24, 3);
    const seen = new Set<string>();
    for (let seed = 0; seed < 12; seed++) {
      const model = new Inpainting({ shape, box: [4, 9], seed, margin: 2 });
      const { side, top, left } = model.box!;
      seen.add(`${side},${top},${left}`);
      expect(side).toBeGreaterThanOrEqual(4);
      expect(side).toBeLessThanOrEqual(9);
      expect(top).toBeGreaterThanOrEqual(2);
      expect(top + side).toBeLessThanOrEqual(18);
      expect(left + side).toBeLessThanOrEqual(22);
      const kept: number[] = [];
      for (let c = 0; c < 2; c++) {
        for (let i = 0; i < 20; i++) {
          for (let j = 0; j < 24; j++) {
            const inBox = i >= top && i < top + side && j >= left && j < left + side;
            if (!inBox) kept.push(x[(c * 20 + i) * 24 + j]);
          }
        }
      }
      expect(model.measurementSize).toBe(2 * (480 - side * side));
      expect(Array.from(await model.forward(x, 1))).toEqual(kept);
      // The same seed draws the same box.
      expect(new Inpainting({ shape, box: [4, 9], seed, margin: 2 }).box).toEqual(model.box);
    }
    expect(seen.size).toBeGreaterThan(6);
  });

  it('defaults to a 16-pixel box (DPS 128 at 256) 2 pixels inside the edge of a 32x32 image', () => {
    const model = new Inpainting();
    expect(model.box!.side).toBe(16);
    expect(model.measurementSize).toBe(1024 - 256);
    expect(model.box!.top).toBeGreaterThanOrEqual(2);
    expect(model.box!.top).toBeLessThanOrEqual(14);
  });

  it('takes a user mask as a Uint8Array, a .npy and a .png, the same kept pixels from each', async () => {
    const H = 8, W = 8;
    const mask = new Uint8Array(H * W).map((_, i) => ((i * 7) % 5 === 0 ? 0 : 1));
    const x = await normal(H * W, 5);
    const expectedY = Array.from(x).filter((_, i) => mask[i] === 1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-mask-'));
    fs.writeFileSync(path.join(dir, 'mask.npy'), encodeNpy(mask, [H, W]));
    await sharp(Buffer.from(mask.map((v) => v * 255)), { raw: { width: W, height: H, channels: 1 } }).png().toFile(path.join(dir, 'mask.png'));
    for (const m of [mask, path.join(dir, 'mask.npy'), path.join(dir, 'mask.png')]) {
      const model = await Inpainting.load({ shape: [1, H, W], mask: m });
      expect(Array.from(await model.forward(x, 1))).toEqual(expectedY);
    }
    await expect(Inpainting.load({ shape: [1, 4, 4], mask: path.join(dir, 'mask.png') })).rejects.toThrow(
      `Expected a 4x4 mask image for mask but received ${path.join(dir, 'mask.png')}, 8x8`);
    fs.rmSync(dir, { recursive: true });
  });

  it.each([
    ['box [0, 4]', { box: [0, 4] }, 'Expected [minSide, maxSide], integers with 1 <= minSide <= maxSide <= 28 (min(H, W) - 2 x margin) for box but received [0, 4]'],
    ['box [8, 30]', { box: [8, 30] }, 'Expected [minSide, maxSide], integers with 1 <= minSide <= maxSide <= 28 (min(H, W) - 2 x margin) for box but received [8, 30]'],
    ['a mask of 10 values', { mask: new Uint8Array(10) }, 'Expected H x W = 1024 or C x H x W = 1024 values for mask.length but received 10'],
    ['a mask of zeros', { mask: new Uint8Array(1024) }, 'Expected at least one kept (nonzero) pixel for mask but received a mask of zeros'],
    ['a file name in the constructor', { mask: 'mask.png' }, "Expected a Uint8Array (for a .npy or .png file: await Inpainting.load(options)) for mask but received 'mask.png'"],
    ['seed -1', { seed: -1 }, 'Expected an integer >= 0 for seed but received -1'],
    ['noise -0.1', { noise: -0.1 }, 'Expected a finite number >= 0 for noise but received -0.1'],
    ['a two-number shape', { shape: [1, 32] }, 'Expected [C, H, W], three integers >= 1 for shape but received [1, 32]'],
    ['a misspelt key', { boxes: [1, 2] }, "Expected one of 'shape', 'noise', 'box', 'mask', 'seed', 'margin' for an option of Inpainting but received 'boxes'"],
  ] as const)('rejects %s naming the option', (_, opts, message) => {
    expect(() => new Inpainting(opts as never)).toThrow(message);
  });
});

describe('SuperResolution', () => {
  it.each(bicubic.cases.map((c) => [c.shape.join('x'), c.factor, c] as const))(
    'matches PyTorch interpolate(bicubic, align_corners=False, antialias=False) on a fixed %s input, factor %i', async (_, factor, c) => {
      const model = new SuperResolution({ shape: c.shape, factor });
      const y = await model.forward(Float32Array.from(c.input), 1);
      expect(maxAbsDiff(y, c.output)).toBeLessThan(2e-6);
      expect(model.lowShape).toEqual([c.shape[0], c.shape[1] / factor, c.shape[2] / factor]);
    });

  it('rejects a factor other than 2 or 4 and a shape it does not divide', () => {
    expect(() => new SuperResolution({ factor: 3 as 2 })).toThrow(new RangeError('Expected 2 or 4 for factor but received 3'));
    expect(() => new SuperResolution({ shape: [1, 30, 32], factor: 4 })).toThrow(
      'Expected an image shape whose H and W are multiples of factor = 4 for shape but received [1, 30, 32]');
  });
});

describe('GaussianBlur', () => {
  it.each([
    ['the 32x32 default (7, std 0.375)', [1, 32, 32], 7, 0.375, 'direct'],
    ['the same through FFTW', [1, 32, 32], 7, 0.375, 'fft'],
    ['a 2-channel 12x20 image, 5 std 1', [2, 12, 20], 5, 1, 'direct'],
    ['the same through FFTW', [2, 12, 20], 5, 1, 'fft'],
    ['the paper\'s 256-pixel kernel (61, std 3) on 32x32 through FFTW', [1, 32, 32], 61, 3, 'fft'],
    ['the same directly', [1, 32, 32], 61, 3, 'direct'],
  ] as const)('equals a direct reflect-padded 2D convolution: %s', async (_, shape, kernelSize, std, method) => {
    const d = shape[0] * shape[1] * shape[2];
    const x = await normal(3 * d, 7);
    const model = new GaussianBlur({ shape: [...shape], kernelSize, std, method });
    expect(model.method).toBe(method);
    const y = await model.forward(x, 3);
    for (let b = 0; b < 3; b++) {
      expect(maxAbsDiff(y.subarray(b * d, (b + 1) * d), blurReference(x.subarray(b * d, (b + 1) * d), [...shape], kernelSize, std))).toBeLessThan(2e-6);
    }
  });

  it('rejects an even kernel, a non-positive std and an unknown method', () => {
    expect(() => new GaussianBlur({ kernelSize: 8 })).toThrow(new RangeError('Expected an odd integer >= 1 for kernelSize but received 8'));
    expect(() => new GaussianBlur({ std: 0 })).toThrow(new RangeError('Expected a finite number > 0 for std but received 0'));
    expect(() => new GaussianBlur({ method: 'fast' as 'fft' })).toThrow("Expected one of 'auto', 'direct', 'fft' for method but received 'fast'");
  });
});

describe('PhaseRetrieval', () => {
  const methods = ['fftw', 'direct'] as const;
  const cases = [
    ['an 8x8 image, oversample 2', [1, 8, 8], 2],
    ['a 2-channel 6x10 image, oversample 1.5', [2, 6, 10], 1.5],
    ['an odd 5x7 image, oversample 3', [1, 5, 7], 3],
    ['a 2-channel odd 3x5 image, oversample 2', [2, 3, 5], 2],
    ['a 2-channel odd 3x5 image, oversample 1.5 (an odd 5 x 8 frame)', [2, 3, 5], 1.5],
  ] as const;
  it.each(methods.flatMap((method) => cases.map(([name, shape, oversample]) => [method, name, shape, oversample] as const)))(
    '%s: equals the magnitude of a direct orthonormal DFT of the zero-padded image: %s', async (method, _, shape, oversample) => {
    const d = shape[0] * shape[1] * shape[2];
    const x = await normal(2 * d, 11);
    const model = new PhaseRetrieval({ shape: [...shape], oversample, method });
    expect(model.method).toBe(method);
    const [P, Q] = model.frame;
    expect([P, Q]).toEqual([Math.round(oversample * shape[1]), Math.round(oversample * shape[2])]);
    const y = await model.forward(x, 2);
    const m = model.measurementSize;
    for (let b = 0; b < 2; b++) {
      expect(maxAbsDiff(y.subarray(b * m, (b + 1) * m), phaseReference(x.subarray(b * d, (b + 1) * d), [...shape], P, Q))).toBeLessThan(2e-6);
    }
  });

  it.each(methods)('%s: gives the same measurement for x, -x, x rotated by 180 degrees and x shifted inside the padded frame', async (method) => {
    const H = 16, W = 16;
    const x = new Float32Array(H * W);
    const blob = await normal(6 * 7, 13);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 7; j++) x[(4 + i) * W + 5 + j] = blob[i * 7 + j];
    const flipped = x.map((v) => -v);
    const rotated = x.slice().reverse();
    const shifted = new Float32Array(H * W);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 7; j++) shifted[(9 + i) * W + 1 + j] = blob[i * 7 + j];
    const model = new PhaseRetrieval({ shape: [1, H, W], method });
    const y = await model.forward(x, 1);
    for (const other of [flipped, rotated, shifted]) expect(maxAbsDiff(await model.forward(other, 1), y)).toBeLessThan(1e-5);
    // (The shifts above move the image inside the zero-padded frame: the
    // measurement is the same for every circular shift of that frame.)
    const ref = phaseReference(x, [1, H, W], 32, 32);
    expect(maxAbsDiff(y, ref)).toBeLessThan(2e-6);
    // And a different image does give a different measurement.
    const other = x.slice();
    other[(4 * W) + 5] += 0.5;
    expect(maxAbsDiff(await model.forward(other, 1), y)).toBeGreaterThan(1e-3);
  });
});

describe('misfitGradient', () => {
  // l(x) = ||G(x) - y_obs||^2 / 2 in float64 from the model's float32 output.
  async function loss(model: ImagingOperator, x: Float32Array, yObs: Float32Array): Promise<number> {
    const y = await model.forward(x, 1);
    let s = 0;
    for (let k = 0; k < y.length; k++) s += (y[k] - yObs[k]) ** 2;
    return s / 2;
  }

  it.each([
    ['Inpainting', () => new Inpainting({ shape: [2, 8, 8], box: [3, 4], seed: 2, margin: 1 }), 1e-2],
    ['SuperResolution', () => new SuperResolution({ shape: [2, 8, 8], factor: 2 }), 1e-2],
    ['GaussianBlur', () => new GaussianBlur({ shape: [2, 8, 8], kernelSize: 5, std: 1.2 }), 1e-2],
    ['GaussianBlur with a kernel wider than the image', () => new GaussianBlur({ shape: [1, 8, 8], kernelSize: 21, std: 3 }), 1e-2],
    ['PhaseRetrieval (fftw)', () => new PhaseRetrieval({ shape: [2, 8, 8], method: 'fftw' }), 3e-3],
    ['PhaseRetrieval (direct)', () => new PhaseRetrieval({ shape: [2, 8, 8], method: 'direct' }), 3e-3],
    ['PhaseRetrieval (fftw) of a 2-channel odd 3x5 image, oversample 1.5',
      () => new PhaseRetrieval({ shape: [2, 3, 5], oversample: 1.5, method: 'fftw' }), 3e-3],
  ])('%s: J(x)^T (G(x) - y) equals central finite differences of ||G(x) - y||^2 / 2', async (_, make, eps) => {
    const model = make();
    const d = model.imageSize;
    const x = await normal(d, 21);
    const yObs = (await model.forward(await normal(d, 22), 1)).map((v, i) => v + 0.1 * Math.sin(i));
    const y = await model.forward(x, 1);
    const grad = await model.misfitGradient(x, y.map((v, i) => v - yObs[i]), 1);
    let worst = 0, scale = 0;
    for (const j of [0, 3, 17, 40, 63, d - 1].filter((k) => k < d)) {
      const plus = x.slice(), minus = x.slice();
      plus[j] += eps;
      minus[j] -= eps;
      const fd = ((await loss(model, plus, yObs)) - (await loss(model, minus, yObs))) / (2 * eps);
      worst = Math.max(worst, Math.abs(fd - grad[j]));
      scale = Math.max(scale, Math.abs(fd));
    }
    expect(scale).toBeGreaterThan(1e-2);
    expect(worst).toBeLessThan(2e-3 * Math.max(1, scale));
  });

  it.each(['fftw', 'direct'] as const)('%s: is batched: each image gets the gradient of its own misfit', async (method) => {
    const model = new PhaseRetrieval({ shape: [1, 6, 6], method });
    const x = await normal(3 * 36, 23), r = await normal(3 * model.measurementSize, 24);
    const all = await model.misfitGradient(x, r, 3);
    const one = await model.misfitGradient(x.slice(36, 72), r.slice(model.measurementSize, 2 * model.measurementSize), 1);
    expect(Array.from(all.subarray(36, 72))).toEqual(Array.from(one));
    await expect(model.misfitGradient(x, r.subarray(1), 3)).rejects.toThrow(
      new RangeError(`Expected batch x m = 3 x ${model.measurementSize} = ${3 * model.measurementSize} floats for residuals.length but received ${3 * model.measurementSize - 1}`));
  });
});

describe('the imaging models\' shared contract', () => {
  it('observe adds seeded N(0, 0.05^2) noise per image, independent of the batching', async () => {
    const model = new SuperResolution({ factor: 2 });
    const x = await normal(2 * 1024, 31);
    const clean = await model.forward(x, 2);
    const both = await model.observe(x, { seed: 5 });
    const again = await model.observe(x, { seed: 5 });
    expect(Array.from(again)).toEqual(Array.from(both));
    const first = await model.observe(x.subarray(0, 1024), { seed: 5 });
    expect(Array.from(first)).toEqual(Array.from(both.subarray(0, 256)));
    const noise = both.map((v, i) => v - clean[i]);
    const std = Math.sqrt(noise.reduce((s, v) => s + v * v, 0) / noise.length);
    expect(std).toBeGreaterThan(0.045);
    expect(std).toBeLessThan(0.055);
    const other = await model.observe(x, { seed: 6 });
    expect(maxAbsDiff(other, both)).toBeGreaterThan(0.05);
  });

  it('rejects a wrong length and a non-finite pixel naming the image, and stops on abort', async () => {
    const model = new GaussianBlur();
    await expect(model.forward(new Float32Array(1000), 1)).rejects.toThrow(
      new RangeError('Expected batch x C x H x W = 1 x 1 x 32 x 32 = 1024 floats for x.length but received 1000'));
    const x = new Float32Array(3 * 1024);
    x[2 * 1024 + 9] = Number.NaN;
    await expect(model.forward(x, 3)).rejects.toThrow(
      new RangeError('Expected finite values for x but received NaN at image 2 (element 9 of that image)'));
    const controller = new AbortController();
    controller.abort();
    await expect(new PhaseRetrieval().forward(new Float32Array(1024), 1, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('phase retrieval in TypeScript of 512 32x32 images keeps a 5 ms interval firing (the batch yields between chunks)', async () => {
    const model = new PhaseRetrieval({ method: 'direct' });
    const x = await normal(512 * 1024, 41);
    let longest = 0, last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    await model.forward(x, 512);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // The batch takes far longer than one chunk; no gap between ticks comes near it.
    expect(elapsed).toBeGreaterThan(100);
    expect(longest).toBeLessThan(elapsed / 4);
  });
});
