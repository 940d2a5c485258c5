// Energy spectra of fields on the torus: the check that a prior's samples
// look like its data, scale by scale.
import { callNative, native } from '../binding';
import {
  expected, requireEvenResolution, requireFloat32Array, requireInteger, requireKnownKeys, requireObject,
} from '../validate';

/**
 * Mean |rfft2(x)(k)|^2 / R^4 per wavenumber shell round(|k|), averaged over
 * the fields and the modes of each shell; entry s is shell s (0: the mean).
 */
export async function energySpectrum(args: { fields: Float32Array; count: number; resolution: number }): Promise<Float64Array> {
  requireKnownKeys(requireObject(args, 'energySpectrum(args)'), ['fields', 'count', 'resolution'], 'energySpectrum');
  const fields = requireFloat32Array(args.fields, 'fields');
  const count = requireInteger(args.count, 'count', 1);
  const R = requireEvenResolution(args.resolution);
  if (fields.length !== count * R * R) throw new RangeError(expected(`count x resolution^2 = ${count * R * R} floats`, 'fields.length', fields.length));
  return callNative(() => native.shellSpectrum(fields, count, R));
}

/** The largest shell inside the 2/3-rule dealiasing disc, k1^2 + k2^2 <= 2 (R/3)^2. */
export function dealiasedShell(resolution: number): number {
  return Math.floor(Math.SQRT2 * (resolution / 3));
}
