// DPS with the exact gradient: the derivative-based reference beside the
// black-box methods, on a linear problem whose gradient is A^T r.
import { DPS, ForwardModel, GaussianRandomFieldPrior, InverseProblem, gaussianRandomField } from '../lib';
import { main } from '../lib/cli/main';
import { LinearForwardModel, randomMatrix } from './helpers/linear';

const R = 8, D = R * R, M = 24;

async function problem(withGradient: boolean): Promise<{ p: InverseProblem; linear: LinearForwardModel; gradientCalls: () => number }> {
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2.5, tau: 3, scale: 0.4 });
  const linear = new LinearForwardModel([1, R, R], randomMatrix(M, D, 9), M);
  let calls = 0;
  const forward: ForwardModel = {
    fieldShape: [1, R, R], measurementSize: M,
    forward: (x, b) => linear.forward(x, b),
    ...(withGradient ? {
      misfitGradient: async (_x: Float32Array, r: Float32Array, b: number) => {
        calls++;
        const g = new Float32Array(b * D);
        for (let n = 0; n < b; n++) for (let i = 0; i < M; i++) for (let j = 0; j < D; j++) g[n * D + j] += linear.A[i * D + j] * r[n * M + i];
        return g;
      },
    } : {}),
  };
  const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2.5, tau: 3, seed: 31, backend: 'cpu' });
  for (let k = 0; k < D; k++) truth[k] /= 0.4;
  return { p: { prior, forward, observation: Float32Array.from(linear.apply(truth)) }, linear, gradientCalls: () => calls };
}

describe('DPS with the exact gradient', () => {
  it('fits the data far better than the same sampler unguided, one gradient call per step', async () => {
    const { p, gradientCalls } = await problem(true);
    const guided = await new DPS({ ensembleSize: 4, steps: 60 }).solve(p, { seed: 2 });
    const unguided = await new DPS({ ensembleSize: 4, steps: 60, guidanceScale: 0 }).solve(p, { seed: 2 });
    const last = (r: typeof guided) => r.trace[r.trace.length - 1].misfit;
    expect(last(guided)).toBeLessThan(last(unguided) / 5);
    expect(guided.cost).toMatchObject({ forwardEvaluations: 4 * 60, forwardSequential: 60 });
    expect(gradientCalls()).toBe(120);
  });

  it('refuses a black-box model, saying what it needs', async () => {
    const { p } = await problem(false);
    await expect(new DPS({ steps: 4 }).solve(p)).rejects.toThrow("DPS needs the forward model's exact gradient (forward.misfitGradient)");
  });

  it('is a usage error on a black-box problem of the CLI', async () => {
    const error = await main(['solve', 'navier-stokes', '--algo', 'dps', '--quiet']).then(() => undefined, (e: Error) => e);
    expect(error?.message).toMatch(/--algo dps needs the forward model's exact gradient, and navier-stokes's model is a black box/);
  }, 60000);
});
