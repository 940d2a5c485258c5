// Image quality metrics for the imaging problems: PSNR and SSIM on images
// mapped from [-1, 1] to [0, 1] and clipped there, an LPIPS hook that runs
// a user's ONNX network, and the alignment that phase retrieval's
// ambiguities call for before any of them.
import { yieldToLoop } from '../chunked';
import { ensembleRowMean } from './moments';
import { expected, requireFloat32Array, requireInteger } from '../validate';

/** [C, H, W] of one image. */
export type ImageShape = [number, number, number];

function checkPair(estimate: Float32Array, truth: Float32Array): void {
  requireFloat32Array(estimate, 'estimate');
  requireFloat32Array(truth, 'truth');
  if (estimate.length !== truth.length || truth.length === 0) {
    throw new RangeError(expected(`truth.length = ${truth.length} floats (one image)`, 'estimate.length', estimate.length));
  }
}

function checkShape(shape: unknown, length: number): ImageShape {
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((v) => Number.isSafeInteger(v) && v >= 1)) {
    throw new TypeError(expected('[C, H, W], three integers >= 1', 'shape', Array.isArray(shape) ? `[${shape.join(', ')}]` : shape, Array.isArray(shape)));
  }
  if (shape[0] * shape[1] * shape[2] !== length) {
    throw new RangeError(expected(`C x H x W = ${length} (the image's length)`, 'shape', `[${shape.join(', ')}]`, true));
  }
  return shape as ImageShape;
}


/** [-1, 1] -> [0, 1], clipped. */
const unit = (v: number) => Math.min(1, Math.max(0, (v + 1) / 2));

/**
 * Peak signal-to-noise ratio in dB of one image against the truth, both in
 * [-1, 1]: 10 log10(1 / MSE) on the images mapped to [0, 1] and clipped
 * (peak 1). Infinity when they agree.
 */
export function psnr(estimate: Float32Array, truth: Float32Array): number {
  checkPair(estimate, truth);
  let s = 0;
  for (let i = 0; i < truth.length; i++) s += (unit(estimate[i]) - unit(truth[i])) ** 2;
  return 10 * Math.log10(truth.length / s);
}

/** SSIM's Gaussian window: side 11, std 1.5 (Wang et al. 2004). */
export const SSIM_WINDOW = 11;
export const SSIM_STD = 1.5;
/** SSIM's constants for a dynamic range L = 1: (0.01 L)^2 and (0.03 L)^2. */
export const SSIM_C1 = 0.01 ** 2;
export const SSIM_C2 = 0.03 ** 2;

function window1d(): Float64Array {
  const r = (SSIM_WINDOW - 1) / 2, w = new Float64Array(SSIM_WINDOW);
  let sum = 0;
  for (let a = 0; a < SSIM_WINDOW; a++) sum += (w[a] = Math.exp(-((a - r) ** 2) / (2 * SSIM_STD ** 2)));
  return w.map((v) => v / sum);
}

/**
 * Structural similarity (Wang et al. 2004) of one C x H x W image against
 * the truth, both in [-1, 1], mapped to [0, 1] and clipped: local weighted
 * means, variances and covariance under the 11-pixel Gaussian window of
 * std 1.5 at every position where it fits whole ('valid', as the
 * reference MATLAB code), averaged over positions and channels. H and W
 * must be at least 11.
 */
export function ssim(estimate: Float32Array, truth: Float32Array, shape: ImageShape): number {
  checkPair(estimate, truth);
  const [C, H, W] = checkShape(shape, truth.length);
  if (H < SSIM_WINDOW || W < SSIM_WINDOW) {
    throw new RangeError(expected(`an image of at least ${SSIM_WINDOW}x${SSIM_WINDOW} (SSIM's window)`, 'shape', `[${shape.join(', ')}]`, true));
  }
  const w = window1d(), K = SSIM_WINDOW, h = H - K + 1, v = W - K + 1;
  let total = 0;
  const x = new Float64Array(H * W), y = new Float64Array(H * W);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < H * W; i++) {
      x[i] = unit(estimate[c * H * W + i]);
      y[i] = unit(truth[c * H * W + i]);
    }
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < v; j++) {
        let mx = 0, my = 0, xx = 0, yy = 0, xy = 0;
        for (let a = 0; a < K; a++) {
          for (let b = 0; b < K; b++) {
            const g = w[a] * w[b], p = (i + a) * W + j + b;
            mx += g * x[p];
            my += g * y[p];
            xx += g * x[p] * x[p];
            yy += g * y[p] * y[p];
            xy += g * x[p] * y[p];
          }
        }
        const sx = xx - mx * mx, sy = yy - my * my, sxy = xy - mx * my;
        total += ((2 * mx * my + SSIM_C1) * (2 * sxy + SSIM_C2)) / ((mx * mx + my * my + SSIM_C1) * (sx + sy + SSIM_C2));
      }
    }
  }
  return total / (C * h * v);
}

/** Phase retrieval's frame: the image's shape, the padded frame [P, Q] and the image's offset in it (PhaseRetrieval's frame and offset). */
export interface PaddedFrame {
  shape: ImageShape;
  frame: [number, number];
  offset: [number, number];
}

/** The alignment alignForPhaseRetrieval found: sign, rotation and the circular shift in the padded frame. */
export interface Alignment {
  sign: 1 | -1;
  rotated: boolean;
  shift: [number, number];
}

/**
 * The copy of `estimate` closest (in L2) to `truth` among everything phase
 * retrieval cannot tell apart: x and -x, x rotated by 180 degrees, and x
 * shifted circularly inside the zero-padded frame (the part shifted out of
 * the image's window is lost, zeros come in). The usual protocol for
 * reporting phase retrieval's metrics. Exhaustive: (H W)^2 multiply-adds
 * per rotation.
 */
export function alignForPhaseRetrieval(estimate: Float32Array, truth: Float32Array, frame: PaddedFrame): AlignResult {
  const steps = alignSteps(estimate, truth, frame);
  let r = steps.next();
  while (!r.done) r = steps.next();
  return r.value;
}

type AlignResult = { aligned: Float32Array; alignment: Alignment };

/** alignForPhaseRetrieval without blocking: yields to the event loop every few milliseconds. */
export async function alignForPhaseRetrievalAsync(estimate: Float32Array, truth: Float32Array, frame: PaddedFrame): Promise<AlignResult> {
  const steps = alignSteps(estimate, truth, frame);
  let start = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - start > 5) {
      await yieldToLoop();
      start = performance.now();
    }
  }
}

// The search, one step per shift row (yielding between them).
function* alignSteps(estimate: Float32Array, truth: Float32Array, frame: PaddedFrame): Generator<void, AlignResult> {
  checkPair(estimate, truth);
  const [C, H, W] = checkShape(frame.shape, truth.length);
  const [P, Q] = frame.frame, [top, left] = frame.offset;
  // For a shift a along one axis: the window positions whose source (in the image, before the shift) is inside the image.
  const sources = (size: number, start: number, period: number, a: number) => {
    const dst: number[] = [], src: number[] = [];
    for (let i = 0; i < size; i++) {
      const s = ((((start + i - a) % period) + period) % period) - start;
      if (s >= 0 && s < size) { dst.push(i); src.push(s); }
    }
    return { dst, src };
  };
  const rowMaps = Array.from({ length: P }, (_, a) => sources(H, top, P, a));
  const colMaps = Array.from({ length: Q }, (_, b) => sources(W, left, Q, b));
  let tt = 0;
  for (let i = 0; i < truth.length; i++) tt += truth[i] * truth[i];
  let best = { loss: Infinity, sign: 1 as 1 | -1, rotated: false, a: 0, b: 0 };
  for (const rotated of [false, true]) {
    const e = rotated ? rotate180(estimate, C, H, W) : estimate;
    for (let a = 0; a < P; a++) {
      const rows = rowMaps[a];
      if (rows.dst.length === 0) continue;
      yield;
      for (let b = 0; b < Q; b++) {
        const cols = colMaps[b];
        let cross = 0, energy = 0;
        for (let c = 0; c < C; c++) {
          for (let r = 0; r < rows.dst.length; r++) {
            const tRow = (c * H + rows.dst[r]) * W, eRow = (c * H + rows.src[r]) * W;
            for (let k = 0; k < cols.dst.length; k++) {
              const ev = e[eRow + cols.src[k]];
              cross += truth[tRow + cols.dst[k]] * ev;
              energy += ev * ev;
            }
          }
        }
        const sign = cross >= 0 ? 1 : -1;
        const loss = tt + energy - 2 * Math.abs(cross);
        if (loss < best.loss - 1e-12) best = { loss, sign, rotated, a, b };
      }
    }
  }
  const e = best.rotated ? rotate180(estimate, C, H, W) : estimate;
  const aligned = new Float32Array(truth.length), rows = rowMaps[best.a], cols = colMaps[best.b];
  for (let c = 0; c < C; c++) {
    for (let r = 0; r < rows.dst.length; r++) {
      for (let k = 0; k < cols.dst.length; k++) {
        aligned[(c * H + rows.dst[r]) * W + cols.dst[k]] = best.sign * e[(c * H + rows.src[r]) * W + cols.src[k]];
      }
    }
  }
  return { aligned, alignment: { sign: best.sign, rotated: best.rotated, shift: [best.a, best.b] } };
}

function rotate180(x: Float32Array, C: number, H: number, W: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) out[c * H * W + i] = x[c * H * W + H * W - 1 - i];
  return out;
}

/** PSNR and SSIM of an ensemble: the mean over particles of each, and each of the ensemble mean. */
export interface ImageMetrics {
  /** Mean over the particles of each particle's PSNR (dB). */
  psnr: number;
  /** PSNR of the ensemble mean. */
  psnrMean: number;
  ssim: number;
  ssimMean: number;
  /**
   * How estimates were aligned before scoring, when they were: phase
   * retrieval's sign, rotation and shift, per particle and for the mean.
   */
  alignment?: string;
}

/**
 * imageMetrics of `count` particles (count x C x H x W) against the truth.
 * With `phaseRetrieval` (its padded frame), each particle and the ensemble
 * mean are first aligned to the truth (alignForPhaseRetrieval). Yields to
 * the event loop between particles.
 */
export async function imageMetrics(particles: Float32Array, count: number, truth: Float32Array, shape: ImageShape,
  opts: { phaseRetrieval?: PaddedFrame } = {}): Promise<ImageMetrics> {
  requireFloat32Array(particles, 'particles');
  requireFloat32Array(truth, 'truth');
  requireInteger(count, 'count', 1);
  const d = truth.length;
  checkShape(shape, d);
  if (particles.length !== count * d) throw new RangeError(expected(`count x truth.length = ${count * d} floats`, 'particles.length', particles.length));
  const frame = opts.phaseRetrieval;
  // An alignment is 2 (H W)^2 multiply-adds per rotation (8-50 ms at 32x32 on the loaded 2-core CPU): it yields on its own.
  const align = async (x: Float32Array) => (frame ? (await alignForPhaseRetrievalAsync(x, truth, frame)).aligned : x);
  let p = 0, s = 0, start = performance.now();
  for (let n = 0; n < count; n++) {
    if (performance.now() - start > 8) {
      await yieldToLoop();
      start = performance.now();
    }
    const x = await align(particles.subarray(n * d, (n + 1) * d));
    p += psnr(x, truth);
    s += ssim(x, truth, shape);
  }
  const mean = await align(ensembleRowMean(particles, count, d));
  return {
    psnr: p / count, psnrMean: psnr(mean, truth), ssim: s / count, ssimMean: ssim(mean, truth, shape),
    ...(opts.phaseRetrieval ? { alignment: 'best of sign flip, 180-degree rotation and circular shift in the padded frame (per particle, and for the ensemble mean)' } : {}),
  };
}
