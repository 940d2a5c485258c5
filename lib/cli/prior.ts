// The prior file a command is given (--prior): checked as an input file
// before anything loads, and loaded with a file that breaks the prior
// contract reported as a usage error (exit 2), as the README says.
import { abortError, raceAbort } from '../abort';
import { openInputFile, PROTOBUF_MAX_BYTES } from '../io/input-file';
import { Denoiser } from '../prior/denoiser';
import { ExecutionProvider, OnnxDenoiser } from '../prior/onnx-denoiser';
import { CommandRun } from './stop';
import { UsageError, usageOf } from './usage';

/** A regular, readable file of at most 2 GiB, or a UsageError naming the flag. */
export async function checkPriorFile(file: string, flag: string): Promise<void> {
  const input = await usageOf(openInputFile(file, { name: flag, maxBytes: PROTOBUF_MAX_BYTES }));
  await input.close();
}

// OnnxDenoiser.load's messages for a file that is not a usable prior (its
// bytes or its inputs and outputs), as opposed to a runtime that fails.
const NOT_A_PRIOR = /does not follow the enkg prior contract|is not an ONNX model|^Cannot read the prior/;

/**
 * Loads an ONNX prior for a command: a file that is not an ONNX model or
 * breaks the contract is a UsageError; a stop while loading disposes of the
 * prior when it arrives.
 */
export async function loadPrior(file: string, flag: string, providers: ExecutionProvider[], run: CommandRun): Promise<OnnxDenoiser> {
  const loading = OnnxDenoiser.load(file, { executionProviders: providers });
  loading.then((prior) => {
    if (run.signal.aborted) void prior.dispose();
  }, () => undefined);
  try {
    return await raceAbort(loading, run.signal, 'Loading the prior');
  } catch (error) {
    if (error instanceof Error && NOT_A_PRIOR.test(error.message)) throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
}

/** A prior that a stopped command can wind down safely. */
export interface StoppablePrior extends Denoiser {
  /** Resolves when no evaluation is in flight (the prior may then be disposed of). */
  drain(): Promise<void>;
}

/**
 * The prior as a command hands it to its work: `drain()` waits for the
 * evaluations in flight. Disposing of an ONNX prior while an inference runs
 * aborts the process in onnxruntime-node, and an algorithm stopped by its
 * signal leaves its last inference running (it races it), so a command
 * drains before disposing. With `stopWith`, a new evaluation after its
 * signal fired rejects with the AbortError: the next safe point for work
 * that takes no signal (sampleODE). Work that stops itself at a step
 * boundary (a checkpointed solve) is not given one.
 */
export function stoppablePrior(prior: Denoiser, stopWith?: CommandRun): StoppablePrior {
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: () => Promise<T>, what: string): Promise<T> => {
    if (stopWith?.signal.aborted) return Promise.reject(abortError(stopWith.signal, what));
    const promise = work();
    inFlight.add(promise);
    const forget = () => inFlight.delete(promise);
    promise.then(forget, forget);
    return promise;
  };
  const wrapped: StoppablePrior = {
    shape: prior.shape,
    get evaluations() {
      return prior.evaluations;
    },
    denoise: (x, sigma, batch) => track(() => prior.denoise(x, sigma, batch), 'The prior evaluation'),
    drain: async () => {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
  const jvp = prior.jvp?.bind(prior);
  if (jvp !== undefined) wrapped.jvp = (x, sigma, v, batch) => track(() => jvp(x, sigma, v, batch), 'The prior evaluation');
  return wrapped;
}
