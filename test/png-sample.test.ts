// PNG output and `enkg sample`.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

import { colorOf, encodePng, fieldGridPng, readNpy } from '../lib';
import { main } from '../lib/cli/main';

/** Splits a PNG into chunks, checking each CRC with zlib's crc32-compatible check via re-encoding. */
function chunks(png: Buffer): Array<{ type: string; data: Buffer }> {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  const out = [];
  for (let p = 8; p < png.length;) {
    const length = png.readUInt32BE(p);
    out.push({ type: png.toString('latin1', p + 4, p + 8), data: png.subarray(p + 8, p + 8 + length) });
    p += 12 + length;
  }
  return out;
}

describe('PNG output', () => {
  it('encodes RGB pixels that decode back (IHDR, zlib IDAT, IEND)', () => {
    const rgb = Uint8Array.from({ length: 3 * 2 * 3 }, (_, i) => (i * 37) % 256);
    const parts = chunks(encodePng(3, 2, rgb));
    expect(parts.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect(parts[0].data.readUInt32BE(0)).toBe(3);
    expect(parts[0].data.readUInt32BE(4)).toBe(2);
    const raw = zlib.inflateSync(parts[1].data);
    expect(raw[0]).toBe(0);
    expect(Array.from(raw.subarray(1, 10))).toEqual(Array.from(rgb.subarray(0, 9)));
    expect(Array.from(raw.subarray(11, 20))).toEqual(Array.from(rgb.subarray(9, 18)));
  });

  it('colours signed fields symmetrically: 0 is white, the extremes blue and red', () => {
    expect(colorOf('diverging', 0.5)).toEqual([247, 247, 247]);
    const [r0, , b0] = colorOf('diverging', 0);
    const [r1, , b1] = colorOf('diverging', 1);
    expect(b0).toBeGreaterThan(r0);
    expect(r1).toBeGreaterThan(b1);
    const png = fieldGridPng({ fields: Float32Array.from([-1, 0, 0, 1]), count: 1, height: 2, width: 2, colormap: 'diverging', zoom: 1 });
    const raw = zlib.inflateSync(chunks(png)[1].data);
    const width = 2 + 2 * 2; // pad, 2 px, pad
    const pixel = (x: number, y: number): number[] => Array.from(raw.subarray(y * (1 + width * 3) + 1 + x * 3, y * (1 + width * 3) + 4 + x * 3));
    expect(pixel(2, 2)).toEqual(colorOf('diverging', 0));   // -1 -> the blue end
    expect(pixel(3, 2)).toEqual([247, 247, 247]);           // 0 -> white
    expect(pixel(3, 3)).toEqual(colorOf('diverging', 1));   // +1 -> the red end
  });
});

describe('enkg sample', () => {
  it('writes samples.npy and samples.png for an ONNX prior', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-sample-'));
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const error = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const code = await main(['sample', '--prior', path.join(__dirname, 'fixtures', 'onnx', 'tiny-denoiser.onnx'),
        '--out', dir, '--count', '4', '--steps', '5', '--provider', 'cpu']);
      expect(code).toBe(0);
    } finally {
      write.mockRestore();
      error.mockRestore();
    }
    const npy = await readNpy(path.join(dir, 'samples.npy'));
    expect(npy.shape).toEqual([4, 1, 8, 8]);
    expect(Array.from(npy.data).every(Number.isFinite)).toBe(true);
    expect(chunks(fs.readFileSync(path.join(dir, 'samples.png')))[0].type).toBe('IHDR');
    // Every bad flag is a usage error (exit 2), found before the model loads.
    const tiny = path.join(__dirname, 'fixtures', 'onnx', 'tiny-denoiser.onnx');
    const usage = (args: string[], message: string) => expect(main(['sample', ...args])).rejects.toMatchObject({
      name: 'UsageError', message: expect.stringContaining(message),
    });
    await usage(['--out', dir], '--prior is required');
    await usage(['--prior', tiny], '--out is required');
    await usage(['--prior', tiny, '--out', dir, '--provider', 'tpu'], "--provider must be auto or a comma-separated list of cuda, webgpu, cpu; got 'tpu'");
    await usage(['--prior', tiny, '--out', dir, '--count', '0'], "--count must be an integer >= 1, got '0'");
    await usage(['--prior', tiny, '--out', dir, '--steps', '2.5'], "--steps must be an integer >= 1, got '2.5'");
    await usage(['--prior', tiny, '--out', dir, '--seed=-1'], "--seed must be an integer >= 0, got '-1'");
    await usage(['--prior', tiny, '--out', dir, '--solver', 'rk4'], "--solver must be euler or heun, got 'rk4'");
    await usage(['--prior', tiny, '--out', dir, '--colormap', 'jet'], "--colormap must be auto, diverging, gray, viridis, got 'jet'");
    await usage(['--prior', path.join(dir, 'missing.onnx'), '--out', dir], `Expected a readable file for --prior but received '${path.join(dir, 'missing.onnx')}' (no such file)`);
  });
});
