// The Navier-Stokes inverse problem of docs/method.md section 4.1 as the algorithms
// consume it: recover the normalized initial vorticity from the noisy,
// subsampled solution at T = 1.
import type { InverseProblem, ProblemGeometry } from '../types';
import { BackendOption } from '../backend';
import { readNpy } from '../io/npy';
import { NS_HELD_OUT_64 } from '../paths';
import { Denoiser } from '../prior/denoiser';
import { expected, requireInteger } from '../validate';
import { NavierStokes2D } from './navier-stokes';

export interface NavierStokesInverseOptions {
  prior: Denoiser;
  /** The ground truth, one normalized field (C x R x R = prior.shape). */
  truth: Float32Array;
  /** Observation noise std in physical units (the paper's 0, 1, 2). */
  noise?: number;
  /** Seed of the observation noise. */
  seed?: number;
  /** Physical = normalized x scale (10: the prior's w/10). */
  scale?: number;
  time?: number;
  downsample?: number;
  backend?: BackendOption;
  /**
   * Time-step budget per forward solve (default 4000; 0: none). Held-out
   * fields need 400-800 steps to T = 1 at 64x64; a particle that would need
   * more than 5x that is a wild field whose CFL step has collapsed, and is
   * reported as a failed evaluation instead of stalling the ensemble.
   */
  maxSteps?: number;
}

export interface NavierStokesInverse {
  problem: InverseProblem;
  model: NavierStokes2D;
  truth: Float32Array;
  observation: Float32Array;
}

export async function navierStokesInverseProblem(opts: NavierStokesInverseOptions): Promise<NavierStokesInverse> {
  const [C, H, W] = opts.prior.shape;
  if (C !== 1 || H !== W) throw new RangeError(expected('a prior of shape [1, R, R]', 'prior.shape', `[${opts.prior.shape.join(', ')}]`, true));
  if (opts.truth.length !== H * W) throw new RangeError(expected(`${H * W} floats (one ${H}x${W} field)`, 'truth.length', opts.truth.length));
  const model = new NavierStokes2D({
    resolution: H, time: opts.time ?? 1, downsample: opts.downsample ?? 2, noiseStd: opts.noise ?? 0,
    scale: opts.scale ?? 10, backend: opts.backend ?? 'auto', maxSteps: opts.maxSteps ?? 4000,
  });
  const observation = await model.observe(opts.truth, { seed: opts.seed ?? 0 });
  const grid = gridGeometry(H, model.downsample);
  // Localization with `follow` centres its taper where the flow of the ensemble's mean carried each measurement from.
  const geometry = { ...grid, measurementSources: (x: Float32Array, signal?: AbortSignal) => model.traceBack(x, grid.measurementPoints, signal ? { signal } : {}) };
  return { problem: { prior: opts.prior, forward: model, observation, geometry }, model, truth: opts.truth, observation };
}

/**
 * Where the values of an R x R field on the torus and its observations
 * (every `downsample`-th point in each direction) sit, in units of the
 * domain: for distance localization (lib/algorithms/localization.ts). Any
 * problem on a periodic grid observed this way can give it as its
 * `geometry`; others build their own (coordinates in [0, 1), distances
 * taken on the torus).
 */
export function gridGeometry(R: number, downsample: number): ProblemGeometry {
  requireInteger(R, 'gridGeometry R', 1);
  requireInteger(downsample, 'gridGeometry downsample', 1);
  if (R % downsample !== 0) throw new RangeError(expected(`a divisor of R = ${R}`, 'gridGeometry downsample', downsample));
  const fieldPoints = new Float64Array(2 * R * R);
  for (let a = 0; a < R; a++) {
    for (let b = 0; b < R; b++) {
      fieldPoints[2 * (a * R + b)] = a / R;
      fieldPoints[2 * (a * R + b) + 1] = b / R;
    }
  }
  const r = R / downsample;
  const measurementPoints = new Float64Array(2 * r * r);
  for (let a = 0; a < r; a++) {
    for (let b = 0; b < r; b++) {
      measurementPoints[2 * (a * r + b)] = (a * downsample) / R;
      measurementPoints[2 * (a * r + b) + 1] = (b * downsample) / R;
    }
  }
  return { fieldPoints, measurementPoints };
}

/** Held-out field `index` of a .npy of [N, 1, R, R] physical fields, normalized by 1/scale. */
export async function heldOutField(index: number, file = NS_HELD_OUT_64, scale = 10): Promise<Float32Array> {
  const npy = await readNpy(file);
  const [N, C, H, W] = npy.shape;
  if (npy.shape.length !== 4 || C !== 1) {
    throw new RangeError(expected('fields of shape [N, 1, R, R]', file, `[${npy.shape.join(', ')}]`, true));
  }
  requireInteger(index, 'sample index', 0);
  if (index >= N) throw new RangeError(expected(`a sample index below ${N} (the fields in ${file})`, 'sample index', index));
  const d = H * W;
  return Float32Array.from((npy.data as Float32Array).subarray(index * d, (index + 1) * d), (v) => v / scale);
}
