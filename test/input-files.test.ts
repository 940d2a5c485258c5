// Inputs are bounded before any work: only regular files are read (a
// character device would be read until memory runs out, a FIFO would block
// forever), a .npy must be exactly as long as its header says, a --truth
// must have the field's shape (never reshaped) and a norm, and sizes that
// cannot fit are refused naming the flag.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { encodeNpy, OnnxDenoiser, readNpy } from '../lib';
import { main } from '../lib/cli/main';
import { checkFits } from '../lib/cli/usage';
import { readBoundedFile } from '../lib/io/input-file';
import { readNpyField } from '../lib/io/npy';
import { NS_PRIOR_64 } from '../lib/paths';

const TINY = path.join(__dirname, 'fixtures', 'onnx', 'tiny-denoiser.onnx');
const shipped = fs.existsSync(NS_PRIOR_64);

/** A promise that fails the test if `work` takes longer than `ms` (a blocked open or an endless read). */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([work, new Promise<T>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
  })]).finally(() => clearTimeout(timer));
}

describe('special files as inputs', () => {
  let dir: string;
  let fifo: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-inputs-'));
    fifo = path.join(dir, 'pipe.npy');
    execFileSync('mkfifo', [fifo]);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('readNpy refuses a character device and a FIFO at once, naming the input and what it is', async () => {
    await expect(within(readNpy('/dev/zero'), 2000)).rejects.toThrow("Expected a regular file for /dev/zero but received '/dev/zero' (a character device)");
    await expect(within(readNpy(fifo, '--truth'), 2000)).rejects.toThrow(`Expected a regular file for --truth but received '${fifo}' (a FIFO (named pipe))`);
    await expect(within(readNpy(dir), 2000)).rejects.toThrow(`Expected a regular file for ${dir} but received '${dir}' (a folder)`);
  });

  it('readNpy refuses a file longer than its header says, and one shorter', async () => {
    const good = encodeNpy(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const long = path.join(dir, 'long.npy');
    fs.writeFileSync(long, Buffer.concat([good, Buffer.alloc(1000)]));
    await expect(readNpy(long)).rejects.toThrow(`${long} is longer than its header says: shape (2, 3) needs 24 bytes of data, the file has 1024`);
    const short = path.join(dir, 'short.npy');
    fs.writeFileSync(short, good.subarray(0, good.length - 4));
    await expect(readNpy(short)).rejects.toThrow(`${short} is truncated: shape (2, 3) needs 24 bytes of data, the file has 20`);
    // A header that claims a huge shape is refused by the size check, before any data is allocated.
    const claims = path.join(dir, 'claims.npy');
    fs.writeFileSync(claims, Buffer.from(good.toString('latin1').replace("'shape': (2, 3)", "'shape': (99999, 99999, 9)"), 'latin1'));
    await expect(readNpy(claims)).rejects.toThrow(/claims\.npy is truncated: shape \(99999, 99999, 9\) needs 359992800036 bytes of data, the file has 35$/);
  });

  it('the prior loader refuses a device and a FIFO instead of reading forever (OnnxDenoiser.load and readBoundedFile)', async () => {
    await expect(within(OnnxDenoiser.load('/dev/zero', { executionProviders: ['cpu'] }), 2000))
      .rejects.toThrow("Cannot read the prior /dev/zero: Expected a regular file for /dev/zero but received '/dev/zero' (a character device)");
    await expect(within(OnnxDenoiser.load(fifo, { executionProviders: ['cpu'] }), 2000)).rejects.toThrow(/a FIFO \(named pipe\)/);
    const big = path.join(dir, 'big.bin');
    fs.writeFileSync(big, Buffer.alloc(2048));
    await expect(readBoundedFile(big, { name: '--prior', maxBytes: 1024 })).rejects.toThrow(`Expected a file of at most 1.0 KiB for --prior but received '${big}' of 2.0 KiB`);
    expect((await readBoundedFile(big, { maxBytes: 2048 })).length).toBe(2048);
  });

  it('enkg sample and enkg solve exit 2 on a device or FIFO as --prior or --truth, before loading anything', async () => {
    const usage = (argv: string[], message: string) => expect(within(main(argv), 5000)).rejects.toMatchObject({ name: 'UsageError', message });
    await usage(['sample', '--prior', '/dev/zero', '--out', path.join(dir, 's1')], "Expected a regular file for --prior but received '/dev/zero' (a character device)");
    await usage(['sample', '--prior', fifo, '--out', path.join(dir, 's2')], `Expected a regular file for --prior but received '${fifo}' (a FIFO (named pipe))`);
    await usage(['solve', 'navier-stokes', '--prior', '/dev/urandom', '--out', path.join(dir, 'r1')], "Expected a regular file for --prior but received '/dev/urandom' (a character device)");
    if (shipped) {
      await usage(['solve', 'navier-stokes', '--truth', fifo, '--out', path.join(dir, 'r2'), '--backend', 'cpu'], `Expected a regular file for --truth but received '${fifo}' (a FIFO (named pipe))`);
    }
    expect(fs.readdirSync(dir).sort()).toEqual(['big.bin', 'claims.npy', 'long.npy', 'pipe.npy', 'short.npy']); // no output folder, no staging left
  });

  it('a prior that breaks the contract is a usage error (exit 2) naming the flag', async () => {
    const wrongRank = path.join(__dirname, 'fixtures', 'onnx', 'wrong-rank.onnx');
    await expect(main(['sample', '--prior', wrongRank, '--out', path.join(dir, 's3'), '--provider', 'cpu']))
      .rejects.toMatchObject({ name: 'UsageError', message: expect.stringMatching(/^--prior: .*wrong-rank\.onnx does not follow the enkg prior contract/) });
    const notOnnx = path.join(dir, 'long.npy');
    await expect(main(['sample', '--prior', notOnnx, '--out', path.join(dir, 's4'), '--provider', 'cpu']))
      .rejects.toMatchObject({ name: 'UsageError', message: expect.stringMatching(/^--prior: .*long\.npy is not an ONNX model/) });
  });
});

describe('--truth has the field\'s shape and a norm', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-truth-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const save = (name: string, data: Float32Array, shape: number[]) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, encodeNpy(data, shape));
    return file;
  };

  it('readNpyField takes [C, H, W], [1, C, H, W] and [H, W] for one channel, and refuses a flat or reordered field', async () => {
    const values = Float32Array.from({ length: 16 }, (_, i) => i);
    for (const shape of [[1, 4, 4], [1, 1, 4, 4], [4, 4]]) {
      expect((await readNpyField(save('ok.npy', values, shape), [1, 4, 4], '--truth')).data).toEqual(values);
    }
    const flat = save('flat.npy', values, [16]);
    await expect(readNpyField(flat, [1, 4, 4], '--truth')).rejects.toThrow(
      `Expected one [1, 4, 4] field (shape [1, 4, 4], [1, 1, 4, 4] or [4, 4]) for --truth but received shape [16] in ${flat}`);
    const other = save('other.npy', Float32Array.from({ length: 16 }), [2, 8]);
    await expect(readNpyField(other, [1, 4, 4], '--truth')).rejects.toThrow('received shape [2, 8]');
    const batch = save('batch.npy', Float32Array.from({ length: 32 }), [2, 1, 4, 4]);
    await expect(readNpyField(batch, [1, 4, 4], '--truth')).rejects.toThrow('received shape [2, 1, 4, 4]');
  });

  (shipped ? it : it.skip)('enkg solve refuses a reinterpretable --truth and an all-zero one with exit 2, before the solve', async () => {
    const flat = save('flat64.npy', Float32Array.from({ length: 64 * 64 }, (_, i) => Math.sin(i)), [64 * 64]);
    await expect(main(['solve', 'navier-stokes', '--truth', flat, '--out', path.join(dir, 'a'), '--backend', 'cpu', '--quiet'])).rejects.toMatchObject({
      name: 'UsageError', message: `Expected one [1, 64, 64] field (shape [1, 64, 64], [1, 1, 64, 64] or [64, 64]) for --truth but received shape [4096] in ${flat}`,
    });
    const zeros = save('zeros.npy', new Float32Array(64 * 64), [64, 64]);
    const started = Date.now();
    await expect(main(['solve', 'navier-stokes', '--truth', zeros, '--out', path.join(dir, 'b'), '--backend', 'cpu', '--quiet', '--ensemble', '4', '--steps', '200'])).rejects.toMatchObject({
      name: 'UsageError',
      message: `Expected a ground truth with a nonzero norm for --truth ${zeros} (the relative L2 error divides by it) but received all zeros`,
    });
    expect(Date.now() - started).toBeLessThan(60000); // 200 steps were not run
    expect(fs.existsSync(path.join(dir, 'a')) || fs.existsSync(path.join(dir, 'b'))).toBe(false);
  }, 120000);
});

describe('sizes that cannot fit', () => {
  it('checkFits names the flag and the memory a size would need, beyond this machine\'s', () => {
    expect(() => checkFits('--ensemble 1000', 1000, 4, 'the particles', 2048)).toThrow(
      "--ensemble 1000 would need at least 3.9 KiB of memory for the particles, more than this machine's 2.0 KiB; use a smaller value");
    expect(() => checkFits('--ensemble 100', 100, 4, 'the particles', 2048)).not.toThrow();
  });

  it('are refused naming the flag and what they would need, before the solve or the data generation starts', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-sizes-'));
    try {
      if (shipped) {
        await expect(main(['solve', 'navier-stokes', '--ensemble', '100000000', '--out', path.join(dir, 'a'), '--backend', 'cpu'])).rejects.toMatchObject({
          name: 'UsageError',
          message: '--ensemble 100000000 would need 3.0 TiB for 100000000 particles of [1, 64, 64] (409600000000 values), more than one array can hold (2^32 values); use a smaller value',
        });
      }
      await expect(main(['data', 'navier-stokes', '--count', '2', '--resolution', '70000', '--seed', '0', '--out', path.join(dir, 'b.npy')])).rejects.toMatchObject({
        name: 'UsageError', message: expect.stringMatching(/^--resolution 70000 would need .* for one 70000x70000 field \(4900000000 values\), more than one array can hold/),
      });
      await expect(main(['data', 'navier-stokes', '--count', '100000', '--batch', '100000', '--resolution', '4096', '--seed', '0', '--out', path.join(dir, 'c.npy')])).rejects.toMatchObject({
        name: 'UsageError', message: expect.stringMatching(/^--batch 100000 would need .* for 100000 fields of 4096x4096 per batch \(1677721600000 values\), more than one array can hold/),
      });
      await expect(main(['sample', '--prior', TINY, '--count', '100000000000', '--out', path.join(dir, 'd')])).rejects.toMatchObject({
        name: 'UsageError', message: expect.stringMatching(/^--count 100000000000 would need .* for 100000000000 samples of \[1, 8, 8\]/),
      });
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
