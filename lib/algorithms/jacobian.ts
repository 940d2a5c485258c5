// The denoiser's vector-Jacobian product J_D(x, sigma)^T v that carries a
// gradient at the clean estimate x0 = D(x, sigma) back to the noisy particle
// (docs/method.md section 3, DPS-GSG and DPG). The prior's exact product is used
// where it has one (the analytic priors); otherwise a central finite
// difference of D. The Jacobian of an ideal denoiser is symmetric
// (J_D = I + sigma^2 Hessian of log p_sigma), so J^T v = J v and a
// Jacobian-vector product serves; for a trained network this is the
// approximation docs/method.md section 3 prescribes.
import { Denoiser, fieldSize } from '../prior/denoiser';
import { expected, requireFloat32Array, requireInteger, requireOneOf } from '../validate';

export type JacobianMethod = 'auto' | 'exact' | 'finite-difference';
export const JACOBIAN_METHODS: readonly JacobianMethod[] = ['auto', 'exact', 'finite-difference'];

/**
 * The default relative step of the central difference: the cube root of
 * float32's machine epsilon (about 4.9e-3), which balances the O(h^2)
 * truncation error against the O(eps / h) rounding error of a float32 D.
 */
export const FD_EPSILON = Math.cbrt(2 ** -23);

export interface VjpOptions {
  /** 'auto' (default): the prior's exact jvp when it has one, else finite differences. */
  method?: JacobianMethod;
  /** Relative step of the finite difference (FD_EPSILON). */
  epsilon?: number;
}

/**
 * The finite-difference step of one row: h = epsilon (1 + rms(x)) / rms(v),
 * so the perturbation h v has a per-pixel size of epsilon (1 + rms(x)),
 * relative to the field's own scale with an absolute floor of epsilon for
 * fields near zero (prior fields are O(1): normalized data std 0.5).
 * Returns 0 for v = 0, whose product is 0.
 */
export function finiteDifferenceStep(x: Float32Array, v: Float32Array, epsilon = FD_EPSILON): number {
  let xx = 0, vv = 0;
  for (let k = 0; k < x.length; k++) {
    xx += x[k] * x[k];
    vv += v[k] * v[k];
  }
  if (vv === 0) return 0;
  const n = x.length;
  return (epsilon * (1 + Math.sqrt(xx / n))) / Math.sqrt(vv / n);
}

/**
 * J_D(x, sigma)^T v for `batch` fields (x and v are batch x d). With the
 * finite difference, (D(x + h v) - D(x - h v)) / (2 h) per row, both
 * evaluations go to the denoiser in one batched call of 2 batch fields
 * (one sequential evaluation, 2 batch fields in the cost record); the exact
 * product costs one call of batch fields.
 */
export async function denoiserVjp(prior: Denoiser, x: Float32Array, sigma: number, v: Float32Array, batch: number,
  opts: VjpOptions = {}): Promise<Float32Array> {
  const method = opts.method === undefined ? 'auto' : requireOneOf(opts.method, JACOBIAN_METHODS, 'jacobian');
  const epsilon = opts.epsilon ?? FD_EPSILON;
  if (!(epsilon > 0 && Number.isFinite(epsilon))) throw new RangeError(expected('a positive number', 'fdEpsilon', epsilon));
  const n = requireInteger(batch, 'batch', 1), d = fieldSize(prior.shape);
  requireFloat32Array(x, 'x');
  requireFloat32Array(v, 'v');
  if (x.length !== n * d) throw new RangeError(expected(`batch x d = ${n * d} floats`, 'x.length', x.length));
  if (v.length !== n * d) throw new RangeError(expected(`batch x d = ${n * d} floats (like x)`, 'v.length', v.length));
  if (method === 'exact' && !prior.jvp) {
    throw new TypeError(expected("a prior with an exact jvp for jacobian 'exact'", 'the prior', 'one without', true));
  }
  if (method !== 'finite-difference' && prior.jvp) return prior.jvp(x, sigma, v, n);

  const steps = new Float64Array(n);
  const pair = new Float32Array(2 * n * d); // rows 0..n-1: x + h v; rows n..2n-1: x - h v
  for (let b = 0; b < n; b++) {
    const xb = x.subarray(b * d, (b + 1) * d), vb = v.subarray(b * d, (b + 1) * d);
    const h = finiteDifferenceStep(xb, vb, epsilon);
    steps[b] = h;
    for (let k = 0; k < d; k++) {
      pair[b * d + k] = xb[k] + h * vb[k];
      pair[(n + b) * d + k] = xb[k] - h * vb[k];
    }
  }
  const denoised = await prior.denoise(pair, sigma, 2 * n);
  const out = new Float32Array(n * d);
  for (let b = 0; b < n; b++) {
    const h = steps[b];
    if (h === 0) continue;
    for (let k = 0; k < d; k++) out[b * d + k] = (denoised[b * d + k] - denoised[(n + b) * d + k]) / (2 * h);
  }
  return out;
}
