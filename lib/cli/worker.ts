// `enkg worker`: a long-lived process that evaluates the forward-model jobs
// of ForwardModel.fromQueue (enkg solve --queue) on this machine. It serves
// one model, chosen at start: a registered one by name, or the function a
// module exports. SIGINT / SIGTERM finish the job in hand, then exit.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import { QUEUE_MODEL_NAMES, queueModelEntry } from '../forward/queue-models';
import { DEFAULT_PROGRESS_MS, ServedModel, startQueueWorker } from '../forward/queue-worker';
import { parseRedisUrl } from '../forward/redis';
import { CommandRun, quietRun } from './stop';
import { asUsage, backendFlag, integerFlag, requiredFlag, UsageError } from './usage';

export const WORKER_USAGE = `Usage: enkg worker --redis URL --queue NAME --model MODEL [--concurrency N] [--progress-ms MS]

Evaluates the forward models of runs started with enkg solve --queue (or
ForwardModel.fromQueue) on this machine, until stopped. Start one on every
machine; they share the work through the queue.

Options:
  --redis URL        the Redis server: redis://[user:password@]host[:port][/db],
                     rediss://... for TLS
  --queue NAME       the queue (the NAME of enkg solve --queue redis://HOST:PORT/NAME)
  --model MODEL      ${QUEUE_MODEL_NAMES.join(', ')} (options come with each job), or the
                     path of a JavaScript module exporting fn(field, index), as
                     ForwardModel.fromWorkers takes; jobs ask for it by its file
                     name without extension
  --batched          the module's function is fn(x, batch) instead
  --export NAME      the module's export to call (default: module.exports or default)
  --concurrency N    jobs evaluated at once (default 1)
  --lock-ms MS       BullMQ lock and stall check, ms (default 30000): the job of
                     a worker that died is taken over after about this long
  --backend NAME     cpu, cuda or auto (default auto) for a registered model
  --progress-ms MS   a progress line on stderr this often (default ${DEFAULT_PROGRESS_MS}): jobs
                     and particles evaluated, particles per second, failures,
                     jobs refused, idle time, since the last line and in all

SIGINT / SIGTERM: the job in hand is finished and its result stored, then
the worker exits (130 / 143).`;

export async function worker(argv: string[], run: CommandRun = quietRun()): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, strict: true, allowPositionals: true,
    options: {
      redis: { type: 'string' }, queue: { type: 'string' }, model: { type: 'string' }, concurrency: { type: 'string' },
      'lock-ms': { type: 'string' }, 'progress-ms': { type: 'string' }, backend: { type: 'string' }, batched: { type: 'boolean', default: false },
      export: { type: 'string' }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(WORKER_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`enkg worker takes no positional arguments; got '${positionals.join(' ')}'\n\n${WORKER_USAGE}`);
  const target = asUsage(() => parseRedisUrl(requiredFlag(values.redis, 'redis', WORKER_USAGE), '--redis'));
  const queue = requiredFlag(values.queue, 'queue', WORKER_USAGE);
  if (queue === '' || queue.includes(':')) throw new UsageError(`Expected a queue name (no ':') for --queue but received '${queue}'`);
  const modelFlag = requiredFlag(values.model, 'model', WORKER_USAGE);
  const entry = queueModelEntry(modelFlag);
  let model: ServedModel;
  if (entry) {
    if (values.batched || values.export !== undefined) throw new UsageError(`--batched and --export are for a module's model, not '${modelFlag}'`);
    model = { kind: 'registered', entry };
  } else {
    const file = path.resolve(modelFlag);
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile()) {
      throw new UsageError(`Expected ${QUEUE_MODEL_NAMES.join(', ')} or the path of a JavaScript module for --model but received '${modelFlag}' (no such file)`);
    }
    model = { kind: 'module', path: file, batched: values.batched === true, ...(values.export ? { exportName: values.export } : {}) };
  }
  const concurrency = integerFlag(values.concurrency, 'concurrency', 1) ?? 1;
  const lockMs = integerFlag(values['lock-ms'], 'lock-ms', 100) ?? 30_000;
  const progressMs = integerFlag(values['progress-ms'], 'progress-ms', 1) ?? DEFAULT_PROGRESS_MS;
  const backend = backendFlag(values.backend);
  if (run.signal.aborted) return 0;
  const served = await startQueueWorker({ target, queue, model, concurrency, lockMs, backend, progressMs });
  run.kept = 'no job was in hand';
  await new Promise<void>((resolve) => {
    if (run.signal.aborted) resolve();
    else run.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await served.close();
  run.kept = `the jobs in hand were finished (${served.counts.jobs} jobs, ${served.counts.particles} particles evaluated)`;
  return 0;
}
