// Errors that every layer may raise and the CLI maps to exit codes.

/**
 * A bad input from the user (a flag, a file, a value): the CLI prints it and
 * exits with 2, apart from failures of the work itself (exit 1). Problem
 * entries throw it for their own flags and files.
 */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
