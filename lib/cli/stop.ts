// Stopping a command: SIGINT and SIGTERM abort the command's AbortSignal; the
// command stops at its next safe point (between batches or steps), removes
// its temporary files, and the process prints one line saying what was kept
// and exits with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM).
import * as os from 'node:os';

import { abortError } from '../abort';
import { removeTemporariesSync } from '../io/atomic-file';

/** What a command is given besides its arguments. */
export interface CommandRun {
  /** Aborted when the process is asked to stop. */
  readonly signal: AbortSignal;
  /** What stays on disk if the command stops now, in a few words; each command keeps it current. */
  kept: string;
}

/** A run that no signal stops (for calls of a command from code, as the tests do). */
export function quietRun(signal: AbortSignal = new AbortController().signal): CommandRun {
  return { signal, kept: 'nothing was written' };
}

/** Throws the AbortError of `run.signal` if it has fired: call at each safe point. */
export function checkStopped(run: CommandRun, what: string): void {
  if (run.signal.aborted) throw abortError(run.signal, what);
}

export const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export type StopSignal = typeof STOP_SIGNALS[number];

/** 128 + the signal's number, the shell's convention (130, 143). */
export function exitCodeOf(signal: StopSignal): number {
  return 128 + os.constants.signals[signal];
}

// How long a stopped command may take to wind down after it has settled
// (native work that was raced, not awaited, finishing its current batch)
// before the process exits regardless.
const WIND_DOWN_MS = 10000;

/**
 * Routes SIGINT and SIGTERM to a fresh CommandRun. The first signal aborts
 * the run; the command stops at its next safe point and `finish()` then
 * removes what temporary files remain, prints the one line and sets the exit
 * code. The process then exits as soon as work already in flight (a native
 * solve, an inference) has returned: exiting under a running native worker
 * would tear the addon down beneath it. A second signal does not wait: it
 * removes the temporary files at once and exits.
 */
export function stopOnSignals(command: string): { run: CommandRun; stoppedBy: () => StopSignal | undefined; finish: () => void } {
  const controller = new AbortController();
  const run: CommandRun = { signal: controller.signal, kept: 'nothing was written' };
  let received: StopSignal | undefined;
  let finished = false;
  const line = () => `enkg ${command}: stopped by ${received}; ${run.kept}`;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    removeTemporariesSync();
    if (process.stderr.isTTY) process.stderr.write('\n'); // below a progress bar drawn in place
    console.error(line());
    process.exitCode = exitCodeOf(received!);
    setTimeout(() => process.exit(exitCodeOf(received!)), WIND_DOWN_MS).unref();
  };
  const onSignal = (signal: StopSignal) => {
    if (received !== undefined) {
      removeTemporariesSync();
      if (!finished) console.error(line());
      process.exit(exitCodeOf(received));
    }
    received = signal;
    controller.abort(Object.assign(new Error(`enkg ${command} was stopped by ${signal}`), { name: 'AbortError' }));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  return { run, stoppedBy: () => received, finish };
}
