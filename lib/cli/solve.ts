// `enkg solve navier-stokes`: the main job. Recovers a held-out initial
// vorticity field from its noisy, subsampled flow at T = 1 with EnKG (or a
// baseline) and the shipped prior, and writes result.json, panel.png, each
// image as a PNG and the particles as .npy.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { DPG } from '../algorithms/dpg';
import { DPSGSG } from '../algorithms/dps-gsg';
import { EKI } from '../algorithms/eki';
import { EnKG } from '../algorithms/enkg';
import { Algorithm, dataMisfit, SolveResult } from '../algorithms/run';
import { SCG } from '../algorithms/scg';
import { BackendName, resolveBackend } from '../backend';
import { imagePng, PanelImage, panelPng } from '../io/figure';
import { readNpy, writeNpy } from '../io/npy';
import { relativeL2, relativeL2Mean } from '../metrics/error';
import { NS_HELD_OUT_64, NS_PRIOR_64 } from '../paths';
import { OnnxDenoiser, parseExecutionProviders } from '../prior/onnx-denoiser';
import { ForwardEvaluationError } from '../problems/forward-model';
import { heldOutField, navierStokesInverseProblem } from '../problems/navier-stokes-inverse';
import { ProgressBar } from './progress';
import { asUsage, backendFlag, integerFlag, numberFlag, UsageError } from './usage';

export const ALGORITHMS = ['enkg', 'eki', 'dps-gsg-forward', 'dps-gsg-central', 'dpg', 'scg'] as const;
export type AlgorithmName = typeof ALGORITHMS[number];

export const SOLVE_USAGE = `Usage: enkg solve navier-stokes [options]

Recovers the initial vorticity of a 2D Navier-Stokes flow (Re 200, torus)
from its solution at T = 1, subsampled by 2 and noisy, using only forward
evaluations of the solver and a diffusion prior (SPEC.md section 4.1).

Options:
  --algo NAME        enkg (default), eki, dps-gsg-forward, dps-gsg-central, dpg, scg
  --ensemble N       particles (default: 64 on the CPU, 512 on a GPU)
  --steps K          diffusion steps (EnKG default 20 on the CPU, 80 on a GPU;
                     EKI: iterations; DPS/DPG/SCG: VP steps, default 100 / 1000)
  --guidance G       guidance scale (default: the algorithm's; EnKG 2)
  --updates U        EnKG corrections per guided step (default 1 on the CPU,
                     2 on a GPU as in the reference)
  --noise SIGMA      observation noise std, physical units (default 0)
  --seed S           seed of the particles and of the observation noise (default 0)
  --sample I         held-out field I of data/ns-64-heldout.npy (default 0)
  --truth FILE.npy   the ground truth instead: a [1, 1, R, R] or [R, R] physical field
  --prior FILE.onnx  diffusion prior (default: models/ns-vorticity-64.onnx)
  --prior-provider P where the prior's network runs: auto (default: ONNX
                     Runtime's CUDA provider then the CPU on the cuda backend,
                     the CPU otherwise) or a list tried in order, from cuda,
                     webgpu (a GPU through Vulkan) and cpu, e.g. webgpu,cpu
  --resolution R     grid size; must match the prior (default: the prior's)
  --backend NAME     cpu, cuda or auto (default auto)
  --out DIR          output directory (default ./enkg-navier-stokes)
  --json             print only the result JSON on stdout
  --quiet            no progress bar

Writes DIR/result.json, DIR/panel.png (truth, observation, mean, |error|, std),
DIR/{truth,observation,mean,error,std}.png and DIR/particles.npy.`;

interface Sizes {
  ensemble: number;
  steps: number;
}

/** Defaults sized to about two minutes on a 2-core CPU, and to the paper's scale on a GPU. */
function defaultSizes(algo: AlgorithmName, backend: BackendName): Sizes {
  const gpu = backend === 'cuda';
  switch (algo) {
    case 'enkg': return gpu ? { ensemble: 512, steps: 80 } : { ensemble: 64, steps: 20 };
    case 'eki': return gpu ? { ensemble: 512, steps: 200 } : { ensemble: 64, steps: 18 };
    case 'dps-gsg-forward': case 'dps-gsg-central': return gpu ? { ensemble: 1, steps: 1000 } : { ensemble: 1, steps: 100 };
    case 'dpg': return gpu ? { ensemble: 1, steps: 1000 } : { ensemble: 1, steps: 100 };
    case 'scg': return gpu ? { ensemble: 1, steps: 1000 } : { ensemble: 1, steps: 100 };
  }
}

export function makeAlgorithm(algo: AlgorithmName, sizes: Sizes, extra: { guidance?: number; updates?: number; cpu: boolean }): Algorithm {
  const g = extra.guidance === undefined ? {} : { guidanceScale: extra.guidance };
  switch (algo) {
    case 'enkg':
      return new EnKG({ ensembleSize: sizes.ensemble, steps: sizes.steps, ...g, ...(extra.updates === undefined ? {} : { updates: extra.updates }) });
    case 'eki':
      return new EKI({ ensembleSize: sizes.ensemble, iterations: sizes.steps, ...g });
    case 'dps-gsg-forward': case 'dps-gsg-central':
      return new DPSGSG({
        ensembleSize: sizes.ensemble, steps: sizes.steps, scheme: algo === 'dps-gsg-forward' ? 'forward' : 'central',
        ...(extra.cpu ? { queries: 64 } : {}), ...g,
      });
    case 'dpg':
      return new DPG({ ensembleSize: sizes.ensemble, steps: sizes.steps, ...(extra.cpu ? { mcSamples: 64 } : {}), ...g });
    case 'scg':
      return new SCG({ ensembleSize: sizes.ensemble, steps: sizes.steps, ...(extra.cpu ? { candidates: 32 } : {}) });
  }
}

async function readTruth(file: string, R: number): Promise<Float32Array> {
  if (!fs.existsSync(file)) throw new UsageError(`--truth ${file} does not exist`);
  const npy = await readNpy(file).catch((error: Error) => {
    throw new UsageError(`--truth ${file}: ${error.message}`);
  });
  const size = npy.shape.reduce((a, b) => a * b, 1);
  if (size !== R * R) {
    throw new UsageError(`--truth ${file} holds shape [${npy.shape.join(', ')}]; expected one ${R}x${R} field ([1, 1, ${R}, ${R}] or [${R}, ${R}])`);
  }
  const truth = Float32Array.from(npy.data as Float32Array, (v) => Number(v) / 10);
  if (!truth.every(Number.isFinite)) throw new UsageError(`--truth ${file} contains non-finite values`);
  return truth;
}

export async function solve(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, strict: true, allowPositionals: true,
    options: {
      algo: { type: 'string', default: 'enkg' }, ensemble: { type: 'string' }, steps: { type: 'string' },
      guidance: { type: 'string' }, updates: { type: 'string' }, noise: { type: 'string', default: '0' },
      seed: { type: 'string', default: '0' }, sample: { type: 'string' }, truth: { type: 'string' },
      prior: { type: 'string' }, 'prior-provider': { type: 'string', default: 'auto' }, resolution: { type: 'string' }, backend: { type: 'string', default: 'auto' },
      out: { type: 'string', default: 'enkg-navier-stokes' }, json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(SOLVE_USAGE);
    return 0;
  }
  if (positionals.length !== 1 || positionals[0] !== 'navier-stokes') {
    throw new UsageError(`enkg solve takes one problem, navier-stokes; got ${positionals.length ? `'${positionals.join(' ')}'` : 'none'}\n\n${SOLVE_USAGE}`);
  }
  const algo = values.algo as AlgorithmName;
  if (!ALGORITHMS.includes(algo)) throw new UsageError(`--algo must be one of ${ALGORITHMS.join(', ')}, got '${values.algo}'`);
  if (values.sample !== undefined && values.truth !== undefined) throw new UsageError('--sample and --truth are alternatives: give one');
  const noise = numberFlag(values.noise, 'noise', 0)!;
  const seed = integerFlag(values.seed, 'seed', 0)!;
  const sampleIndex = integerFlag(values.sample, 'sample', 0) ?? 0;
  const requested = { ensemble: integerFlag(values.ensemble, 'ensemble', 1), steps: integerFlag(values.steps, 'steps', 1) };
  const guidance = numberFlag(values.guidance, 'guidance', 0);
  const updates = integerFlag(values.updates, 'updates', 0);
  const resolution = integerFlag(values.resolution, 'resolution', 4);
  const backend = await resolveBackend(backendFlag(values.backend));
  const providers = asUsage(() => parseExecutionProviders(String(values['prior-provider']), backend));
  const defaults = defaultSizes(algo, backend);
  const sizes = { ensemble: requested.ensemble ?? defaults.ensemble, steps: requested.steps ?? defaults.steps };
  if (algo === 'enkg' || algo === 'eki') {
    if (sizes.ensemble < 2) throw new UsageError(`--ensemble must be at least 2 for ${algo} (it needs ensemble statistics), got ${sizes.ensemble}`);
  }
  // On the CPU one correction per step buys a larger ensemble in the same time.
  const cpuUpdates = algo === 'enkg' && backend === 'cpu' && updates === undefined ? 1 : updates;
  const algorithm = makeAlgorithm(algo, sizes, { guidance, updates: cpuUpdates, cpu: backend === 'cpu' });

  const out = path.resolve(values.out as string);
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new UsageError(`--out ${out} is a file; expected a folder (new or existing)`);
  const priorFile = values.prior ?? NS_PRIOR_64;
  if (!fs.existsSync(priorFile)) {
    throw new UsageError(`the prior ${priorFile} does not exist${values.prior ? '' : ' (the shipped prior is missing from this installation; pass --prior FILE.onnx)'}`);
  }
  const prior = await OnnxDenoiser.load(priorFile, { executionProviders: providers });
  try {
    const [C, R, W] = prior.shape;
    if (C !== 1 || R !== W) {
      throw new UsageError(`the prior ${priorFile} has fields of shape [${prior.shape.join(', ')}]; the Navier-Stokes problem needs [1, R, R] (one square vorticity field)`);
    }
    if (resolution !== undefined && resolution !== R) {
      throw new UsageError(`--resolution ${resolution} does not match the prior (${priorFile} is ${R}x${R}); train or pass a prior of that size`);
    }
    const truth = values.truth ? await readTruth(values.truth, R) : await heldOutField(sampleIndex, NS_HELD_OUT_64).catch((error: Error) => {
      throw values.sample !== undefined && error instanceof RangeError ? new UsageError(`--sample: ${error.message}`) : error;
    });
    if (!values.truth && R !== 64) throw new UsageError(`the held-out fields are 64x64 but the prior is ${R}x${R}: pass --truth FILE.npy`);
    const { problem, model, observation } = await navierStokesInverseProblem({ prior, truth, noise, seed, backend });

    const bar = values.quiet ? undefined : new ProgressBar(sizes.steps, 'steps');
    const result: SolveResult = await algorithm.solve(problem, {
      seed, backend,
      onProgress: (e) => bar?.update(e.step, Number.isFinite(e.misfit) ? `misfit ${e.misfit.toExponential(2)}` : ''),
    });
    const N = result.particles.length / truth.length;
    // The final data misfit needs one more forward evaluation of the
    // ensemble; it is a metric, not part of the algorithm's cost.
    // Particles whose final solve fails (NaN rows) are left out of the mean
    // and counted in metrics.misfitFailures.
    const finalY = await model.forward(result.particles, N).catch((error: unknown) => {
      if (error instanceof ForwardEvaluationError) return error.partial;
      throw error;
    });
    const { mean: misfit, counted } = dataMisfit(finalY, N, observation);

    fs.mkdirSync(out, { recursive: true });
    const error = result.mean.map((v, j) => Math.abs(v - truth[j]));
    const m = Math.round(Math.sqrt(model.measurementSize));
    const range = [-1, 1].map((s) => s * Math.max(...truth.map(Math.abs))) as [number, number];
    const images: Record<string, PanelImage> = {
      truth: { title: 'ground truth', values: truth, height: R, width: R, colormap: 'diverging', range },
      observation: { title: `observation t=1`, values: observation, height: m, width: m, colormap: 'diverging' },
      mean: { title: `${algo} mean`, values: result.mean, height: R, width: R, colormap: 'diverging', range },
      error: { title: 'abs error', values: error, height: R, width: R, colormap: 'viridis' },
      std: { title: 'ensemble std', values: result.std, height: R, width: R, colormap: 'viridis' },
    };
    const metrics = {
      relativeL2: relativeL2(result.particles, N, truth),
      relativeL2Mean: relativeL2Mean(result.particles, N, truth),
      misfit,
      misfitFailures: N - counted,
    };
    const files: Record<string, string> = { panel: 'panel.png', particles: 'particles.npy' };
    const caption = `${algo}  N=${N}  K=${sizes.steps}  noise=${noise}  rel L2 ${metrics.relativeL2.toFixed(3)} (mean ${metrics.relativeL2Mean.toFixed(3)})`;
    fs.writeFileSync(path.join(out, 'panel.png'), panelPng(Object.values(images), { caption }));
    for (const [name, image] of Object.entries(images)) {
      fs.writeFileSync(path.join(out, `${name}.png`), imagePng(image, R === m ? 3 : undefined));
      files[name] = `${name}.png`;
    }
    await writeNpy(path.join(out, 'particles.npy'), result.particles, [N, 1, R, R]);
    const report = {
      problem: {
        name: 'navier-stokes', resolution: R, reynolds: model.reynolds, time: model.time, downsample: model.downsample,
        noise, measurementSize: model.measurementSize, truth: values.truth ? path.resolve(values.truth) : { file: NS_HELD_OUT_64, sample: sampleIndex },
        prior: { file: path.resolve(priorFile), executionProvider: prior.executionProvider, metadata: prior.metadata },
      },
      algorithm: algo,
      config: 'config' in algorithm ? (algorithm as unknown as { config: unknown }).config : sizes,
      seed,
      backend,
      metrics,
      cost: result.cost,
      failures: result.failures,
      trace: result.trace,
      files,
    };
    fs.writeFileSync(path.join(out, 'result.json'), `${JSON.stringify(report, null, 2)}\n`);
    if (values.json) {
      console.log(JSON.stringify(report));
    } else {
      console.error(`${algo}: relative L2 ${metrics.relativeL2.toFixed(4)} (ensemble mean ${metrics.relativeL2Mean.toFixed(4)}), `
        + `misfit ${misfit.toExponential(3)}, ${result.cost.forwardEvaluations} forward evaluations, `
        + `${result.cost.wallSeconds.toFixed(1)} s; wrote ${out}/result.json and panel.png`);
    }
    return 0;
  } finally {
    await prior.dispose();
  }
}
