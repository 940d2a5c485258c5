// EnKG (docs/method.md section 2) on problems whose answer is known exactly: a
// Gaussian-random-field prior with a random linear forward model.
import {
  EnKG, ForwardEvaluationError, ForwardModel, formatRestarts, GaussianRandomFieldPrior, gaussianRandomField, parseRestarts, sampleODE,
} from '../lib';
import {
  LinearForwardModel, posteriorMean, priorCovariance, randomMatrix, relativeError,
} from './helpers/linear';

const R = 8, d = R * R, m = 16;

async function linearProblem() {
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2, tau: 3 });
  const A = randomMatrix(m, d, 7);
  const forward = new LinearForwardModel([1, R, R], A, m);
  const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2, tau: 3, seed: 5 });
  const observation = Float32Array.from(forward.apply(truth));
  return { prior, forward, truth, observation, A };
}

async function meanMisfit(forward: LinearForwardModel, x: Float32Array, N: number, y: Float32Array): Promise<number> {
  const out = await forward.forward(x, N);
  let s = 0;
  for (let n = 0; n < N; n++) for (let i = 0; i < m; i++) s += (out[n * m + i] - y[i]) ** 2;
  return s / (N * m);
}

function meanError(x: Float32Array, N: number, truth: Float32Array): number {
  let s = 0;
  for (let n = 0; n < N; n++) s += relativeError(x, truth, n * d);
  return s / N;
}

describe('EnKG on a linear-Gaussian problem', () => {
  it('fits the data by orders of magnitude better than prior samples, lands nearer the truth, and its mean nears the posterior mean', async () => {
    const { prior, forward, truth, observation, A } = await linearProblem();
    const N = 1024;
    // Small normalized steps (g = 0.1) on a fine grid (K = 200), guided from
    // the middle of the grid (sigma ~ 1) on.
    const enkg = new EnKG({ ensembleSize: N, steps: 200, guidanceScale: 0.1, updates: 2, thresholdStart: 0.5 });
    const result = await enkg.solve({ prior, forward, observation }, { seed: 1 });
    const samples = await sampleODE(prior, { count: N, steps: 200, seed: 2 });

    const fitted = await meanMisfit(forward, result.particles, N, observation);
    const unconditional = await meanMisfit(forward, samples, N, observation);
    expect(fitted).toBeLessThan(unconditional / 100);
    expect(meanError(result.particles, N, truth)).toBeLessThan(meanError(samples, N, truth));

    // The exact posterior mean of the noise-free problem is Sigma A^T (A Sigma A^T)^-1 y.
    // With N = 1024 particles the ensemble statistics carry ~1/sqrt(N)
    // sampling error in every direction, and EKI started from exact prior
    // samples with the same N settles ~0.1 from it; EnKG's normalized steps
    // and Euler clean estimates add about as much again, so 0.3 (against
    // 1.0 for the prior mean, zero) is the tolerance.
    const exact = posteriorMean(priorCovariance(prior), A, observation, 1e-3);
    expect(relativeError(result.mean, exact)).toBeLessThan(0.3);
    expect(result.trace.length).toBe(2 * enkg.guidedSteps());
    expect(result.trace[result.trace.length - 1].misfit).toBeLessThan(result.trace[0].misfit / 100);
  }, 240000);

  it('counts U N forward evaluations per guided step, U sequential, and the denoiser calls of odeToClean', async () => {
    const { prior, forward, observation } = await linearProblem();
    const N = 4, K = 12, U = 2;
    const enkg = new EnKG({ ensembleSize: N, steps: K, updates: U, guidanceScale: 1 });
    const result = await enkg.solve({ prior, forward, observation }, { seed: 3 });
    let guided = 0, ode = 0;
    for (let i = 0; i < K; i++) {
      // docs/method.md section 2: guided when i > 0.05 K and i < K - floor(0.05 K); M_i = min(1 + floor((K - i)/4), 20).
      if (i > 0.05 * K && i < K - Math.floor(0.05 * K)) {
        guided++;
        ode += Math.min(1 + Math.floor((K - i) / 4), 20);
      }
    }
    expect(enkg.guidedSteps()).toBe(guided);
    expect(result.cost.forwardEvaluations).toBe(U * N * guided);
    expect(result.cost.forwardSequential).toBe(U * guided);
    expect(forward.calls).toBe(U * guided);
    expect(result.cost.denoiserSequential).toBe(U * ode + K);
    expect(result.cost.denoiserEvaluations).toBe(N * (U * ode + K));
    expect(result.cost.wallSeconds).toBeGreaterThan(0);
    expect(result.cost.peakRssBytes).toBeGreaterThan(1 << 20);
    expect(Object.keys(result.cost.phaseSeconds)).toEqual(expect.arrayContaining(['denoiser', 'forward', 'kalman']));
    expect(result.particles.length).toBe(N * d);
    expect(result.mean.length).toBe(d);
    expect(result.std.length).toBe(d);
  });

  it('gives bit-identical particles for the same seed and different ones for another', async () => {
    const { prior, forward, observation } = await linearProblem();
    const enkg = new EnKG({ ensembleSize: 16, steps: 10 });
    const a = await enkg.solve({ prior, forward, observation }, { seed: 9, backend: 'cpu' });
    const b = await enkg.solve({ prior, forward, observation }, { seed: 9, backend: 'cpu' });
    const c = await enkg.solve({ prior, forward, observation }, { seed: 10, backend: 'cpu' });
    expect(Buffer.from(a.particles.buffer).equals(Buffer.from(b.particles.buffer))).toBe(true);
    expect(Buffer.from(a.particles.buffer).equals(Buffer.from(c.particles.buffer))).toBe(false);
  });
});

/**
 * A restart pass's own option: naming the run's value (`runs`) gives the
 * particles of a pass that names none, bit for bit; another value (`other`)
 * moves them.
 */
async function expectPassOption(key: 'guidanceScale' | 'maxOdeSteps', runs: number, other: number, steps: number): Promise<void> {
  const { prior, forward, observation } = await linearProblem();
  const problem = { prior, forward, observation };
  const [implicit, explicit, moved] = await Promise.all([undefined, runs, other].map((value) => new EnKG({
    ensembleSize: 4, steps: 8, updates: 1, restarts: [{ sigma: 1, steps, ...(value === undefined ? {} : { [key]: value }) }],
  }).solve(problem, { seed: 5 })));
  expect(explicit.particles).toEqual(implicit.particles);
  expect(moved.particles).not.toEqual(implicit.particles);
}

describe('EnKG restart passes', () => {
  it('runs the first pass as without them, then each pass on its own grid: guided steps, forward and denoiser counts add up', async () => {
    const { prior, forward, observation } = await linearProblem();
    const N = 4, K = 12, U = 1;
    const restarts = [{ sigma: 2, steps: 6 }, { sigma: 0.5, steps: 5 }];
    const enkg = new EnKG({ ensembleSize: N, steps: K, updates: U, restarts });
    const plain = new EnKG({ ensembleSize: N, steps: K, updates: U });
    expect(enkg.totalSteps()).toBe(K + 6 + 5);
    let guided = 0, ode = 0;
    for (const steps of [K, 6, 5]) {
      for (let j = 0; j < steps; j++) {
        if (j > 0.05 * steps && j < steps - Math.floor(0.05 * steps)) {
          guided++;
          ode += Math.min(1 + Math.floor((steps - j) / 4), 20);
        }
      }
    }
    expect(enkg.guidedSteps()).toBe(guided);
    const problem = { prior, forward, observation };
    // The first K steps are the plain run's, bit for bit.
    const reference = await plain.solve(problem, { seed: 3 });
    let state = await enkg.init(problem, { seed: 3 });
    expect(state.steps).toBe(K + 11);
    while (state.step < K) state = await enkg.advance(problem, state, { seed: 3 });
    expect(state.particles).toEqual(reference.particles);
    // Then the restart: the particles re-noised to sigma 2 differ from where they were.
    const before = state.particles;
    state = await enkg.advance(problem, state, { seed: 3 });
    let moved = 0;
    for (let k = 0; k < before.length; k++) moved += (state.particles[k] - before[k]) ** 2;
    expect(Math.sqrt(moved / before.length)).toBeGreaterThan(0.5);
    const result = await enkg.solve(problem, { seed: 3 });
    expect(result.cost.forwardEvaluations).toBe(U * N * guided);
    expect(result.cost.denoiserSequential).toBe(U * ode + K + 11);
    expect(result.trace.length).toBe(U * guided);
    expect(result.trace.map((t) => t.step)).toEqual([...result.trace.map((t) => t.step)].sort((a, b) => a - b));
    expect(Object.keys(result.cost.phaseSeconds)).toContain('restart');
    expect(result.particles.every(Number.isFinite)).toBe(true);
  });

  // Re-noised to sigma 1, the ensemble loses much of its fit; the pass's 80
  // guided steps start from a fitted ensemble and end fitting better than
  // the first pass alone (measured 0.0044 against 0.012; prior samples 0.082).
  it('fits a linear-Gaussian problem better after a restart from sigma 1 than after the first pass alone', async () => {
    const { prior, forward, observation } = await linearProblem();
    const N = 256;
    const enkg = new EnKG({ ensembleSize: N, steps: 60, guidanceScale: 0.1, updates: 2, thresholdStart: 0.5, restarts: [{ sigma: 1, steps: 80 }] });
    const result = await enkg.solve({ prior, forward, observation }, { seed: 1 });
    const plain = await new EnKG({ ...enkg.config, restarts: [] }).solve({ prior, forward, observation }, { seed: 1 });
    const samples = await sampleODE(prior, { count: N, steps: 60, seed: 2 });
    const [restarted, once, unconditional] = await Promise.all([result.particles, plain.particles, samples].map((x) => meanMisfit(forward, x, N, observation)));
    expect(restarted).toBeLessThan(unconditional / 10);
    expect(restarted).toBeLessThan(once / 1.5);
  }, 120000);

  it('are recorded in the configuration only when given, and refused by name when malformed', () => {
    expect(new EnKG({ steps: 10 }).config).not.toHaveProperty('restarts');
    expect(new EnKG({ steps: 10, restarts: [] }).config).not.toHaveProperty('restarts');
    expect(new EnKG({ steps: 10, restarts: [{ sigma: 5, steps: 4 }] }).config.restarts).toEqual([{ sigma: 5, steps: 4 }]);
    expect(() => new EnKG({ restarts: { sigma: 5, steps: 4 } as never })).toThrow('Expected an array of { sigma, steps, guidanceScale?, maxOdeSteps? } for EnKG restarts');
    expect(() => new EnKG({ restarts: [{ sigma: 0.001, steps: 4 }] })).toThrow('Expected a noise level above sigmaMin (0.002) for EnKG restarts[0].sigma but received 0.001');
    expect(() => new EnKG({ restarts: [{ sigma: 5, steps: 4 }, { sigma: 5, steps: 0 }] })).toThrow('for EnKG restarts[1].steps but received 0');
    expect(() => new EnKG({ restarts: [{ sigma: 5, steps: 4, noise: 1 }] as never })).toThrow(/'noise'/);
    expect(() => new EnKG({ restarts: [{ sigma: 5, steps: 1 }] })).toThrow(/for EnKG restarts\[0\]\.steps but received 1 with thresholdStart 0.05 and thresholdEnd 0.05 \(no step is guided\)/);
    expect(new EnKG({ steps: 10, restarts: [{ sigma: 5, steps: 4, guidanceScale: 4 }] }).config.restarts).toEqual([{ sigma: 5, steps: 4, guidanceScale: 4 }]);
    expect(() => new EnKG({ restarts: [{ sigma: 5, steps: 4, guidanceScale: -1 }] })).toThrow('Expected a finite number >= 0 for EnKG restarts[0].guidanceScale but received -1');
    expect(() => new EnKG({ restarts: [{ sigma: 5, steps: 4, guidanceScale: '4' }] as never })).toThrow('for EnKG restarts[0].guidanceScale');
    expect(new EnKG({ steps: 10, restarts: [{ sigma: 5, steps: 4, maxOdeSteps: 1 }] }).config.restarts).toEqual([{ sigma: 5, steps: 4, maxOdeSteps: 1 }]);
    expect(() => new EnKG({ restarts: [{ sigma: 5, steps: 4, maxOdeSteps: 0 }] })).toThrow('for EnKG restarts[0].maxOdeSteps but received 0');
    expect(() => new EnKG({ restarts: [{ sigma: 5, steps: 4, maxOdeSteps: 1.5 }] })).toThrow('for EnKG restarts[0].maxOdeSteps but received 1.5');
  });

  it('cap each pass\'s clean-estimate Euler steps at its own maxOdeSteps, the run\'s where a pass names none', async () => {
    const K = 20;
    const enkg = new EnKG({ steps: K, maxOdeSteps: 3, restarts: [{ sigma: 2, steps: 12, maxOdeSteps: 1 }, { sigma: 1, steps: 12 }] });
    // M = min(1 + floor((K - j)/4), cap) within each pass.
    expect(enkg.odeSteps(0)).toBe(3);
    expect(enkg.odeSteps(K - 1)).toBe(1);
    expect([0, 4, 11].map((j) => enkg.odeSteps(K + j))).toEqual([1, 1, 1]);
    expect([0, 4, 11].map((j) => enkg.odeSteps(K + 12 + j))).toEqual([3, 3, 1]);
    // A pass that names the run's own cap runs as one that names none, bit for bit; a lower cap moves the particles differently.
    await expectPassOption('maxOdeSteps', 20, 1, 12);
  });

  it('step each pass with its own guidance scale, the run\'s where a pass names none', async () => {
    const K = 10;
    const enkg = new EnKG({ steps: K, guidanceScale: 2, minRatio: 0.5, restarts: [{ sigma: 2, steps: 6, guidanceScale: 4 }, { sigma: 1, steps: 6 }] });
    // w = g (1 - q)(K - j)/K + q within each pass, q = 0.5.
    expect(enkg.stepScale(0)).toBeCloseTo(2 * 0.5 + 0.5);
    expect(enkg.stepScale(K)).toBeCloseTo(4 * 0.5 + 0.5);
    expect(enkg.stepScale(K + 3)).toBeCloseTo(4 * 0.5 * 3 / 6 + 0.5);
    expect(enkg.stepScale(K + 6)).toBeCloseTo(2 * 0.5 + 0.5);
    // A pass that names the run's own g runs as one that names none, bit for bit; another g moves the particles differently.
    await expectPassOption('guidanceScale', 2, 6, 6);
  });

  it('parseRestarts reads the command line\'s SIGMA:STEPS list and refuses anything else by name', () => {
    expect(parseRestarts('10:15', '--restart')).toEqual([{ sigma: 10, steps: 15 }]);
    expect(parseRestarts('10:15, 5:8', '--restart')).toEqual([{ sigma: 10, steps: 15 }, { sigma: 5, steps: 8 }]);
    expect(parseRestarts('none', '--restart')).toEqual([]);
    expect(parseRestarts('2:10,1:10:4', '--restart')).toEqual([{ sigma: 2, steps: 10 }, { sigma: 1, steps: 10, guidanceScale: 4 }]);
    expect(parseRestarts('1:10:4:1, 1:10::2', '--restart')).toEqual([
      { sigma: 1, steps: 10, guidanceScale: 4, maxOdeSteps: 1 }, { sigma: 1, steps: 10, maxOdeSteps: 2 },
    ]);
    expect(formatRestarts(parseRestarts('2:10,1:10:4,1:10:0.5,1:10:4:1,1:10::2', '--restart'))).toBe('2:10,1:10:4,1:10:0.5,1:10:4:1,1:10::2');
    expect(formatRestarts([])).toBe('none');
    for (const bad of ['10', '10:', ':15', '10:1.5', '-1:4', '10:15:', '10:15:-2', '10:15:2:0', '10:15:2:1.5', '10:15::', '10:15:2:1:1',
      'x:y', '10:15,', 'Infinity:3', '1:5:Infinity']) {
      expect(() => parseRestarts(bad, '--restart')).toThrow(`for --restart but received '${bad}'`);
    }
  });
});

describe('EnKG failures and bad input', () => {
  it('leaves particles whose forward evaluation failed out of that update, records them, and keeps the ensemble finite', async () => {
    const { prior, forward, observation } = await linearProblem();
    let call = 0;
    const flaky: ForwardModel = {
      fieldShape: forward.fieldShape,
      measurementSize: m,
      async forward(x, batch) {
        const y = await forward.forward(x, batch);
        if (++call !== 2) return y;
        y.fill(NaN, 3 * m, 4 * m);
        throw new ForwardEvaluationError('particle 3 blew up', [{ index: 3, time: 0.5, reason: 'non-finite vorticity' }], y);
      },
    };
    const result = await new EnKG({ ensembleSize: 8, steps: 10 }).solve({ prior, forward: flaky, observation }, { seed: 1 });
    expect(result.failures).toEqual([{ index: 3, time: 0.5, reason: 'non-finite vorticity', step: expect.any(Number) }]);
    expect(result.particles.every(Number.isFinite)).toBe(true);

    call = 0;
    await expect(new EnKG({ ensembleSize: 8, steps: 10 }).solve({ prior, forward: flaky, observation }, { seed: 1, onForwardFailure: 'abort' }))
      .rejects.toThrow(ForwardEvaluationError);
  });

  it('treats non-finite measurements like a failed evaluation', async () => {
    const { prior, forward, observation } = await linearProblem();
    const nan: ForwardModel = {
      fieldShape: forward.fieldShape, measurementSize: m,
      async forward(x, batch) {
        const y = await forward.forward(x, batch);
        y[0] = NaN;
        return y;
      },
    };
    const result = await new EnKG({ ensembleSize: 8, steps: 6 }).solve({ prior, forward: nan, observation }, { seed: 1 });
    expect(result.failures.length).toBeGreaterThan(0);
    expect(result.failures[0]).toMatchObject({ index: 0, reason: expect.stringMatching(/non-finite/) });
    expect(result.particles.every(Number.isFinite)).toBe(true);
  });

  it('aborts promptly with an AbortError', async () => {
    const { prior, forward, observation } = await linearProblem();
    const controller = new AbortController();
    const run = new EnKG({ ensembleSize: 64, steps: 400 }).solve({ prior, forward, observation }, {
      seed: 1, signal: controller.signal, onProgress: (e) => { if (e.step === 3) controller.abort(); },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(forward.calls).toBeLessThan(20);
  });

  it('passes its signal to the forward model, and stops waiting for one that ignores it', async () => {
    const { prior, forward, observation } = await linearProblem();
    const signals: Array<AbortSignal | undefined> = [];
    let calls = 0;
    const stuck: ForwardModel = {
      fieldShape: forward.fieldShape, measurementSize: m,
      forward(x, batch, options) {
        signals.push(options?.signal);
        // The second evaluation never returns (a hung simulator).
        return ++calls === 1 ? forward.forward(x, batch) : new Promise<Float32Array>(() => undefined);
      },
    };
    const controller = new AbortController();
    const run = new EnKG({ ensembleSize: 8, steps: 10 }).solve({ prior, forward: stuck, observation }, { seed: 1, signal: controller.signal });
    while (calls < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(signals).toEqual([controller.signal, controller.signal]);
  });

  it('reports progress once per step with the data misfit', async () => {
    const { prior, forward, observation } = await linearProblem();
    const events: Array<{ step: number; steps: number; phase: string; misfit: number }> = [];
    await new EnKG({ ensembleSize: 8, steps: 10 }).solve({ prior, forward, observation }, { onProgress: (e) => events.push(e) });
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(events.every((e) => e.steps === 10)).toBe(true);
    expect(events[0].phase).toBe('prior');
    expect(Number.isFinite(events[9].misfit)).toBe(true);
  });

  it('rejects a wrong observation length, a prior of another shape, ensembleSize < 2 and unknown options', async () => {
    const { prior, forward, observation } = await linearProblem();
    const enkg = new EnKG({ ensembleSize: 4, steps: 4 });
    await expect(enkg.solve({ prior, forward, observation: observation.subarray(1) }))
      .rejects.toThrow('Expected 16 floats (forward.measurementSize) for problem.observation.length but received 15');
    const other = new GaussianRandomFieldPrior({ resolution: 16, alpha: 2, tau: 3 });
    await expect(enkg.solve({ prior: other, forward, observation }))
      .rejects.toThrow(/Expected a prior whose field shape is the forward model's \(1 x 8 x 8\) for problem.prior.shape but received 1 x 16 x 16/);
    const nanObservation = observation.slice();
    nanObservation[2] = NaN;
    await expect(enkg.solve({ prior, forward, observation: nanObservation })).rejects.toThrow(/problem.observation\[2\]/);
    expect(() => new EnKG({ ensembleSize: 1 })).toThrow('Expected an integer >= 2 for EnKG ensembleSize but received 1');
    expect(() => new EnKG({ ensembleSize: 4, guidance: 2 } as never)).toThrow(/an option of EnKG but received 'guidance'/);
    expect(() => new EnKG({ thresholdStart: 2 })).toThrow(/EnKG thresholdStart/);
    await expect(enkg.solve({ prior, forward, observation }, { seeed: 1 } as never)).rejects.toThrow(/'seeed'/);
  });

  it('accepts a problem that carries more than InverseProblem names (a truth kept beside it, a class instance)', async () => {
    const { prior, forward, observation, truth } = await linearProblem();
    const withTruth = { prior, forward, observation, truth };
    const result = await new EnKG({ ensembleSize: 4, steps: 3 }).solve(withTruth, { seed: 2 });
    const plain = await new EnKG({ ensembleSize: 4, steps: 3 }).solve({ prior, forward, observation }, { seed: 2 });
    expect(result.particles).toEqual(plain.particles);
  });
});
