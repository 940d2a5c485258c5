// Independent float64 implementations of docs/method.md section 2, written directly
// from the formulas (no code shared with lib/ or native/).

export interface ReferenceStep {
  particles: Float64Array;
  coefNorm: number;
}

/** x^n <- x^n - (w / ||C||_F) sum_k C[n,k] (x^k - xbar), C[n,k] = <r^n, y^k - ybar> / N. */
export function referenceKalmanStep(
  x: ArrayLike<number>, y: ArrayLike<number>, r: ArrayLike<number>, N: number, w: number,
): ReferenceStep {
  const d = x.length / N;
  const m = y.length / N;
  const xbar = new Float64Array(d);
  const ybar = new Float64Array(m);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < d; j++) xbar[j] += x[n * d + j] / N;
    for (let j = 0; j < m; j++) ybar[j] += y[n * m + j] / N;
  }
  const C = new Float64Array(N * N);
  let norm2 = 0;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < N; k++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += r[n * m + j] * (y[k * m + j] - ybar[j]);
      C[n * N + k] = s / N;
      norm2 += (s / N) ** 2;
    }
  }
  const coefNorm = Math.sqrt(norm2);
  const out = Float64Array.from(x as ArrayLike<number>);
  if (coefNorm === 0) return { particles: out, coefNorm };
  const eta = w / coefNorm;
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < N; k++) {
      const c = eta * C[n * N + k];
      for (let j = 0; j < d; j++) out[n * d + j] -= c * (x[k * d + j] - xbar[j]);
    }
  }
  return { particles: out, coefNorm };
}

export function referenceMean(x: ArrayLike<number>, N: number): Float64Array {
  const d = x.length / N;
  const mean = new Float64Array(d);
  for (let n = 0; n < N; n++) for (let j = 0; j < d; j++) mean[j] += x[n * d + j];
  return mean.map((v) => v / N);
}

export function referenceCovarianceTrace(x: ArrayLike<number>, N: number): number {
  const d = x.length / N;
  const mean = referenceMean(x, N);
  let total = 0;
  for (let n = 0; n < N; n++) for (let j = 0; j < d; j++) total += (x[n * d + j] - mean[j]) ** 2;
  return total / N;
}

/** max_i |a_i - b_i| / max_i |b_i|: error relative to the scale of the reference. */
export function maxRelativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/** A small deterministic generator for test inputs (mulberry32 + Box-Muller), independent of the library's Philox. */
export function testRandom(seed: number): { normal(): number; normals(count: number, scale?: number, shift?: number): Float32Array } {
  let state = seed >>> 0;
  const uniform = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  const normal = (): number => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  return {
    normal,
    normals(count: number, scale = 1, shift = 0): Float32Array {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = shift + scale * normal();
      return out;
    },
  };
}
