// `enkg solve --queue redis[s]://[user:password@]HOST:PORT/NAME`: the run's
// forward evaluations farmed out to `enkg worker` processes through the
// BullMQ queue NAME (ForwardModel.fromQueue). The problem is set up as
// without the flag; only its forward model is replaced, by one that sends
// the same model (as registered name and plain options) to the workers.
import type { InverseProblem } from '../types';
import { fromQueue, QueueForwardModel } from '../forward/queue';
import { checkRedis, parseRedisUrl } from '../forward/redis';
import { asUsage } from './usage';

export interface QueueFlag {
  /** The problem with its forward evaluations going through the queue. */
  through(problem: InverseProblem): InverseProblem;
  close(): Promise<void>;
}

/** Parses --queue (a usage error when malformed) and checks the server before any work starts. */
export async function openQueueFlag(value: string): Promise<QueueFlag> {
  const target = asUsage(() => parseRedisUrl(value, '--queue', true));
  await checkRedis(target);
  const url = new URL(value);
  url.pathname = '';
  const models: QueueForwardModel[] = [];
  return {
    through(problem) {
      const forward = asUsage(() => fromQueue({ connection: url.toString(), queue: target.queue!, model: problem.forward }));
      models.push(forward);
      return { ...problem, forward };
    },
    async close() {
      await Promise.allSettled(models.map((m) => m.dispose()));
    },
  };
}
