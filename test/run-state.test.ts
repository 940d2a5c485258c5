// Runs as values: every algorithm's solve() is init + advance per step, a
// run advanced by hand (or continued from a copy of a state taken half-way,
// as a resumed process would) ends with the same particles, and a state is
// refused by an algorithm of another kind or configuration.
import {
  Algorithm, DPG, DPSGSG, EKI, EnKG, GaussianRandomFieldPrior, InverseProblem, RunState, SCG, gaussianRandomField,
} from '../lib';
import { LinearForwardModel, randomMatrix } from './helpers/linear';

const R = 8, D = R * R;

async function problem(): Promise<InverseProblem> {
  const prior = new GaussianRandomFieldPrior({ resolution: R, alpha: 2.5, tau: 3, scale: 0.4 });
  const forward = new LinearForwardModel([1, R, R], randomMatrix(16, D, 3), 16);
  const truth = await gaussianRandomField({ resolution: R, count: 1, alpha: 2.5, tau: 3, seed: 77, backend: 'cpu' });
  for (let k = 0; k < D; k++) truth[k] /= 0.4;
  return { prior, forward, observation: Float32Array.from(forward.apply(truth)) };
}

/** A deep copy (typed arrays copied, the rest through JSON): a state as it comes back from a file. */
function copied(state: RunState): RunState {
  const carry = Object.fromEntries(Object.entries(state.carry).map(([k, v]) => [k, v.slice()]));
  const plain = JSON.parse(JSON.stringify({ ...state, particles: undefined, carry: undefined }, (_k, v) => (Number.isNaN(v) ? 'NaN' : v)),
    (_k, v) => (v === 'NaN' ? NaN : v));
  return { ...plain, particles: state.particles.slice(), carry };
}

const algorithms: Array<[string, () => Algorithm]> = [
  ['enkg', () => new EnKG({ ensembleSize: 6, steps: 8, updates: 2 })],
  // Half-way falls in the first restart pass.
  ['enkg with restarts', () => new EnKG({ ensembleSize: 6, steps: 8, updates: 2, restarts: [{ sigma: 2, steps: 4 }, { sigma: 1, steps: 6 }] })],
  ['eki', () => new EKI({ ensembleSize: 6, iterations: 5 })],
  ['dps-gsg-central', () => new DPSGSG({ ensembleSize: 2, scheme: 'central', queries: 6, steps: 6 })],
  ['dpg', () => new DPG({ ensembleSize: 2, mcSamples: 6, steps: 6 })],
  ['scg', () => new SCG({ ensembleSize: 2, candidates: 3, steps: 8, threshold: 0.25 })],
];

describe.each(algorithms)('%s as a run state', (_name, make) => {
  it('advancing by hand gives the particles, trace and counts of solve()', async () => {
    const p = await problem();
    const algorithm = make();
    const reference = await algorithm.solve(p, { seed: 5 });
    let state = await algorithm.init(p, { seed: 5 });
    expect(state).toMatchObject({ algorithm: algorithm.name, step: 0, seed: 5 });
    const steps = state.steps;
    let taken = 0;
    while (state.step < state.steps) {
      const before = state.particles.slice();
      const next = await algorithm.advance(p, state, { seed: 5 });
      expect(state.particles).toEqual(before); // advance leaves its input alone
      expect(next.step).toBe(state.step + 1);
      state = next;
      taken++;
    }
    expect(taken).toBe(steps);
    expect(state.particles).toEqual(reference.particles);
    expect(state.trace).toEqual(reference.trace);
    const { wallSeconds: _w, phaseSeconds: _p, peakRssBytes: _r, ...counts } = state.cost;
    expect(reference.cost).toMatchObject(counts);
  });

  it('a copy of a state taken half-way continues to the same end in a fresh algorithm object', async () => {
    const p = await problem();
    const reference = await make().solve(p, { seed: 9 });
    let state = await make().init(p, { seed: 9 });
    for (let i = 0; i < Math.floor(state.steps / 2); i++) state = await make().advance(p, state, { seed: 9 });
    state = copied(state);
    const other = make();
    while (state.step < state.steps) state = await other.advance(p, state, { seed: 9 });
    expect(state.particles).toEqual(reference.particles);
    expect(state.cost.forwardEvaluations).toBe(reference.cost.forwardEvaluations);
  });
});

describe.each(algorithms)('%s numbers its steps 1..K', (_name, make) => {
  it('in progress events, trace entries and the run state alike', async () => {
    const p = await problem();
    const algorithm = make();
    const progress: number[] = [];
    const state = await algorithm.init(p, { seed: 2 });
    let s = state;
    while (s.step < s.steps) s = await algorithm.advance(p, s, { seed: 2, onProgress: (e) => progress.push(e.step) });
    expect(progress).toEqual(Array.from({ length: s.steps }, (_v, k) => k + 1));
    expect(s.trace.length).toBeGreaterThan(0);
    for (const entry of s.trace) {
      expect(entry.step).toBeGreaterThanOrEqual(1);
      expect(entry.step).toBeLessThanOrEqual(s.steps);
    }
  });
});

describe('states that do not belong', () => {
  it('are refused with what differs: the algorithm, its configuration, the seed, the step', async () => {
    const p = await problem();
    const state = await new EnKG({ ensembleSize: 6, steps: 8 }).init(p, { seed: 1 });
    await expect(new EKI({ ensembleSize: 6, iterations: 5 }).advance(p, state, { seed: 1 }))
      .rejects.toThrow('Expected a run state of eki but received one of enkg');
    await expect(new EnKG({ ensembleSize: 6, steps: 9 }).advance(p, state, { seed: 1 }))
      .rejects.toThrow(/Expected a run state with this enkg configuration but received another: the state has .*"steps":8/);
    await expect(new EnKG({ ensembleSize: 6, steps: 8 }).advance(p, state, { seed: 2 }))
      .rejects.toThrow("Expected the run's seed (1) for seed but received 2");
    await expect(new EnKG({ ensembleSize: 6, steps: 8 }).advance(p, { ...state, step: 99 }, { seed: 1 }))
      .rejects.toThrow('Expected a step in 0..8 for state.step but received 99');
  });
});
