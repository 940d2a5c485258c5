// Loops over ensemble-sized arrays (N = 2048 fields of 128 x 128 is 33.5M
// floats), cut into stretches that keep the event loop turning: no
// synchronous stretch of the library may exceed 20 ms. A stretch of
// CHUNK_ELEMENTS floats is about a millisecond of arithmetic plus, on an
// array written for the first time, the page faults of 1 MB (~3 ms measured
// on the 2-core development machine, where a fresh 134 MB array costs
// ~390 ms), so a stretch stays under the budget even with the cores shared
// with the native workers. The yields cost a few microseconds each.

/** Elements handled per synchronous stretch. */
export const CHUNK_ELEMENTS = 1 << 18;

/** Resolves on the next turn of the event loop, after pending I/O and timers. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Calls `body(start, end)` over [0, length) in stretches of `chunk` elements, yielding between them. */
export async function forChunks(length: number, body: (start: number, end: number) => void,
  chunk: number = CHUNK_ELEMENTS): Promise<void> {
  for (let start = 0; start < length; start += chunk) {
    if (start > 0) await yieldToLoop();
    body(start, Math.min(length, start + chunk));
  }
}

/** Calls `body(first, end)` over rows [0, rows) of `width` elements, about CHUNK_ELEMENTS at a time. */
export function forRows(rows: number, width: number, body: (first: number, end: number) => void): Promise<void> {
  return forChunks(rows, body, Math.max(1, Math.floor(CHUNK_ELEMENTS / Math.max(1, width))));
}

/** A copy of `source` made in stretches (a fresh array's first touch is the slow part). */
export async function copyInChunks(source: Float32Array): Promise<Float32Array> {
  const copy = new Float32Array(source.length);
  await forChunks(source.length, (start, end) => copy.set(source.subarray(start, end), start));
  return copy;
}
