// Every file enkg writes is written completely or not at all: a full disk
// (a small tmpfs where this test may mount one, else a stubbed short write)
// fails with the file and the cause named, and leaves the earlier file of
// that name as it was; a short write is continued, never taken as done.
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

import { encodeNpy, NpyWriter, readNpy, writeNpy } from '../lib';
import { writeFileAtomic } from '../lib/io/atomic-file';
import { RunOutput } from '../lib/io/run-output';
import { main } from '../lib/cli/main';

// The `fs` module object the library calls through (a test can stand in for fs.write there).
// eslint-disable-next-line @typescript-eslint/no-var-requires
const fs = require('node:fs') as typeof import('node:fs');

const KiB = 1024;

/** Mounts a tmpfs of `size` bytes at a fresh folder; undefined where mounting is not allowed. */
function mountTmpfs(size: number): string | undefined {
  if (process.env.ENKG_TEST_NO_MOUNT === '1') return undefined; // to exercise the stub where mounting works
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-full-'));
  const run = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (run.status === 0) return dir;
  fs.rmdirSync(dir);
  return undefined;
}

/** Fills the file system at `dir` until fewer than `leave` bytes are free. */
function fill(dir: string, leave: number): void {
  const free = () => { const s = fs.statfsSync(dir); return s.bavail * s.bsize; };
  fs.writeFileSync(path.join(dir, 'ballast'), Buffer.alloc(Math.max(0, free() - leave)));
}

/** The names in `dir` other than ballast: what a failed write must not leave behind. */
const entries = (dir: string) => fs.readdirSync(dir).filter((f) => f !== 'ballast').sort();

const earlier = encodeNpy(Float32Array.from([1, 2, 3]), [3]);

function checkFullDiskError(error: unknown, file: string): void {
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message.startsWith(`Could not write ${file}: `)).toBe(true);
  expect((error as Error).message).toMatch(/no space left on device|no more \(is it full\?\)/);
  expect((error as Error).message).toContain(`${file} was left as it was`);
  expect((error as { code?: string }).code).toBe('ENOSPC');
}

describe('a full disk', () => {
  const mount = mountTmpfs(256 * KiB);
  // eslint-disable-next-line no-console
  console.log(mount ? `atomic-write: using a 256 KiB tmpfs at ${mount}` : 'atomic-write: no tmpfs (mount not allowed, or ENKG_TEST_NO_MOUNT=1); the full-disk tests use a stubbed fs.write that returns short, then ENOSPC');
  afterAll(() => {
    if (mount) {
      spawnSync('umount', [mount]);
      fs.rmdirSync(mount);
    }
  });

  /** A folder whose file system takes about `room` more bytes (real or stubbed). */
  function nearlyFull(room: number): { dir: string; restore: () => void } {
    if (mount) {
      const dir = fs.mkdtempSync(path.join(mount, 'case-'));
      fill(mount, room);
      return { dir, restore: () => fs.rmSync(path.join(mount, 'ballast'), { force: true }) };
    }
    // No tmpfs: fs.write accepts `room` bytes in all (the last call short), then fails with ENOSPC, as write(2) does.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-stub-'));
    let left = room;
    const real = fs.write;
    const spy = jest.spyOn(fs, 'write').mockImplementation(((fd: number, buffer: Uint8Array, offset: number, length: number, position: number, cb: (e: Error | null, n?: number) => void) => {
      if (left <= 0) {
        process.nextTick(cb, Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
        return;
      }
      const n = Math.min(length, left);
      left -= n;
      (real as unknown as (...a: unknown[]) => void)(fd, buffer, offset, n, position, cb);
    }) as unknown as typeof fs.write);
    return { dir, restore: () => spy.mockRestore() };
  }

  it('writeNpy fails naming the file and ENOSPC, keeps the earlier file byte for byte and leaves no temporary file', async () => {
    const { dir, restore } = nearlyFull(48 * KiB);
    const file = path.join(dir, 'fields.npy');
    fs.writeFileSync(file, earlier);
    try {
      const error = await writeNpy(file, new Float32Array(64 * KiB), [64 * KiB]).then(() => undefined, (e: unknown) => e);
      checkFullDiskError(error, file);
    } finally {
      restore();
    }
    expect(fs.readFileSync(file)).toEqual(earlier);
    expect(entries(dir)).toEqual(['fields.npy']);
  });

  it('NpyWriter fails on the append that does not fit, and close() never makes the file', async () => {
    const { dir, restore } = nearlyFull(48 * KiB);
    const file = path.join(dir, 'stream.npy');
    let error: unknown;
    try {
      const writer = await NpyWriter.open(file, '<f4', [16, 1024]);
      for (let i = 0; i < 16 && error === undefined; i++) error = await writer.append(new Float32Array(1024).fill(i)).then(() => undefined, (e: unknown) => e);
      await expect(writer.close()).rejects.toThrow();
    } finally {
      restore();
    }
    checkFullDiskError(error, file);
    expect(fs.existsSync(file)).toBe(false);
    expect(entries(dir)).toEqual([]);
  });

  it('a PNG or JSON of a run (RunOutput.writeFile) fails the same way, and abort() leaves no staging folder', async () => {
    const { dir, restore } = nearlyFull(16 * KiB);
    const target = path.join(dir, 'run');
    const output = await RunOutput.create(target);
    let error: unknown;
    try {
      error = await output.writeFile('panel.png', Buffer.alloc(64 * KiB, 7)).then(() => undefined, (e: unknown) => e);
    } finally {
      restore();
      await output.abort();
    }
    checkFullDiskError(error, path.join(output.staging, 'panel.png'));
    expect(entries(dir)).toEqual([]);
  });
});

describe('enkg data and a full disk', () => {
  const quiet = () => [jest.spyOn(process.stderr, 'write').mockImplementation(() => true), jest.spyOn(console, 'error').mockImplementation(() => undefined)];

  it('fails with exit 1 and the file named when the disk fills during the run (stubbed), never saying "wrote"', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-data-full-'));
    const out = path.join(dir, 'grf.npy');
    const real = fs.write;
    let left = 20000; // the header and part of the first batch
    const spy = jest.spyOn(fs, 'write').mockImplementation(((fd: number, buffer: Uint8Array, offset: number, length: number, position: number, cb: (e: Error | null, n?: number) => void) => {
      if (left <= 0) return process.nextTick(cb, Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
      const n = Math.min(length, left);
      left -= n;
      return (real as unknown as (...a: unknown[]) => void)(fd, buffer, offset, n, position, cb);
    }) as unknown as typeof fs.write);
    const mocks = quiet();
    let error: unknown;
    try {
      error = await main(['data', 'navier-stokes', '--count', '8', '--resolution', '32', '--seed', '1', '--time', '0', '--batch', '2', '--out', out, '--backend', 'cpu'])
        .then((code) => code, (e: unknown) => e);
    } finally {
      spy.mockRestore();
      for (const m of mocks) m.mockRestore();
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).name).not.toBe('UsageError'); // a failure of the work: exit 1
    expect((error as Error).message).toBe(`Could not write ${out}: ENOSPC: no space left on device, write; ${out} was left as it was`);
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  });

  it('refuses before any work when the folder has less free space than --count x --resolution needs', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-data-room-'));
    const out = path.join(dir, 'huge.npy');
    await expect(main(['data', 'navier-stokes', '--count', '100000000000', '--resolution', '64', '--seed', '1', '--out', out]))
      .rejects.toMatchObject({ name: 'UsageError', message: expect.stringMatching(new RegExp(`^--count 100000000000 x --resolution 64 would need 1\\.5 PiB of disk for ${out.replace(/\./g, '\\.')}, but ${dir} has .* free$`)) });
    expect(fs.readdirSync(dir)).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  });
});

describe('short writes', () => {
  it('are continued until every byte is on disk (a write returning fewer bytes is not the end)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-short-'));
    const real = fs.write;
    let calls = 0;
    // Every call writes at most 1000 bytes, as a slow pipe or a signal-interrupted write(2) may.
    const spy = jest.spyOn(fs, 'write').mockImplementation(((fd: number, buffer: Uint8Array, offset: number, length: number, position: number, cb: unknown) => {
      calls++;
      (real as unknown as (...a: unknown[]) => void)(fd, buffer, offset, Math.min(length, 1000), position, cb);
    }) as unknown as typeof fs.write);
    const data = Float32Array.from({ length: 10000 }, (_, i) => Math.sin(i));
    try {
      await writeNpy(path.join(dir, 'a.npy'), data, [100, 100]);
    } finally {
      spy.mockRestore();
    }
    expect(calls).toBeGreaterThanOrEqual(40);
    expect(fs.readFileSync(path.join(dir, 'a.npy'))).toEqual(encodeNpy(data, [100, 100]));
    expect((await readNpy(path.join(dir, 'a.npy'))).data).toEqual(data);
    fs.rmSync(dir, { recursive: true });
  });

  it('a write that makes no progress (0 bytes) is an ENOSPC error naming the file, not an endless loop', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-zero-'));
    const file = path.join(dir, 'result.json');
    fs.writeFileSync(file, '{"old":true}\n');
    const spy = jest.spyOn(fs, 'write').mockImplementation(((...args: unknown[]) => {
      process.nextTick(args[args.length - 1] as (e: null, n: number) => void, null, 0);
    }) as unknown as typeof fs.write);
    let error: unknown;
    try {
      error = await writeFileAtomic(file, '{"new":true}\n').then(() => undefined, (e: unknown) => e);
    } finally {
      spy.mockRestore();
    }
    expect((error as Error).message).toBe(
      `Could not write ${file}: the device accepted 0 of 13 bytes and then no more (is it full?); ${file} was left as it was`);
    expect(fs.readFileSync(file, 'utf8')).toBe('{"old":true}\n');
    expect(fs.readdirSync(dir)).toEqual(['result.json']);
    fs.rmSync(dir, { recursive: true });
  });
});
