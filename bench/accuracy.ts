// The accuracy benchmark (npm run bench:accuracy): the Navier-Stokes inverse
// problem on held-out fields at observation noise 0, 1, 2 for EnKG and the
// five black-box baselines, with matched forward-evaluation budgets, printed
// as a table like the paper's Table 2 and written as JSON.
//
// The budget is EnKG's forward count, U N (guided steps); each baseline is
// sized to spend the same number of forward evaluations:
//   EKI      N particles, B / N iterations
//   DPS-GSG  one sample, S VP steps of (1 + q) evaluations (q queries; central: q even)
//   DPG      one sample, S VP steps of (1 + M) evaluations (M Monte-Carlo samples)
//   SCG      one sample, C candidates on the G = K - 1 - floor(K / 4) guided steps
//
// Options: --fields 2 [--first-field F: fields F .. F + 1]  --seeds 1  --noise 0,1,2  --algos enkg,eki,...  --ensemble N --steps K --updates U
//          --vp-steps S  --backend cpu|cuda|auto  --prior-provider auto|cuda|webgpu|cpu[,...]  --out FILE
//          --reference [--reference-device cpu|cuda]: also run the PyTorch reference EnKG
//            (bench/enkg_reference.py, from ENKG_PYTORCH_DIR) at the same N, K, U, g on
//            the same fields and prior weights, as an extra row of the table
// --seeds S runs every algorithm S times per field (algorithm seeds f S, ..., f S + S - 1 for
// field f; the observation noise stays the field's), so the table's +- is the spread over
// fields and seeds, and a gap between two rows can be read against it. --seed-offset O adds O
// to every algorithm seed, for more seeds of an earlier run: after a one-seed run (seed f on
// field f), `--seeds 1 --seed-offset 1` runs seed f + 1 on field f.
// --problem inpainting | super-resolution | deblur | phase-retrieval runs the
// imaging rows instead (PSNR/SSIM over held-out images; accuracy-imaging.ts).
// --time T observes the flow at T instead of the paper's 1 (a diagnostic: at a
// shorter horizon the data pin the initial field down with fewer solves).
// --localize C [--normalize unlocalized|coefficient]: EnKG and EKI with distance
// localization of the Kalman step (Gaspari-Cohn half-width C; issue 18).
// --sec: the sampling-error correction; --gain ALPHA|adaptive: the regularized
// gain (both EnKG and EKI; combinable with --localize); --relax A: relaxation to
// prior perturbations after each Kalman step. --guidance G: EnKG's g.
// --follow (with --localize): the taper follows the flow, centred where the
// ensemble mean's trajectory carried each observation point from.
// --restart S:M[:G[:L]][,...]: EnKG's restart passes (re-noise to S, M more guided
// steps at guidance scale G, at most L Euler steps per clean estimate; docs/method.md
// "Restarts"); the baselines' budgets count them.
// --control grf: the method's limit apart from the prior's: ground truths
// drawn from the Gaussian random field alpha 2.5, tau 7 (/ 10) and the exact
// prior of that field (GaussianRandomFieldPrior) instead of the network.
// Every row also reports the ensemble's CRPS and spread-skill ratio (1: calibrated).
// Defaults: the CPU configuration at T = 1 (N = 64, K = 20, U = 1, the
// CLI's sizes at the paper's horizon; one field, no correction unless
// asked: the CLI's default corrections at every horizon are spelled out
// with --localize, --follow, --relax and --restart, as bench/RESULTS.md's
// commands do) takes about 20
// minutes on 2 cores for every algorithm and the three noise levels (two
// fields took 41, see bench/RESULTS.md); with a GPU backend N = 2048,
// K = 80, U = 2, 10 fields (the paper's sizes).
import { parseArgs } from 'node:util';

import {
  crps, EKI, EnKG, GaussianRandomFieldPrior, gaussianRandomField, heldOutField, navierStokesInverseProblem, OnnxDenoiser,
  parseExecutionProviders, parseRestarts, relativeL2, relativeL2Mean, resolveBackend, SolveResult, spreadSkillRatio,
} from '../lib';
import type { Algorithm, Denoiser } from '../lib';
import { algorithmEntry, ALGORITHM_NAMES } from '../lib/algorithms/registry';
import { NS_PRIOR_64 } from '../lib/paths';

import { imagingAccuracy } from './accuracy-imaging';
import { run, runReferenceScript, writeResults } from './common';

const ALL = ALGORITHM_NAMES;
type Name = string;

interface Plan {
  name: Name;
  algorithm: Algorithm;
  /** Forward evaluations the configuration spends (the matched budget, up to rounding). */
  budget: number;
  settings: Record<string, number | string>;
}

/** Each algorithm of the registry sized to spend about EnKG's forward budget, U N (guided steps). */
function plans(names: readonly Name[], enkg: EnKG, vpSteps: number): Plan[] {
  const { ensembleSize: N } = enkg.config;
  const budget = enkg.config.updates * N * enkg.guidedSteps();
  return names.map((name) => (name === 'enkg'
    ? { name, algorithm: enkg, budget, settings: { N, K: enkg.config.steps, U: enkg.config.updates, g: enkg.config.guidanceScale } }
    : { name, ...algorithmEntry(name).forBudget(budget, { ensemble: N, vpSteps }) }));
}

interface ReferenceRun { relativeL2: number; relativeL2Mean: number; misfit: number; forwardEvaluations: number; seconds: number }

/** The PyTorch reference EnKG on one field (bench/enkg_reference.py); a string says why it did not run. */
function runReference(enkg: EnKG, field: number, seed: number, noise: number, device: string): ReferenceRun | string {
  const { ensembleSize, steps, updates, guidanceScale } = enkg.config;
  return runReferenceScript<ReferenceRun>('enkg_reference.py', ['--field', String(field), '--noise', String(noise),
    '--ensemble', String(ensembleSize), '--steps', String(steps), '--updates', String(updates),
    '--guidance', String(guidanceScale), '--seed', String(seed), '--device', device,
    '--batch-size', String(ensembleSize % 64 === 0 ? 64 : ensembleSize)]);
}

const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
const std = (v: number[]): number => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
const kilo = (n: number): string => (n >= 1000 ? `${(n / 1000).toFixed(n >= 10000 ? 0 : 1)}k` : String(n));
const optional = (n: number | undefined): string => (n === undefined ? '-' : kilo(n));

interface Row {
  noise: number; algorithm: string; settings: Record<string, number | string>; fields: number; seeds: number;
  relativeL2: number; relativeL2Std: number; relativeL2Mean: number; perRun: number[];
  forwardEvaluations: number; forwardSequential?: number; denoiserEvaluations?: number; denoiserSequential?: number;
  secondsPerRun: number;
  /** Means over the runs of the ensemble's CRPS and spread-skill ratio. */
  crps?: number; spreadSkill?: number;
  /** The last trace entry's mean misfit (the last correction's forward evaluations), mean over runs. */
  finalMisfit?: number;
}

/** One cell of the table from its runs' errors (per-particle and of the mean), printed as it is made. */
function makeRow(base: Pick<Row, 'noise' | 'algorithm' | 'settings' | 'fields' | 'seeds' | 'secondsPerRun'>,
  errors: number[], meanErrors: number[], cost: Pick<Row, 'forwardEvaluations' | 'forwardSequential' | 'denoiserEvaluations' | 'denoiserSequential'>,
  calibration: Pick<Row, 'crps' | 'spreadSkill' | 'finalMisfit'> = {}): Row {
  const row: Row = { ...base, relativeL2: mean(errors), relativeL2Std: std(errors), relativeL2Mean: mean(meanErrors), perRun: errors, ...cost, ...calibration };
  const calib = (row.crps === undefined ? '' : `  CRPS ${row.crps.toFixed(4)}${row.spreadSkill === undefined ? '' : ` spread-skill ${row.spreadSkill.toFixed(3)}`}`)
    + (row.finalMisfit === undefined ? '' : `  misfit ${row.finalMisfit.toPrecision(3)}`);
  console.log(`noise ${row.noise}  ${row.algorithm.padEnd(16)} rel L2 ${row.relativeL2.toFixed(3)} +- ${row.relativeL2Std.toFixed(3)}`
    + ` (mean ${row.relativeL2Mean.toFixed(3)})${calib}  fwd ${kilo(row.forwardEvaluations)} / seq ${optional(row.forwardSequential)}`
    + `  DM ${optional(row.denoiserEvaluations)} / seq ${optional(row.denoiserSequential)}  ${row.secondsPerRun.toFixed(0)} s/run`);
  return row;
}

async function main(): Promise<void> {
  // --problem inpainting | super-resolution | deblur | phase-retrieval: the imaging rows (accuracy-imaging.ts).
  const problemAt = process.argv.findIndex((a) => a === '--problem' || a.startsWith('--problem='));
  const problem = problemAt < 0 ? 'navier-stokes' : process.argv[problemAt].split('=')[1] ?? process.argv[problemAt + 1];
  if (problem !== 'navier-stokes') return imagingAccuracy(process.argv.slice(2));
  const { values } = parseArgs({
    strict: true,
    options: {
      fields: { type: 'string' }, 'first-field': { type: 'string', default: '0' }, seeds: { type: 'string', default: '1' }, 'seed-offset': { type: 'string', default: '0' }, time: { type: 'string', default: '1' }, noise: { type: 'string', default: '0,1,2' }, algos: { type: 'string', default: ALL.join(',') },
      ensemble: { type: 'string' }, steps: { type: 'string' }, updates: { type: 'string' }, 'vp-steps': { type: 'string' }, backend: { type: 'string', default: 'auto' },
      prior: { type: 'string', default: NS_PRIOR_64 }, 'prior-provider': { type: 'string', default: 'auto' }, out: { type: 'string' },
      reference: { type: 'boolean', default: false }, 'reference-device': { type: 'string', default: 'cpu' },
      problem: { type: 'string', default: 'navier-stokes' },
      localize: { type: 'string' }, normalize: { type: 'string', default: 'unlocalized' }, control: { type: 'string' },
      sec: { type: 'boolean', default: false }, gain: { type: 'string' }, guidance: { type: 'string' }, relax: { type: 'string' },
      follow: { type: 'boolean', default: false }, restart: { type: 'string' },
    },
  });
  const localization = values.localize === undefined ? undefined
    : { halfWidth: Number(values.localize), normalize: values.normalize as 'unlocalized' | 'coefficient', ...(values.follow ? { follow: true } : {}) };
  if (values.follow && !localization) throw new Error('--follow needs --localize C');
  const gain = values.gain === undefined ? undefined : { alpha: values.gain === 'adaptive' ? 'adaptive' as const : Number(values.gain) };
  // The Kalman step's corrections, for EnKG and EKI alike (docs/method.md section 2).
  const relaxation = values.relax === undefined ? undefined : Number(values.relax);
  const corrections = {
    ...(localization ? { localization } : {}), ...(values.sec ? { sec: true } : {}), ...(gain ? { gain } : {}),
    ...(relaxation === undefined ? {} : { relaxation }),
  };
  const correctionLabels: Record<string, number | string> = {
    ...(localization ? { localize: localization.halfWidth } : {}), ...(values.follow ? { follow: 'on' } : {}), ...(values.sec ? { sec: 'on' } : {}), ...(gain ? { gain: String(gain.alpha) } : {}),
    ...(relaxation === undefined ? {} : { relax: relaxation }),
  };
  const guidance = values.guidance === undefined ? {} : { guidanceScale: Number(values.guidance) };
  if (values.control !== undefined && values.control !== 'grf') throw new Error(`--control: expected grf, received '${values.control}'`);
  const control = values.control === 'grf';
  const backend = await resolveBackend(values.backend);
  const gpu = backend === 'cuda';
  const fields = Number(values.fields ?? (gpu ? 10 : 1));
  const firstField = Number(values['first-field']);
  if (!Number.isInteger(firstField) || firstField < 0) throw new Error(`--first-field: expected a non-negative integer, received '${values['first-field']}'`);
  const seeds = Number(values.seeds);
  if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds: expected a positive integer, received '${values.seeds}'`);
  const seedOffset = Number(values['seed-offset']);
  if (!Number.isInteger(seedOffset) || seedOffset < 0) throw new Error(`--seed-offset: expected a non-negative integer, received '${values['seed-offset']}'`);
  /** The algorithm's seed for run s of field f. */
  const seedOf = (f: number, s: number): number => f * seeds + s + seedOffset;
  const time = Number(values.time);
  if (!(time > 0)) throw new Error(`--time: expected a positive number, received '${values.time}'`);
  if (values.reference && time !== 1) throw new Error('--reference: the reference script observes at T = 1 only; drop --time');
  if (!Number.isInteger(fields) || fields < 1) throw new Error(`--fields: expected a positive integer, received '${values.fields}'`);
  const N = Number(values.ensemble ?? (gpu ? 2048 : 64));
  const U = Number(values.updates ?? (gpu ? 2 : 1));
  const K = Number(values.steps ?? (gpu ? 80 : 20));
  const vpSteps = Number(values['vp-steps'] ?? (gpu ? 1000 : 34));
  const noises = String(values.noise).split(',').map(Number);
  const names = String(values.algos).split(',') as Name[];
  for (const name of names) if (!ALL.includes(name)) throw new Error(`--algos: unknown algorithm '${name}' (known: ${ALL.join(', ')})`);

  const providers = parseExecutionProviders(String(values['prior-provider']), backend);
  const prior: Denoiser & { executionProvider?: string; dispose?(): Promise<void> } = control
    ? new GaussianRandomFieldPrior({ resolution: 64, alpha: 2.5, tau: 7, scale: 10 })
    : await OnnxDenoiser.load(String(values.prior), { executionProviders: providers });
  const restarts = values.restart === undefined ? [] : parseRestarts(values.restart, '--restart');
  const enkg = new EnKG({ ensembleSize: N, steps: K, updates: U, ...guidance, ...corrections, ...(restarts.length ? { restarts } : {}) });
  const table = plans(names, enkg, vpSteps).map((p) => (p.name === 'eki' && Object.keys(corrections).length
    ? { ...p, algorithm: new EKI({ ...(p.algorithm as EKI).config, ...corrections }), settings: { ...p.settings, ...correctionLabels } }
    : p));
  const enkgPlan = table.find((p) => p.name === 'enkg');
  if (enkgPlan) {
    Object.assign(enkgPlan.settings, correctionLabels, values.guidance === undefined ? {} : { g: Number(values.guidance) },
      restarts.length ? { restart: values.restart! } : {});
  }
  /** Truth f: a held-out field, or under --control grf a GRF draw (normalized, w / 10). */
  const truthOf = async (f: number): Promise<Float32Array> => {
    if (!control) return heldOutField(f);
    const w = await gaussianRandomField({ resolution: 64, count: 1, alpha: 2.5, tau: 7, seed: 2000 + f, backend: 'cpu' });
    return w.map((v) => v / 10);
  };
  console.log(`Navier-Stokes 64x64, Re 200, T = ${time}, observations 32x32; ${fields} ${control ? 'GRF truths with the exact GRF prior' : 'held-out fields'} from ${firstField} x ${seeds} seeds${seedOffset ? ` (offset ${seedOffset})` : ''}; backend ${backend}, prior on ${prior.executionProvider ?? 'exact (analytic)'}`);
  console.log(`matched forward budget ${enkg.config.updates * N * enkg.guidedSteps()} per reconstruction:`);
  for (const p of table) console.log(`  ${p.name.padEnd(16)} ${JSON.stringify(p.settings)}  (${p.budget} forward evaluations)`);

  const rows: Row[] = [];
  try {
    for (const noise of noises) {
      for (const plan of table) {
        const errors: number[] = [], meanErrors: number[] = [], crpsValues: number[] = [], spreadSkills: number[] = [], misfits: number[] = [];
        let last: SolveResult | undefined;
        const started = Date.now();
        for (let f = firstField; f < firstField + fields; f++) {
          const truth = await truthOf(f);
          const { problem } = await navierStokesInverseProblem({ prior, truth, noise, seed: 1000 + f, backend, time });
          for (let s = 0; s < seeds; s++) {
            const result = await plan.algorithm.solve(problem, { seed: seedOf(f, s), backend });
            const n = result.particles.length / truth.length;
            errors.push(relativeL2(result.particles, n, truth));
            meanErrors.push(relativeL2Mean(result.particles, n, truth));
            crpsValues.push(await crps(result.particles, n, truth));
            if (n >= 2) spreadSkills.push(await spreadSkillRatio(result.particles, n, truth));
            const lastTrace = result.trace[result.trace.length - 1];
            if (lastTrace && Number.isFinite(lastTrace.misfit)) misfits.push(lastTrace.misfit);
            last = result;
            console.error(`  noise ${noise} ${plan.name} field ${f} seed ${seedOf(f, s)}: rel L2 ${errors[errors.length - 1].toFixed(3)}`
              + ` (mean ${meanErrors[meanErrors.length - 1].toFixed(3)}) in ${result.cost.wallSeconds.toFixed(0)} s`);
          }
        }
        const { forwardEvaluations, forwardSequential, denoiserEvaluations, denoiserSequential } = last!.cost;
        rows.push(makeRow(
          { noise, algorithm: plan.name, settings: plan.settings, fields, seeds, secondsPerRun: (Date.now() - started) / 1000 / (fields * seeds) },
          errors, meanErrors, { forwardEvaluations, forwardSequential, denoiserEvaluations, denoiserSequential },
          { crps: mean(crpsValues), ...(spreadSkills.length ? { spreadSkill: mean(spreadSkills) } : {}), ...(misfits.length ? { finalMisfit: mean(misfits) } : {}) }));
      }
    }
    if (values.reference) {
      for (const noise of noises) {
        const runs: ReferenceRun[] = [];
        for (let f = firstField; f < firstField + fields; f++) {
          for (let s = 0; s < seeds; s++) {
            const r = runReference(enkg, f, seedOf(f, s), noise, String(values['reference-device']));
            if (typeof r === 'string') throw new Error(`--reference: ${r}`);
            runs.push(r);
          }
        }
        rows.push(makeRow(
          { noise, algorithm: 'enkg-pytorch', settings: { N, K, U, g: enkg.config.guidanceScale }, fields, seeds, secondsPerRun: mean(runs.map((r) => r.seconds)) },
          runs.map((r) => r.relativeL2), runs.map((r) => r.relativeL2Mean), { forwardEvaluations: runs[0].forwardEvaluations }));
      }
    }
  } finally {
    await prior.dispose?.();
  }

  console.log('\n| algorithm | ' + noises.map((n) => `noise ${n}`).join(' | ') + ' | total fwd | seq fwd | total DM | seq DM | s/run |');
  console.log('|---|' + noises.map(() => '---|').join('') + '---|---|---|---|---|');
  for (const name of [...table.map((p) => p.name as string), ...(values.reference ? ['enkg-pytorch'] : [])]) {
    const mine = rows.filter((r) => r.algorithm === name);
    const cells = noises.map((n) => {
      const r = mine.find((x) => x.noise === n)!;
      return `${r.relativeL2.toFixed(3)} +- ${r.relativeL2Std.toFixed(3)}`;
    });
    const r = mine[0];
    console.log(`| ${name} | ${cells.join(' | ')} | ${optional(r.forwardEvaluations)} | ${optional(r.forwardSequential)}`
      + ` | ${optional(r.denoiserEvaluations)} | ${optional(r.denoiserSequential)} | ${mean(mine.map((x) => x.secondsPerRun)).toFixed(0)} |`);
  }
  for (const noise of noises) {
    const at = rows.filter((r) => r.noise === noise && r.algorithm !== 'enkg-pytorch');
    const best = at.reduce((a, b) => (a.relativeL2 <= b.relativeL2 ? a : b));
    console.log(`noise ${noise}: best is ${best.algorithm}${best.algorithm === 'enkg' ? '' : ' (EnKG is NOT the best here)'}`);
  }
  writeResults(`accuracy-${backend}`, values.out, {
    backend, fields, firstField, seeds, seedOffset, time, ensemble: N, steps: K, updates: U, vpSteps, executionProvider: prior.executionProvider ?? 'exact', reference: values.reference,
    localization: localization ?? null, sec: values.sec, gain: gain ?? null, control: control ? 'grf' : null, rows,
  });
}

run(main);
