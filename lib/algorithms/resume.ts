// Continuing a saved run: the checkpoint's algorithm is rebuilt from its
// recorded configuration (through the algorithm registry), the state is
// checked against the problem, and the run goes on from its step, saving
// into the same folder as it goes.
import { loadCheckpoint } from './checkpoint';
import { algorithmEntry } from './registry';
import {
  checkpointHooks, checkProblem, InverseProblem, resultOf, RunState, runSteps, SolveOptions, SolveResult, StepHooks,
} from './run';

export interface ResumeOptions extends Omit<SolveOptions, 'seed'> {
  /** Extra hooks (a driver that stops at a step boundary). */
  hooks?: StepHooks;
}

/**
 * The run saved in `dir` (by `solve(problem, { checkpoint: { dir } })` or
 * `enkg solve --checkpoint DIR`), continued to its end on `problem`, which
 * must be the problem it was started on (same field shape, measurement size
 * and observation; a CheckpointError says what differs). The particles are
 * bit-identical to those of the run had it never stopped. Checkpoints go on
 * being written to `dir` unless `checkpoint` says otherwise.
 */
export async function resume(dir: string, problem: InverseProblem, opts: ResumeOptions = {}): Promise<SolveResult> {
  const state = await resumeState(dir, problem, opts);
  return resultOf(state, checkProblem(problem).d);
}

/** resume(), returning the final (or, when a hook stopped it, the last) state instead of the result. */
export async function resumeState(dir: string, problem: InverseProblem, opts: ResumeOptions = {}): Promise<RunState> {
  const { hooks: extra = {}, ...rest } = opts;
  const loaded = await loadCheckpoint(dir, problem);
  const { state, meta } = loaded;
  const algorithm = algorithmEntry(state.algorithm).fromConfig(state.config);
  const solveOptions: SolveOptions = { ...rest, seed: state.seed, checkpoint: rest.checkpoint ?? { dir, meta } };
  const saving = checkpointHooks(problem, solveOptions.checkpoint);
  const hooks: StepHooks = {
    stopRequested: extra.stopRequested,
    afterStep: async (s) => {
      await saving.afterStep?.(s);
      await extra.afterStep?.(s);
    },
  };
  return runSteps(algorithm, problem, solveOptions, hooks, state);
}
