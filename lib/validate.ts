// Argument checks with the one message form used across enkg (TypeScript and
// native): "Expected <what> for <name> but received <value>".

export function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor?.name ?? 'ArrayBufferView';
    const length = (value as unknown as { length?: number }).length;
    return length === undefined ? name : `${name}(${length})`;
  }
  if (Array.isArray(value)) return `Array(${value.length})`;
  if (typeof value === 'function') return 'a function';
  return 'an object';
}

export function expected(what: string, name: string, received: unknown, receivedIsText = false): string {
  return `Expected ${what} for ${name} but received ${receivedIsText ? String(received) : describe(received)}`;
}

export function requireObject(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(expected('an options object', name, value));
  }
  return value as Record<string, unknown>;
}

// Rejects keys the caller did not declare: a misspelt option is an error,
// not a silent default.
export function requireKnownKeys(options: Record<string, unknown>, allowed: readonly string[], name: string): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new TypeError(expected(`one of ${allowed.map((k) => `'${k}'`).join(', ')}`, `an option of ${name}`, key));
    }
  }
}

export function requireFloat32Array(value: unknown, name: string): Float32Array {
  if (!(value instanceof Float32Array)) throw new TypeError(expected('a Float32Array', name, value));
  return value;
}

export function requireInteger(value: unknown, name: string, min: number): number {
  if (typeof value !== 'number') throw new TypeError(expected(`an integer >= ${min}`, name, value));
  if (!Number.isSafeInteger(value) || value < min) throw new RangeError(expected(`an integer >= ${min}`, name, value));
  return value;
}

export function requireNumber(value: unknown, name: string, min = -Infinity): number {
  const what = min === -Infinity ? 'a finite number' : `a finite number >= ${min}`;
  if (typeof value !== 'number') throw new TypeError(expected(what, name, value));
  if (!Number.isFinite(value) || value < min) throw new RangeError(expected(what, name, value));
  return value;
}

/** A finite number > 0. */
export function requirePositive(value: unknown, name: string): number {
  const what = 'a finite number > 0';
  if (typeof value !== 'number') throw new TypeError(expected(what, name, value));
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(expected(what, name, value));
  return value;
}

/** A grid size for the spectral kernels: an even integer >= 4. */
export function requireEvenResolution(value: unknown): number {
  const R = requireInteger(value, 'resolution', 4);
  if (R % 2 !== 0) throw new RangeError(expected('an even integer >= 4', 'resolution', R));
  return R;
}

export function requireOneOf<T extends string>(value: unknown, allowed: readonly T[], name: string): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new TypeError(expected(`one of ${allowed.map((a) => `'${a}'`).join(', ')}`, name, value));
  }
  return value as T;
}

// The number of floats per row of an N-row array, or a RangeError.
export function rowLength(array: Float32Array, ensembleSize: number, name: string, shape: string, rowSize?: number): number {
  if (rowSize !== undefined) {
    if (array.length !== ensembleSize * rowSize) {
      throw new RangeError(
        expected(`${shape} = ${ensembleSize} x ${rowSize} = ${ensembleSize * rowSize} floats`, `${name}.length`, array.length),
      );
    }
    return rowSize;
  }
  if (array.length === 0 || array.length % ensembleSize !== 0) {
    throw new RangeError(
      expected(`a positive multiple of ensembleSize = ${ensembleSize} (${shape})`, `${name}.length`, array.length),
    );
  }
  return array.length / ensembleSize;
}

/** The largest Float32Array this runtime makes. */
const MAX_FLOATS = 2 ** 32;

/** A zeroed Float32Array of n elements, or a RangeError naming what it was for (not V8's bare one). */
export function allocateFloats(n: number, name: string, what: string): Float32Array {
  if (n > MAX_FLOATS) throw new RangeError(expected(`at most 2^32 floats in all (${what})`, name, n));
  try {
    return new Float32Array(n);
  } catch {
    throw new RangeError(`Could not allocate ${n} floats (${(n * 4 / 2 ** 30).toFixed(1)} GiB) for ${name} (${what})`);
  }
}
