// Run states on disk: one file per checkpoint, written atomically (a temp
// file beside it, every byte checked, fsync, rename), and a loader that
// refuses a file that is truncated or altered, or that belongs to another
// version of enkg, another problem or another algorithm configuration,
// saying which.
//
// Layout of `state.enkgrun`:
//   8 bytes   magic "\x93ENKGRUN"
//   4 bytes   header length H (uint32, little-endian)
//   H bytes   header: JSON (UTF-8), see CheckpointHeader
//   payload   the arrays, in header order, each at an offset that is a multiple of 8
// The header carries the SHA-256 of the payload and of itself (with that
// field empty), so any change to either is found.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { yieldToLoop } from '../chunked';
import { writeFileAtomic } from '../io/atomic-file';
import { readBoundedFile } from '../io/input-file';
import { makeFolders } from '../io/run-output';
import { version } from '../version';
import type { InverseProblem, RunState, StateArray } from './run';
import { stableJson } from './stable-json';

export const CHECKPOINT_FILE = 'state.enkgrun';
const MAGIC = Buffer.from([0x93, 0x45, 0x4e, 0x4b, 0x47, 0x52, 0x55, 0x4e]); // \x93ENKGRUN
const FORMAT_VERSION = 1;

type DType = 'f4' | 'f8' | 'u1';

interface ArrayEntry {
  name: string;
  dtype: DType;
  length: number;
  offset: number;
}

/** What identifies the problem a run belongs to, without its (live) prior and forward model. */
export interface ProblemFingerprint {
  fieldShape: number[];
  measurementSize: number;
  /** SHA-256 of the observation's float32 bytes. */
  observation: string;
}

interface CheckpointHeader {
  format: 'enkg-run-state';
  formatVersion: number;
  enkgVersion: string;
  problem: ProblemFingerprint;
  state: Omit<RunState, 'particles' | 'carry'>;
  arrays: ArrayEntry[];
  payloadBytes: number;
  payloadSha256: string;
  /** Anything the caller keeps beside the state (the CLI: the command that started the run). */
  meta?: Record<string, unknown>;
  headerSha256: string;
}

export function problemFingerprint(problem: InverseProblem): ProblemFingerprint {
  const y = problem.observation;
  return {
    fieldShape: [...problem.forward.fieldShape],
    measurementSize: problem.forward.measurementSize,
    observation: createHash('sha256').update(new Uint8Array(y.buffer, y.byteOffset, y.byteLength)).digest('hex'),
  };
}

// JSON cannot hold NaN or infinities (a misfit before the first evaluation
// is NaN): they travel as { "$number": "NaN" }.
function encodeNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? { $number: String(value) } : value;
}

function decodeNumbers(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as Record<string, unknown>;
    if (Object.keys(v).length === 1 && typeof v.$number === 'string') return Number(v.$number);
  }
  return value;
}

function dtypeOf(a: StateArray): DType {
  if (a instanceof Float32Array) return 'f4';
  if (a instanceof Float64Array) return 'f8';
  return 'u1';
}

const BYTES: Record<DType, number> = { f4: 4, f8: 8, u1: 1 };

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

const HASH_SLICE = 1 << 22; // bytes hashed per synchronous stretch (~5 ms)

/** SHA-256 of pieces of bytes, in stretches that yield to the event loop (a run's arrays can be 100s of MB). */
async function hashPieces(pieces: readonly Uint8Array[]): Promise<string> {
  const hash = createHash('sha256');
  for (const piece of pieces) {
    for (let at = 0; at < piece.length; at += HASH_SLICE) {
      hash.update(piece.subarray(at, at + HASH_SLICE));
      await yieldToLoop();
    }
  }
  return hash.digest('hex');
}

/**
 * The pieces of one checkpoint of `state`, a run of `problem`, in file
 * order: magic, header length, header, then each array's bytes (views, not
 * copies) and its padding to 8 bytes.
 */
export async function checkpointPieces(state: RunState, problem: InverseProblem, meta?: Record<string, unknown>): Promise<Uint8Array[]> {
  const arrays: Array<[string, StateArray]> = [['particles', state.particles], ...Object.entries(state.carry).map(
    ([name, a]) => [`carry.${name}`, a] as [string, StateArray])];
  const entries: ArrayEntry[] = [];
  const payload: Uint8Array[] = [];
  let offset = 0;
  for (const [name, a] of arrays) {
    entries.push({ name, dtype: dtypeOf(a), length: a.length, offset });
    const padded = Math.ceil(a.byteLength / 8) * 8;
    payload.push(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    if (padded > a.byteLength) payload.push(new Uint8Array(padded - a.byteLength));
    offset += padded;
  }
  const { particles: _p, carry: _c, ...rest } = state;
  const header: CheckpointHeader = {
    format: 'enkg-run-state', formatVersion: FORMAT_VERSION, enkgVersion: version, problem: problemFingerprint(problem),
    state: { ...rest, config: JSON.parse(stableJson(state.config)) }, arrays: entries, payloadBytes: offset,
    payloadSha256: await hashPieces(payload), ...(meta ? { meta } : {}), headerSha256: '',
  };
  header.headerSha256 = sha256(JSON.stringify(header, encodeNumbers));
  const json = Buffer.from(JSON.stringify(header, encodeNumbers), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return [MAGIC, length, json, ...payload];
}

/** The bytes of one checkpoint of `state` (one buffer; saveCheckpoint writes the pieces without joining them). */
export async function encodeCheckpoint(state: RunState, problem: InverseProblem, meta?: Record<string, unknown>): Promise<Buffer> {
  return Buffer.concat(await checkpointPieces(state, problem, meta));
}

/** Writes the checkpoint of `state` to DIR/state.enkgrun, atomically; DIR is created if needed. */
export async function saveCheckpoint(dir: string, state: RunState, problem: InverseProblem, meta?: Record<string, unknown>): Promise<string> {
  await makeFolders(dir);
  const file = path.join(dir, CHECKPOINT_FILE);
  await writeFileAtomic(file, await checkpointPieces(state, problem, meta));
  return file;
}

export interface LoadedCheckpoint {
  state: RunState;
  meta?: Record<string, unknown>;
  problem: ProblemFingerprint;
  enkgVersion: string;
}

/** A checkpoint that cannot be used, with the reason. */
export class CheckpointError extends Error {
  constructor(readonly file: string, reason: string) {
    super(`The checkpoint ${file} cannot be used: ${reason}`);
    this.name = 'CheckpointError';
  }
}

/** Parses and verifies checkpoint bytes (integrity and version; not yet the problem). */
export async function decodeCheckpoint(bytes: Buffer, file = 'the checkpoint'): Promise<LoadedCheckpoint> {
  const fail = (reason: string): never => {
    throw new CheckpointError(file, reason);
  };
  if (bytes.length < 12 || !bytes.subarray(0, 8).equals(MAGIC)) fail('it is not an enkg run state (no \\x93ENKGRUN at its start)');
  const length = bytes.readUInt32LE(8);
  if (12 + length > bytes.length) fail(`it is truncated (a ${length}-byte header announced, ${bytes.length - 12} bytes follow)`);
  let header: CheckpointHeader;
  try {
    header = JSON.parse(bytes.subarray(12, 12 + length).toString('utf8'), decodeNumbers) as CheckpointHeader;
  } catch (error) {
    return fail(`its header is not valid JSON (${(error as Error).message})`);
  }
  if (header.format !== 'enkg-run-state') fail(`its header has format ${JSON.stringify(header.format)}`);
  if (header.formatVersion !== FORMAT_VERSION) {
    fail(`it has format version ${header.formatVersion}; this enkg (${version}) reads version ${FORMAT_VERSION}`);
  }
  const claimed = header.headerSha256;
  if (sha256(JSON.stringify({ ...header, headerSha256: '' }, encodeNumbers)) !== claimed) fail('its header was altered (checksum mismatch)');
  if (header.enkgVersion !== version) {
    fail(`it was written by enkg ${header.enkgVersion} and this is enkg ${version}; a run continues only on the version that started it`);
  }
  const payload = bytes.subarray(12 + length);
  if (payload.length !== header.payloadBytes) {
    fail(`it is truncated or padded (${payload.length} payload bytes, the header says ${header.payloadBytes})`);
  }
  if (await hashPieces([payload]) !== header.payloadSha256) fail('its arrays were altered (checksum mismatch)');
  const arrays: Record<string, StateArray> = {};
  for (const e of header.arrays) {
    const bytesOf = e.length * BYTES[e.dtype];
    const copy = new Uint8Array(bytesOf);
    for (let at = 0; at < bytesOf; at += HASH_SLICE) {
      copy.set(payload.subarray(e.offset + at, e.offset + Math.min(bytesOf, at + HASH_SLICE)), at);
      await yieldToLoop();
    }
    arrays[e.name] = e.dtype === 'f4' ? new Float32Array(copy.buffer) : e.dtype === 'f8' ? new Float64Array(copy.buffer) : copy;
  }
  const particles = arrays.particles;
  if (!(particles instanceof Float32Array)) return fail('it holds no particles');
  const carry: Record<string, StateArray> = {};
  for (const [name, a] of Object.entries(arrays)) if (name.startsWith('carry.')) carry[name.slice(6)] = a;
  return {
    state: { ...header.state, particles, carry } as RunState, meta: header.meta, problem: header.problem, enkgVersion: header.enkgVersion,
  };
}

/** The checkpoint in DIR (or the file itself), checked; with `problem`, also that it is a run of that problem. */
export async function loadCheckpoint(dirOrFile: string, problem?: InverseProblem): Promise<LoadedCheckpoint> {
  const file = fs.existsSync(dirOrFile) && fs.statSync(dirOrFile).isDirectory() ? path.join(dirOrFile, CHECKPOINT_FILE) : dirOrFile;
  if (!fs.existsSync(file)) throw new CheckpointError(file, 'it does not exist');
  const loaded = await decodeCheckpoint(await readBoundedFile(file, { name: file, maxBytes: 2 ** 40 }), file);
  if (problem) checkProblemMatches(loaded, problem, file);
  return loaded;
}

/** Refuses a checkpoint of another problem, saying what differs. */
export function checkProblemMatches(loaded: LoadedCheckpoint, problem: InverseProblem, file: string): void {
  const now = problemFingerprint(problem), then = loaded.problem;
  if (now.fieldShape.join('x') !== then.fieldShape.join('x')) {
    throw new CheckpointError(file, `it is a run on fields of shape [${then.fieldShape.join(', ')}], this problem's are [${now.fieldShape.join(', ')}]`);
  }
  if (now.measurementSize !== then.measurementSize) {
    throw new CheckpointError(file, `it is a run with ${then.measurementSize} measurements, this problem has ${now.measurementSize}`);
  }
  if (now.observation !== then.observation) {
    throw new CheckpointError(file, 'it is a run of another problem (its observation differs from this one\'s)');
  }
}
