// The localized Kalman step as runs apply it: in the native addon, off the
// main thread (native/cpu/localization_cpu.cc), with the taper applied one
// of two ways:
//   - 'dense': K = Xc^T Yc / N is formed a block of field points at a time,
//     multiplied by the d x m taper rho, and applied to the residuals
//     (2 N d m multiply-adds and d m taper reads per step; rho itself is
//     d x m floats: 16 MiB at 64x64 observed on every second point, 256 MiB
//     at 128x128, kept for the run);
//   - 'fft': where the field is an R x R periodic grid and every
//     measurement sits on a grid point, the taper is a function of the
//     offset between the two points and
//       (rho o K) r^n = (1/N) sum_k Xc_k o (kernel * scatter(Yc_k o r^n)),
//     a circular convolution per pair of particles, done by FFT:
//     N^2 (two R x R real transforms + 5 R^2) work, and nothing d x m.
// localizedKalmanStep in localization.ts is the TypeScript reference both
// are tested against.
import { callNative, native } from '../binding';
import type { ProblemGeometry } from '../types';
import {
  expected, requireFloat32Array, requireInteger, requireKnownKeys, requireNumber, requireObject, requireOneOf, rowLength,
} from '../validate';
import { gaspariCohn, LOCALIZATION_METHODS, LocalizationMethod, StepNormalization } from './localization';

/** Where a geometry's points sit on an R x R grid (see gridLayout). */
export interface GridLayout {
  resolution: number;
  /** m grid indices: measurement l sits on field point measurementIndex[l]. */
  measurementIndex: Int32Array;
}

const layouts = new WeakMap<ProblemGeometry, GridLayout | null>();

/**
 * The grid form of a geometry, or null: field point j = a R + b must sit at
 * (a / R, b / R) for an even R with R^2 = d (the row-major R x R field of
 * gridGeometry), and every measurement point on one of them (each to 1e-6
 * of a grid spacing). Cached per geometry.
 */
export function gridLayout(geometry: ProblemGeometry): GridLayout | null {
  if (layouts.has(geometry)) return layouts.get(geometry)!;
  const layout = findGridLayout(geometry);
  layouts.set(geometry, layout);
  return layout;
}

function findGridLayout({ fieldPoints: p, measurementPoints: q }: ProblemGeometry): GridLayout | null {
  const d = p.length / 2, m = q.length / 2;
  const R = Math.round(Math.sqrt(d));
  if (R * R !== d || R % 2 !== 0 || R < 4) return null;
  // Coordinates are in [0, 1) (ProblemGeometry); one a hair below 1 is on grid line 0.
  const tolerance = 1e-6;
  for (let j = 0; j < d; j++) {
    const a = Math.floor(j / R), b = j - a * R;
    if (Math.abs(p[2 * j] * R - a) > tolerance || Math.abs(p[2 * j + 1] * R - b) > tolerance) return null;
  }
  const measurementIndex = new Int32Array(m);
  for (let l = 0; l < m; l++) {
    const u = q[2 * l] * R, v = q[2 * l + 1] * R;
    const a = Math.round(u), b = Math.round(v);
    if (Math.abs(u - a) > tolerance || Math.abs(v - b) > tolerance || a < 0 || b < 0 || a > R || b > R) return null;
    measurementIndex[l] = (a % R) * R + (b % R);
  }
  return { resolution: R, measurementIndex };
}

/**
 * The Gaspari-Cohn taper of half-width c as a function of the offset on an
 * R x R torus grid: kernel[u R + v] = GC(|(u, v) / R|_torus / c), so that
 * rho[j, l] = kernel[p_j - q_l] for points on the grid.
 */
export function taperKernel(resolution: number, c: number): Float32Array {
  const R = resolution;
  const wrap = (u: number) => Math.min(u, R - u) / R;
  const kernel = new Float32Array(R * R);
  for (let u = 0; u < R; u++) for (let v = 0; v < R; v++) kernel[u * R + v] = gaspariCohn(Math.hypot(wrap(u), wrap(v)) / c);
  return kernel;
}

/**
 * n floats the addon writes in full before anyone reads them: taken without
 * the zero fill of new Float32Array, which for a 256 MiB taper holds the
 * main thread for a large part of a second.
 */
function unfilledFloats(n: number): Float32Array {
  return new Float32Array(Buffer.allocUnsafeSlow(4 * n).buffer, 0, n);
}

const denseTapers = new WeakMap<ProblemGeometry, Map<number, Promise<Float32Array>>>();
const gridKernels = new WeakMap<GridLayout, Map<number, Float32Array>>();

/**
 * rho, d x m (row j: field point j), computed in the addon off the main
 * thread (the TypeScript taperMatrix takes 1.2 s at 64x64 and 14 s at
 * 128x128) and cached per geometry and c for the life of the geometry.
 */
export function denseTaper(geometry: ProblemGeometry, c: number): Promise<Float32Array> {
  let byWidth = denseTapers.get(geometry);
  if (!byWidth) denseTapers.set(geometry, (byWidth = new Map()));
  let taper = byWidth.get(c);
  if (!taper) {
    taper = buildTaper(geometry, c);
    byWidth.set(c, taper);
    taper.catch(() => byWidth!.delete(c));
  }
  return taper;
}

/**
 * rho for `geometry` (d x m, row j: field point j) with half-width c, built
 * in the addon into `out` (a new array by default): for a taper that changes
 * every step (one that follows the flow), in a buffer the run reuses.
 */
export async function buildTaper(geometry: ProblemGeometry, c: number,
  out: Float32Array = unfilledFloats((geometry.fieldPoints.length / 2) * (geometry.measurementPoints.length / 2))): Promise<Float32Array> {
  await callNative(() => native.gaspariCohnTaper(geometry.fieldPoints, geometry.measurementPoints, c, out));
  return out;
}

function kernelFor(layout: GridLayout, c: number): Float32Array {
  let byWidth = gridKernels.get(layout);
  if (!byWidth) gridKernels.set(layout, (byWidth = new Map()));
  let kernel = byWidth.get(c);
  if (!kernel) byWidth.set(c, (kernel = taperKernel(layout.resolution, c)));
  return kernel;
}

/** The largest d x m taper 'auto' builds (floats): 1 GiB, a 256x256 field observed on every second point. */
export const DENSE_TAPER_LIMIT = 2 ** 28;

/**
 * What 'auto' picks for N particles, d field values and m measurements,
 * `grid` saying whether the geometry has a grid layout: the FFT form where
 * N < m / (5 log2 d), or where the d x m taper would pass
 * DENSE_TAPER_LIMIT; else the dense form. The dense form costs ~N d m, the
 * FFT form ~N^2 d log2 d; measured on 2 vCPUs (bench/RESULTS.md, "The
 * localized Kalman step"), they cross at N of about 25 on 64x64 observed on
 * every second point (the rule says 17; the FFT form is at most 1.7x
 * faster in between) and at 60-75 on 128x128, varying between runs (the
 * rule says 58; within 20% in between).
 */
export function chooseLocalizationMethod(N: number, d: number, m: number, grid: boolean): 'dense' | 'fft' {
  if (!grid) return 'dense';
  return N * 5 * Math.log2(d) < m || d * m > DENSE_TAPER_LIMIT ? 'fft' : 'dense';
}

export interface LocalizedKalmanStepArgs {
  /** N x d, row-major: one particle per row. Not modified (unless it is also `out`). */
  particles: Float32Array;
  /** N x m: G(x) of each particle. */
  measurements: Float32Array;
  /** N x m: dl/dy of each particle. */
  residuals: Float32Array;
  /** N, at least 2. */
  ensembleSize: number;
  /** The guidance scale (finite, >= 0). */
  stepScale: number;
  /** Where the d field values and m measurements sit (d and m coordinate pairs on the unit torus). */
  geometry: ProblemGeometry;
  /** c, the taper's half-width as a fraction of the domain, in (0, 0.5]. */
  halfWidth: number;
  /** Default 'unlocalized' (see LocalizationOptions). */
  normalize?: StepNormalization;
  /** Default 'auto'. */
  method?: LocalizationMethod;
  /** Where to write the new particles (N x d; may be `particles`); a new array by default. */
  out?: Float32Array;
}

export interface LocalizedKalmanStepResult {
  particles: Float32Array;
  /** ||C||_F of the unlocalized coefficient matrix C = R Yc^T / N (0: no step was taken). */
  coefNorm: number;
  /** How the taper was applied. */
  method: 'dense' | 'fft';
}

const STEP_KEYS = [
  'particles', 'measurements', 'residuals', 'ensembleSize', 'stepScale', 'geometry', 'halfWidth', 'normalize', 'method', 'out',
] as const;

/**
 * The localized Kalman step (docs/method.md section 2, "Localization"):
 * x^n <- x^n - eta (rho o K) r^n, K = Xc^T Yc / N, in the addon (CPU, on
 * every backend: the arrays are on the host in a localized run).
 */
export async function localizedKalmanStepNative(args: LocalizedKalmanStepArgs): Promise<LocalizedKalmanStepResult> {
  requireKnownKeys(requireObject(args, 'localizedKalmanStepNative(args)'), STEP_KEYS, 'localizedKalmanStepNative');
  const particles = requireFloat32Array(args.particles, 'particles');
  const measurements = requireFloat32Array(args.measurements, 'measurements');
  const residuals = requireFloat32Array(args.residuals, 'residuals');
  const N = requireInteger(args.ensembleSize, 'ensembleSize', 2);
  const stepScale = requireNumber(args.stepScale, 'stepScale', 0);
  const d = rowLength(particles, N, 'particles', 'N x d');
  const m = rowLength(measurements, N, 'measurements', 'N x m');
  rowLength(residuals, N, 'residuals', 'N x m, like measurements', m);
  const out = args.out === undefined ? unfilledFloats(N * d) : requireFloat32Array(args.out, 'out');
  rowLength(out, N, 'out', 'N x d, like particles', d);
  const geometry = requireObject(args.geometry, 'geometry') as unknown as ProblemGeometry;
  if (!(geometry.fieldPoints instanceof Float64Array) || geometry.fieldPoints.length !== 2 * d) {
    throw new RangeError(expected(`2 d = ${2 * d} coordinates (a Float64Array)`, 'geometry.fieldPoints', geometry.fieldPoints));
  }
  if (!(geometry.measurementPoints instanceof Float64Array) || geometry.measurementPoints.length !== 2 * m) {
    throw new RangeError(expected(`2 m = ${2 * m} coordinates (a Float64Array)`, 'geometry.measurementPoints', geometry.measurementPoints));
  }
  const c = requireNumber(args.halfWidth, 'halfWidth', 0);
  if (!(c > 0 && c <= 0.5)) throw new RangeError(expected('a half-width in (0, 0.5] (a fraction of the domain)', 'halfWidth', c));
  const normalize = args.normalize === undefined ? 'unlocalized'
    : requireOneOf(args.normalize, ['unlocalized', 'coefficient'] as const, 'normalize');
  const wanted = args.method === undefined ? 'auto' : requireOneOf(args.method, LOCALIZATION_METHODS, 'method');

  const layout = gridLayout(geometry);
  if (wanted === 'fft' && layout === null) {
    throw new RangeError(expected(
      'field points on a periodic R x R grid (field point a R + b at (a/R, b/R)) with every measurement on one of them',
      "geometry (method 'fft')", 'points off such a grid', true));
  }
  const method = wanted === 'auto' ? chooseLocalizationMethod(N, d, m, layout !== null) : wanted;
  let outcome: { coefNorm: number };
  if (method === 'fft') {
    const kernel = kernelFor(layout!, c);
    outcome = await callNative(() => native.localizedKalmanStepGrid(
      particles, measurements, residuals, N, stepScale, normalize, layout!.resolution, kernel, layout!.measurementIndex, out));
  } else {
    const rho = await denseTaper(geometry, c);
    outcome = await callNative(() => native.localizedKalmanStep(particles, measurements, residuals, N, stepScale, normalize, rho, out));
  }
  return { particles: out, coefNorm: outcome.coefNorm, method };
}

/**
 * The localized step with a taper the caller computed (d x m, row j: field
 * point j), in the addon's dense kernel: for a data-dependent taper such as
 * the sampling-error correction's (corrections.ts), which no grid form has.
 */
export async function taperedKalmanStep(particles: Float32Array, measurements: Float32Array, residuals: Float32Array, N: number,
  stepScale: number, normalize: StepNormalization, rho: Float32Array, out: Float32Array = unfilledFloats(particles.length)): Promise<{ particles: Float32Array; coefNorm: number }> {
  const d = rowLength(particles, N, 'particles', 'N x d');
  const m = rowLength(measurements, N, 'measurements', 'N x m');
  if (rho.length !== d * m) throw new RangeError(expected(`a taper of d x m = ${d} x ${m} floats`, 'rho', rho.length));
  const { coefNorm } = await callNative(() => native.localizedKalmanStep(particles, measurements, residuals, N, stepScale, normalize, rho, out));
  return { particles: out, coefNorm };
}
