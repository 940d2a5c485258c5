// The prior as a black box: a denoiser D(x, sigma) in the EDM convention
// (docs/method.md section 1). Networks (ONNX) and exact analytic priors implement
// the same interface.
import { expected, requireFloat32Array, requireInteger } from '../validate';

export interface Denoiser {
  /** C, H, W of one field. */
  readonly shape: [number, number, number];
  /** D(x, sigma) for `batch` fields; sigma is one level for all or one per field. */
  denoise(x: Float32Array, sigma: number | Float32Array, batch: number): Promise<Float32Array>;
  /** The exact Jacobian-vector product (dD/dx) v, where the prior knows it. */
  jvp?(x: Float32Array, sigma: number, v: Float32Array, batch: number): Promise<Float32Array>;
  /** Cost accounting: fields denoised so far (a jvp counts as one evaluation per field). */
  readonly evaluations: number;
}

export function fieldSize(shape: readonly [number, number, number]): number {
  return shape[0] * shape[1] * shape[2];
}

/**
 * Checks the arguments of denoise(): x is batch fields of `shape`, sigma a
 * positive number or one positive level per field. Returns one sigma per field.
 */
export function denoiseArgs(shape: readonly [number, number, number], x: unknown, sigma: unknown, batch: unknown): {
  x: Float32Array; sigmas: Float64Array; batch: number;
} {
  const fields = requireFloat32Array(x, 'x');
  const n = requireInteger(batch, 'batch', 1);
  const d = fieldSize(shape);
  if (fields.length !== n * d) {
    throw new RangeError(expected(`batch x ${shape.join(' x ')} = ${n * d} floats`, 'x.length', fields.length));
  }
  const sigmas = new Float64Array(n);
  if (typeof sigma === 'number') {
    sigmas.fill(sigma);
  } else if (sigma instanceof Float32Array) {
    if (sigma.length !== n) throw new RangeError(expected(`${n} noise levels (one per field)`, 'sigma.length', sigma.length));
    sigmas.set(sigma);
  } else {
    throw new TypeError(expected('a number or a Float32Array', 'sigma', sigma));
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(sigmas[i]) || sigmas[i] < 0) {
      throw new RangeError(expected('finite noise levels >= 0', 'sigma', sigmas[i]));
    }
  }
  return { x: fields, sigmas, batch: n };
}
