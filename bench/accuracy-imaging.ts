// The accuracy benchmark's imaging rows (npm run bench:accuracy -- --problem
// inpainting | super-resolution | deblur | phase-retrieval): PSNR and SSIM,
// mean +- std over held-out Fashion-MNIST test images, for EnKG and the
// black-box baselines at matched forward budgets (the same sizing as the
// Navier-Stokes table; see accuracy.ts), on the shipped 32x32 prior with
// the problem's default operator and noise 0.05. The problem is set up by
// its registry entry, exactly as `enkg solve` sets it up.
//
// Options: --images 10  --algos enkg,eki,...  --ensemble 128 --steps 20 --updates 1
//          --vp-steps 34  --backend cpu|cuda|auto  --out FILE
// The gradient-based DPS with the exact gradient (the models' misfitGradient)
// is not a row yet: there is no such algorithm in lib/algorithms.
import { parseArgs } from 'node:util';

import { EnKG, OnnxDenoiser, parseExecutionProviders, resolveBackend } from '../lib';
import { ALGORITHM_NAMES, algorithmEntry } from '../lib/algorithms/registry';
import { problemEntry } from '../lib/problems/registry';

import { writeResults } from './common';

const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v: number[]): number => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));

export async function imagingAccuracy(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      problem: { type: 'string' }, images: { type: 'string', default: '10' }, algos: { type: 'string', default: ALGORITHM_NAMES.join(',') },
      ensemble: { type: 'string', default: '128' }, steps: { type: 'string', default: '20' }, updates: { type: 'string', default: '1' },
      'vp-steps': { type: 'string', default: '34' }, backend: { type: 'string', default: 'auto' },
      'prior-provider': { type: 'string', default: 'auto' }, out: { type: 'string' },
    },
  });
  const entry = problemEntry(String(values.problem));
  if (!entry || entry.name === 'navier-stokes') throw new Error(`--problem: expected an imaging problem, received '${values.problem}'`);
  const backend = await resolveBackend(values.backend);
  const images = Number(values.images), N = Number(values.ensemble), K = Number(values.steps), U = Number(values.updates);
  const vpSteps = Number(values['vp-steps']);
  const names = String(values.algos).split(',');
  for (const name of names) if (!ALGORITHM_NAMES.includes(name)) throw new Error(`--algos: unknown algorithm '${name}'`);
  const prior = await OnnxDenoiser.load(entry.defaultPrior, { executionProviders: parseExecutionProviders(String(values['prior-provider']), backend) });
  const enkg = new EnKG({ ensembleSize: N, steps: K, updates: U });
  const budget = U * N * enkg.guidedSteps();
  const table = names.map((name) => (name === 'enkg'
    ? { name, algorithm: enkg, budget, settings: { N, K, U, g: enkg.config.guidanceScale } as Record<string, number | string> }
    : { name, ...algorithmEntry(name).forBudget(budget, { ensemble: N, vpSteps }) }));
  console.log(`${entry.name}, Fashion-MNIST 32x32, noise ${entry.defaultNoise}; ${images} held-out test images; backend ${backend}`);
  console.log(`matched forward budget ${budget} per reconstruction:`);
  for (const p of table) console.log(`  ${p.name.padEnd(16)} ${JSON.stringify(p.settings)}  (${p.budget} forward evaluations)`);
  const rows: Array<Record<string, unknown>> = [];
  try {
    for (const plan of table) {
      const psnr: number[] = [], ssim: number[] = [], psnrMean: number[] = [], ssimMean: number[] = [];
      const started = Date.now();
      let notes: string[] | undefined;
      for (let f = 0; f < images; f++) {
        const instance = await entry.setup({
          prior, priorFile: entry.defaultPrior, flags: { image: String(f) }, noise: entry.defaultNoise, seed: 1000 + f, backend,
        });
        const result = await plan.algorithm.solve(instance.problem, { seed: f, backend });
        const n = result.particles.length / instance.truth.length;
        const m = await instance.metrics!(result.particles, n);
        notes = m.notes;
        psnr.push(m.values.psnr); ssim.push(m.values.ssim); psnrMean.push(m.values.psnrMean); ssimMean.push(m.values.ssimMean);
        console.error(`  ${plan.name} image ${f}: PSNR ${m.values.psnr.toFixed(2)} SSIM ${m.values.ssim.toFixed(3)} in ${result.cost.wallSeconds.toFixed(0)} s`);
      }
      const row = {
        problem: entry.name, algorithm: plan.name, settings: plan.settings, budget: plan.budget, images,
        psnr: mean(psnr), psnrStd: std(psnr), ssim: mean(ssim), ssimStd: std(ssim),
        psnrOfMean: mean(psnrMean), ssimOfMean: mean(ssimMean), perImage: { psnr, ssim }, secondsPerRun: (Date.now() - started) / 1000 / images, notes,
      };
      rows.push(row);
      console.log(`${entry.name}  ${plan.name.padEnd(16)} PSNR ${row.psnr.toFixed(2)} +- ${row.psnrStd.toFixed(2)}  SSIM ${row.ssim.toFixed(3)} +- ${row.ssimStd.toFixed(3)}`
        + `  (of the mean: ${row.psnrOfMean.toFixed(2)} / ${row.ssimOfMean.toFixed(3)})  ${row.secondsPerRun.toFixed(0)} s/run`);
    }
  } finally {
    await prior.dispose();
  }
  console.log(`\n| ${entry.name} | PSNR (dB) | SSIM | PSNR of mean | SSIM of mean | fwd | s/run |`);
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows as Array<{ algorithm: string; psnr: number; psnrStd: number; ssim: number; ssimStd: number; psnrOfMean: number; ssimOfMean: number; budget: number; secondsPerRun: number }>) {
    console.log(`| ${r.algorithm} | ${r.psnr.toFixed(2)} +- ${r.psnrStd.toFixed(2)} | ${r.ssim.toFixed(3)} +- ${r.ssimStd.toFixed(3)} | ${r.psnrOfMean.toFixed(2)} | ${r.ssimOfMean.toFixed(3)} | ${r.budget} | ${r.secondsPerRun.toFixed(0)} |`);
  }
  writeResults(`accuracy-${entry.name}-${backend}`, values.out, { problem: entry.name, backend, images, ensemble: N, steps: K, updates: U, vpSteps, rows });
}
