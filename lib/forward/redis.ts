// Reaching the Redis server behind ForwardModel.fromQueue and `enkg worker`:
// a redis:// or rediss:// URL (user, password and TLS in the URL) made into
// ioredis options, and the check every side makes before any work starts:
// the server answers, accepts the credentials, and keeps what it is given
// (maxmemory-policy noeviction, as BullMQ requires: an evicted job or
// particle key would be lost work).
import { isIP } from 'node:net';
import IORedis, { RedisOptions } from 'ioredis';

import { expected } from '../validate';

/** Where a Redis server is, as ioredis takes it, and the URL without its password for messages. */
export interface RedisTarget {
  options: RedisOptions;
  /** The URL with the password masked, for messages and logs. */
  label: string;
}

/** How long a check waits for the server to answer before it calls it unreachable. */
export const CONNECT_TIMEOUT_MS = 5000;

/**
 * The URL with anything between 'user:' and the last '@' replaced by '***':
 * the one masking of every message and label, also where the URL does not
 * parse (a raw '/' or '@' in the password is masked with it; masking too
 * much of a malformed URL is the safe side).
 */
export function maskPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:).*@/i, '$1***@');
}

/**
 * redis://[user[:password]@]host[:port][/db] or rediss://... (TLS) as ioredis
 * options. `name` is the option or flag the URL came from, for the message.
 * With `queueInPath`, the path is not a database number but a queue name
 * (enkg solve --queue redis://HOST:PORT/NAME), returned as `queue`.
 */
export function parseRedisUrl(url: unknown, name: string, queueInPath = false): RedisTarget & { queue?: string } {
  const form = queueInPath ? 'a URL redis[s]://[user:password@]host[:port]/QUEUE' : 'a URL redis[s]://[user:password@]host[:port][/db]';
  if (typeof url !== 'string') throw new TypeError(expected(form, name, url));
  // Messages show the URL with its password masked.
  const shown = maskPassword(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(expected(form, name, shown));
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new TypeError(expected(form, name, shown));
  if (parsed.hostname === '') throw new TypeError(expected(form, name, shown));
  const options: RedisOptions = { host: parsed.hostname.replace(/^\[|\]$/g, ''), port: parsed.port === '' ? 6379 : Number(parsed.port) };
  if (parsed.username !== '') options.username = decodeURIComponent(parsed.username);
  if (parsed.password !== '') options.password = decodeURIComponent(parsed.password);
  // TLS: the certificate is checked against the host (a name or an IP
  // address in its subjectAltName); SNI carries names only (RFC 6066).
  if (parsed.protocol === 'rediss:') options.tls = isIP(options.host!) ? {} : { servername: options.host };
  const labelled = new URL(url);
  const segment = parsed.pathname.replace(/^\//, '');
  let queue: string | undefined;
  if (queueInPath) {
    if (segment === '' || segment.includes('/')) throw new TypeError(expected(form, name, shown));
    queue = decodeURIComponent(segment);
    labelled.pathname = '';
  } else if (segment !== '') {
    const db = Number(segment);
    if (!Number.isSafeInteger(db) || db < 0) throw new TypeError(expected(form, name, shown));
    options.db = db;
  }
  return { options, label: maskPassword(labelled.toString()).replace(/\/$/, ''), ...(queue !== undefined ? { queue } : {}) };
}

/** An error of the check, with what to do about it. */
export class RedisCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisCheckError';
  }
}

/**
 * Connects once, without retrying, and checks that the server at `target`
 * answers, accepts the credentials and runs with maxmemory-policy
 * noeviction. Rejects with a RedisCheckError saying which.
 */
export async function checkRedis(target: RedisTarget): Promise<void> {
  const client = new IORedis({
    ...target.options, lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0,
    retryStrategy: () => null, enableOfflineQueue: false,
  });
  let lastError: Error | undefined;
  client.on('error', (error: Error) => { lastError = error; });
  try {
    try {
      await client.connect();
      await client.ping();
    } catch (error) {
      const message = (lastError ?? error as Error).message;
      if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(message)) {
        throw new RedisCheckError(`Redis at ${target.label} refused the credentials: ${message} (give user and password in the URL: redis://USER:PASSWORD@HOST:PORT)`);
      }
      throw new RedisCheckError(`Could not reach Redis at ${target.label}: ${message}`);
    }
    const info = await client.info('memory');
    const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
    if (policy !== 'noeviction') {
      throw new RedisCheckError(`Expected maxmemory-policy noeviction for Redis at ${target.label} but received '${policy ?? 'unknown'}' `
        + '(an evicted job or particle key would be lost work; set it with: redis-cli CONFIG SET maxmemory-policy noeviction)');
    }
  } finally {
    client.disconnect();
  }
}
