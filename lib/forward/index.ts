// Forward models from anywhere: adapters that turn a JavaScript function, a
// module run in worker threads, or an external program into a ForwardModel.
export { fromFunction } from './function';
export type { FromFunctionOptions } from './function';
export { fromWorkers } from './workers';
export type { FromWorkersOptions, WorkerForwardModel } from './workers';
export { fromCommand, INPUT_PLACEHOLDER, OUTPUT_PLACEHOLDER } from './command';
export type { FromCommandOptions } from './command';
export { fromQueue } from './queue';
export type { FromQueueOptions, QueueCallStats, QueueForwardModel } from './queue';
export type { AdapterShape } from './options';
export type { BatchFunction, ForwardRow, ParticleFunction } from './evaluate';
