// The only file that loads the native addon. It types the whole native
// surface; everything else in lib/ goes through these declarations.
import * as path from 'node:path';
import { markAsUntransferable } from 'node:worker_threads';

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
