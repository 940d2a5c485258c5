import { philox4x32, randomNormal, randomUniform } from '../lib';
import { defineRandomSuite } from './suites/random.suite';

describe('Philox4x32-10 known-answer vectors (Random123, kat_vectors)', () => {
  it.each([
    [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
    [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
    [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
  ])('philox4x32(%j, %j)', (counter, key, expected) => {
    expect(Array.from(philox4x32(Uint32Array.from(counter), Uint32Array.from(key)))).toEqual(expected);
  });

  it('maps the extreme Philox words to uniforms strictly inside (0, 1)', async () => {
    // Value 2 of stream 0, seed 0 comes from word 2 of philox4x32([0,0,0,0], [0,0]).
    const word = philox4x32(Uint32Array.from([0, 0, 0, 0]), Uint32Array.from([0, 0]))[2];
    const [u] = (await randomUniform({ count: 3, seed: 0, backend: 'cpu' })).subarray(2);
    expect(u).toBe(((word >>> 9) + 0.5) / 2 ** 23);
  });

  it('derives normal value i of stream s from block i/4 of counter (block, s) under key = seed', () => {
    // Value 0 of stream 5, seed 3: Box-Muller of the first two words of block 0.
    const [w0, w1] = philox4x32(Uint32Array.from([0, 0, 5, 0]), Uint32Array.from([3, 0]));
    const u1 = (w0 + 0.5) / 2 ** 32, u2 = (w1 + 0.5) / 2 ** 32;
    const z0 = Math.fround(Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2));
    return randomNormal({ count: 1, seed: 3, stream: 5, backend: 'cpu' }).then((z) => expect(z[0]).toBe(z0));
  });
});

defineRandomSuite('cpu');
