// Super-resolution: observe the image bicubically down-sampled by `factor`,
// with the semantics of PyTorch's
// interpolate(mode='bicubic', align_corners=False, antialias=False):
// Keys' cubic convolution with a = -0.75, source coordinate
// (out + 0.5) x factor - 0.5, indices clamped at the border.
import { expected, requireKnownKeys, requireObject } from '../../validate';
import { ImagingOperator, ImagingOptions } from './operator';

export interface SuperResolutionOptions extends ImagingOptions {
  /** Down-sampling factor in each direction (default 4, the paper's). */
  factor?: 2 | 4;
}

const KEYS = ['shape', 'noise', 'factor'] as const;

/** Keys' cubic convolution kernel with PyTorch's a = -0.75. */
export const BICUBIC_A = -0.75;

function cubic(t: number): number {
  const x = Math.abs(t), a = BICUBIC_A;
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

/** Taps of one axis: out x 4 source indices (clamped) and weights. */
function taps(size: number, factor: number): { index: Int32Array; weight: Float64Array } {
  const out = size / factor;
  const index = new Int32Array(out * 4), weight = new Float64Array(out * 4);
  for (let o = 0; o < out; o++) {
    const src = (o + 0.5) * factor - 0.5;
    const base = Math.floor(src), t = src - base;
    for (let k = 0; k < 4; k++) {
      index[o * 4 + k] = Math.min(size - 1, Math.max(0, base - 1 + k));
      weight[o * 4 + k] = cubic(t - (k - 1));
    }
  }
  return { index, weight };
}

export class SuperResolution extends ImagingOperator {
  readonly factor: 2 | 4;
  readonly measurementSize: number;
  /** [C, H / factor, W / factor]: the low-resolution image's shape. */
  readonly lowShape: [number, number, number];
  protected readonly label = 'SuperResolution';
  private readonly rows: { index: Int32Array; weight: Float64Array };
  private readonly cols: { index: Int32Array; weight: Float64Array };

  constructor(opts: SuperResolutionOptions = {}) {
    requireKnownKeys(requireObject(opts, 'SuperResolution(options)'), KEYS, 'SuperResolution');
    super(opts);
    if (opts.factor !== undefined && opts.factor !== 2 && opts.factor !== 4) {
      throw new RangeError(expected('2 or 4', 'factor', opts.factor));
    }
    this.factor = opts.factor ?? 4;
    const [C, H, W] = this.fieldShape;
    if (H % this.factor !== 0 || W % this.factor !== 0) {
      throw new RangeError(expected(`an image shape whose H and W are multiples of factor = ${this.factor}`, 'shape', `[${C}, ${H}, ${W}]`, true));
    }
    this.lowShape = [C, H / this.factor, W / this.factor];
    this.measurementSize = C * this.lowShape[1] * this.lowShape[2];
    this.rows = taps(H, this.factor);
    this.cols = taps(W, this.factor);
  }

  protected applyOne(x: Float32Array, xOff: number, y: Float32Array, yOff: number): void {
    const [C, H, W] = this.fieldShape, [, h, w] = this.lowShape;
    const { index: ri, weight: rw } = this.rows, { index: ci, weight: cw } = this.cols;
    for (let c = 0; c < C; c++) {
      const img = xOff + c * H * W;
      for (let o = 0; o < h; o++) {
        for (let p = 0; p < w; p++) {
          let s = 0;
          for (let a = 0; a < 4; a++) {
            const row = img + ri[o * 4 + a] * W;
            let t = 0;
            for (let b = 0; b < 4; b++) t += cw[p * 4 + b] * x[row + ci[p * 4 + b]];
            s += rw[o * 4 + a] * t;
          }
          y[yOff + (c * h + o) * w + p] = s;
        }
      }
    }
  }

  // The transpose: every low-resolution residual spreads back over its 4 x 4 taps.
  protected adjointOne(_x: Float32Array, _xOff: number, r: Float32Array, rOff: number, g: Float32Array, gOff: number): void {
    const [C, H, W] = this.fieldShape, [, h, w] = this.lowShape;
    const { index: ri, weight: rw } = this.rows, { index: ci, weight: cw } = this.cols;
    const acc = new Float64Array(H * W);
    for (let c = 0; c < C; c++) {
      acc.fill(0);
      for (let o = 0; o < h; o++) {
        for (let p = 0; p < w; p++) {
          const v = r[rOff + (c * h + o) * w + p];
          for (let a = 0; a < 4; a++) {
            const row = ri[o * 4 + a] * W, va = rw[o * 4 + a] * v;
            for (let b = 0; b < 4; b++) acc[row + ci[p * 4 + b]] += cw[p * 4 + b] * va;
          }
        }
      }
      for (let i = 0; i < H * W; i++) g[gOff + c * H * W + i] = acc[i];
    }
  }
}
