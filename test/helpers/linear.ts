// A linear-Gaussian inverse problem with everything known exactly: a dense
// random forward matrix, the GRF prior's covariance as a dense matrix, and
// the posterior mean, all in float64 and independent of lib/'s kernels.
import { ForwardModel, GaussianRandomFieldPrior, gaussianRandomField, ProblemGeometry } from '../../lib';

/** y = A x for each field; A is m x d, row-major. */
export class LinearForwardModel implements ForwardModel {
  readonly measurementSize: number;
  calls = 0;
  constructor(readonly fieldShape: [number, number, number], readonly A: Float64Array, m: number) {
    this.measurementSize = m;
  }

  async forward(x: Float32Array, batch: number): Promise<Float32Array> {
    this.calls++;
    const m = this.measurementSize, d = this.A.length / m;
    const y = new Float32Array(batch * m);
    for (let n = 0; n < batch; n++) {
      for (let i = 0; i < m; i++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += this.A[i * d + j] * x[n * d + j];
        y[n * m + i] = s;
      }
    }
    return y;
  }

  apply(x: ArrayLike<number>): Float64Array {
    const m = this.measurementSize, d = this.A.length / m;
    const y = new Float64Array(m);
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) y[i] += this.A[i * d + j] * x[j];
    return y;
  }
}

/** A deterministic standard-normal m x d matrix scaled by 1/sqrt(d) (xorshift + Box-Muller). */
export function randomMatrix(m: number, d: number, seed: number): Float64Array {
  let state = (seed * 2654435761) >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return (state + 0.5) / 4294967296;
  };
  const A = new Float64Array(m * d);
  for (let k = 0; k < A.length; k++) {
    A[k] = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next()) / Math.sqrt(d);
  }
  return A;
}

/**
 * The prior covariance as a dense d x d matrix: the field is stationary, so
 * Sigma[p, q] = (1/R^2) sum_k lambda_k cos(2 pi k . (p - q) / R), summing
 * over the full wavenumber grid (lambda_-k = lambda_k).
 */
export function priorCovariance(prior: GaussianRandomFieldPrior): Float64Array {
  const R = prior.resolution, half = R / 2 + 1, d = R * R;
  const lambda = (k1: number, k2: number): number => {
    // rfft layout: rows k1 in 0..R-1, columns k2 in 0..R/2; the rest by symmetry.
    if (k2 < half) return prior.eigenvalues[k1 * half + k2];
    return prior.eigenvalues[((R - k1) % R) * half + (R - k2)];
  };
  const cov = new Float64Array(R * R); // as a function of the offset (a, b)
  for (let a = 0; a < R; a++) {
    for (let b = 0; b < R; b++) {
      let s = 0;
      for (let k1 = 0; k1 < R; k1++) {
        for (let k2 = 0; k2 < R; k2++) s += lambda(k1, k2) * Math.cos((2 * Math.PI * (k1 * a + k2 * b)) / R);
      }
      cov[a * R + b] = s / (R * R);
    }
  }
  const Sigma = new Float64Array(d * d);
  for (let p = 0; p < d; p++) {
    for (let q = 0; q < d; q++) {
      const a = (((p / R) | 0) - ((q / R) | 0) + R) % R, b = ((p % R) - (q % R) + R) % R;
      Sigma[p * d + q] = cov[a * R + b];
    }
  }
  return Sigma;
}

/** Solves the dense system M z = b (M n x n) by Gaussian elimination with partial pivoting. */
export function solveDense(M: Float64Array, b: Float64Array): Float64Array {
  const n = b.length, a = Float64Array.from(M), z = Float64Array.from(b);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]) > Math.abs(a[p * n + c])) p = r;
    if (p !== c) {
      for (let k = 0; k < n; k++) [a[c * n + k], a[p * n + k]] = [a[p * n + k], a[c * n + k]];
      [z[c], z[p]] = [z[p], z[c]];
    }
    for (let r = c + 1; r < n; r++) {
      const f = a[r * n + c] / a[c * n + c];
      for (let k = c; k < n; k++) a[r * n + k] -= f * a[c * n + k];
      z[r] -= f * z[c];
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    let s = z[c];
    for (let k = c + 1; k < n; k++) s -= a[c * n + k] * z[k];
    z[c] = s / a[c * n + c];
  }
  return z;
}

/** The posterior mean of x ~ N(0, Sigma), y = A x + N(0, gamma^2 I): Sigma A^T (A Sigma A^T + gamma^2 I)^-1 y. */
export function posteriorMean(Sigma: Float64Array, A: Float64Array, y: ArrayLike<number>, gamma: number): Float64Array {
  const m = y.length, d = A.length / m;
  const SAt = new Float64Array(d * m); // Sigma A^T
  for (let p = 0; p < d; p++) {
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let q = 0; q < d; q++) s += Sigma[p * d + q] * A[i * d + q];
      SAt[p * m + i] = s;
    }
  }
  const M = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      let s = 0;
      for (let p = 0; p < d; p++) s += A[i * d + p] * SAt[p * m + k];
      M[i * m + k] = s + (i === k ? gamma * gamma : 0);
    }
  }
  const z = solveDense(M, Float64Array.from(y));
  const mean = new Float64Array(d);
  for (let p = 0; p < d; p++) for (let i = 0; i < m; i++) mean[p] += SAt[p * m + i] * z[i];
  return mean;
}

export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, offset = 0): number {
  let num = 0, den = 0;
  for (let j = 0; j < b.length; j++) {
    num += (a[offset + j] - b[j]) ** 2;
    den += b[j] ** 2;
  }
  return Math.sqrt(num / den);
}

/**
 * An 8 x 8 GRF field observed on every second grid point (a selection
 * matrix, so the geometry is gridGeometry(8, 2)'s): the small problem the
 * localization tests run. `geometry` is attached when given.
 */
export async function gridSelectionProblem(geometry?: ProblemGeometry) {
  const R = 8;
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2.5, tau: 3, scale: 0.4 });
  const A = new Float64Array(16 * 64);
  for (let a = 0; a < 4; a++) for (let b = 0; b < 4; b++) A[(a * 4 + b) * 64 + (2 * a) * 8 + 2 * b] = 1;
  const forward = new LinearForwardModel([1, R, R], A, 16);
  const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2.5, tau: 3, seed: 5, backend: 'cpu' });
  for (let k = 0; k < 64; k++) truth[k] /= 0.4;
  return { prior, forward, observation: Float32Array.from(forward.apply(truth)), ...(geometry ? { geometry } : {}) };
}
