// Aborting long work with an AbortSignal: the error it rejects with, and a
// race that stops waiting for work that cannot be interrupted.

/** The abort error of the web platform's convention (name 'AbortError'), with the signal's reason as cause. */
export function abortError(signal: AbortSignal, what = 'The solve'): Error {
  const reason = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return Object.assign(new Error(`${what} was aborted`), { name: 'AbortError', cause: reason });
}

/**
 * `work`, or an AbortError as soon as `signal` aborts, whichever comes
 * first. Work that does not watch the signal itself (an ONNX inference, a
 * user's forward model) then finishes unobserved; its outcome is dropped.
 */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal | undefined, what?: string): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(abortError(signal, what));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      work.catch(() => undefined);
      reject(abortError(signal, what));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', onAbort); reject(error); },
    );
  });
}
