// NumPy .npy files (format versions 1.0 and 2.0, little-endian, C order):
// what the data generator writes and every later tool reads, in Python too.
import * as fs from 'node:fs';

export type NpyArray = Float32Array | Float64Array | Int32Array | Uint8Array;
export type NpyDtype = '<f4' | '<f8' | '<i4' | '|u1';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // \x93NUMPY

function dtypeOf(data: NpyArray): NpyDtype {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  if (data instanceof Uint8Array) return '|u1';
  throw new TypeError('Expected a Float32Array, Float64Array, Int32Array or Uint8Array for data');
}

function checkShape(shape: readonly number[], length: number): void {
  if (!Array.isArray(shape) || shape.some((n) => !Number.isSafeInteger(n) || n < 0)) {
    throw new TypeError(`Expected an array of non-negative integers for shape but received ${JSON.stringify(shape)}`);
  }
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== length) {
    throw new RangeError(`Expected shape ${JSON.stringify(shape)} (${size} elements) to match data.length but received ${length}`);
  }
}

/** The header (magic, version, length, dict) of an array with this dtype and shape. */
export function npyHeader(dtype: NpyDtype, shape: readonly number[]): Buffer {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(', ');
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${dims}), }`;
  // Version 1.0 stores the header length in 2 bytes, 2.0 in 4; the whole
  // preamble is padded with spaces to a multiple of 64 and ends in '\n'.
  const version = dict.length + 12 > 65535 ? 2 : 1;
  const prefix = MAGIC.length + 2 + (version === 1 ? 2 : 4);
  const total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  dict = dict.padEnd(total - prefix - 1, ' ') + '\n';
  const header = Buffer.alloc(prefix);
  MAGIC.copy(header, 0);
  header[6] = version;
  header[7] = 0;
  if (version === 1) header.writeUInt16LE(dict.length, 8);
  else header.writeUInt32LE(dict.length, 8);
  return Buffer.concat([header, Buffer.from(dict, 'latin1')]);
}

export function encodeNpy(data: NpyArray, shape: readonly number[]): Buffer {
  checkShape(shape, data.length);
  return Buffer.concat([npyHeader(dtypeOf(data), shape), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

export async function writeNpy(path: string, data: NpyArray, shape: readonly number[]): Promise<void> {
  checkShape(shape, data.length);
  const file = await fs.promises.open(path, 'w');
  try {
    await file.write(npyHeader(dtypeOf(data), shape));
    await file.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  } finally {
    await file.close();
  }
}

/**
 * Writes a .npy file piece by piece: the header for the full shape first,
 * then the data in order as it is produced (for outputs larger than memory
 * or produced over a long run). The pieces go to `PATH.partial`, which
 * `close()` renames to PATH once every element is there: a run that fails or
 * is stopped half-way never leaves a truncated PATH, nor replaces a good one.
 * `abort()` removes the partial file.
 */
export class NpyWriter {
  private written = 0;
  private closed = false;
  private constructor(
    private readonly file: fs.promises.FileHandle, readonly path: string, private readonly partial: string,
    readonly shape: readonly number[], private readonly total: number,
  ) {}

  static async open(path: string, dtype: NpyDtype, shape: readonly number[]): Promise<NpyWriter> {
    checkShape(shape, shape.reduce((a, b) => a * b, 1));
    const partial = `${path}.partial`;
    const file = await fs.promises.open(partial, 'w');
    try {
      await file.write(npyHeader(dtype, shape));
    } catch (error) {
      await file.close();
      await fs.promises.rm(partial, { force: true });
      throw error;
    }
    return new NpyWriter(file, path, partial, shape, shape.reduce((a, b) => a * b, 1));
  }

  async append(data: NpyArray): Promise<void> {
    if (this.closed) throw new Error(`The .npy writer for ${this.path} is already closed`);
    if (this.written + data.length > this.total) {
      throw new RangeError(`Expected at most ${this.total - this.written} more elements for the .npy file but received ${data.length}`);
    }
    await this.file.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.written += data.length;
  }

  /** Finishes the file: PATH appears, complete. Fewer elements than the shape holds is an error (and PATH is not written). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
    if (this.written !== this.total) {
      await fs.promises.rm(this.partial, { force: true });
      throw new Error(`The .npy file ${this.path} was closed after ${this.written} of ${this.total} elements; nothing was written`);
    }
    await fs.promises.rename(this.partial, this.path);
  }

  /** Gives up: removes the partial file and leaves PATH as it was. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
    await fs.promises.rm(this.partial, { force: true });
  }
}

export interface NpyContents {
  data: NpyArray;
  shape: number[];
  dtype: NpyDtype;
}

export function decodeNpy(buffer: Buffer, name = 'the .npy data'): NpyContents {
  if (buffer.length < 10 || !buffer.subarray(0, 6).equals(MAGIC)) {
    throw new Error(`${name} is not a .npy file (the magic string \\x93NUMPY is missing)`);
  }
  const major = buffer[6];
  if (major !== 1 && major !== 2 && major !== 3) throw new Error(`${name} has .npy format version ${major}, expected 1, 2 or 3`);
  const headerLength = major === 1 ? buffer.readUInt16LE(8) : buffer.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buffer.subarray(start, start + headerLength).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`${name} has a malformed .npy header: ${header.trim()}`);
  }
  if (fortran === 'True') throw new Error(`${name} is stored in Fortran order; save it with numpy.ascontiguousarray first`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLength;
  const types: Record<string, [NpyDtype, number]> = { '<f4': ['<f4', 4], '<f8': ['<f8', 8], '<i4': ['<i4', 4], '|u1': ['|u1', 1], '<u1': ['|u1', 1] };
  const known = types[descr];
  if (known === undefined) {
    throw new Error(`${name} has dtype '${descr}'; enkg reads little-endian float32 ('<f4'), float64, int32 and uint8`);
  }
  const [dtype, size] = known;
  if (buffer.length - offset < count * size) {
    throw new Error(`${name} is truncated: shape (${shape.join(', ')}) needs ${count * size} bytes of data, the file has ${buffer.length - offset}`);
  }
  // Copy into a fresh, aligned buffer (the data offset need not be aligned).
  const bytes = new Uint8Array(count * size);
  bytes.set(buffer.subarray(offset, offset + count * size));
  const data: NpyArray = dtype === '<f4' ? new Float32Array(bytes.buffer) : dtype === '<f8' ? new Float64Array(bytes.buffer)
    : dtype === '<i4' ? new Int32Array(bytes.buffer) : bytes;
  return { data, shape, dtype };
}

export async function readNpy(path: string): Promise<NpyContents> {
  return decodeNpy(await fs.promises.readFile(path), path);
}
