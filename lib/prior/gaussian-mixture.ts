// A Gaussian mixture prior with its exact denoiser (docs/method.md section 1):
// D(x, s) = sum_j w_j(x, s) (mu_j + Sigma_j (Sigma_j + s^2 I)^-1 (x - mu_j)),
// w_j the posterior weights under N(mu_j, Sigma_j + s^2 I). Float64, for
// small dimensions (tests, toy problems).
import { expected, requireKnownKeys, requireObject } from '../validate';
import { denoiseArgs, Denoiser } from './denoiser';

export interface GaussianMixturePriorOptions {
  /** K means of dimension d. */
  means: ArrayLike<number>[];
  /** K full d x d covariances (row-major arrays of rows)... */
  covariances?: ArrayLike<number>[][];
  /** ...or K variances: a number (isotropic) or d numbers (diagonal) each. */
  variances?: Array<number | ArrayLike<number>>;
  /** K positive weights (normalised here); equal by default. */
  weights?: number[];
}

/** Cholesky factor (lower, row-major) of a symmetric positive-definite matrix, or null. */
function cholesky(a: Float64Array, d: number): Float64Array | null {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j];
      for (let k = 0; k < j; k++) s -= l[i * d + k] * l[j * d + k];
      if (i === j) {
        if (!(s > 0)) return null;
        l[i * d + i] = Math.sqrt(s);
      } else {
        l[i * d + j] = s / l[j * d + j];
      }
    }
  }
  return l;
}

/** Solves (L L^T) z = r. */
function cholSolve(l: Float64Array, d: number, r: Float64Array): Float64Array {
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = r[i];
    for (let k = 0; k < i; k++) s -= l[i * d + k] * y[k];
    y[i] = s / l[i * d + i];
  }
  const z = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < d; k++) s -= l[k * d + i] * z[k];
    z[i] = s / l[i * d + i];
  }
  return z;
}

function matVec(a: Float64Array, d: number, v: ArrayLike<number>): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += a[i * d + j] * v[j];
    out[i] = s;
  }
  return out;
}

interface Posterior {
  weights: Float64Array;    // p_j
  means: Float64Array[];    // m_j = mu_j + Sigma_j z_j
  z: Float64Array[];        // (Sigma_j + s^2 I)^-1 (x - mu_j)
  factors: Float64Array[];  // Cholesky of Sigma_j + s^2 I
}

export class GaussianMixturePrior implements Denoiser {
  readonly shape: [number, number, number];
  readonly dimension: number;
  private readonly mus: Float64Array[];
  private readonly sigmas: Float64Array[];
  private readonly logWeights: Float64Array;
  private count = 0;

  constructor(opts: GaussianMixturePriorOptions) {
    requireKnownKeys(requireObject(opts, 'GaussianMixturePrior(options)'), ['means', 'covariances', 'variances', 'weights'],
      'GaussianMixturePrior');
    if (!Array.isArray(opts.means) || opts.means.length === 0) {
      throw new TypeError(expected('a non-empty array of means', 'means', opts.means));
    }
    const K = opts.means.length;
    const d = opts.means[0].length;
    if (!(d > 0)) throw new RangeError(expected('means of dimension >= 1', 'means[0].length', d));
    this.dimension = d;
    this.shape = [1, 1, d];
    this.mus = opts.means.map((m, j) => {
      if (m.length !== d) throw new RangeError(expected(`${d} numbers`, `means[${j}].length`, m.length));
      const bad = Array.from(m).findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
      if (bad >= 0) throw new RangeError(expected('finite numbers', `means[${j}][${bad}]`, m[bad]));
      return Float64Array.from(m);
    });
    if ((opts.covariances === undefined) === (opts.variances === undefined)) {
      throw new TypeError(expected('exactly one of covariances or variances', 'options', 'both or neither', true));
    }
    const perComponent = opts.covariances ?? opts.variances!;
    if (!Array.isArray(perComponent) || perComponent.length !== K) {
      const name = opts.covariances !== undefined ? 'covariances' : 'variances';
      throw new RangeError(expected(`one entry per mean (${K})`, `${name}.length`, Array.isArray(perComponent) ? perComponent.length : perComponent));
    }
    this.sigmas = [];
    for (let j = 0; j < K; j++) {
      const sigma = new Float64Array(d * d);
      if (opts.covariances !== undefined) {
        const c = opts.covariances[j];
        if (c === undefined || c.length !== d) throw new RangeError(expected(`${d} rows`, `covariances[${j}]`, c?.length));
        for (let i = 0; i < d; i++) {
          if (c[i].length !== d) throw new RangeError(expected(`${d} numbers`, `covariances[${j}][${i}].length`, c[i].length));
          for (let k = 0; k < d; k++) {
            if (typeof c[i][k] !== 'number' || !Number.isFinite(c[i][k])) {
              throw new RangeError(expected('finite numbers', `covariances[${j}][${i}][${k}]`, c[i][k]));
            }
            sigma[i * d + k] = c[i][k];
          }
        }
        for (let i = 0; i < d; i++) {
          for (let k = 0; k < i; k++) {
            if (Math.abs(sigma[i * d + k] - sigma[k * d + i]) > 1e-12 * (Math.abs(sigma[i * d + k]) + 1)) {
              throw new RangeError(expected('symmetric matrices', `covariances[${j}]`, `entry (${i}, ${k}) != (${k}, ${i})`, true));
            }
          }
        }
      } else {
        const v = opts.variances?.[j];
        for (let i = 0; i < d; i++) {
          const vi = typeof v === 'number' ? v : v?.[i];
          if (typeof vi !== 'number' || !(vi >= 0) || vi === Infinity) {
            throw new RangeError(expected('finite non-negative variances', `variances[${j}]`, vi));
          }
          sigma[i * d + i] = vi;
        }
      }
      // Positive semi-definite: Sigma + (tiny relative jitter) I has a Cholesky factor.
      let trace = 0;
      for (let i = 0; i < d; i++) trace += sigma[i * d + i];
      const jittered = sigma.slice();
      for (let i = 0; i < d; i++) jittered[i * d + i] += 1e-9 * (1 + trace / d);
      if (cholesky(jittered, d) === null) {
        throw new RangeError(expected('positive semi-definite matrices', `covariances[${j}]`, 'an indefinite matrix', true));
      }
      this.sigmas.push(sigma);
    }
    const w = opts.weights ?? new Array<number>(K).fill(1);
    if (w.length !== K || w.some((x) => !(x > 0))) throw new RangeError(expected(`${K} positive weights`, 'weights', w));
    const total = w.reduce((a, b) => a + b, 0);
    this.logWeights = Float64Array.from(w, (x) => Math.log(x / total));
  }

  get evaluations(): number {
    return this.count;
  }

  private posterior(x: ArrayLike<number>, s: number, cache: Map<number, { factors: Float64Array[]; logDets: Float64Array }>): Posterior {
    const d = this.dimension, K = this.mus.length;
    let entry = cache.get(s);
    if (entry === undefined) {
      const factors: Float64Array[] = [];
      const logDets = new Float64Array(K);
      for (let j = 0; j < K; j++) {
        const m = this.sigmas[j].slice();
        for (let i = 0; i < d; i++) m[i * d + i] += s * s;
        const l = cholesky(m, d);
        if (l === null) throw new RangeError(expected('a noise level at which Sigma_j + s^2 I is positive definite', 'sigma', s));
        factors.push(l);
        for (let i = 0; i < d; i++) logDets[j] += 2 * Math.log(l[i * d + i]);
      }
      entry = { factors, logDets };
      cache.set(s, entry);
    }
    const logLik = new Float64Array(K);
    const z: Float64Array[] = [];
    const means: Float64Array[] = [];
    for (let j = 0; j < K; j++) {
      const r = Float64Array.from({ length: d }, (_, i) => x[i] - this.mus[j][i]);
      const zj = cholSolve(entry.factors[j], d, r);
      let quad = 0;
      for (let i = 0; i < d; i++) quad += r[i] * zj[i];
      logLik[j] = this.logWeights[j] - 0.5 * (quad + entry.logDets[j]);
      z.push(zj);
      const sz = matVec(this.sigmas[j], d, zj);
      means.push(Float64Array.from({ length: d }, (_, i) => this.mus[j][i] + sz[i]));
    }
    const top = Math.max(...logLik);
    const weights = logLik.map((l) => Math.exp(l - top));
    const norm = weights.reduce((a, b) => a + b, 0);
    for (let j = 0; j < K; j++) weights[j] /= norm;
    return { weights, means, z, factors: entry.factors };
  }

  async denoise(x: Float32Array, sigma: number | Float32Array, batch: number): Promise<Float32Array> {
    const args = denoiseArgs(this.shape, x, sigma, batch);
    const d = this.dimension;
    const out = new Float32Array(x.length);
    const cache = new Map();
    for (let b = 0; b < args.batch; b++) {
      const p = this.posterior(args.x.subarray(b * d, (b + 1) * d), args.sigmas[b], cache);
      for (let i = 0; i < d; i++) {
        let v = 0;
        for (let j = 0; j < p.weights.length; j++) v += p.weights[j] * p.means[j][i];
        out[b * d + i] = v;
      }
    }
    this.count += args.batch;
    return out;
  }

  /**
   * dD/dx v = sum_j p_j Sigma_j M_j^-1 v + sum_j p_j m_j ((g_j - gbar) . v),
   * g_j = -M_j^-1 (x - mu_j) the gradient of log N(x; mu_j, M_j), M_j = Sigma_j + s^2 I.
   */
  async jvp(x: Float32Array, sigma: number, v: Float32Array, batch: number): Promise<Float32Array> {
    const args = denoiseArgs(this.shape, x, sigma, batch);
    if (!(v instanceof Float32Array) || v.length !== x.length) {
      throw new RangeError(expected(`a Float32Array of ${x.length} floats (like x)`, 'v', v));
    }
    const d = this.dimension;
    const out = new Float32Array(x.length);
    const cache = new Map();
    for (let b = 0; b < args.batch; b++) {
      const p = this.posterior(args.x.subarray(b * d, (b + 1) * d), args.sigmas[b], cache);
      const vb = v.subarray(b * d, (b + 1) * d);
      const K = p.weights.length;
      const gDotV = new Float64Array(K);
      let gBar = 0;
      for (let j = 0; j < K; j++) {
        for (let i = 0; i < d; i++) gDotV[j] -= p.z[j][i] * vb[i];
        gBar += p.weights[j] * gDotV[j];
      }
      const result = new Float64Array(d);
      for (let j = 0; j < K; j++) {
        const av = matVec(this.sigmas[j], d, cholSolve(p.factors[j], d, Float64Array.from(vb)));
        const c = p.weights[j] * (gDotV[j] - gBar);
        for (let i = 0; i < d; i++) result[i] += p.weights[j] * av[i] + c * p.means[j][i];
      }
      out.set(result, b * d);
    }
    this.count += args.batch;
    return out;
  }
}
