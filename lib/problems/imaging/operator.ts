// What the four imaging forward models share: the option checks, batched
// evaluation in chunks that give the event loop back every few
// milliseconds (an N = 2048 batch is far over the 20 ms a synchronous
// stretch may take), the abort signal, seeded observation noise, and the
// exact vector-Jacobian product behind `misfitGradient`.
//
// Images are C x H x W, row-major, in [-1, 1] (the priors' normalization).
// A subclass supplies the map of one image (`applyOne`) and its adjoint at
// that image (`adjointOne`): for the linear models the transpose of the
// operator, for phase retrieval the transpose of its Jacobian.
import { forChunks, yieldToLoop } from '../../chunked';
import { abortError } from '../../abort';
import { randomNormal } from '../../random';
import {
  expected, requireFloat32Array, requireInteger, requireKnownKeys, requireNumber, requireObject,
} from '../../validate';
import { ForwardModel, ForwardOptions } from '../forward-model';

/** Observation noise std of the imaging problems (images in [-1, 1]), the paper's 0.05. */
export const DEFAULT_IMAGING_NOISE = 0.05;

/** The default image shape: the shipped Fashion-MNIST prior's. */
export const DEFAULT_IMAGE_SHAPE: [number, number, number] = [1, 32, 32];

/** Options every imaging model takes. */
export interface ImagingOptions {
  /** [C, H, W] of one image (default [1, 32, 32], the shipped prior's). */
  shape?: [number, number, number];
  /** Std of the Gaussian noise `observe` adds (default 0.05). */
  noise?: number;
}

/** Work per chunk before yielding to the event loop (well under the 20 ms budget). */
const CHUNK_MS = 8;


export function requireShape(value: unknown, name: string): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => Number.isSafeInteger(v) && v >= 1)) {
    throw new TypeError(expected('[C, H, W], three integers >= 1', name,
      Array.isArray(value) ? `[${value.map(String).join(', ')}]` : value, Array.isArray(value)));
  }
  return [value[0], value[1], value[2]];
}

export abstract class ImagingOperator implements ForwardModel {
  readonly fieldShape: [number, number, number];
  readonly noise: number;
  abstract readonly measurementSize: number;
  /** The model's name in messages. */
  protected abstract readonly label: string;

  protected constructor(opts: ImagingOptions) {
    this.fieldShape = opts.shape === undefined ? [...DEFAULT_IMAGE_SHAPE] : requireShape(opts.shape, 'shape');
    this.noise = opts.noise === undefined ? DEFAULT_IMAGING_NOISE : requireNumber(opts.noise, 'noise', 0);
  }

  /** Floats per image, C x H x W. */
  get imageSize(): number {
    return this.fieldShape[0] * this.fieldShape[1] * this.fieldShape[2];
  }

  /** y = G(x) of image `x[xOff ..]` into `y[yOff .. yOff + m)`. */
  protected abstract applyOne(x: Float32Array, xOff: number, y: Float32Array, yOff: number): void;

  /** g = J(x)^T r of image `x[xOff ..]` (J: the Jacobian of G there) into `g[gOff .. gOff + d)`, g zeroed. */
  protected abstract adjointOne(x: Float32Array, xOff: number, r: Float32Array, rOff: number, g: Float32Array, gOff: number): void;

  /** G(x) for `batch` images (batch x C x H x W) -> batch x m measurements. */
  async forward(x: Float32Array, batch: number, opts: ForwardOptions = {}): Promise<Float32Array> {
    const signal = this.checkCall(x, batch, 'x', opts);
    const d = this.imageSize, m = this.measurementSize;
    const y = new Float32Array(batch * m);
    await this.eachImage(batch, signal, (b) => this.applyOne(x, b * d, y, b * m));
    return y;
  }

  /**
   * The exact gradient of a per-image misfit l(G(x)) with respect to x,
   * given `residuals` = dl/dy (batch x m; y - y_obs for l = ||y - y_obs||^2 / 2):
   * J(x)^T residuals, batch x C x H x W. Only the gradient-based reference
   * (DPS) uses it; the black-box algorithms never do.
   */
  async misfitGradient(x: Float32Array, residuals: Float32Array, batch: number, opts: ForwardOptions = {}): Promise<Float32Array> {
    const signal = this.checkGradientArguments(x, residuals, batch, opts);
    this.requireFiniteImages(x, 'x');
    await this.requireFiniteResiduals(residuals);
    const d = this.imageSize, m = this.measurementSize;
    const g = new Float32Array(batch * d);
    await this.eachImage(batch, signal, (b) => this.adjointOne(x, b * d, residuals, b * m, g, b * d));
    return g;
  }

  /**
   * forward(x) plus N(0, noise^2) noise: image b's noise is Philox stream b
   * of `seed`, so an observation never depends on how images are batched.
   */
  async observe(x: Float32Array, opts: { seed: number; signal?: AbortSignal }): Promise<Float32Array> {
    requireFloat32Array(x, 'x');
    requireKnownKeys(requireObject(opts, 'observe(options)'), ['seed', 'signal'], 'observe');
    const seed = requireInteger(opts.seed, 'seed', 0);
    const d = this.imageSize;
    if (x.length === 0 || x.length % d !== 0) {
      throw new RangeError(expected(`a positive multiple of C x H x W = ${d}`, 'x.length', x.length));
    }
    const batch = x.length / d;
    const y = await this.forward(x, batch, opts.signal ? { signal: opts.signal } : {});
    if (this.noise > 0) {
      const noise = await randomNormal({ count: this.measurementSize, streams: batch, seed, backend: 'cpu' });
      for (let i = 0; i < y.length; i++) y[i] += this.noise * noise[i];
    }
    return y;
  }

  /**
   * checkArguments for x, and residuals of batch x m floats. Their values
   * are not checked: the TypeScript path checks x with requireFiniteImages
   * and the residuals with requireFiniteResiduals, a native path in its worker.
   */
  protected checkGradientArguments(x: Float32Array, residuals: Float32Array, batch: number, opts: ForwardOptions): AbortSignal | undefined {
    const signal = this.checkArguments(x, batch, 'x', opts);
    requireFloat32Array(residuals, 'residuals');
    const m = this.measurementSize;
    if (residuals.length !== batch * m) {
      throw new RangeError(expected(`batch x m = ${batch} x ${m} = ${batch * m} floats`, 'residuals.length', residuals.length));
    }
    return signal;
  }

  /** The residuals are finite (checked in stretches: at N = 2048 they can be 8M floats). */
  protected async requireFiniteResiduals(residuals: Float32Array): Promise<void> {
    const m = this.measurementSize;
    let bad = -1;
    await forChunks(residuals.length, (start, end) => {
      for (let i = start; i < end && bad < 0; i++) if (!Number.isFinite(residuals[i])) bad = i;
    });
    if (bad >= 0) {
      const image = Math.floor(bad / m);
      throw new RangeError(expected('finite values', 'residuals', `${residuals[bad]} at image ${image} (element ${bad - image * m} of that image)`, true));
    }
  }

  /** checkArguments, and x finite. */
  protected checkCall(x: Float32Array, batch: number, name: string, opts: ForwardOptions): AbortSignal | undefined {
    const signal = this.checkArguments(x, batch, name, opts);
    this.requireFiniteImages(x, name);
    return signal;
  }

  /** A RangeError naming the first non-finite value of the images `x` by image and element. */
  protected requireFiniteImages(x: Float32Array, name: string): void {
    const d = this.imageSize;
    for (let i = 0; i < x.length; i++) {
      if (!Number.isFinite(x[i])) {
        const image = Math.floor(i / d);
        throw new RangeError(expected('finite values', name, `${x[i]} at image ${image} (element ${i - image * d} of that image)`, true));
      }
    }
  }

  /** The types and lengths of a call's arguments, and its abort signal (x's values unchecked). */
  protected checkArguments(x: Float32Array, batch: number, name: string, opts: ForwardOptions): AbortSignal | undefined {
    requireFloat32Array(x, name);
    requireInteger(batch, 'batch', 1);
    requireKnownKeys(requireObject(opts, `${this.label}.forward(options)`), ['signal'], 'forward');
    const signal = opts.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(expected('an AbortSignal', 'signal', signal));
    const d = this.imageSize;
    if (x.length !== batch * d) {
      const [C, H, W] = this.fieldShape;
      throw new RangeError(expected(`batch x C x H x W = ${batch} x ${C} x ${H} x ${W} = ${batch * d} floats`, `${name}.length`, x.length));
    }
    return signal;
  }

  /** Runs `work(b)` for every image, yielding to the event loop every CHUNK_MS and stopping on abort. */
  protected async eachImage(batch: number, signal: AbortSignal | undefined, work: (b: number) => void): Promise<void> {
    let start = performance.now();
    for (let b = 0; b < batch; b++) {
      if (performance.now() - start > CHUNK_MS) {
        await yieldToLoop();
        start = performance.now();
      }
      if (signal?.aborted) throw abortError(signal, `The ${this.label} evaluation`);
      work(b);
    }
  }
}
