// The algorithm registry: every inverse-problem algorithm the CLI and the
// benchmarks can run, with its factory, its defaults and how to size it to a
// forward-evaluation budget. `enkg solve`, its help text and
// bench/accuracy.ts iterate over this table; adding an algorithm is one entry.
import type { BackendName } from '../backend';
import { DPG } from './dpg';
import { DPS } from './dps';
import { DPSGSG } from './dps-gsg';
import { EKI } from './eki';
import { EnKG } from './enkg';
import type { CorrectionOptions } from './corrections';
import type { Algorithm, AlgorithmSizes } from '../types';

export type { AlgorithmSizes } from '../types';
import { SCG } from './scg';


export interface AlgorithmSettings extends AlgorithmSizes {
  guidance?: number;
  /** Small-ensemble corrections of the Kalman step: localization, sec, gain (entries with `localizable`). */
  corrections?: CorrectionOptions;
  /** Cheaper inner sizes (queries, Monte-Carlo samples, candidates) for a CPU run. */
  cpu: boolean;
}

/** One algorithm sized to a forward budget (bench/accuracy.ts's matched budgets). */
export interface BudgetPlan {
  algorithm: Algorithm;
  /** Forward evaluations this configuration spends (the budget, up to rounding). */
  budget: number;
  settings: Record<string, number | string>;
}

export interface AlgorithmEntry {
  readonly name: string;
  readonly summary: string;
  /** Whether it needs ensemble statistics (then N >= 2). */
  readonly ensembleBased: boolean;
  /** Whether it takes the Kalman step's corrections (`localization`, `sec`, `gain`): the Kalman-step methods. */
  readonly localizable?: boolean;
  /** Whether it needs the forward model's exact gradient (forward.misfitGradient): not a black-box method. */
  readonly needsGradient?: boolean;
  /** Defaults per backend: sized to minutes on a 2-core CPU, to the paper's scale on a GPU. */
  defaults(backend: BackendName): AlgorithmSizes;
  create(settings: AlgorithmSettings): Algorithm;
  /** The algorithm with exactly this configuration (an Algorithm's `config`, as a run state records it). */
  fromConfig(config: object): Algorithm;
  /** The configuration that spends about `budget` forward evaluations (N: EnKG's ensemble; vpSteps: the VP grid of the one-sample methods). */
  forBudget(budget: number, opts: { ensemble: number; vpSteps: number }): BudgetPlan;
}

const guidanceOf = (s: AlgorithmSettings) => (s.guidance === undefined ? {} : { guidanceScale: s.guidance });

function dpsGsg(scheme: 'forward' | 'central'): AlgorithmEntry {
  return {
    name: `dps-gsg-${scheme}`,
    summary: `DPS with a Gaussian-smoothed ${scheme}-difference gradient estimate`,
    ensembleBased: false,
    defaults: (backend) => (backend === 'cuda' ? { ensemble: 1, steps: 1000 } : { ensemble: 1, steps: 100 }),
    create: (s) => new DPSGSG({ ensembleSize: s.ensemble, steps: s.steps, scheme, ...(s.cpu ? { queries: 64 } : {}), ...guidanceOf(s) }),
    fromConfig: (config) => new DPSGSG(config),
    forBudget(budget, { vpSteps }) {
      let queries = Math.max(2, Math.round(budget / vpSteps) - 1);
      if (scheme === 'central' && queries % 2) queries += 1;
      const steps = Math.max(2, Math.round(budget / (queries + 1)));
      return { algorithm: new DPSGSG({ scheme, queries, steps }), budget: steps * (queries + 1), settings: { steps, queries } };
    },
  };
}

export const ALGORITHM_REGISTRY: readonly AlgorithmEntry[] = [
  {
    name: 'enkg',
    summary: 'Ensemble Kalman Diffusion Guidance (the method)',
    ensembleBased: true,
    // On the CPU one correction per step buys a larger ensemble in the same time.
    defaults: (backend) => (backend === 'cuda' ? { ensemble: 512, steps: 80, updates: 2 } : { ensemble: 64, steps: 20, updates: 1 }),
    fromConfig: (config) => new EnKG(config),
    localizable: true,
    create: (s) => new EnKG({
      ensembleSize: s.ensemble, steps: s.steps, ...guidanceOf(s), ...(s.updates === undefined ? {} : { updates: s.updates }),
      ...(s.restarts?.length ? { restarts: s.restarts } : {}), ...s.corrections,
    }),
    forBudget(budget, { ensemble: N }) {
      // The fewest steps K whose U N (guided steps) reaches the budget, at the default U.
      let enkg = new EnKG({ ensembleSize: N, steps: 2 });
      while (enkg.config.updates * N * enkg.guidedSteps() < budget) enkg = new EnKG({ ensembleSize: N, steps: enkg.config.steps + 1 });
      const { steps: K, updates: U } = enkg.config;
      return { algorithm: enkg, budget: U * N * enkg.guidedSteps(), settings: { N, K, U } };
    },
  },
  {
    name: 'eki',
    summary: 'ensemble Kalman inversion started from prior samples',
    ensembleBased: true,
    defaults: (backend) => (backend === 'cuda' ? { ensemble: 512, steps: 200 } : { ensemble: 64, steps: 18 }),
    fromConfig: (config) => new EKI(config),
    localizable: true,
    create: (s) => new EKI({ ensembleSize: s.ensemble, iterations: s.steps, ...guidanceOf(s), ...s.corrections }),
    forBudget(budget, { ensemble: N }) {
      const iterations = Math.max(1, Math.round(budget / N));
      return { algorithm: new EKI({ ensembleSize: N, iterations }), budget: iterations * N, settings: { N, iterations } };
    },
  },
  dpsGsg('forward'),
  dpsGsg('central'),
  {
    name: 'dps',
    summary: 'DPS with the exact gradient (a derivative-based reference; needs a differentiable model)',
    ensembleBased: false,
    needsGradient: true,
    defaults: (backend) => (backend === 'cuda' ? { ensemble: 1, steps: 1000 } : { ensemble: 1, steps: 100 }),
    fromConfig: (config) => new DPS(config),
    create: (s) => new DPS({ ensembleSize: s.ensemble, steps: s.steps, ...guidanceOf(s) }),
    forBudget(budget) {
      // One forward evaluation per VP step.
      const steps = Math.max(2, Math.round(budget));
      return { algorithm: new DPS({ steps }), budget: steps, settings: { steps } };
    },
  },
  {
    name: 'dpg',
    summary: 'diffusion policy gradient (Monte-Carlo score-function estimate)',
    ensembleBased: false,
    defaults: (backend) => (backend === 'cuda' ? { ensemble: 1, steps: 1000 } : { ensemble: 1, steps: 100 }),
    fromConfig: (config) => new DPG(config),
    create: (s) => new DPG({ ensembleSize: s.ensemble, steps: s.steps, ...(s.cpu ? { mcSamples: 64 } : {}), ...guidanceOf(s) }),
    forBudget(budget, { vpSteps }) {
      const mcSamples = Math.max(2, Math.round(budget / vpSteps) - 1);
      const steps = Math.max(2, Math.round(budget / (mcSamples + 1)));
      return { algorithm: new DPG({ mcSamples, steps }), budget: steps * (mcSamples + 1), settings: { steps, mcSamples } };
    },
  },
  {
    name: 'scg',
    summary: 'stochastic control guidance (best of C candidates per step)',
    ensembleBased: false,
    defaults: (backend) => (backend === 'cuda' ? { ensemble: 1, steps: 1000 } : { ensemble: 1, steps: 100 }),
    fromConfig: (config) => new SCG(config),
    create: (s) => new SCG({ ensembleSize: s.ensemble, steps: s.steps, ...(s.cpu ? { candidates: 32 } : {}) }),
    forBudget(budget, { vpSteps }) {
      // G = K - 1 - floor(K / 4) guided steps at the default threshold 0.25.
      const candidates = Math.max(2, Math.round(budget / (0.75 * vpSteps)));
      let steps = 2;
      while (steps - 1 - Math.floor(steps / 4) < budget / candidates) steps++;
      const guided = steps - 1 - Math.floor(steps / 4);
      return { algorithm: new SCG({ candidates, steps }), budget: guided * candidates, settings: { steps, candidates } };
    },
  },
];

export const ALGORITHM_NAMES: readonly string[] = ALGORITHM_REGISTRY.map((a) => a.name);

/** The entry named `name`; a RangeError listing the known names otherwise. */
export function algorithmEntry(name: string): AlgorithmEntry {
  const entry = ALGORITHM_REGISTRY.find((a) => a.name === name);
  if (!entry) throw new RangeError(`Expected one of ${ALGORITHM_NAMES.join(', ')} for the algorithm but received '${name}'`);
  return entry;
}
