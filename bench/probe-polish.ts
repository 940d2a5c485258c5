// Localized EnKG with the gain, then localized EKI with the gain started
// from its particles, 3 x ITERS iterations: does fitting the data harder
// from the EnKG ensemble lower the error? (bench/RESULTS.md; it does not.)
//   node -r ts-node/register/transpile-only bench/probe-polish.ts FIELD ITERS N ['EKI options JSON']
import { EnKG, EKI, heldOutField, navierStokesInverseProblem, OnnxDenoiser, relativeL2Mean, spreadSkillRatio } from '../lib';
import { NS_PRIOR_64 } from '../lib/paths';
(async () => {
  const field = Number(process.argv[2] ?? 0), iters = Number(process.argv[3] ?? 17), N = Number(process.argv[4] ?? 64);
  const ekiOpts = JSON.parse(process.argv[5] ?? '{"localization":{"halfWidth":0.2},"gain":{}}');
  const prior = await OnnxDenoiser.load(NS_PRIOR_64);
  const truth = await heldOutField(field);
  const { problem } = await navierStokesInverseProblem({ prior, truth, noise: 0, seed: 1000 + field, backend: 'cpu', time: 0.25 });
  const r = await new EnKG({ ensembleSize: N, steps: 20, updates: 1, localization: { halfWidth: 0.2 }, gain: {} }).solve(problem, { seed: field, backend: 'cpu' });
  console.log('enkg', relativeL2Mean(r.particles, N, truth).toFixed(3), (await spreadSkillRatio(r.particles, N, truth)).toFixed(3), r.trace.at(-1)!.misfit.toPrecision(3));
  let last = r.particles;
  for (let k = 1; k <= 3; k++) {
    const e = await new EKI({ ensembleSize: N, iterations: iters, initial: last, ...ekiOpts }).solve(problem, { seed: field, backend: 'cpu' });
    last = e.particles;
    console.log(`+eki x${k * iters}`, relativeL2Mean(e.particles, N, truth).toFixed(3), (await spreadSkillRatio(e.particles, N, truth)).toFixed(3), e.trace.map((t) => t.misfit.toPrecision(2)).join(' '));
  }
  await prior.dispose();
})();
