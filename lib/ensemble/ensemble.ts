// An ensemble whose particles stay on the device between calls: on the CUDA
// backend they live in GPU memory and only measurements and residuals cross
// the bus each step. Operations on one ensemble run in the order issued.
import { BackendName, BackendOption, resolveBackend } from '../backend';
import { callNative, native, NativeEnsembleHandle, NativeOrdering } from '../binding';
import {
  requireFloat32Array, requireInteger, requireKnownKeys, requireNumber, requireObject, requireOneOf, rowLength,
} from '../validate';
import { ORDERINGS, Ordering } from './kalman';

export interface EnsembleStepArgs {
  measurements: Float32Array;
  residuals: Float32Array;
  stepScale: number;
  ordering?: NativeOrdering;
}

export class Ensemble {
  private handle: NativeEnsembleHandle | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly backend: BackendName,
    readonly ensembleSize: number,
    readonly particleSize: number,
    handle: NativeEnsembleHandle,
  ) {
    this.handle = handle;
  }

  /** Copies `particles` (N x d, row-major) onto the backend's device. */
  static async create(args: { particles: Float32Array; ensembleSize: number; backend?: BackendOption }): Promise<Ensemble> {
    const options = requireObject(args, 'Ensemble.create(args)');
    requireKnownKeys(options, ['particles', 'ensembleSize', 'backend'], 'Ensemble.create');
    const particles = requireFloat32Array(args.particles, 'particles');
    const N = requireInteger(args.ensembleSize, 'ensembleSize', 2);
    const d = rowLength(particles, N, 'particles', 'N x d');
    const ensemble = await Ensemble.allocate(args.backend, N, d);
    await ensemble.write(particles);
    return ensemble;
  }

  /**
   * Standard-normal particles drawn on the device: particle n is Philox
   * stream `stream + n` of `seed`, identical to `randomNormal({ count: d, seed, stream: stream + n })`.
   */
  static async randomNormal(args: {
    ensembleSize: number; particleSize: number; seed: number; stream?: number; backend?: BackendOption;
  }): Promise<Ensemble> {
    const options = requireObject(args, 'Ensemble.randomNormal(args)');
    requireKnownKeys(options, ['ensembleSize', 'particleSize', 'seed', 'stream', 'backend'], 'Ensemble.randomNormal');
    const N = requireInteger(args.ensembleSize, 'ensembleSize', 2);
    const d = requireInteger(args.particleSize, 'particleSize', 1);
    const seed = requireInteger(args.seed, 'seed', 0);
    const stream = args.stream === undefined ? 0 : requireInteger(args.stream, 'stream', 0);
    const ensemble = await Ensemble.allocate(args.backend, N, d);
    await ensemble.enqueue((h) => h.fillNormal(seed, stream));
    return ensemble;
  }

  private static async allocate(option: BackendOption | undefined, N: number, d: number): Promise<Ensemble> {
    const backend = await resolveBackend(option);
    return new Ensemble(backend, N, d, new native.NativeEnsemble(backend, N, d));
  }

  /** One Kalman correction of the resident particles (see kalmanStep). */
  kalmanStep(args: EnsembleStepArgs): Promise<{ coefNorm: number; ordering: Ordering }> {
    const options = requireObject(args, 'Ensemble.kalmanStep(args)');
    requireKnownKeys(options, ['measurements', 'residuals', 'stepScale', 'ordering'], 'Ensemble.kalmanStep');
    const measurements = requireFloat32Array(args.measurements, 'measurements');
    const residuals = requireFloat32Array(args.residuals, 'residuals');
    const stepScale = requireNumber(args.stepScale, 'stepScale', 0);
    const ordering = args.ordering === undefined ? 'auto' : requireOneOf(args.ordering, ORDERINGS, 'ordering');
    const m = rowLength(measurements, this.ensembleSize, 'measurements', 'N x m');
    rowLength(residuals, this.ensembleSize, 'residuals', 'N x m, like measurements', m);
    return this.enqueue((h) => h.step(measurements, residuals, stepScale, ordering));
  }

  /** Replaces the particles (N x d). */
  write(particles: Float32Array): Promise<void> {
    requireFloat32Array(particles, 'particles');
    rowLength(particles, this.ensembleSize, 'particles', 'N x d', this.particleSize);
    return this.enqueue((h) => h.load(particles));
  }

  /** Copies the particles to the host (into `out` when given). */
  async read(out?: Float32Array): Promise<Float32Array> {
    const target = out === undefined ? new Float32Array(this.ensembleSize * this.particleSize) : requireFloat32Array(out, 'out');
    rowLength(target, this.ensembleSize, 'out', 'N x d', this.particleSize);
    await this.enqueue((h) => h.read(target));
    return target;
  }

  async mean(): Promise<Float32Array> {
    const out = new Float32Array(this.particleSize);
    await this.enqueue((h) => h.mean(out));
    return out;
  }

  /** tr(Cxx) = (1/N) sum_n ||x^n - xbar||^2. */
  covarianceTrace(): Promise<number> {
    return this.enqueue((h) => h.covarianceTrace());
  }

  /** Frees the device memory once every queued operation has finished. */
  async dispose(): Promise<void> {
    const handle = this.handle;
    if (handle === undefined) return;
    this.handle = undefined;
    await this.queue.catch(() => undefined);
    handle.dispose();
  }

  get disposed(): boolean {
    return this.handle === undefined;
  }

  private enqueue<T>(op: (handle: NativeEnsembleHandle) => Promise<T>): Promise<T> {
    const handle = this.handle;
    if (handle === undefined) return Promise.reject(new Error('The ensemble has been disposed'));
    const run = this.queue.catch(() => undefined).then(() => callNative(() => op(handle)));
    this.queue = run;
    return run;
  }
}
