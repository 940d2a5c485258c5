// Phase retrieval: observe |F(zero-pad(x))|, the magnitude of the 2D DFT
// of the image zero-padded to `oversample` times its size (each channel on
// its own). F is the orthonormal DFT (1 / sqrt(P Q)), so the noise std is
// in the image's own units (Parseval). The measurement cannot tell x from
// -x, from x rotated by 180 degrees, or from x shifted inside the padded
// frame: see alignForPhaseRetrieval in lib/metrics/image.ts.
//
// Two methods compute the same map and gradient. 'fftw': the addon's
// paddedDftMagnitude(Adjoint), an FFTW r2c/c2r of the padded frame in
// double precision, off the main thread. 'direct': the DFT written out in
// TypeScript as two matrix passes that skip the padding's zeros (H rows of
// W values, then P x Q/2 outputs from H rows; the other half is the
// conjugate mirror of a real image's spectrum), on the main thread in
// chunks; it is the independent check of the native path. bench/imaging.ts
// measured FFTW 4.5-15x faster for the map and 34-50x for the gradient on
// 32x32 images at batches of 512 and 2048, so 'auto' picks FFTW.
import { callNative, native, NativePaddedFrame } from '../../binding';
import { abortError } from '../../abort';
import { expected, requireKnownKeys, requireNumber, requireObject, requireOneOf } from '../../validate';
import { ForwardOptions } from '../forward-model';
import { ImagingOperator, ImagingOptions } from './operator';

export interface PhaseRetrievalOptions extends ImagingOptions {
  /** The padded frame is round(oversample x H) x round(oversample x W) (default 2). */
  oversample?: number;
  /**
   * 'fftw': the addon's FFTW kernels, off the main thread; 'direct': the DFT
   * as matrix passes in TypeScript; 'auto' (default): 'fftw', the faster
   * (bench/imaging.ts). Used by forward and misfitGradient alike.
   */
  method?: 'auto' | 'fftw' | 'direct';
}

const KEYS = ['shape', 'noise', 'oversample', 'method'] as const;

export class PhaseRetrieval extends ImagingOperator {
  readonly oversample: number;
  /** [P, Q]: the padded frame, and the measurement's shape per channel. */
  readonly frame: [number, number];
  /** The image's top-left corner in the padded frame (the image is centred). */
  readonly offset: [number, number];
  readonly measurementSize: number;
  readonly method: 'fftw' | 'direct';
  protected readonly label = 'PhaseRetrieval';
  // cos and sin of the DFT phases: rows (Q x W, k2 by j) and columns (P x H, k1 by i), scaled by 1 / sqrt(P Q) once.
  private readonly rowCos: Float64Array;
  private readonly rowSin: Float64Array;
  private readonly colCos: Float64Array;
  private readonly colSin: Float64Array;

  constructor(opts: PhaseRetrievalOptions = {}) {
    requireKnownKeys(requireObject(opts, 'PhaseRetrieval(options)'), KEYS, 'PhaseRetrieval');
    super(opts);
    this.oversample = opts.oversample === undefined ? 2 : requireNumber(opts.oversample, 'oversample', 1);
    const method = opts.method === undefined ? 'auto' : requireOneOf(opts.method, ['auto', 'fftw', 'direct'] as const, 'method');
    this.method = method === 'auto' ? 'fftw' : method;
    const [C, H, W] = this.fieldShape;
    const P = Math.round(this.oversample * H), Q = Math.round(this.oversample * W);
    this.frame = [P, Q];
    this.offset = [Math.floor((P - H) / 2), Math.floor((Q - W) / 2)];
    this.measurementSize = C * P * Q;
    const [top, left] = this.offset, scale = 1 / Math.sqrt(P * Q);
    this.rowCos = new Float64Array(Q * W);
    this.rowSin = new Float64Array(Q * W);
    for (let k = 0; k < Q; k++) {
      for (let j = 0; j < W; j++) {
        const phase = (2 * Math.PI * ((k * (left + j)) % Q)) / Q;
        this.rowCos[k * W + j] = Math.cos(phase) * scale;
        this.rowSin[k * W + j] = Math.sin(phase) * scale;
      }
    }
    this.colCos = new Float64Array(P * H);
    this.colSin = new Float64Array(P * H);
    for (let k = 0; k < P; k++) {
      for (let i = 0; i < H; i++) {
        const phase = (2 * Math.PI * ((k * (top + i)) % P)) / P;
        this.colCos[k * H + i] = Math.cos(phase);
        this.colSin[k * H + i] = Math.sin(phase);
      }
    }
  }

  async forward(x: Float32Array, batch: number, opts: ForwardOptions = {}): Promise<Float32Array> {
    if (this.method === 'direct') return super.forward(x, batch, opts);
    // x's values are checked by the addon, in its worker.
    const signal = this.checkArguments(x, batch, 'x', opts);
    const y = new Float32Array(batch * this.measurementSize);
    await this.runNative(signal, () => native.paddedDftMagnitude(x, batch, this.geometry(), y));
    return y;
  }

  async misfitGradient(x: Float32Array, residuals: Float32Array, batch: number, opts: ForwardOptions = {}): Promise<Float32Array> {
    if (this.method === 'direct') return super.misfitGradient(x, residuals, batch, opts);
    const signal = this.checkGradientArguments(x, residuals, batch, opts);
    const g = new Float32Array(batch * this.imageSize);
    await this.runNative(signal, () => native.paddedDftMagnitudeAdjoint(x, residuals, batch, this.geometry(), g));
    return g;
  }

  private geometry(): NativePaddedFrame {
    return { shape: [...this.fieldShape], frame: [...this.frame], offset: [...this.offset] };
  }

  // The native call runs off the main thread in one piece: an abort is seen before it starts and when it returns.
  private async runNative(signal: AbortSignal | undefined, call: () => Promise<void>): Promise<void> {
    if (signal?.aborted) throw abortError(signal, `The ${this.label} evaluation`);
    await callNative(call);
    if (signal?.aborted) throw abortError(signal, `The ${this.label} evaluation`);
  }

  /** The orthonormal DFT of one channel's padded image (re, im: P x Q), for the forward map and its Jacobian. */
  private spectrum(x: Float32Array, off: number, re: Float64Array, im: Float64Array, full: boolean): void {
    const [, H, W] = this.fieldShape, [P, Q] = this.frame;
    const Qh = full ? Q : Math.floor(Q / 2) + 1;
    // Row pass: A[i, k2] = sum_j x[i, j] e^{-2 pi i k2 (left + j) / Q}.
    const aRe = new Float64Array(H * Qh), aIm = new Float64Array(H * Qh);
    for (let i = 0; i < H; i++) {
      for (let k = 0; k < Qh; k++) {
        let sr = 0, si = 0;
        for (let j = 0; j < W; j++) {
          const v = x[off + i * W + j];
          sr += v * this.rowCos[k * W + j];
          si -= v * this.rowSin[k * W + j];
        }
        aRe[i * Qh + k] = sr;
        aIm[i * Qh + k] = si;
      }
    }
    // Column pass: u[k1, k2] = sum_i A[i, k2] e^{-2 pi i k1 (top + i) / P}.
    for (let k1 = 0; k1 < P; k1++) {
      for (let k2 = 0; k2 < Qh; k2++) {
        let sr = 0, si = 0;
        for (let i = 0; i < H; i++) {
          const c = this.colCos[k1 * H + i], s = this.colSin[k1 * H + i];
          const ar = aRe[i * Qh + k2], ai = aIm[i * Qh + k2];
          sr += ar * c + ai * s;
          si += ai * c - ar * s;
        }
        re[k1 * Q + k2] = sr;
        im[k1 * Q + k2] = si;
      }
    }
    if (!full) {
      // A real image's spectrum: u[k1, Q - k2] = conj(u[-k1, k2]).
      for (let k1 = 0; k1 < P; k1++) {
        for (let k2 = Qh; k2 < Q; k2++) {
          const src = ((P - k1) % P) * Q + (Q - k2);
          re[k1 * Q + k2] = re[src];
          im[k1 * Q + k2] = -im[src];
        }
      }
    }
  }

  protected applyOne(x: Float32Array, xOff: number, y: Float32Array, yOff: number): void {
    const [C, H, W] = this.fieldShape, [P, Q] = this.frame;
    const re = new Float64Array(P * Q), im = new Float64Array(P * Q);
    for (let c = 0; c < C; c++) {
      this.spectrum(x, xOff + c * H * W, re, im, false);
      for (let k = 0; k < P * Q; k++) y[yOff + c * P * Q + k] = Math.hypot(re[k], im[k]);
    }
  }

  // J^T r = Re(F^H (r u / |u|)) restricted to the image's window; where u = 0
  // the magnitude is not differentiable and the (sub)gradient 0 is taken.
  protected adjointOne(x: Float32Array, xOff: number, r: Float32Array, rOff: number, g: Float32Array, gOff: number): void {
    const [C, H, W] = this.fieldShape, [P, Q] = this.frame;
    const re = new Float64Array(P * Q), im = new Float64Array(P * Q);
    const bRe = new Float64Array(H * Q), bIm = new Float64Array(H * Q);
    for (let c = 0; c < C; c++) {
      this.spectrum(x, xOff + c * H * W, re, im, false);
      for (let k = 0; k < P * Q; k++) {
        const mag = Math.hypot(re[k], im[k]);
        const w = mag > 0 ? r[rOff + c * P * Q + k] / mag : 0;
        re[k] *= w;
        im[k] *= w;
      }
      // B[i, k2] = sum_k1 v[k1, k2] e^{+2 pi i k1 (top + i) / P}.
      for (let i = 0; i < H; i++) {
        for (let k2 = 0; k2 < Q; k2++) {
          let sr = 0, si = 0;
          for (let k1 = 0; k1 < P; k1++) {
            const cs = this.colCos[k1 * H + i], sn = this.colSin[k1 * H + i];
            const vr = re[k1 * Q + k2], vi = im[k1 * Q + k2];
            sr += vr * cs - vi * sn;
            si += vr * sn + vi * cs;
          }
          bRe[i * Q + k2] = sr;
          bIm[i * Q + k2] = si;
        }
      }
      // g[i, j] = Re sum_k2 B[i, k2] e^{+2 pi i k2 (left + j) / Q} / sqrt(P Q) (the scale is in rowCos/rowSin).
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          let s = 0;
          for (let k2 = 0; k2 < Q; k2++) s += bRe[i * Q + k2] * this.rowCos[k2 * W + j] - bIm[i * Q + k2] * this.rowSin[k2 * W + j];
          g[gOff + c * H * W + i * W + j] = s;
        }
      }
    }
  }

  /** log(1 + |u|) of one channel of a measurement, P x Q with the zero frequency centred, for display. */
  logMagnitude(y: Float32Array, channel = 0): Float32Array {
    const [C] = this.fieldShape, [P, Q] = this.frame;
    if (channel < 0 || channel >= C) throw new RangeError(expected(`a channel below ${C}`, 'channel', channel));
    const out = new Float32Array(P * Q);
    for (let k1 = 0; k1 < P; k1++) {
      for (let k2 = 0; k2 < Q; k2++) {
        const v = y[channel * P * Q + k1 * Q + k2];
        out[((k1 + (P >> 1)) % P) * Q + ((k2 + (Q >> 1)) % Q)] = Math.log1p(Math.max(0, v));
      }
    }
    return out;
  }
}
