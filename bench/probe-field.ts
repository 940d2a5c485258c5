// One held-out Navier-Stokes field, one EnKG (or EKI) run with the options
// given as JSON; prints the ensemble-mean and per-particle relative L2, the
// spread-skill ratio and the misfit after each correction (bench/RESULTS.md,
// "Single-field probes"). N = 64, K = 20, U = 1 unless the JSON says otherwise.
//   node -r ts-node/register/transpile-only bench/probe-field.ts '{"localization":{"halfWidth":0.2}}' FIELD T NOISE
// "oracle": true (with "localization": {..., "follow": true}) centres the taper
// on the points carried back along the TRUE field's flow instead of the
// ensemble mean's: the bound on what following the flow can give.
import { EnKG, EKI, heldOutField, navierStokesInverseProblem, OnnxDenoiser, relativeL2, relativeL2Mean, spreadSkillRatio } from '../lib';
import { NS_PRIOR_64 } from '../lib/paths';
(async () => {
  const { oracle, ...opts } = JSON.parse(process.argv[2] ?? '{}');
  const field = Number(process.argv[3] ?? 0), time = Number(process.argv[4] ?? 0.25), noise = Number(process.argv[5] ?? 0);
  const prior = await OnnxDenoiser.load(NS_PRIOR_64);
  const truth = await heldOutField(field);
  const { problem, model } = await navierStokesInverseProblem({ prior, truth, noise, seed: 1000 + field, backend: 'cpu', time });
  if (oracle) {
    const sources = await model.traceBack(truth, problem.geometry!.measurementPoints);
    problem.geometry = { ...problem.geometry!, measurementSources: async () => sources };
  }
  const algo = opts.eki ? new EKI({ ensembleSize: 64, ...opts.eki }) : new EnKG({ ensembleSize: 64, steps: 20, updates: 1, ...opts });
  const t0 = Date.now();
  const r = await algo.solve(problem, { seed: field, backend: 'cpu' });
  const n = r.particles.length / truth.length;
  const tr = r.trace.map((t) => `${t.misfit.toPrecision(2)}`).join(' ');
  console.log(JSON.stringify({ ...opts, ...(oracle ? { oracle } : {}) }), `field ${field}`, 'relL2(mean)', relativeL2Mean(r.particles, n, truth).toFixed(3), 'relL2', relativeL2(r.particles, n, truth).toFixed(3),
    'ss', (await spreadSkillRatio(r.particles, n, truth)).toFixed(3), `${((Date.now() - t0) / 1000).toFixed(0)} s`, '\n  misfit:', tr);
  await prior.dispose();
})();
