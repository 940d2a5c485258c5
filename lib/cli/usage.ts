// Usage errors (a bad flag or value): the CLI prints them and exits with 2,
// apart from failures of the work itself (exit 1).
import * as os from 'node:os';

import { BackendOption } from '../backend';
import { UsageError } from '../errors';
import { integerFlag, numberFlag } from '../flags';
import { formatBytes } from '../io/input-file';

export { UsageError, integerFlag, numberFlag };

/**
 * Runs a parser of a command-line value; what it throws becomes a UsageError
 * (exit 2). `flags` maps the API's option names to the flags the user gave
 * ({ resolution: '--resolution' }), so that a message of the house form
 * ("Expected ... for resolution but ...") speaks of the flag.
 */
export function asUsage<T>(parse: () => T, flags: Record<string, string> = {}): T {
  try {
    return parse();
  } catch (error) {
    let message = (error as Error).message;
    for (const [option, flag] of Object.entries(flags)) {
      message = message.replace(new RegExp(`\\bfor ${option}( |\\.length )but received`, 'g'), `for ${flag} but received`);
    }
    throw new UsageError(message);
  }
}

/** A UsageError, or node:util parseArgs' complaint about an unknown or malformed option. */
export function isUsageError(error: unknown): boolean {
  if (error instanceof UsageError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_');
}

/** --backend: cpu, cuda or auto (default auto). */
export function backendFlag(value: string | undefined): BackendOption {
  const backend = value ?? 'auto';
  if (backend !== 'cpu' && backend !== 'cuda' && backend !== 'auto') throw new UsageError(`--backend must be cpu, cuda or auto, got '${backend}'`);
  return backend;
}

/** A flag that must be given: its value, else a UsageError followed by the command's usage text. */
export function requiredFlag<T>(value: T | undefined, name: string, usage: string): T {
  if (value === undefined) throw new UsageError(`--${name} is required\n\n${usage}`);
  return value;
}

/** `work`, with any rejection turned into a UsageError (exit 2): for checks of the user's files and paths. */
export async function usageOf<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The largest typed array this runtime makes, in elements. */
const MAX_ARRAY_ELEMENTS = 2 ** 32;

/**
 * Refuses, before any work, a size that cannot fit: `count` values of
 * `bytesEach` bytes (for example ensemble x field size floats) held in one
 * array. The message names the flag as the user gave it and the memory it
 * would need.
 */
export function checkFits(flag: string, count: number, bytesEach: number, what: string, memory = os.totalmem()): void {
  const bytes = count * bytesEach;
  if (count > MAX_ARRAY_ELEMENTS) {
    throw new UsageError(`${flag} would need ${formatBytes(bytes)} for ${what} (${count} values), more than one array can hold (2^32 values); use a smaller value`);
  }
  if (bytes > memory) {
    throw new UsageError(`${flag} would need at least ${formatBytes(bytes)} of memory for ${what}, more than this machine's ${formatBytes(memory)}; use a smaller value`);
  }
}
