// Failure policies and misfit models as types: a forward model that fails
// chosen particles at chosen calls; exclude leaves them as they were,
// resample redraws them in the span of the particles that evaluated, abort
// and a success fraction below the minimum fail the run with their errors.
import {
  AbortOnFailure, EKI, EnKG, ExcludeFailures, ForwardEvaluationError, ForwardModel, GaussianNoiseMisfit,
  GaussianRandomFieldPrior, InverseProblem, L2Misfit, ResampleFailures, RunState, gaussianRandomField,
} from '../lib';
import { LinearForwardModel, randomMatrix } from './helpers/linear';

const R = 8, D = R * R, M = 16;

/** The linear model, failing particles `fail[call]` (0-based call numbers) with a reason. */
class FlakyModel implements ForwardModel {
  readonly fieldShape: [number, number, number] = [1, R, R];
  readonly measurementSize = M;
  calls = 0;
  constructor(private readonly inner: LinearForwardModel, private readonly fail: Record<number, number[]>) {}
  async forward(x: Float32Array, batch: number): Promise<Float32Array> {
    const y = await this.inner.forward(x, batch);
    const failing = (this.fail[this.calls++] ?? []).filter((n) => n < batch);
    if (failing.length === 0) return y;
    for (const n of failing) y.fill(NaN, n * M, (n + 1) * M);
    throw new ForwardEvaluationError('some failed', failing.map((index) => ({ index, reason: `simulator crash ${index}` })), y);
  }
}

async function problem(fail: Record<number, number[]>): Promise<{ p: InverseProblem; model: FlakyModel }> {
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2.5, tau: 3, scale: 0.4 });
  const linear = new LinearForwardModel([1, R, R], randomMatrix(M, D, 3), M);
  const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2.5, tau: 3, seed: 77, backend: 'cpu' });
  for (let k = 0; k < D; k++) truth[k] /= 0.4;
  const model = new FlakyModel(linear, fail);
  return { p: { prior, forward: model, observation: Float32Array.from(linear.apply(truth)) }, model };
}

const row = (s: RunState, n: number) => s.particles.slice(n * D, (n + 1) * D);

/** Distance of v - mean from the span of rows - mean, relative to |v - mean| (float64 least squares). */
function outsideSpan(rows: Float32Array[], v: Float32Array): number {
  const n = rows.length;
  const mean = new Float64Array(D);
  for (const r of rows) for (let j = 0; j < D; j++) mean[j] += r[j] / n;
  const basis = rows.map((r) => Float64Array.from(r, (x, j) => x - mean[j]));
  const target = Float64Array.from(v, (x, j) => x - mean[j]);
  // Gram-Schmidt over the deviations, then the residual of the target.
  const ortho: Float64Array[] = [];
  for (const b of basis) {
    const u = b.slice();
    for (const q of ortho) {
      let dot = 0;
      for (let j = 0; j < D; j++) dot += u[j] * q[j];
      for (let j = 0; j < D; j++) u[j] -= dot * q[j];
    }
    let norm = 0;
    for (let j = 0; j < D; j++) norm += u[j] * u[j];
    if (norm > 1e-20) ortho.push(u.map((x) => x / Math.sqrt(norm)));
  }
  const r = target.slice();
  for (const q of ortho) {
    let dot = 0;
    for (let j = 0; j < D; j++) dot += r[j] * q[j];
    for (let j = 0; j < D; j++) r[j] -= dot * q[j];
  }
  const size = (a: Float64Array) => Math.sqrt(a.reduce((s, x) => s + x * x, 0));
  return size(r) / size(target);
}

describe('failure policies on EKI (calls 0.. are iterations 1..)', () => {
  it('exclude: a failed particle sits out its update, is recorded with its step and reason, and the rest move', async () => {
    const { p } = await problem({ 1: [2] });
    const eki = new EKI({ ensembleSize: 6, iterations: 3 });
    const opts = { seed: 1, onForwardFailure: new ExcludeFailures() };
    let s = await eki.advance(p, await eki.init(p, opts), opts);
    const before = s;
    s = await eki.advance(p, s, opts);
    expect(row(s, 2)).toEqual(row(before, 2));
    expect(row(s, 1)).not.toEqual(row(before, 1));
    expect(s.failures).toEqual([{ index: 2, reason: 'simulator crash 2', step: 2 }]);
    expect(s.cost.forwardEvaluations).toBe(12);
  });

  it('resample: a failed particle is redrawn inside the span of the updated particles that evaluated', async () => {
    const { p } = await problem({ 1: [2, 4] });
    const eki = new EKI({ ensembleSize: 6, iterations: 3 });
    const opts = { seed: 1, onForwardFailure: new ResampleFailures() };
    let s = await eki.advance(p, await eki.init(p, opts), opts);
    const before = s;
    s = await eki.advance(p, s, opts);
    expect(s.failures).toEqual([
      { index: 2, reason: 'simulator crash 2', step: 2, resampled: true },
      { index: 4, reason: 'simulator crash 4', step: 2, resampled: true },
    ]);
    const survivors = [0, 1, 3, 5].map((n) => row(s, n));
    for (const n of [2, 4]) {
      expect(row(s, n)).not.toEqual(row(before, n));
      expect(row(s, n).every(Number.isFinite)).toBe(true);
      expect(outsideSpan(survivors, row(s, n))).toBeLessThan(1e-4);
      // A fresh draw, not a copy of the mean or of a survivor.
      for (const v of survivors) expect(row(s, n)).not.toEqual(v);
    }
    expect(row(s, 2)).not.toEqual(row(s, 4));
  });

  it('resample below its minimum success fraction fails with the documented error', async () => {
    const { p } = await problem({ 0: [0, 1, 2, 3] });
    await expect(new EKI({ ensembleSize: 6, iterations: 2 }).solve(p, { onForwardFailure: new ResampleFailures({ minSuccessFraction: 0.5 }) }))
      .rejects.toThrow('Only 2 of 6 forward evaluations succeeded at step 1, below the failure policy\'s minimum success fraction 0.5 (resample); the error\'s failures list them');
    const { p: q } = await problem({ 0: [0, 1, 2, 3] });
    await expect(new EKI({ ensembleSize: 6, iterations: 2 }).solve(q, { onForwardFailure: 'exclude' })).resolves.toBeDefined();
  });

  it('abort: the solve rejects with the model\'s ForwardEvaluationError, or one naming the step for non-finite rows', async () => {
    const { p } = await problem({ 1: [3] });
    const error = await new EKI({ ensembleSize: 6, iterations: 3 }).solve(p, { onForwardFailure: new AbortOnFailure() }).catch((e) => e);
    expect(error).toBeInstanceOf(ForwardEvaluationError);
    expect(error.failures).toEqual([{ index: 3, reason: 'simulator crash 3' }]);
    const { p: q, model } = await problem({});
    const silent: ForwardModel = { ...model, fieldShape: model.fieldShape, measurementSize: M, forward: async (x, b) => {
      const y = await model.forward(x, b);
      y[M] = NaN; // particle 1 comes back non-finite without an error
      return y;
    } };
    const error2 = await new EKI({ ensembleSize: 6, iterations: 3 }).solve({ ...q, forward: silent }, { onForwardFailure: 'abort' }).catch((e) => e);
    expect(error2).toBeInstanceOf(ForwardEvaluationError);
    expect(error2.message).toBe('1 of 6 forward evaluations failed at step 1');
  });

  it('rejects an unknown policy naming the option', async () => {
    const { p } = await problem({});
    await expect(new EKI({ ensembleSize: 4, iterations: 1 }).solve(p, { onForwardFailure: 'retry' as never }))
      .rejects.toThrow(/Expected 'exclude', 'abort', 'resample' or a FailurePolicy .* for onForwardFailure but received/);
    expect(() => new ResampleFailures({ minSuccessFraction: 2 })).toThrow('Expected a fraction in [0, 1] for ResampleFailures minSuccessFraction but received 2');
  });

  it('EnKG under resample completes through failures at several steps and lists every one', async () => {
    const { p, model } = await problem({ 1: [0], 3: [5, 1], 4: [2] });
    const result = await new EnKG({ ensembleSize: 6, steps: 8, updates: 1 }).solve(p, { seed: 2, onForwardFailure: 'resample' });
    expect(model.calls).toBeGreaterThanOrEqual(5);
    expect(result.failures.map((f) => [f.step, f.index, f.resampled])).toEqual([
      [3, 0, true], [5, 1, true], [5, 5, true], [6, 2, true],
    ]);
    expect(result.particles.every(Number.isFinite)).toBe(true);
  });
});

describe('misfit models', () => {
  it('GaussianNoiseMisfit: value is the reduced chi-squared and residuals are weighted by 1/sigma^2', () => {
    const obs = Float32Array.from([1, 2, 3]);
    const std = Float32Array.from([0.5, 1, 2]);
    const model = new GaussianNoiseMisfit(obs, std);
    const y = Float32Array.from([2, 2, 5, 1, 1, 1]);
    const value = model.value(y, 2);
    expect(value[0]).toBeCloseTo(((1 / 0.5) ** 2 + 0 + (2 / 2) ** 2) / 3, 12);
    expect(value[1]).toBeCloseTo(((0 / 0.5) ** 2 + (1 / 1) ** 2 + (2 / 2) ** 2) / 3, 12);
    expect(Array.from(model.gradient(y, 2))).toEqual([4, 0, 0.5, 0, -1, -0.5]);
    expect(() => new GaussianNoiseMisfit(obs, 0)).toThrow('Expected noise stds > 0 (one, or one per measurement) for GaussianNoiseMisfit std but received 0');
  });

  it('the run reports the model\'s value as its misfit, and L2Misfit is the default', async () => {
    const { p } = await problem({});
    const plain = await new EKI({ ensembleSize: 6, iterations: 2 }).solve(p, { seed: 3 });
    const explicit = await new EKI({ ensembleSize: 6, iterations: 2 }).solve({ ...p, misfit: new L2Misfit(p.observation) }, { seed: 3 });
    expect(explicit.particles).toEqual(plain.particles);
    expect(explicit.trace.map((t) => t.misfit)).toEqual(plain.trace.map((t) => t.misfit));
    const chi = await new EKI({ ensembleSize: 6, iterations: 2 }).solve({ ...p, misfit: new GaussianNoiseMisfit(p.observation, 0.5) }, { seed: 3 });
    // Uniform noise only rescales the residuals (the step is normalized), and the value by 1 / 0.25.
    expect(chi.particles).toEqual(plain.particles);
    expect(chi.trace[0].misfit).toBeCloseTo(plain.trace[0].misfit / 0.25, 6);
  });
});
