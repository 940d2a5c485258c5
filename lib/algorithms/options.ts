// Option checks shared by the algorithm constructors: every option is named
// in the error, unknown options are rejected, defaults are the reference's.
import {
  expected, requireInteger, requireKnownKeys, requireNumber, requireObject, requirePositive,
} from '../validate';

export class OptionReader {
  private readonly options: Record<string, unknown>;
  constructor(value: unknown, private readonly owner: string, allowed: readonly string[]) {
    this.options = value === undefined ? {} : requireObject(value, `${owner} options`);
    requireKnownKeys(this.options, allowed, owner);
  }

  integer(key: string, fallback: number, min: number): number {
    const value = this.options[key];
    return value === undefined ? fallback : requireInteger(value, `${this.owner} ${key}`, min);
  }

  /** A finite number >= min (and <= max when given). */
  number(key: string, fallback: number, min = -Infinity, max = Infinity): number {
    const value = this.options[key];
    if (value === undefined) return fallback;
    const n = requireNumber(value, `${this.owner} ${key}`, min);
    if (n > max) throw new RangeError(expected(`a number in [${min}, ${max}]`, `${this.owner} ${key}`, n));
    return n;
  }

  positive(key: string, fallback: number): number {
    const value = this.options[key];
    return value === undefined ? fallback : requirePositive(value, `${this.owner} ${key}`);
  }

  raw(key: string): unknown {
    return this.options[key];
  }
}
