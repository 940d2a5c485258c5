// Many observations of one system in one run: B inverse problems that share
// a prior and a forward model advance together, and every denoiser and
// forward call they make at the same point of their runs goes to the shared
// prior or model as one batch. Each problem keeps its own run (its own seed,
// cost record, trace and failures), so its result is the one a separate run
// with the same seed gives, for any batch-independent prior and model.
import { Denoiser, fieldSize } from '../prior/denoiser';
import { ForwardEvaluationError, ForwardModel, ForwardOptions, SampleFailure } from '../problems/forward-model';
import { expected, requireObject } from '../validate';
import { Algorithm, InverseProblem, SolveOptions, SolveResult } from './run';

export interface SolveManyOptions extends SolveOptions {
  /** The seed of each problem's run (default: `seed`, or 0, for all). */
  seeds?: number[];
}

interface Pending {
  kind: 'denoise' | 'forward';
  /** The problem's index: a batch holds its runs' rows in problem order, whatever order they arrived in. */
  run: number;
  x: Float32Array;
  batch: number;
  sigma?: number | Float32Array;
  resolve(value: Float32Array): void;
  reject(error: unknown): void;
}

/**
 * The meeting point of the B runs: a call waits until every run still going
 * is waiting on a call of its own, then the calls go out grouped by kind,
 * one batch each (runs that skip a call at some step, as DPG does when no
 * sample is guided, only change which group they join).
 */
class Rendezvous {
  private pending: Pending[] = [];
  private active: number;

  constructor(count: number, private readonly prior: Denoiser, private readonly forward: ForwardModel, private readonly signal?: AbortSignal) {
    this.active = count;
  }

  call(entry: Omit<Pending, 'resolve' | 'reject'>): Promise<Float32Array> {
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.push({ ...entry, resolve, reject });
      this.maybeFlush();
    });
  }

  /** A run has ended (finished or failed): the others no longer wait for it. */
  leave(): void {
    this.active--;
    this.maybeFlush();
  }

  private maybeFlush(): void {
    if (this.pending.length === 0 || this.pending.length < this.active) return;
    const calls = this.pending;
    this.pending = [];
    for (const kind of ['denoise', 'forward'] as const) {
      const group = calls.filter((c) => c.kind === kind).sort((a, b) => a.run - b.run);
      if (group.length > 0) void this.dispatch(kind, group);
    }
  }

  private async dispatch(kind: 'denoise' | 'forward', group: Pending[]): Promise<void> {
    const per = kind === 'denoise' ? fieldSize(this.prior.shape) : fieldSize(this.forward.fieldShape);
    const total = group.reduce((s, c) => s + c.batch, 0);
    const x = new Float32Array(total * per);
    let row = 0;
    for (const c of group) {
      x.set(c.x.subarray(0, c.batch * per), row * per);
      row += c.batch;
    }
    const width = kind === 'denoise' ? per : this.forward.measurementSize;
    try {
      let out: Float32Array;
      if (kind === 'denoise') {
        // One level for all rows when the runs agree (they do at the same step), else one per row.
        const first = group[0].sigma!;
        const same = group.every((c) => typeof c.sigma === 'number' && c.sigma === first);
        let sigma: number | Float32Array = first;
        if (!same) {
          sigma = new Float32Array(total);
          let r = 0;
          for (const c of group) {
            if (typeof c.sigma === 'number') sigma.fill(c.sigma, r, r + c.batch);
            else sigma.set(c.sigma!.subarray(0, c.batch), r);
            r += c.batch;
          }
        }
        out = await this.prior.denoise(x, sigma, total);
      } else {
        out = await this.forward.forward(x, total, this.signal ? { signal: this.signal } : undefined);
      }
      split(group, out, width);
    } catch (error) {
      if (kind === 'forward' && error instanceof ForwardEvaluationError) {
        splitFailures(group, error, width);
      } else {
        for (const c of group) c.reject(error);
      }
    }
  }
}

function split(group: Pending[], out: Float32Array, width: number): void {
  let row = 0;
  for (const c of group) {
    c.resolve(out.slice(row * width, (row + c.batch) * width));
    row += c.batch;
  }
}

// A forward batch in which some rows failed: each run gets its own rows,
// and an error with its own failures (renumbered) if any of its rows failed.
function splitFailures(group: Pending[], error: ForwardEvaluationError, width: number): void {
  let row = 0;
  for (const c of group) {
    const mine: SampleFailure[] = error.failures
      .filter((f) => f.index >= row && f.index < row + c.batch)
      .map((f) => ({ ...f, index: f.index - row }));
    const partial = error.partial.slice(row * width, (row + c.batch) * width);
    if (mine.length === 0) c.resolve(partial);
    else c.reject(new ForwardEvaluationError(error.message, mine, partial));
    row += c.batch;
  }
}

/**
 * Solves B problems that share `prior` and `forward` (the same objects) with
 * one algorithm, their runs advancing together: each denoiser and forward
 * call is one batch over the B ensembles. Returns the B results in order.
 * If a run fails, the others still finish, and the first failure is thrown
 * with the index of its problem.
 */
export async function solveMany(algorithm: Algorithm, problems: InverseProblem[], opts: SolveManyOptions = {}): Promise<SolveResult[]> {
  if (!Array.isArray(problems) || problems.length === 0) throw new TypeError(expected('a non-empty array of problems', 'problems', problems));
  const { seeds, ...rest } = requireObject(opts, 'solveMany options') as SolveManyOptions;
  const B = problems.length;
  if (seeds !== undefined && (!Array.isArray(seeds) || seeds.length !== B)) {
    throw new RangeError(expected(`${B} seeds (one per problem)`, 'seeds', seeds));
  }
  const { prior, forward } = requireObject(problems[0], 'problems[0]') as unknown as InverseProblem;
  problems.forEach((p, b) => {
    if (p.prior !== prior || p.forward !== forward) {
      throw new RangeError(`Expected problems that share one prior and one forward model (the same objects) for problems[${b}] but received other ones`);
    }
  });
  const meeting = new Rendezvous(B, prior, forward, rest.signal);
  // Each run sees its own view of the shared prior and model, which joins the meeting under its index.
  const priorOf = (run: number): Denoiser => ({
    shape: prior.shape,
    get evaluations() {
      return prior.evaluations;
    },
    denoise: (x, sigma, batch) => meeting.call({ kind: 'denoise', run, x, sigma, batch }),
    ...(prior.jvp ? { jvp: prior.jvp.bind(prior) } : {}),
  });
  const forwardOf = (run: number): ForwardModel => ({
    fieldShape: forward.fieldShape,
    measurementSize: forward.measurementSize,
    forward: (x: Float32Array, batch: number, _options?: ForwardOptions) => meeting.call({ kind: 'forward', run, x, batch }),
    ...(forward.misfitGradient ? { misfitGradient: forward.misfitGradient.bind(forward) } : {}),
  });
  const runs = problems.map(async (p, b) => {
    try {
      return await algorithm.solve({ ...p, prior: priorOf(b), forward: forwardOf(b) }, { ...rest, seed: seeds?.[b] ?? rest.seed });
    } finally {
      meeting.leave();
    }
  });
  const settled = await Promise.allSettled(runs);
  const failed = settled.findIndex((s) => s.status === 'rejected');
  if (failed >= 0) {
    const error = (settled[failed] as PromiseRejectedResult).reason as Error;
    throw Object.assign(new Error(`solveMany: problem ${failed} failed: ${error?.message ?? String(error)}`), { cause: error, problem: failed });
  }
  return settled.map((s) => (s as PromiseFulfilledResult<SolveResult>).value);
}
