// A run's outputs, written so that a reader never sees a mixture of two runs
// or a half-written one: the files go into a fresh hidden sibling folder,
// which replaces the target folder by rename only when every file is
// complete. The target is checked before any work (its parent must take a
// new folder), an existing result is kept unless `force`, and the staging
// folder is removed on failure, abort or signal.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { expected } from '../validate';
import { syncFolder, temporaryName, trackTemporary, untrackTemporary, writeFileAtomic } from './atomic-file';
import { formatBytes } from './input-file';

/** A bad output path (a file where a folder is wanted, an unwritable folder, an existing result without force). */
export class OutputPathError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'OutputPathError';
  }
}

export interface OutputOptions {
  /** Replace an existing result (default false: refuse). */
  force?: boolean;
  /** What the path is called in messages (default '--out'). */
  name?: string;
  /** Bytes the output will take, when known: refused up front if the file system has less free. */
  bytes?: number;
  /** What sets that size, for the message (such as '--count 5000 x --resolution 64'); default: the name. */
  sizedBy?: string;
}

function describeEntry(stats: fs.Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFile()) return 'a regular file';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'a special file';
}

/** The target's stats; undefined when it does not exist (or a parent is a file: makeParent then says so). */
async function statOrUndefined(p: string, name = '--out'): Promise<fs.Stats | undefined> {
  try {
    return await fs.promises.stat(p);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new OutputPathError(expected('a usable path', name, `'${p}' (${(error as Error).message})`, true), code);
  }
}

/**
 * mkdir -p, one level at a time. (Node's `mkdir(p, { recursive: true })`
 * loops forever where mkdir(2) answers ENOENT for a parent that exists, as
 * in /proc: an unusable --out must fail, not spin.)
 */
export async function makeFolders(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let p = dir; ; p = path.dirname(p)) {
    const stats = await fs.promises.stat(p).catch((error: { code?: string }) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw error;
    });
    if (stats !== undefined) {
      if (!stats.isDirectory()) throw Object.assign(new Error('a file is in the way, not a folder'), { code: 'ENOTDIR' });
      break;
    }
    missing.push(p);
    if (path.dirname(p) === p) break;
  }
  for (const p of missing.reverse()) {
    await fs.promises.mkdir(p).catch(async (error: { code?: string }) => {
      // Made meanwhile by someone else: fine if it is a folder.
      if (error.code === 'EEXIST' && (await fs.promises.stat(p)).isDirectory()) return;
      throw error;
    });
  }
}

/** Creates `folder` (and its parents) for the output `target`; an unusable one is an OutputPathError naming `target`. */
async function makeFolder(folder: string, target: string, name: string, what: string): Promise<string> {
  try {
    await makeFolders(folder);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new OutputPathError(expected(what, name, `'${target}' (cannot create ${folder}: ${(error as Error).message})`, true), code);
  }
  return folder;
}

/** Creates the parent folder of `target` (and its parents). */
function makeParent(target: string, name: string, what: string): Promise<string> {
  return makeFolder(path.dirname(target), target, name, what);
}

/** Refuses an output of `bytes` where the file system holding `folder` has less room; `sizedBy` says what asked for that size. */
export async function checkFreeSpace(folder: string, bytes: number, sizedBy: string, what: string): Promise<void> {
  const stats = await fs.promises.statfs(folder).catch(() => undefined);
  // A file system that does not report its size (proc, some FUSE mounts) is
  // not judged here; the checked writes still catch a full disk.
  if (stats === undefined || stats.blocks === 0) return;
  const free = stats.bavail * stats.bsize;
  if (bytes > free) {
    throw new OutputPathError(
      `${sizedBy} would need ${formatBytes(bytes)} of disk for ${what}, but ${folder} has ${formatBytes(free)} free`, 'ENOSPC');
  }
}

/**
 * Checks an output file path before any work: it is absent, or a regular file
 * that `force` allows to be replaced, and its folder can be created. The file
 * itself is written later with `writeFileAtomic` or an `NpyWriter` (which
 * create their temporary file in that folder).
 */
export async function checkOutputFile(target: string, opts: OutputOptions = {}): Promise<string> {
  const name = opts.name ?? '--out';
  const resolved = path.resolve(target);
  const stats = await statOrUndefined(resolved, name);
  if (stats !== undefined && !stats.isFile()) {
    throw new OutputPathError(expected('a file name (new, or an earlier file to replace with --force)', name, `'${target}' (${describeEntry(stats)})`, true));
  }
  if (stats !== undefined && !opts.force) {
    throw new OutputPathError(expected('a new file name', name, `'${target}' (it exists; pass --force to replace it)`, true), 'EEXIST');
  }
  const parent = await makeParent(resolved, name, 'a path in a writable folder');
  if (opts.bytes !== undefined) await checkFreeSpace(parent, opts.bytes, opts.sizedBy ?? name, resolved);
  return resolved;
}

/**
 * The output folder of one run. `RunOutput.create` checks the target and
 * makes the staging folder (so an unwritable path fails there, before the
 * work); `writeFile` writes complete files into it; `commit` renames it into
 * place; `abort` removes it.
 */
export class RunOutput {
  private state: 'open' | 'committed' | 'aborted' = 'open';

  private constructor(readonly path: string, readonly staging: string, readonly name: string, private readonly force: boolean) {}

  static async create(target: string, opts: OutputOptions = {}): Promise<RunOutput> {
    const name = opts.name ?? '--out';
    const resolved = path.resolve(target);
    const stats = await statOrUndefined(resolved, name);
    if (stats !== undefined && !stats.isDirectory()) {
      throw new OutputPathError(expected('a folder (new, empty, or an earlier result to replace with --force)', name, `'${target}' (${describeEntry(stats)})`, true));
    }
    if (stats !== undefined && !opts.force) {
      const entries = await fs.promises.readdir(resolved);
      if (entries.length > 0) {
        const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? `, ... (${entries.length} entries)` : '');
        throw new OutputPathError(
          expected('a new or empty folder', name, `'${target}' (it holds ${shown}; pass --force to replace it)`, true), 'EEXIST');
      }
    }
    const parent = await makeParent(resolved, name, 'a folder that can be created');
    if (opts.bytes !== undefined) await checkFreeSpace(parent, opts.bytes, opts.sizedBy ?? name, 'the results');
    const staging = temporaryName(resolved);
    try {
      await fs.promises.mkdir(staging);
    } catch (error) {
      throw new OutputPathError(
        expected('a folder that can be created', name, `'${target}' (cannot write in ${parent}: ${(error as Error).message})`, true),
        (error as { code?: string }).code);
    }
    trackTemporary(staging);
    return new RunOutput(resolved, staging, name, opts.force === true);
  }

  /** The path a file `file` of this run is written to until `commit()`. */
  file(file: string): string {
    if (this.state !== 'open') throw new Error(`The output ${this.path} is already ${this.state}`);
    if (file !== path.basename(file) || file === '.' || file === '..') throw new TypeError(expected('a plain file name', 'file', file));
    return path.join(this.staging, file);
  }

  /** Writes one complete file of the run (checked byte counts; the error names the file and the cause). */
  async writeFile(file: string, data: Uint8Array | string | ReadonlyArray<Uint8Array | string>): Promise<void> {
    await writeFileAtomic(this.file(file), data);
  }

  /**
   * Puts the finished run in place: the staging folder is renamed to the
   * target. An earlier result (allowed by `force`, or an empty folder) is
   * first moved aside and then removed, so the target holds the old run or
   * the new one, never a mixture.
   */
  async commit(): Promise<void> {
    if (this.state !== 'open') throw new Error(`The output ${this.path} is already ${this.state}`);
    this.state = 'committed';
    const parent = path.dirname(this.path);
    let aside: string | undefined;
    try {
      await syncFolder(this.staging);
      const stats = await statOrUndefined(this.path);
      if (stats !== undefined) {
        if (!stats.isDirectory()) throw new Error(`${this.path} became ${describeEntry(stats)} during the run`);
        if (!this.force && (await fs.promises.readdir(this.path)).length > 0) {
          throw new Error(`${this.path} was filled by something else during the run; pass --force to replace it`);
        }
        aside = temporaryName(this.path, 'replaced');
        await fs.promises.rename(this.path, aside);
        trackTemporary(aside);
      }
      await fs.promises.rename(this.staging, this.path);
      untrackTemporary(this.staging);
      await syncFolder(parent);
    } catch (error) {
      // Put the earlier result back where it was, then drop the new files.
      if (aside !== undefined && (await statOrUndefined(this.path)) === undefined) {
        await fs.promises.rename(aside, this.path).then(() => untrackTemporary(aside!), () => undefined);
      }
      await fs.promises.rm(this.staging, { recursive: true, force: true }).catch(() => undefined);
      untrackTemporary(this.staging);
      throw Object.assign(new Error(`Could not put the results in ${this.path}: ${(error as Error).message}`), { cause: error });
    }
    if (aside !== undefined) {
      await fs.promises.rm(aside, { recursive: true, force: true }).catch(() => undefined);
      untrackTemporary(aside);
    }
  }

  /** Gives up: removes the staging folder; the target stays as it was. Safe to call more than once. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await fs.promises.rm(this.staging, { recursive: true, force: true }).catch(() => undefined);
    untrackTemporary(this.staging);
  }
}

/**
 * Checks, before any work, that files can be written in the folder `dir`
 * (made if missing, one level at a time): a temporary file is created there
 * and removed. For output folders that are written into as a run goes (a
 * checkpoint folder) rather than staged.
 */
export async function checkWritableFolder(dir: string, opts: { name?: string } = {}): Promise<string> {
  const name = opts.name ?? '--out';
  const resolved = path.resolve(dir);
  await makeFolder(resolved, dir, name, 'a folder that can be created');
  const probe = temporaryName(path.join(resolved, 'probe'), 'writable');
  try {
    await (await fs.promises.open(probe, 'wx')).close();
  } catch (error) {
    throw new OutputPathError(expected('a folder where files can be written', name, `'${dir}' (${(error as Error).message})`, true),
      (error as { code?: string }).code);
  } finally {
    await fs.promises.rm(probe, { force: true }).catch(() => undefined);
  }
  return resolved;
}
