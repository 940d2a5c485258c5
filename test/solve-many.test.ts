// solveMany: B problems sharing a prior and a forward model advance
// together, every call one batch, and each gets the result of its own run.
import {
  DPG, EKI, EnKG, ForwardEvaluationError, ForwardModel, GaussianRandomFieldPrior, InverseProblem, SCG, gaussianRandomField, solveMany,
} from '../lib';
import { LinearForwardModel, randomMatrix } from './helpers/linear';

const R = 8, D = R * R, M = 16;

/** A linear model that counts its calls and the rows of each. */
class CountingModel extends LinearForwardModel {
  batches: number[] = [];
  failRows: number[] = [];
  async forward(x: Float32Array, batch: number): Promise<Float32Array> {
    this.batches.push(batch);
    const y = await super.forward(x, batch);
    const failing = this.failRows.filter((n) => n < batch);
    if (failing.length === 0) return y;
    for (const n of failing) y.fill(NaN, n * M, (n + 1) * M);
    throw new ForwardEvaluationError('rows failed', failing.map((index) => ({ index, reason: `row ${index}` })), y);
  }
}

async function problems(B: number) {
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2.5, tau: 3, scale: 0.4 });
  const forward = new CountingModel([1, R, R], randomMatrix(M, D, 3), M);
  const list: InverseProblem[] = [];
  for (let b = 0; b < B; b++) {
    const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2.5, tau: 3, seed: 50 + b, backend: 'cpu' });
    for (let k = 0; k < D; k++) truth[k] /= 0.4;
    list.push({ prior, forward, observation: Float32Array.from(forward.apply(truth)) });
  }
  return { list, forward, prior };
}

describe('solveMany', () => {
  it.each([
    ['enkg', () => new EnKG({ ensembleSize: 6, steps: 8, updates: 2 })],
    ['eki', () => new EKI({ ensembleSize: 6, iterations: 4 })],
    ['dpg (skips calls when no sample is guided)', () => new DPG({ ensembleSize: 2, mcSamples: 4, steps: 5 })],
    ['scg', () => new SCG({ ensembleSize: 2, candidates: 3, steps: 6, threshold: 0.25 })],
  ])('%s: each problem gets the particles, trace and cost of a separate run with its seed, in batched calls', async (_name, make) => {
    const B = 3;
    const { list, forward } = await problems(B);
    const separate = [];
    for (let b = 0; b < B; b++) separate.push(await make().solve(list[b], { seed: 10 + b }));
    const separateCalls = forward.batches.length;
    forward.batches = [];
    const together = await solveMany(make(), list, { seeds: [10, 11, 12] });
    for (let b = 0; b < B; b++) {
      expect(together[b].particles).toEqual(separate[b].particles);
      expect(together[b].trace).toEqual(separate[b].trace);
      expect(together[b].cost.forwardEvaluations).toBe(separate[b].cost.forwardEvaluations);
      expect(together[b].cost.forwardSequential).toBe(separate[b].cost.forwardSequential);
    }
    // B runs' calls went out together: a third of the calls, each B times as large.
    expect(forward.batches.length).toBeLessThanOrEqual(separateCalls / B + 1);
  });

  it('hands each run its own failed rows, renumbered, and keeps the others whole', async () => {
    const { list, forward } = await problems(2);
    forward.failRows = [8]; // problem 1's particle 2 in every combined call
    const results = await solveMany(new EKI({ ensembleSize: 6, iterations: 2 }), list, { seed: 1 });
    expect(results[0].failures).toEqual([]);
    expect(results[1].failures.map((f) => [f.index, f.step, f.reason])).toEqual([[2, 1, 'row 8'], [2, 2, 'row 8']]);
  });

  it('refuses problems that do not share their prior and model, and names a failed problem', async () => {
    const { list } = await problems(2);
    const other: ForwardModel = { fieldShape: [1, R, R], measurementSize: M, forward: async () => { throw new Error('broken simulator'); } };
    await expect(solveMany(new EKI({ ensembleSize: 4, iterations: 1 }), [list[0], { ...list[1], forward: other }]))
      .rejects.toThrow('Expected problems that share one prior and one forward model (the same objects) for problems[1] but received other ones');
    await expect(solveMany(new EKI({ ensembleSize: 4, iterations: 1 }), [{ ...list[0], forward: other }, { ...list[1], forward: other }]))
      .rejects.toThrow('solveMany: problem 0 failed: broken simulator');
  });
});

describe('solveMany with the shipped ONNX image prior', () => {
  it('gives each problem the particles of its separate run (batching rows does not change the network\'s output)', async () => {
    const { OnnxDenoiser } = await import('../lib');
    const path = await import('node:path');
    const prior = await OnnxDenoiser.load(path.join(__dirname, '..', 'models', 'fashion-mnist-32.onnx'), { executionProviders: ['cpu'] });
    try {
      const forward = new LinearForwardModel([1, 32, 32], randomMatrix(12, 1024, 4), 12);
      const list: InverseProblem[] = [0, 1].map((b) => ({
        prior, forward, observation: Float32Array.from({ length: 12 }, (_v, k) => Math.sin(k + b)),
      }));
      const make = () => new EnKG({ ensembleSize: 4, steps: 6, updates: 1 });
      const separate = [await make().solve(list[0], { seed: 3 }), await make().solve(list[1], { seed: 4 })];
      const together = await solveMany(make(), list, { seeds: [3, 4] });
      expect(together[0].particles).toEqual(separate[0].particles);
      expect(together[1].particles).toEqual(separate[1].particles);
    } finally {
      await prior.dispose();
    }
  });
});
