// `enkg solve <problem>`: the main job. Sets up a problem of the registry
// (lib/problems/registry.ts) from its flags, recovers its ground truth with
// EnKG or a baseline of the algorithm registry, and writes result.json,
// panel.png, each image as a PNG and the particles as .npy. Nothing here
// names a particular problem or algorithm.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs, ParseArgsConfig } from 'node:util';

import { ALGORITHM_NAMES, ALGORITHM_REGISTRY, algorithmEntry, AlgorithmSizes } from '../algorithms/registry';
import { CHECKPOINT_FILE, loadCheckpoint, saveCheckpoint } from '../algorithms/checkpoint';
import { formatRestarts, parseRestarts } from '../algorithms/enkg';
import {
  Algorithm, checkpointHooks, dataMisfit, finished, InverseProblem, resultOf, RunState, runSteps, SolveOptions, SolveResult, StepHooks,
} from '../algorithms/run';
import { abortError } from '../abort';
import { resolveBackend } from '../backend';
import { imagePng, PanelImage, panelPng } from '../io/figure';
import { writeNpy } from '../io/npy';
import { checkWritableFolder, RunOutput } from '../io/run-output';
import { crps, spreadSkillRatio } from '../metrics/calibration';
import { relativeL2Async, relativeL2MeanAsync } from '../metrics/error';
import { fieldSize } from '../prior/denoiser';
import { parseExecutionProviders } from '../prior/onnx-denoiser';
import { ForwardEvaluationError } from '../problems/forward-model';
import { PROBLEM_NAMES, PROBLEM_REGISTRY, problemEntry, ProblemEntry } from '../problems/registry';
import type { CorrectionOptions } from '../algorithms/corrections';
import { LOCALIZATION_METHODS, STEP_NORMALIZATIONS } from '../algorithms/localization';
import { checkPriorFile, loadPrior, stoppablePrior } from './prior';
import { ProgressBar } from './progress';
import { openQueueFlag, QueueFlag, withoutPassword } from './queue-flag';
import { checkStopped, CommandRun, quietRun } from './stop';
import { asUsage, backendFlag, checkFits, integerFlag, numberFlag, UsageError, usageOf } from './usage';

type Options = NonNullable<ParseArgsConfig['options']>;

/** The flags every problem takes. */
const COMMON_FLAGS: Options = {
  algo: { type: 'string', default: 'enkg' }, ensemble: { type: 'string' }, steps: { type: 'string' },
  guidance: { type: 'string' }, updates: { type: 'string' }, noise: { type: 'string' }, localize: { type: 'string' },
  sec: { type: 'boolean' }, gain: { type: 'string' }, relax: { type: 'string' }, 'localize-follow': { type: 'boolean' },
  'localize-normalize': { type: 'string' }, 'localize-method': { type: 'string' }, 'gain-rho': { type: 'string' },
  restart: { type: 'string' },
  seed: { type: 'string', default: '0' }, truth: { type: 'string' },
  prior: { type: 'string' }, 'prior-provider': { type: 'string', default: 'auto' }, backend: { type: 'string', default: 'auto' },
  out: { type: 'string' }, force: { type: 'boolean', default: false }, json: { type: 'boolean', default: false },
  checkpoint: { type: 'string' }, 'checkpoint-every': { type: 'string' }, queue: { type: 'string' },
  quiet: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
};

function commonHelp(entry?: ProblemEntry): string {
  const enkgDefaults = (key: 'ensemble' | 'steps') => {
    const [cpu, gpu] = (['cpu', 'cuda'] as const).map((b) => (entry ? chooseSizes(entry, 'enkg', b, {}) : algorithmEntry('enkg').defaults(b))[key]);
    return `EnKG ${cpu} on the CPU, ${gpu} on a GPU${entry ? '' : ' unless the problem sets its own'}`;
  };
  const algos = ALGORITHM_REGISTRY.map((a) => `                     ${a.name.padEnd(16)} ${a.summary}`).join('\n');
  return `Options:
  --algo NAME        the algorithm (default enkg):
${algos}
  --ensemble N       particles (default: the algorithm's for this problem, its
                     options and the backend; with the problem's default
                     options ${enkgDefaults('ensemble')})
  --steps K          EnKG: diffusion steps (the same way: ${enkgDefaults('steps')});
                     EKI: iterations; DPS/DPG/SCG: VP steps (100 / 1000)
  --guidance G       guidance scale (default: the algorithm's; EnKG 2)
  --localize C       enkg and eki: distance localization of the Kalman step, a
                     Gaspari-Cohn taper of half-width C (a fraction of the
                     domain, e.g. 0.2) on problems that say where their values
                     sit (navier-stokes); default none, except where the
                     problem's measurements picked it (navier-stokes at
                     --time 0.25 or less: 0.15, up to 0.5: 0.2, following
                     the flow); 'none' turns it off, and an explicit C
                     replaces the default whole (add --localize-follow to
                     follow)
  --localize-follow  with localization: centre the taper where the flow of the
                     ensemble's mean carried each measurement from (rebuilt
                     every step; problems that can say, navier-stokes)
  --localize-normalize unlocalized|coefficient
                     with localization: the localized step's length, that of
                     the step unlocalized (default) or the plain coefficient
                     (shorter; docs/method.md section 2)
  --localize-method auto|dense|fft
                     with localization: apply the taper as a d x m matrix or
                     by FFT on a periodic grid (same step up to rounding;
                     default auto picks the faster; following and --sec
                     need dense or auto)
  --sec              enkg and eki: the sampling-error correction of the Kalman
                     step (damps cross-covariances indistinguishable from
                     sampling noise; needs no geometry); default off
  --gain ALPHA       enkg and eki: the regularized gain (S + ALPHA I)^-1 in
                     place of the normalized step, S the ensemble's Gram of
                     its measurement deviations (squared measurement units);
                     ALPHA a number (sigma^2 is the Kalman gain of noise
                     sigma), 'noise' (sigma from --noise, which must be > 0)
                     or 'adaptive' (each step removes the fraction 1 - RHO^2
                     of the misfit; enkg caps the step at the plain step's
                     length); default off
  --gain-rho RHO     with --gain adaptive: RHO in (0, 1) (default 0.5)
  --relax A          enkg and eki: after each Kalman step, relax the
                     particles' deviations toward those before it by the
                     fraction A in [0, 1) (keeps the ensemble from
                     collapsing); default 0, except where the problem's
                     measurements picked it (navier-stokes at --time 0.5
                     or less: 0.5)
  --updates U        EnKG corrections per guided step (default 1 on the CPU,
                     2 on a GPU as in the reference)
  --restart S:M[:G[:L]][,..]
                     enkg: restart passes after the run's steps: each
                     re-noises the particles to noise level S and runs M more
                     guided steps down from there, with guidance scale G
                     (default, or left empty as in 1:10::1, the run's g) and
                     at most L Euler steps per clean estimate (default 20;
                     docs/method.md, "Restarts");
                     default none, except where the problem's measurements
                     picked them; 'none' turns them off
  --noise SIGMA      observation noise std, ${entry ? `${entry.noiseUnits} (default ${entry.defaultNoise})` : 'in the problem\'s units (default: the problem\'s)'}
  --seed S           seed of the particles and of the observation noise (default 0)
  --truth FILE       the ground truth instead of a shipped one: ${entry ? entry.truthHelp : 'see enkg solve PROBLEM --help'}
  --prior FILE.onnx  diffusion prior (default: the problem's shipped prior${entry ? `, ${path.relative(process.cwd(), entry.defaultPrior)}` : ''})
  --prior-provider P where the prior's network runs: auto (default: ONNX
                     Runtime's CUDA provider then the CPU on the cuda backend,
                     the CPU otherwise) or a list tried in order, from cuda,
                     webgpu (a GPU through Vulkan) and cpu, e.g. webgpu,cpu
  --backend NAME     cpu, cuda or auto (default auto)
  --out DIR          output directory (default ./enkg-PROBLEM); a new or empty
                     folder: an earlier result is refused unless --force
  --force            replace an existing result in DIR (and start a
                     --checkpoint folder's run over)
  --checkpoint CP    save the run's state in folder CP after every step (see
                     --checkpoint-every); Ctrl-C then stops at the next step,
                     and enkg resume CP continues the run to the same result
  --checkpoint-every K  save every K steps instead (default 1)
  --queue URL        evaluate the forward model on enkg worker processes through
                     the BullMQ queue in URL, redis[s]://[user:pass@]HOST:PORT/NAME
                     (same particles as in process; see enkg worker --help);
                     a URL without a password takes ENKG_QUEUE_PASSWORD (a
                     checkpoint keeps the URL without it)
  --json             print only the result JSON on stdout
  --quiet            no progress bar

Writes DIR/result.json, DIR/panel.png (truth, observation, mean, |error|, std),
DIR/{truth,observation,mean,error,std}.png and DIR/particles.npy. DIR appears
whole when the run ends (the files are written beside it in a hidden folder
first); a failure or a stop (SIGINT, SIGTERM) leaves DIR as it was.`;
}

export function solveUsage(entry?: ProblemEntry): string {
  if (!entry) {
    const problems = PROBLEM_REGISTRY.map((p) => `  ${p.name.padEnd(18)} ${p.summary}`).join('\n');
    return `Usage: enkg solve PROBLEM [options]

Solves an inverse problem with a diffusion prior using only forward
evaluations. PROBLEM is one of:
${problems}

enkg solve PROBLEM --help lists the problem's own options.

${commonHelp()}`;
  }
  const own = Object.values(entry.flags).map((f) => `  ${f.help}`).join('\n');
  return `Usage: enkg solve ${entry.name} [options]

${entry.description}

${entry.name} options:
${own}

${commonHelp(entry)}`;
}

/** Every problem's flags, so a first pass can find the problem wherever its name stands. */
function allFlags(): Options {
  const options: Options = { ...COMMON_FLAGS };
  for (const entry of PROBLEM_REGISTRY) for (const [name, flag] of Object.entries(entry.flags)) options[name] = { type: flag.type };
  return options;
}

/** Sizes: the flags, else the problem's defaults for this algorithm, else the algorithm's. */
function chooseSizes(entry: ProblemEntry, algo: string, backend: 'cpu' | 'cuda', requested: Partial<AlgorithmSizes>,
  flags?: Readonly<Record<string, string | boolean | undefined>>, noise?: number): AlgorithmSizes {
  const own = algorithmEntry(algo).defaults(backend);
  const problem = entry.sizes?.(algo, backend, flags, noise) ?? {};
  const pick = <K extends keyof AlgorithmSizes>(key: K) => requested[key] ?? problem[key] ?? own[key];
  const restarts = pick('restarts');
  return { ensemble: pick('ensemble')!, steps: pick('steps')!, updates: pick('updates'), ...(restarts?.length ? { restarts } : {}) };
}

// Arrays of ensemble x field size floats a solve holds at once, at the
// least (the particles and the algorithm's working copy of them).
const ENSEMBLE_ARRAYS = 2;

/** The values of the problem's own flags (--time, --sample, ...), as its entry reads them. */
function entryFlagValues(entry: ProblemEntry, values: Record<string, unknown>): Record<string, string | boolean | undefined> {
  const flags: Record<string, string | boolean | undefined> = {};
  for (const flag of Object.keys(entry.flags)) flags[flag] = values[flag] as string | boolean | undefined;
  return flags;
}

/** The relative L2 error divides by ||truth||: a truth of zeros leaves it undefined. */
function checkTruthNorm(truth: Float32Array, source: string): void {
  if (truth.every((v) => v === 0)) {
    throw new UsageError(`Expected a ground truth with a nonzero norm for ${source} (the relative L2 error divides by it) but received all zeros`);
  }
}

/** How `enkg resume` hands a saved run to solve(). */
export interface ResumeFrom {
  /** The checkpoint folder. */
  dir: string;
}

export async function solve(argv: string[], run: CommandRun = quietRun(), resumeFrom?: ResumeFrom): Promise<number> {
  const first = parseArgs({ args: argv, strict: false, allowPositionals: true, options: allFlags() });
  const name = first.positionals[0];
  const entry = name === undefined ? undefined : problemEntry(name);
  if (first.values.help && (name === undefined || entry)) {
    console.log(solveUsage(entry));
    return 0;
  }
  const notOne = (got: string[]) => new UsageError(`enkg solve takes one problem, one of ${PROBLEM_NAMES.join(', ')}; `
    + `got ${got.length ? `'${got.join(' ')}'` : 'none'}\n\n${solveUsage()}`);
  if (!entry) throw notOne(first.positionals);
  // The strict pass names an unknown or misspelt flag (whose value the first pass took for a positional).
  const ownFlags: Options = {};
  for (const [flag, spec] of Object.entries(entry.flags)) ownFlags[flag] = { type: spec.type };
  const { values, positionals } = parseArgs({ args: argv, strict: true, allowPositionals: true, options: { ...COMMON_FLAGS, ...ownFlags } });
  if (positionals.length !== 1) throw notOne(positionals);

  const algo = String(values.algo);
  if (!ALGORITHM_NAMES.includes(algo)) throw new UsageError(`--algo must be one of ${ALGORITHM_NAMES.join(', ')}, got '${algo}'`);
  const algoEntry = algorithmEntry(algo);
  if (entry.sampleFlag && values[entry.sampleFlag] !== undefined && values.truth !== undefined) {
    throw new UsageError(`--${entry.sampleFlag} and --truth are alternatives: give one`);
  }
  const noise = numberFlag(values.noise as string | undefined, 'noise', 0) ?? entry.defaultNoise;
  const seed = integerFlag(values.seed as string, 'seed', 0)!;
  const requested: Partial<AlgorithmSizes> = {
    ensemble: integerFlag(values.ensemble as string | undefined, 'ensemble', 1),
    steps: integerFlag(values.steps as string | undefined, 'steps', 1),
    updates: integerFlag(values.updates as string | undefined, 'updates', 0),
    ...(values.restart === undefined ? {} : { restarts: asUsage(() => parseRestarts(String(values.restart), '--restart')) }),
  };
  if (values.restart !== undefined && algo !== 'enkg') throw new UsageError(`--restart applies to enkg, not --algo ${algo}`);
  const guidance = numberFlag(values.guidance as string | undefined, 'guidance', 0);
  // --localize none: no localization, also where the problem would localize by default.
  const localizeOff = values.localize === 'none';
  const localize = localizeOff ? undefined : numberFlag(values.localize as string | undefined, 'localize', 0, true);
  if (localize !== undefined && localize > 0.5) throw new UsageError(`--localize must be a fraction of the domain in (0, 0.5] or 'none', got '${values.localize}'`);
  const gainFlag = values.gain as string | undefined;
  const gainRhoFlag = values['gain-rho'] as string | undefined;
  const localizeNormalize = values['localize-normalize'] as string | undefined;
  const localizeMethod = values['localize-method'] as string | undefined;
  const relax = numberFlag(values.relax as string | undefined, 'relax', 0);
  if (relax !== undefined && relax >= 1) throw new UsageError(`--relax must be a fraction in [0, 1), got '${values.relax}'`);
  for (const [flag, given] of [
    ['--localize', localize !== undefined], ['--localize-follow', values['localize-follow'] === true], ['--sec', values.sec === true], ['--gain', gainFlag !== undefined], ['--relax', relax !== undefined],
    ['--gain-rho', gainRhoFlag !== undefined], ['--localize-normalize', localizeNormalize !== undefined], ['--localize-method', localizeMethod !== undefined],
  ] as const) {
    if (given && !algoEntry.localizable) {
      throw new UsageError(`${flag} applies to the ensemble Kalman methods (${ALGORITHM_REGISTRY.filter((a) => a.localizable).map((a) => a.name).join(', ')}), not --algo ${algo}`);
    }
  }
  let gainAlpha: number | 'adaptive' | undefined;
  if (gainFlag === 'adaptive') gainAlpha = 'adaptive';
  else if (gainFlag === 'noise') {
    // The Kalman gain of the observation noise: the CLI's problems measure
    // their misfit in the units --noise is given in.
    if (!(noise > 0)) throw new UsageError(`--gain noise takes alpha = sigma^2 from --noise, which is ${noise} here: give --noise > 0, or --gain a number or 'adaptive'`);
    gainAlpha = noise * noise;
    if (!(gainAlpha > 0 && Number.isFinite(gainAlpha))) throw new UsageError(`--gain noise: sigma^2 of --noise ${noise} is ${gainAlpha}, out of floating-point range: give --gain a number`);
  } else if (gainFlag !== undefined) {
    gainAlpha = Number(gainFlag);
    if (gainFlag.trim() === '' || !(gainAlpha > 0) || !Number.isFinite(gainAlpha)) throw new UsageError(`--gain must be a number > 0, 'noise' or 'adaptive', got '${gainFlag}'`);
  }
  if (gainRhoFlag !== undefined && gainAlpha !== 'adaptive') throw new UsageError('--gain-rho applies to --gain adaptive');
  const gainRho = gainRhoFlag === undefined ? undefined : Number(gainRhoFlag);
  if (gainRho !== undefined && (gainRhoFlag!.trim() === '' || !(gainRho > 0 && gainRho < 1))) throw new UsageError(`--gain-rho must be a fraction in (0, 1), got '${gainRhoFlag}'`);
  if (localizeNormalize !== undefined && !(STEP_NORMALIZATIONS as readonly string[]).includes(localizeNormalize)) {
    throw new UsageError(`--localize-normalize must be ${STEP_NORMALIZATIONS.join(' or ')}, got '${localizeNormalize}'`);
  }
  if (localizeMethod !== undefined && !(LOCALIZATION_METHODS as readonly string[]).includes(localizeMethod)) {
    throw new UsageError(`--localize-method must be ${LOCALIZATION_METHODS.slice(0, -1).join(', ')} or ${LOCALIZATION_METHODS[LOCALIZATION_METHODS.length - 1]}, got '${localizeMethod}'`);
  }
  const backend = await resolveBackend(backendFlag(values.backend as string));
  const corrections: CorrectionOptions = {
    ...(algoEntry.localizable ? entry.corrections?.(entryFlagValues(entry, values), backend) : undefined),
    ...(localize === undefined ? {} : { localization: { halfWidth: localize } }),
    ...(values.sec === true ? { sec: true } : {}),
    ...(gainAlpha === undefined ? {} : { gain: { alpha: gainAlpha, ...(gainRho === undefined ? {} : { rho: gainRho }) } }),
    ...(relax === undefined ? {} : { relaxation: relax }),
  };
  if (localizeOff) delete corrections.localization;
  for (const [flag, key, value] of [
    ['--localize-follow', 'follow', values['localize-follow'] === true ? true : undefined],
    ['--localize-normalize', 'normalize', localizeNormalize], ['--localize-method', 'method', localizeMethod],
  ] as const) {
    if (value === undefined) continue;
    if (!corrections.localization) throw new UsageError(`${flag} needs localization: give --localize C${localizeOff ? ' (not none)' : ''}`);
    corrections.localization = { ...corrections.localization, [key]: value };
  }
  if (corrections.localization?.method === 'fft' && (corrections.localization.follow || corrections.sec)) {
    // readLocalization / readCorrections refuse these too; here the message names the flags.
    throw new UsageError(corrections.sec
      ? '--localize-method fft cannot take --sec (SEC damps each pair by its own factor, a matrix): give dense or auto, or drop --sec'
      : '--localize-method fft cannot follow the flow (a following taper has no grid form): give dense or auto, or drop --localize-follow'
        + (values['localize-follow'] === true ? '' : ' (this problem follows by default here; --localize C without --localize-follow does not)'));
  }
  const providers = asUsage(() => parseExecutionProviders(String(values['prior-provider']), backend));
  const sizes = chooseSizes(entry, algo, backend, requested, entryFlagValues(entry, values), noise);
  if (algoEntry.ensembleBased && sizes.ensemble < 2) {
    throw new UsageError(`--ensemble must be at least 2 for ${algo} (it needs ensemble statistics), got ${sizes.ensemble}`);
  }
  const algorithm = asUsage(() => algoEntry.create({ ...sizes, guidance, cpu: backend === 'cpu', corrections }),
    { ensembleSize: '--ensemble', steps: '--steps', iterations: '--steps', guidanceScale: '--guidance', updates: '--updates', 'localization.halfWidth': '--localize', 'gain.alpha': '--gain' });

  // The prior file and the output folder are checked before anything loads:
  // an unusable --out fails here, not after the solve.
  const priorFile = (values.prior as string | undefined) ?? entry.defaultPrior;
  await checkPriorFile(priorFile, values.prior ? '--prior' : 'the shipped prior (pass --prior FILE.onnx)');
  checkFits(`--ensemble ${sizes.ensemble}`, sizes.ensemble, 4 * ENSEMBLE_ARRAYS, 'the ensemble (before the field size is known)');
  // The sizes the run resolved are pinned in a checkpoint's command line, so
  // that enkg resume continues it as it started even where a later release
  // has changed the problem's defaults.
  const pins: string[] = [];
  if (values.ensemble === undefined) pins.push('--ensemble', String(sizes.ensemble));
  if (values.steps === undefined) pins.push('--steps', String(sizes.steps));
  if (values.updates === undefined && sizes.updates !== undefined) pins.push('--updates', String(sizes.updates));
  if (values.restart === undefined && algo === 'enkg') pins.push('--restart', formatRestarts(sizes.restarts ?? []));
  if (values.noise === undefined) pins.push('--noise', String(noise));
  for (const [flag, spec] of Object.entries(entry.flags)) {
    // The sample flag stays out where --truth gave the truth (they are alternatives).
    if (spec.default === undefined || values[flag] !== undefined || (flag === entry.sampleFlag && values.truth !== undefined)) continue;
    pins.push(`--${flag}`, spec.default);
  }
  if (algoEntry.localizable) pins.push(...correctionPins(values, corrections));
  const checkpoint = checkpointSettings([...argv, ...pins], values, resumeFrom);
  if (checkpoint) await usageOf(checkWritableFolder(checkpoint.dir, { name: '--checkpoint' }));
  const queue = values.queue === undefined ? undefined : await openQueueFlag(String(values.queue));
  const output = await usageOf(RunOutput.create((values.out as string | undefined) ?? `enkg-${entry.name}`, { force: values.force === true }))
    .catch(async (error: unknown) => { await queue?.close(); throw error; });
  const out = output.path;
  run.kept = `nothing was written (${out} is as it was)`;
  try {
    return await solveInto(output, entry, priorFile, providers, run, { values, algo, sizes, noise, seed, backend, algorithm, checkpoint, queue });
  } finally {
    await output.abort();
    await queue?.close();
  }
}

/**
 * The corrections a run took from its problem's defaults, as the flags that
 * ask for them (the localization or 'none', following, the relaxation or 0,
 * SEC and the gain where a default turned them on: no flag turns them off),
 * for a checkpoint's command line: flags the user gave are theirs already.
 * The localized step's length and form and the gain's rho have no problem
 * default (the library's are fixed), so they need no pin.
 */
function correctionPins(values: Record<string, unknown>, corrections: CorrectionOptions): string[] {
  const pins: string[] = [];
  const { localization } = corrections;
  if (values.localize === undefined) pins.push('--localize', localization ? String(localization.halfWidth) : 'none');
  if (values['localize-follow'] === undefined && localization?.follow === true) pins.push('--localize-follow');
  if (values.relax === undefined) pins.push('--relax', String(corrections.relaxation ?? 0));
  if (values.sec === undefined && corrections.sec === true) pins.push('--sec');
  if (values.gain === undefined && corrections.gain) pins.push('--gain', String(corrections.gain.alpha ?? 'adaptive'));
  return pins;
}

interface SolveSettings {
  values: Record<string, string | boolean | undefined | Array<string | boolean>>;
  algo: string;
  sizes: AlgorithmSizes;
  noise: number;
  seed: number;
  backend: 'cpu' | 'cuda';
  algorithm: ReturnType<ReturnType<typeof algorithmEntry>['create']>;
  checkpoint?: CheckpointSettings;
  /** --queue: forward evaluations through enkg worker processes. */
  queue?: QueueFlag;
}

interface CheckpointSettings {
  dir: string;
  every: number;
  /** Continue the run saved in `dir` instead of starting one. */
  resume: boolean;
  /** What `enkg resume` needs to set the problem up again: the command line, its paths made absolute. */
  meta: { command: 'solve'; argv: string[] };
}

/** Paths that a resumed command must find from any working directory. */
const PATH_FLAGS = ['out', 'truth', 'prior', 'checkpoint'];

/** --checkpoint and --checkpoint-every checked; a folder that holds a run is refused unless resuming or --force. */
function checkpointSettings(argv: string[], values: Record<string, unknown>, resumeFrom?: ResumeFrom): CheckpointSettings | undefined {
  const every = integerFlag(values['checkpoint-every'] as string | undefined, 'checkpoint-every', 1);
  if (resumeFrom) return { dir: path.resolve(resumeFrom.dir), every: every ?? 1, resume: true, meta: { command: 'solve', argv } };
  if (values.checkpoint === undefined) {
    if (every !== undefined) throw new UsageError('--checkpoint-every needs --checkpoint DIR');
    return undefined;
  }
  const dir = path.resolve(String(values.checkpoint));
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new UsageError(`--checkpoint ${dir} is a file; expected a folder (new or existing)`);
  if (fs.existsSync(path.join(dir, CHECKPOINT_FILE)) && values.force !== true) {
    throw new UsageError(`--checkpoint ${dir} holds a saved run; continue it with 'enkg resume ${dir}', or pass --force to start over`);
  }
  const absolute: string[] = [];
  for (let k = 0; k < argv.length; k++) {
    const arg = argv[k];
    const flag = PATH_FLAGS.find((f) => arg === `--${f}` || arg.startsWith(`--${f}=`));
    if (flag && arg.includes('=')) absolute.push(`--${flag}=${path.resolve(arg.slice(flag.length + 3))}`);
    else if (flag && k + 1 < argv.length) absolute.push(arg, path.resolve(argv[++k]));
    // The queue's password stays out of the checkpoint: enkg resume takes it from ENKG_QUEUE_PASSWORD.
    else if (arg.startsWith('--queue=')) absolute.push(`--queue=${withoutPassword(arg.slice('--queue='.length))}`);
    else if (arg === '--queue' && k + 1 < argv.length) absolute.push(arg, withoutPassword(argv[++k]));
    else absolute.push(arg);
  }
  return { dir, every: every ?? 1, resume: false, meta: { command: 'solve', argv: absolute } };
}

async function solveInto(output: RunOutput, entry: ProblemEntry, priorFile: string, providers: ReturnType<typeof parseExecutionProviders>,
  run: CommandRun, settings: SolveSettings): Promise<number> {
  const { values, algo, sizes, noise, seed, backend, algorithm, checkpoint } = settings;
  const out = output.path;
  const onnx = await loadPrior(priorFile, values.prior ? '--prior' : 'the shipped prior', providers, run);
  // The algorithm takes the signal itself (or stops at a step boundary when
  // checkpointing); the wrapper only lets the prior drain before disposal.
  const prior = stoppablePrior(onnx);
  try {
    // Ensemble x field size is known now, before the problem's solver is made.
    checkFits(`--ensemble ${sizes.ensemble}`, sizes.ensemble * fieldSize(prior.shape), 4 * ENSEMBLE_ARRAYS,
      `${sizes.ensemble} particles of [${prior.shape.join(', ')}]`);
    const instance = await entry.setup({
      prior, priorFile, flags: entryFlagValues(entry, values), truthFile: values.truth as string | undefined, noise, seed, backend, signal: run.signal,
    });
    const { truth } = instance;
    if (algorithmEntry(algo).needsGradient && typeof instance.problem.forward.misfitGradient !== 'function') {
      throw new UsageError(`--algo ${algo} needs the forward model's exact gradient, and ${entry.name}'s model is a black box (no misfitGradient); use a derivative-free algorithm`);
    }
    if (values.localize !== undefined && values.localize !== 'none' && !instance.problem.geometry) {
      throw new UsageError(`--localize needs a problem that says where its values and measurements sit; ${entry.name} does not`);
    }
    if (values['localize-follow'] === true && typeof instance.problem.geometry?.measurementSources !== 'function') {
      throw new UsageError(`--localize-follow needs a problem that says where its measurements' sensitivities sit (geometry.measurementSources); ${entry.name} does not`);
    }
    const problem = settings.queue?.through(instance.problem) ?? instance.problem;
    const [C, H, W] = prior.shape;

    // Sized again from the run's own step count (restart passes add steps) as it reports.
    const bar = values.quiet ? undefined : new ProgressBar(sizes.steps, 'steps');
    checkTruthNorm(truth, values.truth ? `--truth ${values.truth}` : 'the ground truth');
    checkStopped(run, 'The solve');
    const result = await runAlgorithm(algorithm, problem, run, settings, bar);
    const N = result.particles.length / truth.length;
    // The final data misfit needs one more forward evaluation of the
    // ensemble; it is a metric, not part of the algorithm's cost.
    // Particles whose final solve fails (NaN rows) are left out of the mean
    // and counted in metrics.misfitFailures.
    const finalY = await problem.forward.forward(result.particles, N, { signal: run.signal }).catch((error: unknown) => {
      if (error instanceof ForwardEvaluationError) return error.partial;
      throw error;
    });
    const { mean: misfit, counted } = dataMisfit(finalY, N, problem.observation);
    const own = instance.metrics ? await instance.metrics(result.particles, N) : { values: {} };
    const metrics: Record<string, number> = {
      relativeL2: await relativeL2Async(result.particles, N, truth),
      relativeL2Mean: await relativeL2MeanAsync(result.particles, N, truth),
      ...own.values,
      // Calibration (issue 18): CRPS in the prior's units, spread-skill 1 when calibrated.
      crps: await crps(result.particles, N, truth),
      ...(N >= 2 ? { spreadSkill: await spreadSkillRatio(result.particles, N, truth) } : {}),
      misfit,
      misfitFailures: N - counted,
    };

    const error = result.mean.map((v, j) => Math.abs(v - truth[j]));
    const images: Record<string, PanelImage> = {
      truth: instance.fieldImage(truth, 'ground truth'),
      observation: instance.observationImage,
      mean: instance.fieldImage(result.mean, `${algo} mean`),
      error: { title: 'abs error', values: error, height: H, width: W, colormap: 'viridis' },
      std: { title: 'ensemble std', values: result.std, height: H, width: W, colormap: 'viridis' },
    };
    const headline = instance.headline?.(metrics)
      ?? `relative L2 ${metrics.relativeL2.toFixed(4)} (ensemble mean ${metrics.relativeL2Mean.toFixed(4)})`;
    const restartText = sizes.restarts?.length ? `  restart ${formatRestarts(sizes.restarts)}` : '';
    const caption = `${algo}  N=${N}  K=${sizes.steps}${restartText}  noise=${noise}  ${headline}`;
    const files: Record<string, string> = { panel: 'panel.png', particles: 'particles.npy' };
    for (const key of Object.keys(images)) files[key] = `${key}.png`;
    const report = {
      problem: {
        name: entry.name, noise, ...instance.describe,
        prior: { file: path.resolve(priorFile), executionProvider: onnx.executionProvider, metadata: onnx.metadata },
      },
      algorithm: algo,
      config: 'config' in algorithm ? (algorithm as unknown as { config: unknown }).config : sizes,
      seed,
      backend,
      metrics,
      ...(own.notes ? { metricNotes: own.notes } : {}),
      cost: result.cost,
      failures: result.failures,
      trace: result.trace,
      files,
    };

    // Every file goes into the staging folder, checked; the folder becomes
    // DIR only when all are complete.
    checkStopped(run, 'The solve');
    await output.writeFile('panel.png', panelPng(Object.values(images), { caption }));
    for (const [key, image] of Object.entries(images)) await output.writeFile(`${key}.png`, imagePng(image));
    await writeNpy(output.file('particles.npy'), result.particles, [N, C, H, W]);
    await output.writeFile('result.json', `${JSON.stringify(report, null, 2)}\n`);
    checkStopped(run, 'The solve');
    await output.commit();
    run.kept = `kept ${out} (complete)`;
    if (values.json) {
      console.log(JSON.stringify(report));
    } else {
      console.error(`${algo}: ${headline}, misfit ${misfit.toExponential(3)}, ${result.cost.forwardEvaluations} forward evaluations, `
        + `${result.cost.wallSeconds.toFixed(1)} s; wrote ${out}/result.json and panel.png`);
    }
    return 0;
  } finally {
    await prior.drain();
    await onnx.dispose();
  }
}

/**
 * The algorithm's run. Without a checkpoint, a stop signal aborts it
 * mid-step. With one, every step completes: the state is saved as it goes,
 * a stop signal ends the run at the next step boundary with its state saved,
 * and the line printed on the way out says how to continue it.
 */
async function runAlgorithm(algorithm: Algorithm, problem: InverseProblem, run: CommandRun, settings: SolveSettings,
  bar: ProgressBar | undefined): Promise<SolveResult> {
  const { seed, backend, checkpoint } = settings;
  const onProgress = (e: { step: number; steps: number; misfit: number }) => {
    bar?.resize(e.steps);
    bar?.update(e.step, Number.isFinite(e.misfit) ? `misfit ${e.misfit.toExponential(2)}` : '');
  };
  if (!checkpoint) return algorithm.solve(problem, { seed, backend, signal: run.signal, onProgress });
  const options: SolveOptions = { seed, backend, onProgress, checkpoint: { dir: checkpoint.dir, every: checkpoint.every, meta: checkpoint.meta } };
  const hooks: StepHooks = { ...checkpointHooks(problem, options.checkpoint), stopRequested: () => run.signal.aborted };
  let from: RunState;
  if (checkpoint.resume) {
    from = (await usageOf(loadCheckpoint(checkpoint.dir, problem))).state;
    bar?.resize(from.steps);
    bar?.update(from.step, `resumed at step ${from.step}`);
  } else {
    from = await algorithm.init(problem, options);
    await hooks.afterStep?.(from);
  }
  const resumeLine = `continue it with: enkg resume ${checkpoint.dir}`;
  run.kept = `the run is saved in ${checkpoint.dir}; ${resumeLine}`;
  const state = await runSteps(algorithm, problem, options, hooks, from);
  if (!finished(state)) {
    await saveCheckpoint(checkpoint.dir, state, problem, checkpoint.meta);
    run.kept = `the run is saved at step ${state.step} of ${state.steps} in ${checkpoint.dir}; ${resumeLine}`;
    throw abortError(run.signal, 'The solve');
  }
  return resultOf(state, fieldSize(problem.prior.shape));
}
