// The only file that loads the native addon. It types the whole native
// surface; everything else in lib/ goes through these declarations.
import * as path from 'node:path';

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

export const native: NativeAddon = load();

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
