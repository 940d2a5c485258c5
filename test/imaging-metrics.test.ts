// PSNR, SSIM, phase retrieval's alignment and the LPIPS hook against values
// worked out by hand (closed forms of small images).
import * as path from 'node:path';

import { alignForPhaseRetrieval, alignForPhaseRetrievalAsync, imageMetrics, LpipsNetwork, lpips, PhaseRetrieval, psnr, randomNormal, ssim } from '../lib';

const C1 = 0.01 ** 2, C2 = 0.03 ** 2;

describe('psnr', () => {
  it('is 10 log10(1 / MSE) on [0, 1]: grey against black is 10 log10(4) dB', () => {
    expect(psnr(new Float32Array(16).fill(0), new Float32Array(16).fill(-1))).toBeCloseTo(10 * Math.log10(4), 10);
  });

  it('gives 10 log10(64) dB for one pixel off by 0.25 of four, and clips the estimate to [0, 1] first', () => {
    // In [0, 1]: truth (0, 1, 0.5, 0.75), estimate (0, 0.75, 0.5, 0.75): MSE = 0.0625 / 4.
    expect(psnr(Float32Array.of(-1, 0.5, 0, 0.5), Float32Array.of(-1, 1, 0, 0.5))).toBeCloseTo(10 * Math.log10(64), 5);
    // 3 and -5 clip to 1 and 0, exactly the truth's: no error at all.
    expect(psnr(Float32Array.of(3, -5), Float32Array.of(1, -1))).toBe(Infinity);
  });

  it('names mismatched lengths', () => {
    expect(() => psnr(new Float32Array(3), new Float32Array(4))).toThrow(
      new RangeError('Expected truth.length = 4 floats (one image) for estimate.length but received 3'));
  });
});

describe('ssim', () => {
  // The 11x11 Gaussian window of std 1.5, normalized, written as a 2D array.
  const window: number[] = [];
  let total = 0;
  for (let a = -5; a <= 5; a++) for (let b = -5; b <= 5; b++) { const v = Math.exp(-(a * a + b * b) / 4.5); window.push(v); total += v; }
  const weights = window.map((v) => v / total);

  it('of two constant 11x11 images is (2 a b + C1) / (a^2 + b^2 + C1)', () => {
    // a = 0.5 (pixel 0 in [-1, 1]), b = 0.25 (pixel -0.5).
    const value = ssim(new Float32Array(121).fill(0), new Float32Array(121).fill(-0.5), [1, 11, 11]);
    expect(value).toBeCloseTo((2 * 0.5 * 0.25 + C1) / (0.25 + 0.0625 + C1), 10);
  });

  it('of an 11x11 image against an affine copy alpha t + beta equals the closed form of the weighted moments', () => {
    const t01 = Array.from({ length: 121 }, (_, i) => 0.2 + 0.6 * ((i * 37) % 11) / 10); // in [0.2, 0.8]
    const alpha = 0.5, beta = 0.1;
    const truth = Float32Array.from(t01, (v) => 2 * v - 1);
    const estimate = Float32Array.from(t01, (v) => 2 * (alpha * v + beta) - 1);
    const mu = t01.reduce((s, v, i) => s + weights[i] * v, 0);
    const varT = t01.reduce((s, v, i) => s + weights[i] * (v - mu) ** 2, 0);
    const muX = alpha * mu + beta;
    const expected = ((2 * muX * mu + C1) * (2 * alpha * varT + C2)) / ((muX ** 2 + mu ** 2 + C1) * (alpha ** 2 * varT + varT + C2));
    expect(ssim(estimate, truth, [1, 11, 11])).toBeCloseTo(expected, 6);
    expect(expected).toBeLessThan(0.9);
  });

  it('is 1 for equal images, symmetric, and the mean over window positions and channels', async () => {
    const a = await randomNormal({ count: 2 * 14 * 12, seed: 3, backend: 'cpu' });
    const b = await randomNormal({ count: 2 * 14 * 12, seed: 4, backend: 'cpu' });
    expect(ssim(a, a, [2, 14, 12])).toBeCloseTo(1, 12);
    expect(ssim(a, b, [2, 14, 12])).toBeCloseTo(ssim(b, a, [2, 14, 12]), 12);
    // Channel 1 alone equals itself against itself: the mean of channel 0's score and 1.
    const mixed = a.slice();
    mixed.set(b.subarray(0, 14 * 12), 0);
    expect(ssim(mixed, a, [2, 14, 12])).toBeCloseTo((ssim(b.subarray(0, 168), a.subarray(0, 168), [1, 14, 12]) + 1) / 2, 10);
  });

  it('rejects images smaller than its window and a shape of the wrong size', () => {
    expect(() => ssim(new Float32Array(100), new Float32Array(100), [1, 10, 10])).toThrow(
      new RangeError('Expected an image of at least 11x11 (SSIM\'s window) for shape but received [1, 10, 10]'));
    expect(() => ssim(new Float32Array(121), new Float32Array(121), [1, 11, 12])).toThrow(
      new RangeError('Expected C x H x W = 121 (the image\'s length) for shape but received [1, 11, 12]'));
  });
});

describe('alignForPhaseRetrieval', () => {
  it('undoes a sign flip, a 180-degree rotation and a shift inside the padded frame', async () => {
    const H = 12, W = 12;
    const blob = await randomNormal({ count: 5 * 6, seed: 9, backend: 'cpu' });
    const truth = new Float32Array(H * W), moved = new Float32Array(H * W);
    for (let i = 0; i < 5; i++) {
      for (let j = 0; j < 6; j++) {
        truth[(3 + i) * W + 2 + j] = blob[i * 6 + j];
        moved[(6 + i) * W + 5 + j] = blob[i * 6 + j];
      }
    }
    const estimate = moved.map((v) => -v).reverse(); // -rot180(shifted truth)
    const model = new PhaseRetrieval({ shape: [1, H, W] });
    // The ambiguity is real: the model cannot tell the two apart.
    const [y0, y1] = [await model.forward(truth, 1), await model.forward(estimate, 1)];
    expect(Math.max(...y0.map((v, i) => Math.abs(v - y1[i])))).toBeLessThan(1e-5);
    const { aligned, alignment } = alignForPhaseRetrieval(estimate, truth, { shape: [1, H, W], frame: model.frame, offset: model.offset });
    expect(Array.from(aligned)).toEqual(Array.from(truth));
    expect(alignment.sign).toBe(-1);
    expect(alignment.rotated).toBe(true);
    expect(psnr(estimate, truth)).toBeLessThan(15);
  });

  it('keeps the event loop turning: the async form gives the same alignment and imageMetrics yields while aligning', async () => {
    const truth = await randomNormal({ count: 1024, seed: 5, backend: 'cpu' });
    const particles = await randomNormal({ count: 1024, streams: 24, seed: 6, backend: 'cpu' });
    const frame = { shape: [1, 32, 32] as [number, number, number], frame: [64, 64] as [number, number], offset: [16, 16] as [number, number] };
    const one = particles.subarray(0, 1024);
    expect(await alignForPhaseRetrievalAsync(one, truth, frame)).toEqual(alignForPhaseRetrieval(one, truth, frame));
    let longest = 0, last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    const started = performance.now();
    await imageMetrics(particles, 24, truth, [1, 32, 32], { phaseRetrieval: frame });
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(elapsed).toBeGreaterThan(100);
    expect(longest).toBeLessThan(elapsed / 4);
  });

  it('imageMetrics reports the aligned PSNR/SSIM per particle and for the mean, and says so', async () => {
    const H = 12, W = 12, truth = new Float32Array(H * W).fill(-1);
    for (let i = 3; i < 9; i++) for (let j = 4; j < 8; j++) truth[i * W + j] = 0.8;
    const flipped = truth.map((v) => -v);
    const particles = new Float32Array(2 * H * W);
    particles.set(truth, 0);
    particles.set(flipped, H * W);
    const frame = { shape: [1, H, W] as [number, number, number], frame: [24, 24] as [number, number], offset: [6, 6] as [number, number] };
    const aligned = await imageMetrics(particles, 2, truth, [1, H, W], { phaseRetrieval: frame });
    expect(aligned.psnr).toBe(Infinity);
    expect(aligned.ssim).toBeCloseTo(1, 10);
    expect(aligned.alignment).toMatch(/sign flip, 180-degree rotation and circular shift/);
    // Without alignment the flipped particle scores its own (low) PSNR; the mean (all 0) is grey.
    const plain = await imageMetrics(particles, 2, truth, [1, H, W]);
    expect(plain.psnr).toBe(Infinity); // mean of Infinity and a finite value
    expect(plain.psnrMean).toBeCloseTo(psnr(new Float32Array(H * W), truth), 10);
    expect(plain.ssimMean).toBeCloseTo(ssim(new Float32Array(H * W), truth, [1, H, W]), 10);
    expect(plain.ssim).toBeCloseTo((1 + ssim(flipped, truth, [1, H, W])) / 2, 10);
    expect(plain.alignment).toBeUndefined();
  });
});

describe('the LPIPS hook', () => {
  const file = path.join(__dirname, 'fixtures/imaging/lpips-weighted-mse.onnx');

  it('feeds each estimate and the truth, repeated over 3 channels, to the user\'s network in batches', async () => {
    // The fixture network: sum_c w_c mean (a_c - b_c)^2 with sum w = 1, so a grey image's distance is its MSE.
    const network = await LpipsNetwork.load(file, { batchSize: 2 });
    const truth = await randomNormal({ count: 64, seed: 1, backend: 'cpu' });
    const estimates = await randomNormal({ count: 64, streams: 3, seed: 2, backend: 'cpu' });
    const d = await network.distance(estimates, 3, truth, [1, 8, 8]);
    for (let n = 0; n < 3; n++) {
      let mse = 0;
      for (let i = 0; i < 64; i++) mse += (estimates[n * 64 + i] - truth[i]) ** 2 / 64;
      expect(d[n]).toBeCloseTo(mse, 5);
    }
    expect(await lpips(network, estimates.subarray(64, 128), truth, [1, 8, 8])).toBeCloseTo(d[1], 6);
    await network.dispose();
    await expect(network.distance(truth, 1, truth, [1, 8, 8])).rejects.toThrow(`The LPIPS network ${file} was disposed`);
  });

  it('names a missing network file', async () => {
    await expect(LpipsNetwork.load('/nonexistent/lpips.onnx')).rejects.toThrow(
      new TypeError("Expected an existing .onnx file for the LPIPS network but received '/nonexistent/lpips.onnx'"));
  });
});
