// Parsers of command-line values, shared by the CLI and the problem entries
// that declare flags of their own. A bad value is a UsageError naming the flag.
import { UsageError } from './errors';

/** An integer flag >= min; undefined when absent. A bad value is a UsageError naming the flag. */
export function integerFlag(value: string | undefined, name: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${value}'`);
  return n;
}

/** A finite number flag >= min (> min with `exclusive`); undefined when absent. */
export function numberFlag(value: string | undefined, name: string, min: number, exclusive = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || (exclusive && n === min)) {
    throw new UsageError(`--${name} must be a number ${exclusive ? '>' : '>='} ${min}, got '${value}'`);
  }
  return n;
}
