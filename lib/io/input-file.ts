// Input files read with their size known before any byte is read: only
// regular files are opened (a character device such as /dev/zero would be
// read until memory runs out, a FIFO would block forever), the size is
// bounded by what the format allows, and the bytes read are counted.
import * as fs from 'node:fs';

import { expected } from '../validate';

/**
 * The largest ONNX model read: protobuf caps one message at 2 GiB, and
 * enkg reads models without external data files.
 */
export const PROTOBUF_MAX_BYTES = 2 ** 31;

/** What a non-regular file is, for messages. */
function kindOf(stats: fs.Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** An error about an input file: the house form, naming the input, with the system code kept. */
function inputError(what: string, name: string, received: string, code?: string): Error {
  const error = new Error(expected(what, name, received, true));
  if (code !== undefined) Object.assign(error, { code });
  return error;
}

export interface InputFileOptions {
  /** What the file is called in messages (a flag such as '--truth'); default: the path. */
  name?: string;
  /** The largest size accepted, in bytes (default: no bound beyond the file's own size). */
  maxBytes?: number;
}

/** An open regular file and its size, fixed when it was opened. */
export interface InputFile {
  readonly path: string;
  readonly name: string;
  readonly size: number;
  /** Reads exactly `length` bytes at `position` into a fresh buffer, or fails naming the file. */
  read(position: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

/**
 * Opens `file` for reading after checking that it is a regular file (not a
 * device, FIFO, socket or folder) of at most `maxBytes`. The file is opened
 * non-blocking, so a FIFO swapped in after the check cannot hang the open,
 * and checked again on the open descriptor.
 */
export async function openInputFile(file: string, opts: InputFileOptions = {}): Promise<InputFile> {
  const name = opts.name ?? file;
  const shown = `'${file}'`;
  let stats: fs.Stats;
  try {
    stats = await fs.promises.stat(file);
  } catch (error) {
    const code = (error as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw inputError('a readable file', name, `${shown} (${why})`, code);
  }
  if (!stats.isFile()) throw inputError('a regular file', name, `${shown} (${kindOf(stats)})`);
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    throw inputError('a readable file', name, `${shown} (${(error as Error).message})`, (error as { code?: string }).code);
  }
  try {
    const opened = await handle.stat();
    if (!opened.isFile()) throw inputError('a regular file', name, `${shown} (${kindOf(opened)})`);
    if (opts.maxBytes !== undefined && opened.size > opts.maxBytes) {
      throw inputError(`a file of at most ${formatBytes(opts.maxBytes)}`, name, `${shown} of ${formatBytes(opened.size)}`);
    }
    const size = opened.size;
    return {
      path: file, name, size,
      async read(position: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
        if (position + length > size) {
          throw new Error(`${name} (${file}) is ${size} bytes long; cannot read ${length} bytes at offset ${position}`);
        }
        const buffer = into ?? new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
          if (bytesRead === 0) throw new Error(`${name} (${file}) ended after ${position + done} bytes; it was ${size} bytes when opened (did it change while being read?)`);
          done += bytesRead;
        }
        return buffer;
      },
      close: () => handle.close(),
    };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The whole of a regular file of at most `maxBytes`, read with every byte
 * counted; devices, FIFOs, folders and oversized files are refused before
 * anything is read.
 */
export async function readBoundedFile(file: string, opts: InputFileOptions = {}): Promise<Buffer> {
  const input = await openInputFile(file, opts);
  try {
    const bytes = await input.read(0, input.size, Buffer.alloc(input.size));
    return bytes as Buffer;
  } finally {
    await input.close();
  }
}
