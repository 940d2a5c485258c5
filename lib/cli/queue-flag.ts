// `enkg solve --queue redis[s]://[user:password@]HOST:PORT/NAME`: the run's
// forward evaluations farmed out to `enkg worker` processes through the
// BullMQ queue NAME (ForwardModel.fromQueue). The problem is set up as
// without the flag; only its forward model is replaced, by one that sends
// the same model (as registered name and plain options) to the workers.
import type { InverseProblem } from '../types';
import { fromQueue, QueueForwardModel } from '../forward/queue';
import { checkRedis, parseRedisUrl, RedisCheckError } from '../forward/redis';
import { asUsage } from './usage';

/**
 * The environment variable that gives --queue its password when the URL has
 * none: a checkpoint keeps the --queue URL without its password (so the
 * folder holds no secret), and `enkg resume` takes it from here.
 */
export const QUEUE_PASSWORD_ENV = 'ENKG_QUEUE_PASSWORD';

/** The URL without its password (unchanged if it has none or is not a URL). */
export function withoutPassword(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }
  if (url.password === '') return value;
  url.password = '';
  return url.toString();
}

export interface QueueFlag {
  /** The problem with its forward evaluations going through the queue. */
  through(problem: InverseProblem): InverseProblem;
  close(): Promise<void>;
}

/** Parses --queue (a usage error when malformed) and checks the server before any work starts. */
export async function openQueueFlag(value: string, env: NodeJS.ProcessEnv = process.env): Promise<QueueFlag> {
  asUsage(() => parseRedisUrl(value, '--queue', true));
  const given = new URL(value);
  const fromEnv = given.password === '' ? env[QUEUE_PASSWORD_ENV] : undefined;
  if (fromEnv) given.password = encodeURIComponent(fromEnv);
  const target = asUsage(() => parseRedisUrl(given.toString(), '--queue', true));
  try {
    await checkRedis(target);
  } catch (error) {
    if (error instanceof RedisCheckError && /refused the credentials|NOAUTH/i.test(error.message) && !fromEnv && given.password === '') {
      throw new RedisCheckError(`${error.message}; a checkpoint keeps the --queue URL without its password: give it in ${QUEUE_PASSWORD_ENV}`);
    }
    throw error;
  }
  const url = given; // with the password from the environment, if any
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
