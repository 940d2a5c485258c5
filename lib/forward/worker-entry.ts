// The task a fromWorkers pool runs in each worker thread: load the user's
// module once, then evaluate a chunk of particles with the same code as
// fromFunction (evaluate.ts) and send the measurements back transferred.
import { pathToFileURL } from 'node:url';
import { workerData } from 'node:worker_threads';

import { move, transferableSymbol, valueSymbol } from 'piscina';

import { BatchFunction, evaluateBatch, evaluateParticles, EvaluatedRows, ParticleFunction } from './evaluate';

/** What workers.ts passes to every worker. */
export interface WorkerSetup {
  modulePath: string;
  exportName?: string;
  batched: boolean;
  d: number;
  m: number;
}

/** One chunk: n fields (transferred), the first of which is row `first` of the forward call. */
export interface WorkerTask {
  x: Float32Array;
  n: number;
  first: number;
}

// import() kept as import() (TypeScript's CommonJS output would turn it into
// require, which cannot load an ES module in Node 20).
const importModule = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<Record<string, unknown>>;

async function loadFunction(setup: WorkerSetup): Promise<(...args: never[]) => unknown> {
  let loaded: unknown;
  try {
    loaded = require(setup.modulePath);
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_REQUIRE_ESM') throw error;
    loaded = await importModule(pathToFileURL(setup.modulePath).href);
  }
  const mod = loaded as Record<string, unknown>;
  const candidates = setup.exportName !== undefined ? [mod?.[setup.exportName]]
    : [mod, mod?.default, (mod?.default as Record<string, unknown> | undefined)?.default];
  const fn = candidates.find((c) => typeof c === 'function');
  if (fn === undefined) {
    const what = setup.exportName !== undefined ? `an export named '${setup.exportName}' that is a function`
      : 'a function as module.exports or as its default export';
    const keys = (typeof mod === 'object' || typeof mod === 'function') && mod !== null ? Object.keys(mod) : [];
    throw new TypeError(`Expected ${what} in ${setup.modulePath} but it exports { ${keys.join(', ')} }`);
  }
  return fn as (...args: never[]) => unknown;
}

const setup = workerData as WorkerSetup;
let fn: Promise<(...args: never[]) => unknown> | undefined;

export default async function evaluateChunk(task: WorkerTask): Promise<unknown> {
  fn ??= loadFunction(setup);
  const f = await fn;
  const rows: EvaluatedRows = setup.batched
    ? await evaluateBatch(f as unknown as BatchFunction, task.x, task.n, setup.m, task.first)
    : await evaluateParticles(f as unknown as ParticleFunction, task.x, task.n, setup.d, setup.m, task.first);
  // piscina's Transferable, marked for moving: the value is sent with y's
  // buffer transferred, not copied.
  return move({ [transferableSymbol]: [rows.y.buffer], [valueSymbol]: rows } as never);
}
