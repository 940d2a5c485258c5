// The black-box baselines of docs/method.md section 3 (EKI, DPS-GSG, DPG, SCG) on
// small linear problems whose answers are known in closed form: EKI's limit
// is a least-squares solution, the GSG estimate's error has a closed-form
// size, and every cost record is a closed-form count.
import {
  DPG, DPSGSG, EKI, FD_EPSILON, ForwardEvaluationError, ForwardModel, GaussianMixturePrior, GaussianRandomFieldPrior,
  InverseProblem, SCG, SolveResult, denoiserVjp, gaussianRandomField, gaussianSmoothedGradient, vpSchedule,
} from '../lib';
import { LinearForwardModel, randomMatrix, solveDense } from './helpers/linear';
import { testRandom } from './helpers/reference';

// Prior fields of GRF(alpha 2.5, tau 3) / 0.4 have an RMS of about 0.5 at
// 8 x 8, like the normalized Navier-Stokes data.
const R = 8, D = R * R, SCALE = 0.4;

interface LinearProblem {
  problem: InverseProblem;
  forward: LinearForwardModel;
  prior: GaussianRandomFieldPrior;
  truth: Float32Array;
}

/** y = A x* (+ noise) for a prior sample x*, A a random m x d matrix. */
async function linearProblem(m: number, seed: number, noise = 0): Promise<LinearProblem> {
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2.5, tau: 3, scale: SCALE });
  const forward = new LinearForwardModel([1, R, R], randomMatrix(m, D, seed), m);
  const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2.5, tau: 3, seed: 1000 + seed, backend: 'cpu' });
  for (let k = 0; k < D; k++) truth[k] /= SCALE;
  const g = testRandom(seed);
  const observation = Float32Array.from(forward.apply(truth), (v) => v + noise * g.normal());
  return { problem: { prior, forward, observation }, forward, prior, truth };
}

/** Mean over particles of ||A x - y_obs||^2 / m, in float64 (independent of the library). */
function meanMisfit(p: LinearProblem, particles: Float32Array): number {
  const N = particles.length / D, obs = p.problem.observation;
  let total = 0;
  for (let n = 0; n < N; n++) {
    const y = p.forward.apply(particles.subarray(n * D, (n + 1) * D));
    for (let k = 0; k < y.length; k++) total += (y[k] - obs[k]) ** 2;
  }
  return total / (N * obs.length);
}

function allFinite(a: Float32Array): boolean {
  return a.every((v) => Number.isFinite(v));
}

/** min over beta of ||A (x0 + B beta) - y||^2 with B's columns given as rows (k x d); returns x0 + B beta. */
function leastSquaresInAffineSpan(A: Float64Array, m: number, d: number, y: Float32Array, x0: Float64Array,
  rows: Float64Array[]): Float64Array {
  const k = rows.length;
  const AB = rows.map((b) => {
    const out = new Float64Array(m);
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) out[i] += A[i * d + j] * b[j];
    return out;
  });
  const r = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += A[i * d + j] * x0[j];
    r[i] = y[i] - s;
  }
  const M = new Float64Array(k * k), rhs = new Float64Array(k);
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) for (let i = 0; i < m; i++) M[a * k + b] += AB[a][i] * AB[b][i];
    for (let i = 0; i < m; i++) rhs[a] += AB[a][i] * r[i];
  }
  const beta = solveDense(M, rhs);
  const x = Float64Array.from(x0);
  for (let a = 0; a < k; a++) for (let j = 0; j < d; j++) x[j] += beta[a] * rows[a][j];
  return x;
}

function maxRelativeDeviation(particles: Float32Array, target: Float64Array): number {
  const d = target.length, N = particles.length / d;
  let scale = 0;
  for (const v of target) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let n = 0; n < N; n++) for (let j = 0; j < d; j++) worst = Math.max(worst, Math.abs(particles[n * d + j] - target[j]));
  return worst / scale;
}

describe('EKI', () => {
  it('converges to the least-squares solution when the ensemble spans the field space (N - 1 >= d, m > d)', async () => {
    // d = 6 fields under a Gaussian-mixture prior of that shape (EKI never
    // calls it); N = 12 particles span R^6, so the limit is the global
    // least-squares solution (A^T A)^-1 A^T y, the same for every particle.
    // g = 1: with the step normalized by ||C||_F, the ensemble's dominant
    // mode contracts by 1 - g lambda_max / ||lambda||_F per update, so for a
    // small ensemble dominated by one mode the reference's g = 2 barely
    // contracts it (a factor near -1) while any g < 2 converges geometrically.
    const d = 6, m = 10, N = 12;
    const prior = new GaussianMixturePrior({ means: [new Array(d).fill(0)], variances: [1] });
    const A = randomMatrix(m, d, 3);
    const forward = new LinearForwardModel([1, 1, d], A, m);
    const g = testRandom(5);
    const observation = g.normals(m);
    const initial = g.normals(N * d);
    const result = await new EKI({ ensembleSize: N, iterations: 200, guidanceScale: 1, initial }).solve({ prior, forward, observation }, { seed: 1 });
    const AtA = new Float64Array(d * d), Aty = new Float64Array(d);
    for (let i = 0; i < m; i++) {
      for (let a = 0; a < d; a++) {
        Aty[a] += A[i * d + a] * observation[i];
        for (let b = 0; b < d; b++) AtA[a * d + b] += A[i * d + a] * A[i * d + b];
      }
    }
    const xs = solveDense(AtA, Aty);
    expect(maxRelativeDeviation(result.particles, xs)).toBeLessThan(2e-4); // float32 particles; 5e-5 measured
    expect(forward.calls).toBe(200);
  });

  it('converges to the least-squares solution within the affine span of its GRF initial ensemble (N - 1 < d)', async () => {
    const p = await linearProblem(24, 7);
    const N = 10, A = p.forward.A, m = 24;
    const initial = (await new EKI({ ensembleSize: N, iterations: 0 }).solve(p.problem, { seed: 4 })).particles;
    const mean = new Float64Array(D);
    for (let n = 0; n < N; n++) for (let j = 0; j < D; j++) mean[j] += initial[n * D + j] / N;
    // The span of the deviations: N - 1 of them (the N-th is minus their sum).
    const rows: Float64Array[] = [];
    for (let n = 0; n < N - 1; n++) rows.push(Float64Array.from({ length: D }, (_, j) => initial[n * D + j] - mean[j]));
    const xs = leastSquaresInAffineSpan(A, m, D, p.problem.observation, mean, rows);
    // 100 updates (g = 1, see above) reach it to 4e-4. Run much longer and
    // float32 rounding adds directions outside the span that EKI then uses
    // to lower the misfit further: the iterates drift toward the global
    // least-squares solution (2e-3 off the span's at 300 updates).
    const result = await new EKI({ ensembleSize: N, iterations: 100, guidanceScale: 1 }).solve(p.problem, { seed: 4 });
    expect(maxRelativeDeviation(result.particles, xs)).toBeLessThan(1e-3);
    // and the misfit is the span's minimum, below the initial ensemble's
    const best = meanMisfit(p, Float32Array.from(xs));
    expect(Math.abs(meanMisfit(p, result.particles) / best - 1)).toBeLessThan(1e-3);
    expect(best).toBeLessThan(meanMisfit(p, initial));
  });

  it('draws its default initial ensemble from the GRF of alpha 4, tau 3 (particle n = stream n of the seed)', async () => {
    const p = await linearProblem(8, 2);
    const result = await new EKI({ ensembleSize: 3, iterations: 0 }).solve(p.problem, { seed: 9 });
    const grf = await gaussianRandomField({ resolution: R, count: 3, alpha: 4, tau: 3, seed: 9, backend: 'cpu' });
    expect(result.particles).toEqual(grf);
  });
});

describe('gaussianSmoothedGradient', () => {
  // L(x) = sum_k h_k (x_k - b_k)^2, grad L = 2 h (x - b). For a quadratic
  // both schemes are unbiased, and with u ~ N(0, I) the estimate's mean
  // squared error is (d + 1) ||grad||^2 / J for J directions (up to
  // O(mu^2) terms, negligible here): relative RMS error sqrt((d + 1) / J).
  const d = 16, h = Float64Array.from({ length: d }, (_, k) => 0.5 + k / d);
  const b = Float64Array.from({ length: d }, (_, k) => Math.sin(k));
  const x0 = Float32Array.from({ length: d }, (_, k) => Math.cos(3 * k));
  const exact = Float64Array.from({ length: d }, (_, k) => 2 * h[k] * (x0[k] - b[k]));
  const loss = async (x: Float32Array, batch: number): Promise<Float64Array> => {
    const out = new Float64Array(batch);
    for (let n = 0; n < batch; n++) for (let k = 0; k < d; k++) out[n] += h[k] * (x[n * d + k] - b[k]) ** 2;
    return out;
  };
  const norm2 = exact.reduce((s, v) => s + v * v, 0);

  it.each(['forward', 'central'] as const)('%s scheme: error falls like 1/sqrt(queries) (slope -0.5 +- 0.1, size within 25%% of sqrt((d+1)/J))', async (scheme) => {
    const queries = [16, 64, 256, 1024, 4096], seeds = 24;
    const rms: number[] = [];
    for (const q of queries) {
      let total = 0;
      for (let seed = 0; seed < seeds; seed++) {
        const { gradient, loss: L0, used } = await gaussianSmoothedGradient(loss, x0, { scheme, queries: q, smoothing: 1e-2, seed });
        const J = scheme === 'forward' ? q : q / 2;
        expect(used[0]).toBe(J);
        expect(L0[0]).toBeCloseTo((await loss(x0, 1))[0], 10);
        let e = 0;
        for (let k = 0; k < d; k++) e += (gradient[k] - exact[k]) ** 2;
        total += e / norm2;
      }
      rms.push(Math.sqrt(total / seeds));
    }
    // Least-squares slope of log(error) against log(queries).
    const lx = queries.map(Math.log), ly = rms.map(Math.log);
    const mx = lx.reduce((s, v) => s + v, 0) / lx.length, my = ly.reduce((s, v) => s + v, 0) / ly.length;
    let num = 0, den = 0;
    for (let i = 0; i < lx.length; i++) {
      num += (lx[i] - mx) * (ly[i] - my);
      den += (lx[i] - mx) ** 2;
    }
    expect(num / den).toBeGreaterThan(-0.6);
    expect(num / den).toBeLessThan(-0.4);
    queries.forEach((q, i) => {
      const J = scheme === 'forward' ? q : q / 2;
      const theory = Math.sqrt((d + 1) / J);
      expect(Math.abs(rms[i] / theory - 1)).toBeLessThan(0.25);
    });
  });

  it('leaves out directions whose loss is not finite', async () => {
    let calls = 0;
    const failing = async (x: Float32Array, batch: number): Promise<Float64Array> => {
      calls++;
      const out = await loss(x, batch);
      for (let n = 3; n < batch; n += 4) out[n] = NaN; // rows 3, 7, ...: perturbations only
      return out;
    };
    const forward = await gaussianSmoothedGradient(failing, x0, { scheme: 'forward', queries: 16, smoothing: 1e-2, seed: 1 });
    expect(forward.used[0]).toBe(12);
    const central = await gaussianSmoothedGradient(failing, x0, { scheme: 'central', queries: 16, smoothing: 1e-2, seed: 1 });
    expect(central.used[0]).toBe(4); // pairs (rows 1+2k, 2+2k) with a failed row 3, 7, 11, 15 are dropped
    expect(allFinite(forward.gradient) && allFinite(central.gradient)).toBe(true);
    expect(calls).toBe(2);
  });

  it('rejects an odd query count for the central scheme', async () => {
    await expect(gaussianSmoothedGradient(loss, x0, { scheme: 'central', queries: 15, smoothing: 1e-2, seed: 0 }))
      .rejects.toThrow("Expected an even number (a + and a - evaluation per direction) for scheme 'central' for queries but received 15");
  });
});

describe('denoiserVjp', () => {
  it('finite differences agree with the exact jvp of a nonlinear Gaussian-mixture denoiser, in one call of 2 batch fields', async () => {
    const d = 8;
    const g = testRandom(11);
    const means = [Array.from(g.normals(d)), Array.from(g.normals(d, 1, 1))];
    const prior = new GaussianMixturePrior({ means, variances: [0.3, 0.5] });
    const batch = 3, sigma = 0.7;
    const x = g.normals(batch * d), v = g.normals(batch * d);
    const exact = await denoiserVjp(prior, x, sigma, v, batch, { method: 'exact' });
    const before = prior.evaluations;
    const fd = await denoiserVjp(prior, x, sigma, v, batch, { method: 'finite-difference' });
    expect(prior.evaluations - before).toBe(2 * batch);
    let err = 0, scale = 0;
    for (let k = 0; k < exact.length; k++) {
      err = Math.max(err, Math.abs(fd[k] - exact[k]));
      scale = Math.max(scale, Math.abs(exact[k]));
    }
    expect(err / scale).toBeLessThan(1e-3);
    expect(FD_EPSILON).toBeCloseTo(Math.cbrt(2 ** -23), 12);
  });

  it("'exact' on a prior without a jvp is an error", async () => {
    const p = await linearProblem(4, 1);
    const noJvp = { shape: p.prior.shape, evaluations: 0, denoise: p.prior.denoise.bind(p.prior) };
    await expect(denoiserVjp(noJvp, new Float32Array(D), 1, new Float32Array(D), 1, { method: 'exact' }))
      .rejects.toThrow("Expected a prior with an exact jvp for jacobian 'exact' for the prior but received one without");
  });
});

describe('vpSchedule', () => {
  it("is the reference's VP grid: t from 1 to 1e-3, sigma, s, f = 2 s^2 sigma sigma' dt", () => {
    const K = 50, beta = (t: number): number => 19.9 * t + 0.1;
    const sched = vpSchedule({ steps: K, betaD: 19.9, betaMin: 0.1, tEnd: 1e-3, sigmaFinal: 0.01 });
    expect(sched.t[0]).toBe(1);
    expect(sched.t[K - 1]).toBeCloseTo(1e-3, 15);
    const e = (t: number): number => Math.exp(19.9 * t * t / 2 + 0.1 * t);
    expect(Math.sqrt(e(sched.t[K]) - 1)).toBeCloseTo(0.01, 12);
    for (let i = 0; i < K; i++) {
      const t = sched.t[i], dt = t - sched.t[i + 1];
      const sigma = Math.sqrt(e(t) - 1), s = 1 / Math.sqrt(e(t));
      const dsigma = beta(t) * e(t) / 2 / sigma, ds = -beta(t) / 2 / Math.sqrt(e(t));
      expect(sched.sigma[i] / sigma).toBeCloseTo(1, 12);
      expect(sched.scaling[i] / s).toBeCloseTo(1, 12);
      expect(sched.scalingFactor[i]).toBeCloseTo(1 - ds / s * dt, 12);
      expect(sched.factor[i] / (2 * s * s * sigma * dsigma * dt)).toBeCloseTo(1, 10);
    }
    expect(sched.initialStd).toBeCloseTo(1, 4);
  });
});

describe('cost records equal closed-form counts', () => {
  // Independent witnesses: the forward model counts its calls and the
  // analytic prior counts the fields it denoised (jvp included).
  async function run(algorithm: { solve(p: InverseProblem, o?: object): Promise<SolveResult> }, seed = 0) {
    const p = await linearProblem(12, 21, 0.05);
    let progress = 0;
    const result = await algorithm.solve(p.problem, { seed, onProgress: () => progress++ });
    return { result, p, progress };
  }

  it('EKI: U N forward evaluations in U calls, no denoiser', async () => {
    const { result, p, progress } = await run(new EKI({ ensembleSize: 8, iterations: 5 }));
    expect(result.cost).toMatchObject({ forwardEvaluations: 40, forwardSequential: 5, denoiserEvaluations: 0, denoiserSequential: 0 });
    expect(p.forward.calls).toBe(5);
    expect(progress).toBe(5);
    expect(result.trace).toHaveLength(5);
  });

  it.each([
    ['forward', 'auto', 2 * 4], // exact jvp: N + N fields per step
    ['central', 'auto', 2 * 4],
    ['forward', 'finite-difference', 3 * 4], // N + 2N
  ] as const)('DPS-GSG %s (%s jacobian): K N (1 + q) forward in K calls, denoiser in 2K calls', async (scheme, jacobian, perStepFields) => {
    const N = 4, q = 8, K = 5;
    const algo = new DPSGSG({ ensembleSize: N, scheme, queries: q, steps: K, jacobian });
    expect(algo.name).toBe(`dps-gsg-${scheme}`);
    const { result, p, progress } = await run(algo);
    expect(result.cost).toMatchObject({
      forwardEvaluations: K * N * (1 + q), forwardSequential: K,
      denoiserEvaluations: K * perStepFields, denoiserSequential: 2 * K,
    });
    expect(p.forward.calls).toBe(K);
    expect(p.prior.evaluations).toBe(K * perStepFields);
    expect(progress).toBe(K);
  });

  it('DPS-GSG with forwardBatchSize: each split call counts as a sequential evaluation', async () => {
    const N = 2, q = 8, K = 3; // 18 fields per step in calls of at most 5: 4 calls
    const { result, p } = await run(new DPSGSG({ ensembleSize: N, scheme: 'forward', queries: q, steps: K, forwardBatchSize: 5 }));
    expect(result.cost).toMatchObject({ forwardEvaluations: K * 18, forwardSequential: K * 4 });
    expect(p.forward.calls).toBe(K * 4);
  });

  it('DPG: K N (1 + M) forward evaluations in 2K calls; denoiser N + N (exact jvp) per step in 2K calls', async () => {
    const N = 3, M = 6, K = 5;
    const { result, p, progress } = await run(new DPG({ ensembleSize: N, mcSamples: M, steps: K }));
    expect(result.cost).toMatchObject({
      forwardEvaluations: K * N * (1 + M), forwardSequential: 2 * K,
      denoiserEvaluations: K * 2 * N, denoiserSequential: 2 * K,
    });
    expect(p.forward.calls).toBe(2 * K);
    expect(p.prior.evaluations).toBe(K * 2 * N);
    expect(progress).toBe(K);
  });

  it('SCG: G N C forward in G calls, (K - G) N + G N C denoiser fields in K calls, G = K - 1 - floor(threshold K)', async () => {
    const N = 2, C = 3, K = 8, G = K - 1 - Math.floor(0.25 * K);
    const { result, p, progress } = await run(new SCG({ ensembleSize: N, candidates: C, steps: K, threshold: 0.25 }));
    expect(result.cost).toMatchObject({
      forwardEvaluations: G * N * C, forwardSequential: G,
      denoiserEvaluations: (K - G) * N + G * N * C, denoiserSequential: K,
    });
    expect(p.forward.calls).toBe(G);
    expect(p.prior.evaluations).toBe((K - G) * N + G * N * C);
    expect(progress).toBe(K);
    expect(result.trace).toHaveLength(G);
  });
});

describe('determinism and guidance', () => {
  const small = {
    eki: () => new EKI({ ensembleSize: 6, iterations: 4 }),
    'dps-gsg': () => new DPSGSG({ ensembleSize: 2, queries: 8, steps: 6 }),
    dpg: () => new DPG({ ensembleSize: 2, mcSamples: 8, steps: 6 }),
    scg: () => new SCG({ ensembleSize: 2, candidates: 4, steps: 6 }),
  };

  it.each(Object.keys(small) as (keyof typeof small)[])('%s: the same seed gives bit-identical particles, another seed different ones', async (name) => {
    const p = await linearProblem(12, 8, 0.05);
    const a = await small[name]().solve(p.problem, { seed: 3 });
    const b = await small[name]().solve(p.problem, { seed: 3 });
    const c = await small[name]().solve(p.problem, { seed: 4 });
    expect(Buffer.from(a.particles.buffer).equals(Buffer.from(b.particles.buffer))).toBe(true);
    expect(Buffer.from(a.particles.buffer).equals(Buffer.from(c.particles.buffer))).toBe(false);
    expect(allFinite(a.particles)).toBe(true);
  });

  // A tiny linear-Gaussian problem (8 x 8 field, 16 measurements, noise
  // 0.01): the guided samplers must end far closer to the data than the same
  // sampler unguided (guidance scale 0; a single SCG candidate). Measured
  // ratios over seeds and ensemble sizes: 0.03-0.05 (DPS-GSG), 0.02-0.04
  // (DPG), 0.01-0.03 (SCG); the bound 0.25 leaves a wide margin.
  const K = 50, N = 4;
  it.each([
    ['DPS-GSG', (g: number) => new DPSGSG({ ensembleSize: N, queries: 256, steps: K, guidanceScale: g }), 1],
    ['DPG', (g: number) => new DPG({ ensembleSize: N, mcSamples: 128, steps: K, guidanceScale: g }), 20],
    ['SCG', (g: number) => new SCG({ ensembleSize: N, candidates: g === 0 ? 1 : g, steps: K }), 16],
  ] as const)('%s: the final misfit falls well below the unguided sampler\'s', async (_name, make, scale) => {
    const p = await linearProblem(16, 12, 0.01);
    const unguided = meanMisfit(p, (await make(0).solve(p.problem, { seed: 1 })).particles);
    const guided = await make(scale).solve(p.problem, { seed: 1 });
    expect(allFinite(guided.particles)).toBe(true);
    expect(meanMisfit(p, guided.particles)).toBeLessThan(0.25 * unguided);
  });
});

describe('failed forward evaluations', () => {
  /** Wraps a model so that every row index 1 mod 3 of each call fails (ForwardEvaluationError with NaN rows). */
  function failing(inner: ForwardModel): ForwardModel & { failed: number } {
    const model = {
      fieldShape: inner.fieldShape, measurementSize: inner.measurementSize, failed: 0,
      async forward(x: Float32Array, batch: number): Promise<Float32Array> {
        const y = await inner.forward(x, batch), m = inner.measurementSize;
        const failures = [];
        for (let n = 1; n < batch; n += 3) {
          y.fill(NaN, n * m, (n + 1) * m);
          failures.push({ index: n, reason: 'test failure' });
        }
        model.failed += failures.length;
        if (failures.length) throw new ForwardEvaluationError(`${failures.length} failed`, failures, y);
        return y;
      },
    };
    return model;
  }

  it.each([
    ['EKI', () => new EKI({ ensembleSize: 6, iterations: 3 })],
    ['DPS-GSG', () => new DPSGSG({ ensembleSize: 3, queries: 8, steps: 4, scheme: 'forward' })],
    ['DPG', () => new DPG({ ensembleSize: 3, mcSamples: 6, steps: 4 })],
    ['SCG', () => new SCG({ ensembleSize: 3, candidates: 4, steps: 6 })],
  ] as const)('%s: failed rows are excluded and recorded, and no NaN reaches the particles', async (_name, make) => {
    const p = await linearProblem(12, 4, 0.05);
    const forward = failing(p.forward);
    const result = await make().solve({ ...p.problem, forward }, { seed: 2 });
    expect(allFinite(result.particles)).toBe(true);
    expect(result.failures.length).toBe(forward.failed);
    expect(result.failures.length).toBeGreaterThan(0);
  });

  it("EKI leaves a particle that always fails where it started (policy 'exclude')", async () => {
    const p = await linearProblem(12, 4, 0.05);
    const initial = (await new EKI({ ensembleSize: 6, iterations: 0 }).solve(p.problem, { seed: 2 })).particles;
    const result = await new EKI({ ensembleSize: 6, iterations: 3 }).solve({ ...p.problem, forward: failing(p.forward) }, { seed: 2 });
    expect(result.particles.subarray(D, 2 * D)).toEqual(initial.subarray(D, 2 * D)); // particle 1 fails every call
    expect(result.particles.subarray(0, D)).not.toEqual(initial.subarray(0, D));
  });
});

describe('bad input', () => {
  it('rejects unknown options, naming them', () => {
    expect(() => new EKI({ ensembel: 4 } as never)).toThrow(/for an option of EKI but received 'ensembel'/);
    expect(() => new DPSGSG({ mu: 0.1 } as never)).toThrow(/for an option of DPS-GSG but received 'mu'/);
    expect(() => new DPG({ num_mc_samples: 10 } as never)).toThrow(/for an option of DPG but received 'num_mc_samples'/);
    expect(() => new SCG({ numCandidates: 8 } as never)).toThrow(/for an option of SCG but received 'numCandidates'/);
    expect(() => new EKI({ grf: { alpha: 2, sigma: 1 } } as never)).toThrow(/for an option of EKI grf but received 'sigma'/);
  });

  it('rejects out-of-range options with the option named', () => {
    expect(() => new EKI({ ensembleSize: 1 })).toThrow('Expected an integer >= 2 for EKI ensembleSize but received 1');
    expect(() => new DPG({ mcSamples: 1 })).toThrow('Expected an integer >= 2 for DPG mcSamples but received 1');
    expect(() => new DPSGSG({ scheme: 'central', queries: 7 })).toThrow(/Expected an even number .* for DPS-GSG queries but received 7/);
    expect(() => new DPSGSG({ scheme: 'backward' as never })).toThrow("Expected one of 'forward', 'central' for DPS-GSG scheme but received 'backward'");
    expect(() => new SCG({ threshold: 1.5 })).toThrow('Expected a number in [0, 1] for SCG threshold but received 1.5');
    expect(() => new DPG({ sde: 'yes' as never })).toThrow("Expected a boolean for DPG sde but received 'yes'");
    expect(() => new SCG({ sigmaFinal: 1 })).toThrow(/Expected a level below sigma\(tEnd\) = 0\.01049 for SCG sigmaFinal but received 1/);
    expect(() => new EKI({ initial: 'gaussian' as never })).toThrow("Expected 'grf' or a Float32Array (N x d) for EKI initial but received 'gaussian'");
  });

  it.each([
    ['EKI', () => new EKI({ ensembleSize: 4, iterations: 1 })],
    ['DPS-GSG', () => new DPSGSG({ queries: 4, steps: 2 })],
    ['DPG', () => new DPG({ mcSamples: 4, steps: 2 })],
    ['SCG', () => new SCG({ candidates: 2, steps: 2 })],
  ] as const)('%s: an observation of the wrong length is rejected before any work', async (_name, make) => {
    const p = await linearProblem(12, 1);
    const problem = { ...p.problem, observation: new Float32Array(11) };
    await expect(make().solve(problem)).rejects.toThrow('Expected 12 floats (forward.measurementSize) for problem.observation.length but received 11');
    expect(p.forward.calls).toBe(0);
  });

  it('EKI: an initial ensemble of the wrong size, or a GRF initial ensemble on non-square fields', async () => {
    const p = await linearProblem(12, 1);
    await expect(new EKI({ ensembleSize: 4, initial: new Float32Array(3 * D) }).solve(p.problem))
      .rejects.toThrow(`Expected ensembleSize x d = 4 x ${D} = ${4 * D} floats for EKI initial.length but received ${3 * D}`);
    const prior = new GaussianMixturePrior({ means: [[0, 0, 0]], variances: [1] });
    const forward = new LinearForwardModel([1, 1, 3], randomMatrix(2, 3, 1), 2);
    await expect(new EKI({ ensembleSize: 4 }).solve({ prior, forward, observation: new Float32Array(2) }))
      .rejects.toThrow("Expected fields of shape [1, R, R] (R even, >= 4) for EKI's GRF initial ensemble for the problem's field shape but received [1, 1, 3]");
  });

  it('the zero-order baselines refuse a gradient-only problem.misfit rather than ignore it', async () => {
    const p = await linearProblem(12, 1);
    const problem = { ...p.problem, misfit: { gradient: (y: Float32Array) => y } };
    await expect(new DPG({ mcSamples: 4, steps: 2 }).solve(problem)).rejects.toThrow(/DPG evaluates the loss .* cannot use problem.misfit/);
  });
});

describe('the algorithm registry', () => {
  it('sizes every algorithm to about the forward budget it is given', () => {
    const { ALGORITHM_REGISTRY } = require('../lib/algorithms/registry') as typeof import('../lib/algorithms/registry');
    for (const entry of ALGORITHM_REGISTRY) {
      for (const budget of [640, 5000]) {
        const plan = entry.forBudget(budget, { ensemble: 64, vpSteps: 34 });
        expect(plan.algorithm.name).toBeTruthy();
        // Within a fifth of the budget (rounding to whole steps and queries).
        expect(Math.abs(plan.budget - budget) / budget).toBeLessThan(0.2);
      }
    }
  });
});
