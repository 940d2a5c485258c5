// The only file that loads the native addon. It types the whole native
// surface; everything else in lib/ goes through these declarations.
import * as path from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';

import { describe, expected, requireFloat32Array, requireInteger } from './validate';

export type NativeBackend = 'cpu' | 'cuda';
export type NativeOrdering = 'auto' | 'coefficient' | 'cross-covariance';

export interface NativeBackendInfo {
  name: NativeBackend;
  available: boolean;
  reason?: string;
  device?: string;
  memoryBandwidth?: number;
}

export interface NativeKalmanOutcome {
  coefNorm: number;
  ordering: 'coefficient' | 'cross-covariance';
}

export interface NativeEnsembleHandle {
  load(particles: Float32Array): Promise<void>;
  read(out: Float32Array): Promise<void>;
  step(measurements: Float32Array, residuals: Float32Array, stepScale: number, ordering?: NativeOrdering): Promise<NativeKalmanOutcome>;
  mean(out: Float32Array): Promise<void>;
  covarianceTrace(): Promise<number>;
  fillNormal(seed: number, stream?: number): Promise<void>;
  dispose(): void;
}

export interface NativeBenchResult {
  stepSeconds: number[];
  sgemmSeconds: number[];
  sgemmSize: number;
  ordering: 'coefficient' | 'cross-covariance';
  multiplyAdds: number;
}

export interface NativeNavierStokesOptions {
  resolution: number;
  reynolds: number;
  time: number;
  adaptive: boolean;
  dt: number;
  dtMode: 'sample' | 'batch';
  forcing: 'kolmogorov' | 'none';
  precision: 'float32' | 'float64';
  maxSteps?: number;
  kernel?: 'auto' | 'library' | 'fused';
  /** Test-only: walk each phase of the CPU run of the fused kernel backwards. */
  itemOrder?: 'forward' | 'reverse';
  /** Setting element 0 non-zero stops the solve (the result then has cancelled: true). */
  cancel?: Int32Array;
}

/** C x H x W images, each channel placed at `offset` = [top, left] in a zero frame of `frame` = [P, Q]. */
export interface NativePaddedFrame {
  shape: [number, number, number];
  frame: [number, number];
  offset: [number, number];
}

export interface NativeAddon {
  probeBackends(): Promise<NativeBackendInfo[]>;
  cudaLibraries(): Promise<Array<{ name: 'cublas' | 'cufft'; loaded: boolean; path?: string; reason?: string }>>;
  buildInfo(): { cuda: boolean; cudaArchitectures?: string; openmp: boolean; navierStokesCuda: boolean };
  kalmanStep(
    backend: NativeBackend, particles: Float32Array, measurements: Float32Array, residuals: Float32Array,
    ensembleSize: number, stepScale: number, out: Float32Array, ordering?: NativeOrdering,
  ): Promise<NativeKalmanOutcome>;
  ensembleMean(backend: NativeBackend, particles: Float32Array, ensembleSize: number, out: Float32Array): Promise<void>;
  ensembleCovarianceTrace(backend: NativeBackend, particles: Float32Array, ensembleSize: number): Promise<number>;
  chooseOrdering(N: number, d: number, m: number): 'coefficient' | 'cross-covariance';
  randomNormal(backend: NativeBackend, out: Float32Array, count: number, streams: number, seed: number, stream: number): Promise<void>;
  randomUniform(backend: NativeBackend, out: Float32Array, count: number, streams: number, seed: number, stream: number): Promise<void>;
  philox4x32(counter: Uint32Array, key: Uint32Array): Uint32Array;
  benchKalman(backend: NativeBackend, N: number, d: number, m: number, repeats: number, ordering?: NativeOrdering): Promise<NativeBenchResult>;
  benchSgemm(backend: NativeBackend, size: number, repeats: number): Promise<number[]>;
  navierStokesSolve(
    backend: NativeBackend, w0: Float32Array, batch: number, options: NativeNavierStokesOptions, out: Float32Array,
  ): Promise<{
    failures: Array<{ index: number; time: number; stepLimit: boolean }>; steps: number; kernel: 'library' | 'fused'; cancelled: boolean;
  }>;
  gaussianRandomField(
    backend: NativeBackend, out: Float32Array, count: number,
    options: { resolution: number; alpha: number; tau: number; seed: number; stream?: number },
  ): Promise<void>;
  spectralFilter(x: Float32Array, batch: number, resolution: number, gains: Float64Array, out: Float32Array): Promise<void>;
  grfModeAmplitudes(resolution: number, alpha: number, tau: number): Float64Array;
  shellSpectrum(x: Float32Array, batch: number, resolution: number): Promise<Float64Array>;
  flowTraceBack(snapshots: Float32Array, count: number, resolution: number, time: number, points: Float64Array,
    substeps: number, out: Float64Array): Promise<void>;
  /** The localized Kalman step (CPU) with a d x m taper rho (row j: field point j). */
  localizedKalmanStep(
    particles: Float32Array, measurements: Float32Array, residuals: Float32Array, ensembleSize: number, stepScale: number,
    normalize: 'unlocalized' | 'coefficient', rho: Float32Array, out: Float32Array,
  ): Promise<{ coefNorm: number }>;
  /**
   * The same with a stationary taper on an R x R periodic grid, by FFT:
   * kernel[u R + v] is the taper between points (u, v) / R apart, and
   * measurement l sits on grid point measurementIndex[l].
   */
  localizedKalmanStepGrid(
    particles: Float32Array, measurements: Float32Array, residuals: Float32Array, ensembleSize: number, stepScale: number,
    normalize: 'unlocalized' | 'coefficient', resolution: number, kernel: Float32Array, measurementIndex: Int32Array,
    out: Float32Array,
  ): Promise<{ coefNorm: number }>;
  /** The Gaspari-Cohn taper of torus distances, d x m, into out. */
  gaspariCohnTaper(fieldPoints: Float64Array, measurementPoints: Float64Array, halfWidth: number, out: Float32Array): Promise<void>;
  /**
   * The regularized gain's transformed residuals (N x m) into out, and the
   * alpha used: a number > 0 as given, or 'adaptive' (rho and sizes, the N
   * particles' squared residual norms, decide it). CPU, OpenBLAS and LAPACK.
   */
  regularizedResiduals(
    measurements: Float32Array, residuals: Float32Array, ensembleSize: number, alpha: number | 'adaptive', rho: number,
    sizes: Float64Array | null, out: Float32Array,
  ): Promise<{ alpha: number }>;
  /** out (batch x C x P x Q) = |F(pad(x))|, F the orthonormal 2D DFT (CPU, FFTW). */
  paddedDftMagnitude(x: Float32Array, batch: number, frame: NativePaddedFrame, out: Float32Array): Promise<void>;
  /** out (batch x C x H x W) = Re(F^H(r u / |u|)) on the window, r = residuals, u = F(pad(x)): the Jacobian's transpose (CPU, FFTW). */
  paddedDftMagnitudeAdjoint(x: Float32Array, residuals: Float32Array, batch: number, frame: NativePaddedFrame, out: Float32Array): Promise<void>;
  NativeEnsemble: new (backend: NativeBackend, ensembleSize: number, particleSize: number) => NativeEnsembleHandle;
}

function load(): NativeAddon {
  const candidates = [
    process.env.ENKG_ADDON_PATH,
    path.resolve(__dirname, '..', 'build', 'Release', 'enkg.node'),
    path.resolve(__dirname, '..', 'build', 'Debug', 'enkg.node'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  const failures: string[] = [];
  for (const candidate of candidates) {
    try {
      return require(candidate) as NativeAddon;
    } catch (error) {
      failures.push(`${candidate}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(
    `The enkg native addon could not be loaded. Build it with \`npm install\` (or \`npm run build:native\`).\n` +
      failures.map((f) => `  tried ${f}`).join('\n'),
  );
}

// Typed arrays handed to a native call stay attached while its worker runs.
//
// The addon holds a reference to each typed array a worker reads or writes,
// but Node-API cannot hold the memory behind it: a caller that transferred
// the ArrayBuffer during the call (postMessage, structuredClone with a
// transfer list) moved that memory to a new owner, and when the new owner was
// collected the worker wrote into freed memory and the process crashed. So
// every ArrayBuffer under an array argument is marked untransferable before
// the addon sees it: a later transfer of it copies (Node 20) or throws a
// DataCloneError (Node >= 21) instead of detaching.
//
// The mark is permanent (Node has no way to undo it): the caller's buffer is
// copied rather than moved by any later postMessage. It costs about a
// microsecond per call; a copy of the arrays at the boundary instead would
// cost ~390 ms per 134 MB array on first touch (N = 2048 fields of 128 x 128;
// bench/RESULTS.md, "The native boundary"). Not covered: detaching paths that
// ignore the mark, namely a web-streams BYOB read into the array (Node 20)
// and ArrayBuffer.prototype.transfer() (Node >= 21 before V8's fix).
function pin(...arrays: unknown[]): void {
  for (const array of arrays) {
    if (ArrayBuffer.isView(array)) markAsUntransferable(array.buffer);
  }
}

// The `cancel` flag of navierStokesSolve's options, read without running a getter.
function cancelFlag(options: unknown): unknown {
  if (options === null || typeof options !== 'object') return undefined;
  return Object.getOwnPropertyDescriptor(options, 'cancel')?.value;
}

// The paddedDft* kernels' sizes, checked before the addon sees them (the
// addon checks again with the same words; it also checks that x and the
// residuals are finite, in its worker, where 8M floats cost the event loop
// nothing). checkPaddedFrame returns the floats per image and per spectrum.
const MAX_FRAME_SIDE = 1 << 15;

function integerList(value: unknown, count: number, min: number, what: string, name: string): number[] {
  if (!Array.isArray(value) || value.length !== count) throw new TypeError(expected(what, name, value));
  for (const v of value) if (typeof v !== 'number') throw new TypeError(expected(what, name, `an Array holding ${describe(v)}`, true));
  if (!value.every((v: number) => Number.isInteger(v) && v >= min && v <= MAX_FRAME_SIDE)) {
    throw new RangeError(expected(what, name, `[${value.join(', ')}]`, true));
  }
  return value as number[];
}

function checkPaddedFrame(batch: unknown, geometry: unknown): { image: number; spectrum: number } {
  requireInteger(batch, 'batch', 1);
  if (typeof geometry !== 'object' || geometry === null || Array.isArray(geometry) || ArrayBuffer.isView(geometry)) {
    throw new TypeError(expected('a frame object { shape, frame, offset }', 'frame', geometry));
  }
  const g = geometry as Record<string, unknown>;
  const side = String(MAX_FRAME_SIDE);
  const [C, H, W] = integerList(g.shape, 3, 1, `[C, H, W], three integers in [1, ${side}]`, 'shape');
  const [P, Q] = integerList(g.frame, 2, 1, `[P, Q], two integers in [1, ${side}]`, 'frame');
  const [top, left] = integerList(g.offset, 2, 0, `[top, left], two integers in [0, ${side}]`, 'offset');
  if (P < H || Q < W) throw new RangeError(expected(`a frame [P, Q] with P >= H = ${H} and Q >= W = ${W}`, 'frame', `[${P}, ${Q}]`, true));
  if (P * Q > 2 ** 26) throw new RangeError(expected('a frame of at most 2^26 pixels', 'frame', `[${P}, ${Q}]`, true));
  if (top + H > P || left + W > Q) {
    throw new RangeError(expected(`an offset [top, left] with top <= P - H = ${P - H} and left <= Q - W = ${Q - W}`, 'offset',
      `[${top}, ${left}]`, true));
  }
  return { image: C * H * W, spectrum: C * P * Q };
}

function requireFloats(array: unknown, length: number, what: string, name: string): Float32Array {
  const a = requireFloat32Array(array, name);
  if (a.length !== length) throw new RangeError(expected(`${what} = ${length} floats`, `${name}.length`, a.length));
  return a;
}

// The kernels read one array while writing another in parallel.
function requireDisjoint(out: Float32Array, input: Float32Array, inputName: string): void {
  if (out.buffer !== input.buffer) return;
  const a = out.byteOffset, b = input.byteOffset;
  if (a < b + input.byteLength && b < a + out.byteLength) {
    throw new RangeError(expected(`an array that does not share memory with ${inputName}`, 'out', 'one that does', true));
  }
}

// The addon with every entry point that hands a typed array to a worker
// pinning it first. Calls stay synchronous up to the addon (its argument
// errors still throw where the call is made).
function guard(addon: NativeAddon): NativeAddon {
  const Raw = addon.NativeEnsemble;
  class NativeEnsemble extends (Raw as unknown as new (...args: unknown[]) => NativeEnsembleHandle) {
    load(particles: Float32Array): Promise<void> {
      pin(particles);
      return super.load(particles);
    }
    read(out: Float32Array): Promise<void> {
      pin(out);
      return super.read(out);
    }
    step(measurements: Float32Array, residuals: Float32Array, stepScale: number, ordering?: NativeOrdering):
      Promise<NativeKalmanOutcome> {
      pin(measurements, residuals);
      return super.step(measurements, residuals, stepScale, ordering);
    }
    mean(out: Float32Array): Promise<void> {
      pin(out);
      return super.mean(out);
    }
  }
  return {
    ...addon,
    kalmanStep(backend, particles, measurements, residuals, ensembleSize, stepScale, out, ordering) {
      pin(particles, measurements, residuals, out);
      return addon.kalmanStep(backend, particles, measurements, residuals, ensembleSize, stepScale, out, ordering);
    },
    ensembleMean(backend, particles, ensembleSize, out) {
      pin(particles, out);
      return addon.ensembleMean(backend, particles, ensembleSize, out);
    },
    ensembleCovarianceTrace(backend, particles, ensembleSize) {
      pin(particles);
      return addon.ensembleCovarianceTrace(backend, particles, ensembleSize);
    },
    randomNormal(backend, out, count, streams, seed, stream) {
      pin(out);
      return addon.randomNormal(backend, out, count, streams, seed, stream);
    },
    randomUniform(backend, out, count, streams, seed, stream) {
      pin(out);
      return addon.randomUniform(backend, out, count, streams, seed, stream);
    },
    navierStokesSolve(backend, w0, batch, options, out) {
      pin(w0, out, cancelFlag(options));
      return addon.navierStokesSolve(backend, w0, batch, options, out);
    },
    gaussianRandomField(backend, out, count, options) {
      pin(out);
      return addon.gaussianRandomField(backend, out, count, options);
    },
    spectralFilter(x, batch, resolution, gains, out) {
      pin(x, gains, out);
      return addon.spectralFilter(x, batch, resolution, gains, out);
    },
    shellSpectrum(x, batch, resolution) {
      pin(x);
      return addon.shellSpectrum(x, batch, resolution);
    },
    flowTraceBack(snapshots, count, resolution, time, points, substeps, out) {
      pin(snapshots, points, out);
      return addon.flowTraceBack(snapshots, count, resolution, time, points, substeps, out);
    },
    localizedKalmanStep(particles, measurements, residuals, ensembleSize, stepScale, normalize, rho, out) {
      pin(particles, measurements, residuals, rho, out);
      return addon.localizedKalmanStep(particles, measurements, residuals, ensembleSize, stepScale, normalize, rho, out);
    },
    localizedKalmanStepGrid(particles, measurements, residuals, ensembleSize, stepScale, normalize, resolution, kernel, measurementIndex, out) {
      pin(particles, measurements, residuals, kernel, measurementIndex, out);
      return addon.localizedKalmanStepGrid(
        particles, measurements, residuals, ensembleSize, stepScale, normalize, resolution, kernel, measurementIndex, out);
    },
    gaspariCohnTaper(fieldPoints, measurementPoints, halfWidth, out) {
      pin(fieldPoints, measurementPoints, out);
      return addon.gaspariCohnTaper(fieldPoints, measurementPoints, halfWidth, out);
    },
    regularizedResiduals(measurements, residuals, ensembleSize, alpha, rho, sizes, out) {
      pin(measurements, residuals, sizes, out);
      return addon.regularizedResiduals(measurements, residuals, ensembleSize, alpha, rho, sizes, out);
    },
    paddedDftMagnitude(x, batch, frame, out) {
      const { image, spectrum } = checkPaddedFrame(batch, frame);
      requireFloats(x, batch * image, 'batch x C x H x W', 'x');
      requireFloats(out, batch * spectrum, 'batch x C x P x Q', 'out');
      requireDisjoint(out, x, 'x');
      pin(x, out);
      return addon.paddedDftMagnitude(x, batch, frame, out);
    },
    paddedDftMagnitudeAdjoint(x, residuals, batch, frame, out) {
      const { image, spectrum } = checkPaddedFrame(batch, frame);
      requireFloats(x, batch * image, 'batch x C x H x W', 'x');
      requireFloats(residuals, batch * spectrum, 'batch x C x P x Q', 'residuals');
      requireFloats(out, batch * image, 'batch x C x H x W', 'out');
      requireDisjoint(out, x, 'x');
      requireDisjoint(out, residuals, 'residuals');
      pin(x, residuals, out);
      return addon.paddedDftMagnitudeAdjoint(x, residuals, batch, frame, out);
    },
    NativeEnsemble: NativeEnsemble as unknown as NativeAddon['NativeEnsemble'],
  };
}

export const native: NativeAddon = guard(load());

// Runs a native promise so that a rejection is an error of this realm's
// TypeError / RangeError / Error class (the addon creates its errors in the
// main context, which a vm context such as jest's does not share) and
// carries the caller's JavaScript stack rather than none.
export async function callNative<T>(run: () => Promise<T>): Promise<T> {
  const site = new Error();
  try {
    return await run();
  } catch (error) {
    if (error === null || typeof error !== 'object' || typeof (error as Error).message !== 'string') throw error;
    const { name, message } = error as Error;
    const Kind = name === 'RangeError' ? RangeError : name === 'TypeError' ? TypeError : Error;
    const local = new Kind(message);
    local.stack = `${local.name}: ${message}\n${(site.stack ?? '').split('\n').slice(1).join('\n')}`;
    throw local;
  }
}
