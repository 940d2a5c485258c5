// Counter-based random numbers (Philox4x32-10): identical bits on every
// backend, and each stream (one per particle) independent of how many
// streams or values are drawn together. See native/core/philox.h.
import { BackendOption, resolveBackend } from './backend';
import { callNative, native } from './binding';
import { allocateFloats, expected, requireInteger, requireKnownKeys, requireObject } from './validate';

export interface RandomArgs {
  /** Values per stream. */
  count: number;
  /** Integer seed in [0, 2^53). */
  seed: number;
  /** First stream (for an ensemble: the particle index). Default 0. */
  stream?: number;
  /** Number of consecutive streams to draw; the result is streams x count, row-major. Default 1. */
  streams?: number;
  backend?: BackendOption;
}

const RANDOM_KEYS = ['count', 'seed', 'stream', 'streams', 'backend'] as const;

async function draw(kind: 'randomNormal' | 'randomUniform', args: RandomArgs): Promise<Float32Array> {
  requireKnownKeys(requireObject(args, `${kind}(args)`), RANDOM_KEYS, kind);
  const count = requireInteger(args.count, 'count', 1);
  const seed = requireInteger(args.seed, 'seed', 0);
  const stream = args.stream === undefined ? 0 : requireInteger(args.stream, 'stream', 0);
  const streams = args.streams === undefined ? 1 : requireInteger(args.streams, 'streams', 1);
  if (stream + streams - 1 > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(expected('stream + streams below 2^53', 'stream', stream));
  }
  const backend = await resolveBackend(args.backend);
  const out = allocateFloats(count * streams, 'count x streams', 'the draws returned');
  await callNative(() => native[kind](backend, out, count, streams, seed, stream));
  return out;
}

/** Standard normal draws (Box-Muller on Philox words); value i of stream s is the same in any call. */
export function randomNormal(args: RandomArgs): Promise<Float32Array> {
  return draw('randomNormal', args);
}

/** Uniform draws in the open interval (0, 1), 23-bit resolution (exact on every backend). */
export function randomUniform(args: RandomArgs): Promise<Float32Array> {
  return draw('randomUniform', args);
}

/** The raw Philox4x32-10 block function (for known-answer tests). */
export function philox4x32(counter: Uint32Array, key: Uint32Array): Uint32Array {
  return native.philox4x32(counter, key);
}
