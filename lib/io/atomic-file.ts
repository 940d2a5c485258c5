// Complete, atomic file writes: every file enkg writes goes to a temporary
// file in the same folder, every byte count is checked (a short write is
// continued, a write that makes no progress is an error), the data is
// fsync'ed and the temporary file renamed over the target. A failure (a full
// disk, a read-only folder, a stop) removes the temporary file, leaves any
// earlier file of that name as it was, and throws an error that names the
// file and the cause.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Paths of temporary files and folders that exist now (removed on success, failure and signals). */
const temporaries = new Set<string>();

/** Registers a temporary path so that `removeTemporariesSync` can clean it up on a forced exit. */
export function trackTemporary(p: string): void {
  temporaries.add(p);
}

export function untrackTemporary(p: string): void {
  temporaries.delete(p);
}

/** The temporary files and folders that exist now (for tests and the exit line). */
export function liveTemporaries(): string[] {
  return [...temporaries];
}

/**
 * Removes every registered temporary file and folder, synchronously: for an
 * exit that cannot wait for the work to unwind (a second signal).
 */
export function removeTemporariesSync(): void {
  for (const p of temporaries) {
    try {
      fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // Nothing more can be done on the way out; the name says what it is.
    }
  }
  temporaries.clear();
}

/** A name beside `target` for its temporary copy: hidden, unique, recognisable. */
export function temporaryName(target: string, kind = 'partial'): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${kind}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** The error of a failed write: names the file and the cause, keeps the system code (ENOSPC, EACCES, ...). */
export function writeError(target: string, cause: unknown): Error {
  const code = (cause as { code?: unknown } | null)?.code;
  const reason = cause instanceof Error ? cause.message : String(cause);
  const error = Object.assign(new Error(`Could not write ${target}: ${reason}; ${target} was left as it was`), { cause });
  if (typeof code === 'string') Object.assign(error, { code });
  return error;
}

/** fs.write as a promise (through the `fs` module object, so a test can stand in for the system call). */
function writeSome(fd: number, bytes: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    fs.write(fd, bytes, offset, length, position, (error, written) => (error ? reject(error) : resolve(written)));
  });
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (error) => (error ? reject(error) : resolve())));
}

function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (error) => (error ? reject(error) : resolve())));
}

/**
 * fsync of a folder, so that a rename in it survives a crash. Best effort:
 * some file systems refuse to sync a folder, and the rename itself is done.
 */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await fs.promises.open(folder, 'r').catch(() => undefined);
  if (handle === undefined) return;
  await handle.sync().catch(() => undefined);
  await handle.close().catch(() => undefined);
}

// Writes at most 64 MiB per call so that a short count is found early and a
// huge array is not handed to one system call.
const CHUNK = 64 * 2 ** 20;

/**
 * A file written piece by piece and made visible, whole, by `commit()`.
 * Until then the bytes live in a hidden temporary file beside the target;
 * `abort()` (or any failed write) removes it and leaves the target as it was.
 */
export class AtomicFile {
  private position = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';

  private constructor(readonly path: string, readonly temporary: string, private readonly fd: number) {}

  /** Creates the temporary file (so an unwritable folder fails here, before any work). */
  static async open(target: string): Promise<AtomicFile> {
    const temporary = temporaryName(target);
    let fd: number;
    try {
      fd = await new Promise<number>((resolve, reject) => {
        fs.open(temporary, 'wx', 0o644, (error, handle) => (error ? reject(error) : resolve(handle)));
      });
    } catch (error) {
      throw writeError(target, error);
    }
    trackTemporary(temporary);
    return new AtomicFile(target, temporary, fd);
  }

  /** Bytes written so far. */
  get size(): number {
    return this.position;
  }

  /** Appends every byte of `data` (short writes are continued) or fails, removing the temporary file. */
  async write(data: Uint8Array | string): Promise<void> {
    if (this.state !== 'open') throw new Error(`The file ${this.path} is already ${this.state}; nothing more can be written to it`);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    try {
      let done = 0;
      while (done < bytes.length) {
        const length = Math.min(CHUNK, bytes.length - done);
        const written = await writeSome(this.fd, bytes, done, length, this.position);
        if (!Number.isSafeInteger(written) || written <= 0 || written > length) {
          // write(2) returning 0 for a non-empty buffer makes no progress: the
          // device takes no more (what a full disk does before ENOSPC).
          throw Object.assign(new Error(`the device accepted ${done} of ${bytes.length} bytes and then no more (is it full?)`), { code: 'ENOSPC' });
        }
        done += written;
        this.position += written;
      }
    } catch (error) {
      await this.abort();
      throw writeError(this.path, error);
    }
  }

  /** Flushes the data to the device and renames the temporary file over the target. */
  async commit(): Promise<void> {
    if (this.state !== 'open') throw new Error(`The file ${this.path} is already ${this.state}`);
    try {
      await fsyncFd(this.fd);
      this.state = 'committed';
      await closeFd(this.fd);
      await fs.promises.rename(this.temporary, this.path);
      untrackTemporary(this.temporary);
      await syncFolder(path.dirname(this.path));
    } catch (error) {
      this.state = 'committed';
      await fs.promises.rm(this.temporary, { force: true }).catch(() => undefined);
      untrackTemporary(this.temporary);
      throw writeError(this.path, error);
    }
  }

  /** Gives up: removes the temporary file; the target stays as it was. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await closeFd(this.fd).catch(() => undefined);
    await fs.promises.rm(this.temporary, { force: true }).catch(() => undefined);
    untrackTemporary(this.temporary);
  }
}

/**
 * Writes `data` (bytes, a string as UTF-8, or pieces written in order) to
 * `target` completely and atomically: a reader sees the earlier file or the
 * new one, never a part. Fails with an error naming the file and the cause.
 */
export async function writeFileAtomic(target: string, data: Uint8Array | string | ReadonlyArray<Uint8Array | string>): Promise<void> {
  const file = await AtomicFile.open(target);
  try {
    for (const piece of typeof data === 'string' || data instanceof Uint8Array ? [data] : data) await file.write(piece);
    await file.commit();
  } catch (error) {
    await file.abort();
    throw error;
  }
}
