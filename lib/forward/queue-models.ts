// The forward models a queue worker can evaluate by name, and how a job
// names one: a registered name plus plain-data options (numbers, strings,
// booleans), never code. The coordinator describes its model with the same
// entry (describe) and the worker rebuilds it (create), so both sides hold
// the same model. Adding a model is one entry in this table.
import { NavierStokes2D } from '../problems/navier-stokes';
import type { ForwardModel } from '../problems/forward-model';
import { expected } from '../validate';

/** Plain data that travels in a job: no functions, no typed arrays. */
export type PlainOptions = Record<string, string | number | boolean>;

export interface QueueModelEntry {
  readonly name: string;
  /** The model from its options (checked by the model's own constructor); the worker's backend is its own. */
  create(options: PlainOptions): ForwardModel;
  /** The options that rebuild `model`, or undefined when `model` is not one of this entry's. */
  describe(model: ForwardModel): PlainOptions | undefined;
}

/** NavierStokes2D's options that describe the physics and the solver, not the machine (backend). */
const NAVIER_STOKES_KEYS = [
  'resolution', 'reynolds', 'time', 'downsample', 'scale', 'adaptive', 'dt', 'dtMode', 'forcing', 'precision', 'maxSteps', 'kernel',
] as const;

const navierStokes: QueueModelEntry = {
  name: 'navier-stokes',
  create: (options) => new NavierStokes2D(options as never),
  describe: (model) => {
    if (!(model instanceof NavierStokes2D)) return undefined;
    const options: PlainOptions = {};
    for (const key of NAVIER_STOKES_KEYS) {
      const value = (model as unknown as Record<string, unknown>)[key];
      if (value !== undefined) options[key] = value as string | number | boolean;
    }
    // The noise of observe() is not part of forward(); the observation is made by the coordinator.
    return options;
  },
};

export const QUEUE_MODEL_REGISTRY: readonly QueueModelEntry[] = [navierStokes];

export const QUEUE_MODEL_NAMES: readonly string[] = QUEUE_MODEL_REGISTRY.map((e) => e.name);

export function queueModelEntry(name: string): QueueModelEntry | undefined {
  return QUEUE_MODEL_REGISTRY.find((e) => e.name === name);
}

/** Checks that `options` is plain data (what may travel in a job). */
export function requirePlainOptions(value: unknown, name: string): PlainOptions {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(expected('an object of plain options', name, value));
  for (const [key, v] of Object.entries(value)) {
    if (!['string', 'number', 'boolean'].includes(typeof v)) {
      throw new TypeError(expected('a number, string or boolean (options travel as plain data)', `${name}.${key}`, v));
    }
  }
  return value as PlainOptions;
}
