import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { decodeNpy, encodeNpy, NpyWriter, readNpy, writeNpy } from '../lib';

// Bytes numpy 1.x wrote with np.save (the reference for the format).
const NUMPY_F4_2x3 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY0JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsIDMpLCB9ICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAACAPwAAAEAAAEBAAACAQAAAoEA=';
const NUMPY_F8_2 = 'k05VTVBZAQB2AHsnZGVzY3InOiAnPGY4JywgJ2ZvcnRyYW5fb3JkZXInOiBGYWxzZSwgJ3NoYXBlJzogKDIsKSwgfSAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgIAoAAAAAAAD4PwAAAAAAAADA';

describe('.npy files', () => {
  it('reads what numpy writes', () => {
    const a = decodeNpy(Buffer.from(NUMPY_F4_2x3, 'base64'));
    expect(a.dtype).toBe('<f4');
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([0, 1, 2, 3, 4, 5]);
    const b = decodeNpy(Buffer.from(NUMPY_F8_2, 'base64'));
    expect(b.shape).toEqual([2]);
    expect(Array.from(b.data)).toEqual([1.5, -2]);
  });

  it('writes byte for byte what numpy writes', () => {
    expect(encodeNpy(Float32Array.from([0, 1, 2, 3, 4, 5]), [2, 3]).toString('base64')).toBe(NUMPY_F4_2x3);
    expect(encodeNpy(Float64Array.from([1.5, -2]), [2]).toString('base64')).toBe(NUMPY_F8_2);
  });

  it('round-trips through files, also when written piece by piece', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'enkg-npy-'));
    const data = Float32Array.from({ length: 2 * 1 * 4 * 4 }, (_, i) => i / 7);
    await writeNpy(path.join(dir, 'a.npy'), data, [2, 1, 4, 4]);
    const back = await readNpy(path.join(dir, 'a.npy'));
    expect(back.shape).toEqual([2, 1, 4, 4]);
    expect(back.data).toEqual(data);
    const writer = await NpyWriter.open(path.join(dir, 'b.npy'), '<f4', [2, 1, 4, 4]);
    await writer.append(data.subarray(0, 16));
    await writer.append(data.subarray(16));
    await writer.close();
    expect(fs.readFileSync(path.join(dir, 'b.npy'))).toEqual(fs.readFileSync(path.join(dir, 'a.npy')));
  });

  it('explains what is wrong with a bad file', () => {
    expect(() => decodeNpy(Buffer.from('not a numpy file'), 'x.npy')).toThrow('x.npy is not a .npy file');
    const truncated = Buffer.from(NUMPY_F4_2x3, 'base64').subarray(0, 130);
    expect(() => decodeNpy(truncated, 't.npy')).toThrow('t.npy is truncated: shape (2, 3) needs 24 bytes of data, the file has 2');
    const bigEndian = Buffer.from(Buffer.from(NUMPY_F4_2x3, 'base64').toString('latin1').replace("'<f4'", "'>f4'"), 'latin1');
    expect(() => decodeNpy(bigEndian, 'b.npy')).toThrow("b.npy has dtype '>f4'");
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow('Expected shape [2,3] (6 elements) to match data.length but received 5');
  });
});

describe('energySpectrum', () => {
  it('puts a single Fourier mode of amplitude A into its shell with mean power A^2 / (2 N_s)', async () => {
    const { energySpectrum, dealiasedShell } = await import('../lib');
    const R = 16, A = 3, k1 = 3, k2 = -2;
    const fields = new Float32Array(R * R);
    for (let i = 0; i < R; i++) for (let j = 0; j < R; j++) fields[i * R + j] = A * Math.cos((2 * Math.PI * (k1 * i + k2 * j)) / R);
    const spectrum = await energySpectrum({ fields, count: 1, resolution: R });
    const shell = Math.round(Math.hypot(k1, k2));
    let modes = 0; // modes of the full plane {-R/2+1, ..., R/2}^2 in that shell
    for (let a = -R / 2 + 1; a <= R / 2; a++) for (let b = -R / 2 + 1; b <= R / 2; b++) if (Math.round(Math.hypot(a, b)) === shell) modes++;
    spectrum.forEach((power, s) => {
      if (s === shell) expect(power).toBeCloseTo((A * A) / (2 * modes), 6);
      else expect(power).toBeLessThan(1e-12);
    });
    expect(dealiasedShell(64)).toBe(30);
  });

  it('spectrumRatios compares two sets shell by shell, 1 to the dealiasing radius', async () => {
    const { spectrumRatios, dealiasedShell } = await import('../lib');
    const R = 16;
    const reference = Float32Array.from({ length: 3 * R * R }, (_, k) => Math.sin(0.37 * k) + Math.cos(0.011 * k * k));
    // Twice the amplitude: four times the energy in every shell; the counts may differ.
    const fields = Float32Array.from(reference.subarray(0, R * R), (v) => 2 * v);
    const both = new Float32Array(2 * R * R);
    both.set(fields); both.set(fields, R * R);
    const ratios = await spectrumRatios({ fields: both, count: 2, reference: reference.subarray(0, R * R), referenceCount: 1, resolution: R });
    expect(ratios.length).toBe(dealiasedShell(R));
    for (const r of ratios) expect(r).toBeCloseTo(4, 4);
    await expect(spectrumRatios({ fields: both, count: 2, reference, referenceCount: 2, resolution: R }))
      .rejects.toThrow('Expected referenceCount x resolution^2 = 512 floats for reference.length but received 768');
    await expect(spectrumRatios({ fields: both, count: 2, reference, referenceCount: 3, resolution: R, extra: 1 } as never))
      .rejects.toThrow('extra');
  });
});
