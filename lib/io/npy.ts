// NumPy .npy files (format versions 1.0 and 2.0, little-endian, C order):
// what the data generator writes and every later tool reads, in Python too.
import { expected } from '../validate';
import { AtomicFile, writeFileAtomic } from './atomic-file';
import { openInputFile } from './input-file';

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

/** Writes a whole .npy file completely and atomically (see io/atomic-file.ts): PATH appears whole or not at all. */
export async function writeNpy(path: string, data: NpyArray, shape: readonly number[]): Promise<void> {
  checkShape(shape, data.length);
  await writeFileAtomic(path, [npyHeader(dtypeOf(data), shape), new Uint8Array(data.buffer, data.byteOffset, data.byteLength)]);
}

/**
 * Writes a .npy file piece by piece: the header for the full shape first,
 * then the data in order as it is produced (for outputs larger than memory
 * or produced over a long run). The pieces go to a hidden temporary file
 * beside PATH, which `close()` renames to PATH once every element is there:
 * a run that fails or is stopped half-way never leaves a truncated PATH, nor
 * replaces a good one. Every write is checked; a failed one (a full disk)
 * rejects with an error naming PATH and the cause, and removes the
 * temporary file. `abort()` removes it too.
 */
export class NpyWriter {
  private written = 0;
  private closed = false;
  private constructor(private readonly file: AtomicFile, readonly path: string, readonly shape: readonly number[], private readonly total: number) {}

  static async open(path: string, dtype: NpyDtype, shape: readonly number[]): Promise<NpyWriter> {
    checkShape(shape, shape.reduce((a, b) => a * b, 1));
    const file = await AtomicFile.open(path);
    await file.write(npyHeader(dtype, shape));
    return new NpyWriter(file, path, shape, shape.reduce((a, b) => a * b, 1));
  }

  /** The hidden file the pieces go to until `close()`. */
  get temporary(): string {
    return this.file.temporary;
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
    if (this.written !== this.total) {
      await this.file.abort();
      throw new Error(`The .npy file ${this.path} was closed after ${this.written} of ${this.total} elements; nothing was written`);
    }
    await this.file.commit();
  }

  /** Gives up: removes the temporary file and leaves PATH as it was. */
  async abort(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.abort();
  }
}

export interface NpyContents {
  data: NpyArray;
  shape: number[];
  dtype: NpyDtype;
}

/** What a .npy header says: the dtype, the shape, where the data starts and how many bytes it has. */
export interface NpyLayout {
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the data (the size of magic, version, length and header). */
  offset: number;
  /** Bytes of data the shape and dtype call for. */
  dataBytes: number;
}

const PREAMBLE = 12; // magic (6), version (2), header length (2 in version 1, 4 after)

/** The length of magic, version, length and header, from the first 12 (or 10) bytes. */
function headerEnd(preamble: Uint8Array, name: string): number {
  const bytes = Buffer.from(preamble.buffer, preamble.byteOffset, preamble.byteLength);
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(MAGIC)) {
    throw new Error(`${name} is not a .npy file (the magic string \\x93NUMPY is missing)`);
  }
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) throw new Error(`${name} has .npy format version ${major}, expected 1, 2 or 3`);
  if (major !== 1 && bytes.length < 12) throw new Error(`${name} is not a .npy file (it ends inside the preamble)`);
  return major === 1 ? 10 + bytes.readUInt16LE(8) : 12 + bytes.readUInt32LE(8);
}

const TYPES: Record<string, [NpyDtype, number]> = { '<f4': ['<f4', 4], '<f8': ['<f8', 8], '<i4': ['<i4', 4], '|u1': ['|u1', 1], '<u1': ['|u1', 1] };

/** Parses the preamble and header (`head` holds at least the first headerEnd bytes). */
function parseHeader(head: Uint8Array, name: string): NpyLayout {
  const offset = headerEnd(head, name);
  if (head.length < offset) throw new Error(`${name} is truncated inside its header (${offset} bytes of header, the file has ${head.length})`);
  const start = head[6] === 1 ? 10 : 12;
  const header = Buffer.from(head.buffer, head.byteOffset + start, offset - start).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`${name} has a malformed .npy header: ${header.trim()}`);
  }
  if (fortran === 'True') throw new Error(`${name} is stored in Fortran order; save it with numpy.ascontiguousarray first`);
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const shape = dims.map(Number);
  if (dims.some((d) => !/^\d+$/.test(d)) || shape.some((n) => !Number.isSafeInteger(n))) {
    throw new Error(`${name} has a malformed .npy header: shape (${shapeText.trim()}) is not a tuple of non-negative integers`);
  }
  const known = TYPES[descr];
  if (known === undefined) {
    throw new Error(`${name} has dtype '${descr}'; enkg reads little-endian float32 ('<f4'), float64, int32 and uint8`);
  }
  const [dtype, size] = known;
  const dataBytes = shape.reduce((a, b) => a * b, 1) * size;
  if (!Number.isSafeInteger(dataBytes)) throw new Error(`${name} has shape (${shape.join(', ')}), too many elements to address`);
  return { dtype, shape, offset, dataBytes };
}

/** The data size must be exactly what the header says: fewer bytes is a truncated file, more a file that is not what its header claims. */
function checkSize(layout: NpyLayout, fileBytes: number, name: string): void {
  const have = fileBytes - layout.offset;
  if (have < layout.dataBytes) {
    throw new Error(`${name} is truncated: shape (${layout.shape.join(', ')}) needs ${layout.dataBytes} bytes of data, the file has ${have}`);
  }
  if (have > layout.dataBytes) {
    throw new Error(`${name} is longer than its header says: shape (${layout.shape.join(', ')}) needs ${layout.dataBytes} bytes of data, the file has ${have}`);
  }
}

function view(dtype: NpyDtype, bytes: Uint8Array): NpyArray {
  return dtype === '<f4' ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
    : dtype === '<f8' ? new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8)
      : dtype === '<i4' ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4) : bytes;
}

export function decodeNpy(buffer: Buffer, name = 'the .npy data'): NpyContents {
  const layout = parseHeader(buffer, name);
  checkSize(layout, buffer.length, name);
  // Copy into a fresh, aligned buffer (the data offset need not be aligned).
  const bytes = new Uint8Array(layout.dataBytes);
  bytes.set(buffer.subarray(layout.offset, layout.offset + layout.dataBytes));
  return { data: view(layout.dtype, bytes), shape: layout.shape, dtype: layout.dtype };
}

/**
 * Reads a .npy file. Only a regular file is opened (a device or FIFO is
 * refused before any read), its size must be exactly what its header says,
 * and the data is read straight into its array with every byte counted.
 * `name` is what messages call the file (a flag such as '--truth'); default:
 * the path.
 */
export async function readNpy(path: string, name = path): Promise<NpyContents> {
  const input = await openInputFile(path, { name });
  try {
    const label = name === path ? path : `${name} (${path})`;
    const preamble = await input.read(0, Math.min(PREAMBLE, input.size));
    const end = headerEnd(preamble, label);
    if (end > input.size) throw new Error(`${label} is truncated inside its header (${end} bytes of header, the file has ${input.size})`);
    const layout = parseHeader(await input.read(0, end), label);
    checkSize(layout, input.size, label);
    const bytes = await input.read(layout.offset, layout.dataBytes);
    return { data: view(layout.dtype, bytes), shape: layout.shape, dtype: layout.dtype };
  } finally {
    await input.close();
  }
}

/**
 * One field of shape [C, H, W] from a .npy file, stored as [C, H, W], as
 * [1, C, H, W] (a batch of one), or as [H, W] when C = 1. Any other shape, of
 * another rank or the same number of values arranged otherwise ([H * W],
 * [W, H] for H != W), is refused rather than reshaped. `name` is what
 * messages call the file (a flag such as '--truth').
 */
export async function readNpyField(path: string, shape: readonly [number, number, number], name = path): Promise<NpyContents> {
  const npy = await readNpy(path, name);
  const [C, H, W] = shape;
  const accepted = [[C, H, W], [1, C, H, W], ...(C === 1 ? [[H, W]] : [])];
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((n, i) => n === b[i]);
  if (!accepted.some((s) => same(s, npy.shape))) {
    const list = accepted.map((s) => `[${s.join(', ')}]`);
    throw new RangeError(expected(`one [${C}, ${H}, ${W}] field (shape ${list.slice(0, -1).join(', ')} or ${list[list.length - 1]})`,
      name, `shape [${npy.shape.join(', ')}] in ${path}`, true));
  }
  return npy;
}
