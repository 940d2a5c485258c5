// Usage errors (a bad flag or value): the CLI prints them and exits with 2,
// apart from failures of the work itself (exit 1).
import { BackendOption } from '../backend';
import { UsageError } from '../errors';
import { integerFlag, numberFlag } from '../flags';

export { UsageError, integerFlag, numberFlag };

/** Runs a parser of a command-line value; what it throws becomes a UsageError (exit 2). */
export function asUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError((error as Error).message);
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
