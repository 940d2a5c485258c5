// Gaussian deblurring: observe the image convolved with a normalized
// Gaussian kernel, reflect-padded at the border (PyTorch's 'reflect': the
// edge pixel is not repeated).
//
// Defaults: the paper's blur at 256x256 is a 61-pixel kernel of std 3
// (DPS's setting). At 32x32 the same blur relative to the image is every
// length scaled by 32 / 256: std 3 / 8 = 0.375 pixels, and the kernel
// 61 / 8 = 7.6 pixels, rounded to the odd 7 (it still spans +-8 std, as
// the paper's spans +-10: the truncation is as negligible).
//
// The convolution goes through FFTW (the addon's spectralFilter, off the
// main thread) on a reflect-padded square frame, where the circular
// convolution equals the padded linear one. Two direct 1D passes in
// TypeScript (2 x kernelSize multiply-adds per pixel) are the other
// method; bench/imaging.ts measured them 1.2-3x slower than FFTW at every
// kernel size from 3 to 61 on 32x32 images, so 'auto' picks FFTW. The
// gradient (the transpose) runs directly.
import { callNative, native } from '../../binding';
import { expected, requireInteger, requireKnownKeys, requireObject, requireOneOf, requirePositive } from '../../validate';
import { ForwardOptions } from '../forward-model';
import { ImagingOperator, ImagingOptions } from './operator';

export interface GaussianBlurOptions extends ImagingOptions {
  /** Kernel side, odd (default 7: the paper's 61 at 256, scaled to 32x32). */
  kernelSize?: number;
  /** Kernel std in pixels (default 0.375: the paper's 3 at 256, scaled to 32x32). */
  std?: number;
  /**
   * 'direct': two 1D passes in TypeScript; 'fft': FFTW on the padded
   * frame; 'auto' (default): 'fft', the faster (bench/imaging.ts).
   */
  method?: 'auto' | 'direct' | 'fft';
}

const KEYS = ['shape', 'noise', 'kernelSize', 'std', 'method'] as const;

/** The paper's 256-pixel kernel (61, std 3) scaled by 32 / 256. */
export const DEFAULT_BLUR_KERNEL_SIZE = 7;
export const DEFAULT_BLUR_STD = 0.375;

function smooth(n: number): boolean {
  for (const p of [2, 3, 5, 7]) while (n % p === 0) n /= p;
  return n === 1;
}

/** PyTorch's 'reflect' index: ... 2 1 | 0 1 2 ... n-1 | n-2 ... */
export function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let k = i % period;
  if (k < 0) k += period;
  return k < n ? k : period - k;
}

export class GaussianBlur extends ImagingOperator {
  readonly kernelSize: number;
  readonly std: number;
  readonly method: 'direct' | 'fft';
  readonly measurementSize: number;
  /** The normalized 1D kernel; the 2D kernel is its outer product with itself. */
  readonly kernel1d: Float64Array;
  protected readonly label = 'GaussianBlur';
  private readonly rowTaps: Int32Array;
  private readonly colTaps: Int32Array;
  private fftGains: { frame: number; gains: Float64Array } | undefined;

  constructor(opts: GaussianBlurOptions = {}) {
    requireKnownKeys(requireObject(opts, 'GaussianBlur(options)'), KEYS, 'GaussianBlur');
    super(opts);
    this.kernelSize = opts.kernelSize === undefined ? DEFAULT_BLUR_KERNEL_SIZE : requireInteger(opts.kernelSize, 'kernelSize', 1);
    if (this.kernelSize % 2 !== 1) throw new RangeError(expected('an odd integer >= 1', 'kernelSize', this.kernelSize));
    this.std = opts.std === undefined ? DEFAULT_BLUR_STD : requirePositive(opts.std, 'std');
    const method = opts.method === undefined ? 'auto' : requireOneOf(opts.method, ['auto', 'direct', 'fft'] as const, 'method');
    this.method = method === 'auto' ? 'fft' : method;
    const r = (this.kernelSize - 1) / 2;
    this.kernel1d = new Float64Array(this.kernelSize);
    let sum = 0;
    for (let a = 0; a < this.kernelSize; a++) sum += (this.kernel1d[a] = Math.exp(-((a - r) ** 2) / (2 * this.std ** 2)));
    for (let a = 0; a < this.kernelSize; a++) this.kernel1d[a] /= sum;
    const [C, H, W] = this.fieldShape;
    this.measurementSize = C * H * W;
    this.rowTaps = new Int32Array(H * this.kernelSize);
    this.colTaps = new Int32Array(W * this.kernelSize);
    for (let i = 0; i < H; i++) for (let a = 0; a < this.kernelSize; a++) this.rowTaps[i * this.kernelSize + a] = reflectIndex(i + a - r, H);
    for (let j = 0; j < W; j++) for (let a = 0; a < this.kernelSize; a++) this.colTaps[j * this.kernelSize + a] = reflectIndex(j + a - r, W);
  }

  async forward(x: Float32Array, batch: number, opts: ForwardOptions = {}): Promise<Float32Array> {
    if (this.method === 'direct') return super.forward(x, batch, opts);
    const signal = this.checkCall(x, batch, 'x', opts);
    const [C, H, W] = this.fieldShape, r = (this.kernelSize - 1) / 2;
    const { frame: P, gains } = this.gains();
    const fields = batch * C, frames = new Float32Array(fields * P * P);
    await this.eachImage(batch, signal, (b) => {
      for (let c = 0; c < C; c++) {
        const src = (b * C + c) * H * W, dst = (b * C + c) * P * P;
        for (let i = 0; i < H + 2 * r; i++) {
          const row = src + reflectIndex(i - r, H) * W;
          for (let j = 0; j < W + 2 * r; j++) frames[dst + i * P + j] = x[row + reflectIndex(j - r, W)];
        }
      }
    });
    await callNative(() => native.spectralFilter(frames, fields, P, gains, frames));
    const y = new Float32Array(batch * this.measurementSize);
    await this.eachImage(batch, signal, (b) => {
      for (let c = 0; c < C; c++) {
        const src = (b * C + c) * P * P, dst = (b * C + c) * H * W;
        for (let i = 0; i < H; i++) y.set(frames.subarray(src + (i + r) * P + r, src + (i + r) * P + r + W), dst + i * W);
      }
    });
    return y;
  }

  // The kernel's transfer function on the smallest even square frame holding the padded image.
  private gains(): { frame: number; gains: Float64Array } {
    if (this.fftGains) return this.fftGains;
    const [, H, W] = this.fieldShape, r = (this.kernelSize - 1) / 2;
    // FFTW is fastest on sizes whose prime factors are 2, 3, 5 and 7.
    let P = Math.max(4, Math.max(H, W) + 2 * r);
    while (P % 2 !== 0 || !smooth(P)) P++;
    const half = P / 2 + 1, G = new Float64Array(P);
    for (let k = 0; k < P; k++) {
      let s = 0;
      for (let a = 0; a < this.kernelSize; a++) s += this.kernel1d[a] * Math.cos((2 * Math.PI * k * (a - r)) / P);
      G[k] = s;
    }
    const gains = new Float64Array(P * half);
    for (let k1 = 0; k1 < P; k1++) for (let k2 = 0; k2 < half; k2++) gains[k1 * half + k2] = G[k1] * G[k2];
    this.fftGains = { frame: P, gains };
    return this.fftGains;
  }

  protected applyOne(x: Float32Array, xOff: number, y: Float32Array, yOff: number): void {
    const [C, H, W] = this.fieldShape, K = this.kernelSize, g = this.kernel1d;
    const rows = new Float64Array(H * W);
    for (let c = 0; c < C; c++) {
      const img = xOff + c * H * W;
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          let s = 0;
          for (let a = 0; a < K; a++) s += g[a] * x[img + i * W + this.colTaps[j * K + a]];
          rows[i * W + j] = s;
        }
      }
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          let s = 0;
          for (let a = 0; a < K; a++) s += g[a] * rows[this.rowTaps[i * K + a] * W + j];
          y[yOff + c * H * W + i * W + j] = s;
        }
      }
    }
  }

  // The transpose of the two passes: each output pixel's residual scattered back over its reflected taps.
  protected adjointOne(_x: Float32Array, _xOff: number, r: Float32Array, rOff: number, out: Float32Array, gOff: number): void {
    const [C, H, W] = this.fieldShape, K = this.kernelSize, g = this.kernel1d;
    const rows = new Float64Array(H * W), acc = new Float64Array(H * W);
    for (let c = 0; c < C; c++) {
      rows.fill(0);
      acc.fill(0);
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          const v = r[rOff + c * H * W + i * W + j];
          for (let a = 0; a < K; a++) rows[this.rowTaps[i * K + a] * W + j] += g[a] * v;
        }
      }
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          const v = rows[i * W + j];
          for (let a = 0; a < K; a++) acc[i * W + this.colTaps[j * K + a]] += g[a] * v;
        }
      }
      for (let i = 0; i < H * W; i++) out[gOff + c * H * W + i] = acc[i];
    }
  }
}
