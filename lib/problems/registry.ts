// The problem registry: every inverse problem `enkg solve` (and the
// benchmarks) can set up by name. An entry holds what is particular to its
// problem: its flags, default prior and noise, how to load the ground truth
// and build the problem from it, how to draw its fields and its observation,
// and any metrics of its own. The CLI is generic over this table: adding a
// problem is one entry (in its own file) plus one line here.
import type { CorrectionOptions } from '../algorithms/corrections';
import type { AlgorithmSizes, InverseProblem } from '../types';
import type { BackendName } from '../backend';
import type { PanelImage } from '../io/figure';
import type { Denoiser } from '../prior/denoiser';
import { IMAGING_ENTRIES } from './imaging/entries';
import { navierStokesEntry } from './navier-stokes-entry';

/** A flag of one problem (node:util parseArgs' option, with its help line). */
export interface ProblemFlag {
  type: 'string' | 'boolean';
  /** `--name VALUE  what it does (default ...)`, as printed by `enkg solve NAME --help`. */
  help: string;
  /**
   * The value the entry takes when the flag is absent, where it has one of
   * its own: a checkpoint's command line pins it, so that enkg resume sets
   * the same problem up even where a later release changes the default.
   */
  default?: string;
}

export type FlagValues = Record<string, string | boolean | undefined>;

export interface ProblemSetupOptions {
  prior: Denoiser;
  priorFile: string;
  /** The problem's own flags as given (strings, undefined when absent). */
  flags: FlagValues;
  /** --truth FILE, when given. */
  truthFile?: string;
  /** Observation noise std in the problem's units (the entry's default when not given). */
  noise: number;
  /** Seed of the observation noise (and of any random choice of the problem, e.g. a mask). */
  seed: number;
  backend: BackendName;
  signal?: AbortSignal;
}

/** A problem set up from its flags: what the algorithms consume and what the CLI reports and draws. */
export interface ProblemInstance {
  problem: InverseProblem;
  /** The ground truth, one field in the prior's units. */
  truth: Float32Array;
  /** result.json's `problem` block (the CLI adds `name` and `noise`). */
  describe: Record<string, unknown>;
  /** A field (truth, estimate, particle) as a panel image, in the problem's colours. */
  fieldImage(values: Float32Array, title: string): PanelImage;
  /** The observation drawn so a person can read it. */
  observationImage: PanelImage;
  /**
   * Metrics of its own beside the generic relative L2 and misfit (PSNR for
   * images), each a number; `notes` says how they were computed where that
   * is not obvious (an alignment, a clipping).
   */
  metrics?(particles: Float32Array, N: number): Promise<{ values: Record<string, number>; notes?: string[] }>;
  /** The console's one-line summary of the metrics (default: relative L2). */
  headline?(metrics: Record<string, number>): string;
}

export interface ProblemEntry {
  readonly name: string;
  /** One line for `enkg solve --help`. */
  readonly summary: string;
  /** The paragraph at the top of `enkg solve NAME --help`. */
  readonly description: string;
  readonly flags: Readonly<Record<string, ProblemFlag>>;
  /** The flag that picks a shipped held-out truth (an alternative to --truth). */
  readonly sampleFlag?: string;
  /** What --truth accepts, for the help text. */
  readonly truthHelp: string;
  /** The prior used without --prior, and what to say when it is missing. */
  readonly defaultPrior: string;
  /** Observation noise std without --noise, and its units for the help text. */
  readonly defaultNoise: number;
  readonly noiseUnits: string;
  /**
   * Sizes that differ from the algorithm's own defaults on this problem
   * (cheap problems afford more), for these flags of the problem's and this
   * observation noise (none when the help text asks; noise: the entry's
   * defaultNoise when not given).
   */
  sizes?(algorithm: string, backend: BackendName, flags?: Readonly<Record<string, string | boolean | undefined>>, noise?: number): Partial<AlgorithmSizes> | undefined;
  /**
   * The Kalman-step corrections (localization, sec, gain) that this
   * problem's measurements picked as the default of the ensemble Kalman
   * methods for these flags on this backend (bench/RESULTS.md); the
   * command line's own --localize, --sec and --gain override them.
   */
  corrections?(flags: Readonly<Record<string, string | boolean | undefined>>, backend: BackendName): CorrectionOptions | undefined;
  /** Checks the prior against the problem, loads the truth and builds the problem; UsageError for bad flags or files. */
  setup(opts: ProblemSetupOptions): Promise<ProblemInstance>;
}

export const PROBLEM_REGISTRY: readonly ProblemEntry[] = [navierStokesEntry, ...IMAGING_ENTRIES];

export const PROBLEM_NAMES: readonly string[] = PROBLEM_REGISTRY.map((p) => p.name);

/** The entry named `name`, or undefined. */
export function problemEntry(name: string): ProblemEntry | undefined {
  return PROBLEM_REGISTRY.find((p) => p.name === name);
}
