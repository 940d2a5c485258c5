// `enkg solve navier-stokes`: the problem registry's entry for the
// Navier-Stokes inverse problem of docs/method.md section 4.1 (recover the initial
// vorticity from the subsampled, noisy flow at time T).
import * as path from 'node:path';

import type { CorrectionOptions } from '../algorithms/corrections';
import { formatRestarts, RestartPass } from '../algorithms/enkg';
import { UsageError } from '../errors';
import { integerFlag, numberFlag } from '../flags';
import type { PanelImage } from '../io/figure';
import { readNpyField } from '../io/npy';
import { NS_HELD_OUT_64, NS_PRIOR_64 } from '../paths';
import { heldOutField, navierStokesInverseProblem } from './navier-stokes-inverse';
import type { ProblemEntry, ProblemSetupOptions } from './registry';

/** Physical vorticity = normalized x this (the prior's units are w / 10). */
const SCALE = 10;
/** The observation time without --time: the paper's. */
const DEFAULT_TIME = 1;
/** The held-out field without --sample or --truth. */
const DEFAULT_SAMPLE = 0;

async function readTruth(file: string, R: number): Promise<Float32Array> {
  // One [1, R, R] field as stored ([1, R, R], [1, 1, R, R] or [R, R]); another shape is refused, not reshaped.
  const npy = await readNpyField(file, [1, R, R], '--truth').catch((error: Error) => {
    throw new UsageError(error.message);
  });
  const truth = Float32Array.from(npy.data as Float32Array, (v) => Number(v) / SCALE);
  if (!truth.every(Number.isFinite)) throw new UsageError(`--truth ${file} contains non-finite values`);
  return truth;
}

async function setup(opts: ProblemSetupOptions) {
  const { prior, priorFile, flags } = opts;
  const [C, R, W] = prior.shape;
  if (C !== 1 || R !== W) {
    throw new UsageError(`the prior ${priorFile} has fields of shape [${prior.shape.join(', ')}]; the Navier-Stokes problem needs [1, R, R] (one square vorticity field)`);
  }
  const resolution = integerFlag(flags.resolution as string | undefined, 'resolution', 4);
  if (resolution !== undefined && resolution !== R) {
    throw new UsageError(`--resolution ${resolution} does not match the prior (${priorFile} is ${R}x${R}); train or pass a prior of that size`);
  }
  const time = numberFlag(flags.time as string | undefined, 'time', 0, true) ?? DEFAULT_TIME;
  const sampleIndex = integerFlag(flags.sample as string | undefined, 'sample', 0) ?? DEFAULT_SAMPLE;
  if (!opts.truthFile && R !== 64) throw new UsageError(`the held-out fields are 64x64 but the prior is ${R}x${R}: pass --truth FILE.npy`);
  const truth = opts.truthFile ? await readTruth(opts.truthFile, R) : await heldOutField(sampleIndex, NS_HELD_OUT_64, SCALE).catch((error: Error) => {
    throw flags.sample !== undefined && error instanceof RangeError ? new UsageError(`--sample: ${error.message}`) : error;
  });
  const { problem, model, observation } = await navierStokesInverseProblem({
    prior, truth, noise: opts.noise, seed: opts.seed, backend: opts.backend, time, scale: SCALE,
  });
  const m = Math.round(Math.sqrt(model.measurementSize));
  const peak = truth.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  const range: [number, number] = [-peak, peak];
  return {
    problem,
    truth,
    describe: {
      resolution: R, reynolds: model.reynolds, time: model.time, downsample: model.downsample, units: `normalized (vorticity / ${SCALE})`,
      measurementSize: model.measurementSize,
      truth: opts.truthFile ? path.resolve(opts.truthFile) : { file: NS_HELD_OUT_64, sample: sampleIndex },
    },
    fieldImage: (values: Float32Array, title: string): PanelImage => ({ title, values, height: R, width: R, colormap: 'diverging', range }),
    observationImage: { title: `observation t=${model.time}`, values: observation, height: m, width: m, colormap: 'diverging' } as PanelImage,
  };
}

/** Horizons up to this get the localized Kalman step by default. */
const SHORT_HORIZON = 0.5;
/** Horizons up to this keep the settings measured at T = 0.25 (a narrower taper, three passes). */
const SHORTEST_HORIZON = 0.25;
/** The ensemble of the ensemble Kalman methods at the short horizons on the CPU. */
const SHORT_HORIZON_ENSEMBLE = 128;
/**
 * EnKG's restart passes at the short horizons on the CPU (docs/method.md,
 * "Restarts"): after the 20 steps, refining passes of 10 steps from low
 * noise levels (2, then 1), at guidance scale 4 (twice EnKG's default) on
 * noise-free data, which can be fitted to the last digit, and at the run's
 * own on noisy data. Three up to T = 0.25, where they were measured; six
 * beyond, where every pass still gained, with one Euler step per clean
 * estimate in the passes (as good there, and cheaper).
 */
function shortHorizonRestarts(time: number, noise: number): RestartPass[] {
  const g = noise > 0 ? {} : { guidanceScale: 4 };
  if (time <= SHORTEST_HORIZON) return [2, 1, 1].map((sigma) => ({ sigma, steps: 10, ...g }));
  return [2, 1, 1, 1, 1, 1].map((sigma) => ({ sigma, steps: 10, ...g, maxOdeSteps: 1 }));
}

/** The Kalman-step corrections of the ensemble Kalman methods up to SHORT_HORIZON (why: the entry's `corrections`). */
function shortHorizonCorrections(time: number): CorrectionOptions & { localization: { halfWidth: number }; relaxation: number } {
  return { localization: { halfWidth: time <= SHORTEST_HORIZON ? 0.15 : 0.2, follow: true }, relaxation: 0.5 };
}

/**
 * Beyond SHORT_HORIZON, on the CPU (at its ensemble sizes): a taper centred
 * on each observation point, alone (why: the entry's `corrections`).
 */
const LONG_HORIZON_TAPER = 0.3;

/** Restart passes as --restart spells them, or, past three, a repeated pass counted: 2:10:4:1 then 1:10:4:1 x 5. */
function describePasses(passes: readonly RestartPass[]): string {
  if (passes.length <= 3) return formatRestarts(passes);
  const runs: Array<{ pass: string; count: number }> = [];
  for (const pass of passes.map((p) => formatRestarts([p]))) {
    if (runs.length && runs[runs.length - 1].pass === pass) runs[runs.length - 1].count++;
    else runs.push({ pass, count: 1 });
  }
  return runs.map((r) => (r.count === 1 ? r.pass : `${r.pass} x ${r.count}`)).join(' then ');
}

/** --time's help, from the defaults themselves (so it cannot fall behind them). */
function timeHelp(): string {
  const [shortest, short] = [SHORTEST_HORIZON, SHORT_HORIZON].map(shortHorizonCorrections);
  const passes = (noise: number) => [SHORTEST_HORIZON, SHORT_HORIZON].map((t) => describePasses(shortHorizonRestarts(t, noise)));
  const [clean, noisy] = [passes(0), passes(1)];
  const text = `observation time (default ${DEFAULT_TIME}, the paper's; ${SHORTEST_HORIZON} and ${SHORT_HORIZON} are easier, `
    + `and up to ${SHORT_HORIZON} enkg and eki default to --localize-follow --relax ${short.relaxation}, `
    + `--localize ${shortest.localization.halfWidth} up to ${SHORTEST_HORIZON} and ${short.localization.halfWidth} beyond, `
    + `and, on the CPU, --ensemble ${SHORT_HORIZON_ENSEMBLE}; enkg also takes --restart ${clean[0]} up to ${SHORTEST_HORIZON} `
    + `and ${clean[1]} beyond (${noisy[0]} and ${noisy[1]} with --noise > 0); beyond ${SHORT_HORIZON}, `
    + `enkg and eki default, on the CPU, to --localize ${LONG_HORIZON_TAPER} alone, not following or relaxed)`;
  return `--time T           ${wrapWords(text, 80 - 21).join(`\n${' '.repeat(21)}`)}`;
}

/** Words in lines of at most `width` characters. */
function wrapWords(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const word of text.split(' ')) {
    if (lines.length && lines[lines.length - 1].length + 1 + word.length <= width) lines[lines.length - 1] += ` ${word}`;
    else lines.push(word);
  }
  return lines;
}

export const navierStokesEntry: ProblemEntry = {
  name: 'navier-stokes',
  summary: 'initial vorticity of a 2D flow from its subsampled, noisy state at time T (docs/method.md 4.1)',
  description: `Recovers the initial vorticity of a 2D Navier-Stokes flow (Re 200, torus)
from its solution at T (default ${DEFAULT_TIME}), subsampled by 2 and noisy, using only forward
evaluations of the solver and a diffusion prior (docs/method.md section 4.1).`,
  flags: {
    sample: { type: 'string', default: String(DEFAULT_SAMPLE), help: `--sample I         held-out field I of data/ns-64-heldout.npy (default ${DEFAULT_SAMPLE})` },
    time: { type: 'string', default: String(DEFAULT_TIME), help: timeHelp() },
    resolution: { type: 'string', help: '--resolution R     grid size; must match the prior (default: the prior\'s)' },
  },
  sampleFlag: 'sample',
  truthHelp: 'a [1, 1, R, R] or [R, R] .npy field in physical units',
  defaultPrior: NS_PRIOR_64,
  defaultNoise: 0,
  noiseUnits: 'physical units',
  // At the short horizons the measurements pick N = 128 on the CPU for the
  // ensemble Kalman methods: 0.29 over fields 0-9 at T = 0.25 in about a
  // minute per field, where N = 64 gave 0.357 (c = 0.2, not following).
  // EnKG then restarts three times from low noise levels: over fields 0-9
  // 0.284 -> 0.238 at T = 0.25 and, at T = 0.5, 0.362 against 0.443 for
  // the 30 finer steps that were the default there (restarts from a high
  // level, 10, gained on field 0 and lost on the others). More steps, a
  // larger step or two corrections per step lost. On noise-free data the
  // passes step at g = 4: over fields 0-9 T = 0.25 0.238 -> 0.225 and
  // T = 0.5 0.362 -> 0.325; at noise 1 that collapsed the ensemble
  // (spread-skill 0.63 -> 0.38) and lost (0.416 -> 0.450), so noisy data
  // keep g = 2 (g = 8 diverged). Beyond T = 0.25 passes with one Euler
  // step per clean estimate (as good as the default lookahead in a pass):
  // five took T = 0.5 0.325 -> 0.305 at noise 0 and 0.416 -> 0.400 at
  // noise 1, and with the wider taper there (corrections, below) 0.295 and
  // 0.389. A sixth did not fit three minutes until the solver paired its
  // transforms; now it does, and takes them to 0.282 and 0.381 (losing
  // more than 0.002 on no field but one, by 0.005). bench/RESULTS.md,
  // "Restart passes" and after, issue 18.
  sizes: (algorithm, backend, flags, noise = 0) => {
    if (backend !== 'cpu' || (algorithm !== 'enkg' && algorithm !== 'eki') || flags === undefined) return undefined;
    const time = Number(flags.time ?? DEFAULT_TIME);
    if (!(time <= SHORT_HORIZON)) return undefined;
    if (algorithm === 'eki') return { ensemble: SHORT_HORIZON_ENSEMBLE };
    return { ensemble: SHORT_HORIZON_ENSEMBLE, steps: 20, restarts: shortHorizonRestarts(time, noise) };
  },
  corrections: (flags, backend) => {
    // Distance localization, following the flow, and relaxation to prior
    // perturbations at the short horizons, where the flow has moved each
    // observation's sensitivity only a little. At T = 0.25 (fields 0-1,
    // N = 64): 0.84 plain, 0.48 localized (c = 0.2), 0.45 with relaxation
    // 0.5, 0.43 with the taper following the flow, 0.42 with it narrower
    // (c = 0.15); over fields 0-9 at N = 128: 0.307 -> 0.300 -> 0.291. At
    // T = 0.5: 0.93 -> 0.77 -> 0.75 (c = 0.2). With the restart passes the
    // wider taper (c = 0.2) wins beyond T = 0.25, at noise 0 and 1 alike
    // (bench/RESULTS.md, "A wider taper at T = 0.5"): by T = 0.5 the flow
    // has spread each observation's sensitivity further around the point
    // the following taper centres on. At T = 1 no taper reconstructs, but a
    // centred one alone, wider than at the short horizons, moves the mean:
    // over fields 0-9 at N = 64 0.929 plain, 0.889 at c = 0.2, 0.861 at
    // c = 0.3, 0.891 and 0.907 at 0.4 and 0.5, 0.965 with relaxation 0.5;
    // SEC changes nothing, following the mean's flow and the gain lose
    // (bench/RESULTS.md, "Each correction alone", issue 18). Only on the
    // CPU: the GPU's paper-sized ensemble was not measured with it.
    const time = Number(flags.time ?? DEFAULT_TIME);
    if (time <= SHORT_HORIZON) return shortHorizonCorrections(time);
    return backend === 'cpu' ? { localization: { halfWidth: LONG_HORIZON_TAPER } } : undefined;
  },
  setup,
};
