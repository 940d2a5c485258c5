// A restart probe (issue 18, T = 0.5): one held-out Navier-Stokes field, an
// EnKG run, then further EnKG passes, each from a noise level S started at the
// particles the pass before it ended with plus fresh noise of that level
// (x + S z), so its Kalman steps linearize the forward model around an
// ensemble that already fits the data. The library's form of the same is
// EnKG's `restarts` option; this probe reports after every pass. Prints the
// ensemble-mean and per-particle relative L2, spread-skill and misfit after
// each pass.
//   node -r ts-node/register/transpile-only bench/probe-restart.ts OPTIONS_JSON SIGMA:STEPS[:G[:L]][,...] FIELD T NOISE [PASS_JSON]
// (each SIGMA:STEPS one more pass, from the one before it; G its guidance scale, L its cap on the
// Euler steps of the clean estimates, as --restart reads them)
// OPTIONS_JSON: EnKG's options for every pass (N = 128, K = 20, U = 1 unless said);
// PASS_JSON: options of the restart passes only, over OPTIONS_JSON (e.g. '{"guidanceScale":4}').
import {
  EnKG, heldOutField, navierStokesInverseProblem, OnnxDenoiser, parseRestarts, randomNormal, relativeL2, relativeL2Mean, spreadSkillRatio,
} from '../lib';
import type { RunState } from '../lib';
import { NS_PRIOR_64 } from '../lib/paths';

(async () => {
  const opts = JSON.parse(process.argv[2] ?? '{}');
  const passes = parseRestarts(process.argv[3] ?? '5:15', 'the passes (second argument)');
  const field = Number(process.argv[4] ?? 0), time = Number(process.argv[5] ?? 0.5), noise = Number(process.argv[6] ?? 0);
  const passOpts = JSON.parse(process.argv[7] ?? '{}');
  const prior = await OnnxDenoiser.load(NS_PRIOR_64);
  const truth = await heldOutField(field);
  const { problem } = await navierStokesInverseProblem({ prior, truth, noise, seed: 1000 + field, backend: 'cpu', time });
  const t0 = Date.now();
  const report = async (label: string, particles: Float32Array, misfit: number) => {
    const n = particles.length / truth.length;
    console.log(`field ${field} ${label}: relL2(mean) ${relativeL2Mean(particles, n, truth).toFixed(3)} relL2 ${relativeL2(particles, n, truth).toFixed(3)}`
      + ` ss ${(await spreadSkillRatio(particles, n, truth)).toFixed(3)} misfit ${misfit.toPrecision(3)} ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  };
  const first = new EnKG({ ensembleSize: 128, steps: 20, updates: 1, ...opts });
  const r1 = await first.solve(problem, { seed: field, backend: 'cpu' });
  await report('pass 1', r1.particles, r1.trace[r1.trace.length - 1].misfit);
  let particles = r1.particles;
  for (const [p, { sigma: sigma2, steps: steps2, ...own }] of passes.entries()) {
    // The pass's own G and L (guidanceScale, maxOdeSteps) over PASS_JSON.
    const second = new EnKG({ ensembleSize: 128, updates: 1, ...opts, ...passOpts, ...own, steps: steps2, sigmaMax: sigma2 });
    const seed = field + 7919 * (p + 1);
    let state: RunState = await second.init(problem, { seed, backend: 'cpu' });
    const z = await randomNormal({ count: truth.length, streams: second.config.ensembleSize, seed: seed + 104729, backend: 'cpu' });
    state = { ...state, particles: Float32Array.from(particles, (v, k) => v + sigma2 * z[k]) };
    while (state.step < state.steps) state = await second.advance(problem, state, { seed, backend: 'cpu' });
    particles = state.particles;
    await report(`pass ${p + 2} (sigma ${sigma2}, ${steps2} steps)`, particles, state.misfit);
  }
  await prior.dispose();
})();
