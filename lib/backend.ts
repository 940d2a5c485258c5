// Backend selection: `backends()` probes once; `resolveBackend()` maps the
// `backend` option every numerical function takes to a concrete backend.
import { native, NativeBackendInfo } from './binding';
import { expected } from './validate';

export type BackendName = 'cpu' | 'cuda';
export type BackendOption = BackendName | 'auto';

export interface BackendInfo {
  name: BackendName;
  available: boolean;
  reason?: string;
  device?: string;
  /** Peak memory bandwidth of the device in bytes per second (CUDA, where the driver reports it). */
  memoryBandwidth?: number;
}

let probed: Promise<NativeBackendInfo[]> | undefined;

function forcedBackend(): BackendName | undefined {
  const value = process.env.ENKG_BACKEND;
  if (value === undefined || value === '' || value === 'auto') return undefined;
  if (value === 'cpu' || value === 'cuda') return value;
  throw new TypeError(expected("'cpu', 'cuda' or 'auto'", 'the ENKG_BACKEND environment variable', value));
}

/**
 * Which backends this machine offers and, for an unavailable one, why.
 * The native probe (device count, compute capability, cuBLAS) runs once;
 * `ENKG_BACKEND=cpu` marks CUDA unavailable for the whole process.
 */
export async function backends(): Promise<BackendInfo[]> {
  probed ??= native.probeBackends();
  const list = await probed;
  const forced = forcedBackend();
  return list.map((b) => {
    if (forced === 'cpu' && b.name === 'cuda' && b.available) {
      return { ...b, available: false, reason: 'disabled by ENKG_BACKEND=cpu' };
    }
    return { ...b };
  });
}

export interface CudaLibraryInfo {
  name: 'cublas' | 'cufft';
  loaded: boolean;
  /** What opened (a soname, or a path under ENKG_CUDA_LIB_DIR). */
  path?: string;
  /** Why it did not load: every name tried, with the loader's message. */
  reason?: string;
}

/**
 * Whether NVIDIA's run-time libraries (cuBLAS for the Kalman kernels, cuFFT
 * for the spectral ones) load on this machine, and from where. They load
 * with or without a GPU, so this tells whether a machine is set up before a
 * device is there; the answer is fixed for the process (ENKG_CUDA_LIB_DIR is
 * read on the first call).
 */
export async function cudaLibraries(): Promise<CudaLibraryInfo[]> {
  return native.cudaLibraries();
}

/**
 * The concrete backend for a `backend` option. `'auto'` (the default) is CUDA
 * when a device answers, else the CPU; `ENKG_BACKEND` overrides `'auto'`.
 * Asking for an unavailable backend throws an Error carrying the probe's reason.
 */
export async function resolveBackend(option: unknown = 'auto', name = 'backend'): Promise<BackendName> {
  if (option === undefined) option = 'auto';
  if (option !== 'auto' && option !== 'cpu' && option !== 'cuda') {
    throw new TypeError(expected("'cpu', 'cuda' or 'auto'", name, option));
  }
  const list = await backends();
  const wanted = option === 'auto' ? forcedBackend() ?? 'auto' : option;
  if (wanted === 'auto') {
    return list.find((b) => b.name === 'cuda')?.available ? 'cuda' : 'cpu';
  }
  const info = list.find((b) => b.name === wanted);
  if (!info?.available) {
    throw new Error(`The ${wanted} backend is unavailable: ${info?.reason ?? 'unknown backend'}`);
  }
  return wanted;
}

/**
 * resolveBackend for the spectral kernels (Navier-Stokes, GRF sampling). Their
 * CUDA versions have not yet run on a GPU, so 'auto' keeps them on the CPU
 * until buildInfo().navierStokesCuda says otherwise; an explicit 'cuda'
 * selects them.
 */
export async function resolveSpectralBackend(option: unknown = 'auto'): Promise<BackendName> {
  const resolved = await resolveBackend(option);
  const automatic = option === undefined || option === 'auto';
  return resolved === 'cuda' && automatic && !native.buildInfo().navierStokesCuda ? 'cpu' : resolved;
}
