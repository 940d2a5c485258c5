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

/**
 * The ratio of two sets' mean energy per shell, shells 1 to dealiasedShell(R)
 * (entry s - 1 is shell s): how a prior's samples (`fields`) compare with its
 * data (`reference`), scale by scale; 1 where they agree.
 */
export async function spectrumRatios(args: {
  fields: Float32Array; count: number; reference: Float32Array; referenceCount: number; resolution: number;
}): Promise<Float64Array> {
  requireKnownKeys(requireObject(args, 'spectrumRatios(args)'), ['fields', 'count', 'reference', 'referenceCount', 'resolution'], 'spectrumRatios');
  const R = requireEvenResolution(args.resolution), resolution = R;
  const [fields, reference] = [requireFloat32Array(args.fields, 'fields'), requireFloat32Array(args.reference, 'reference')];
  const [count, referenceCount] = [requireInteger(args.count, 'count', 1), requireInteger(args.referenceCount, 'referenceCount', 1)];
  if (fields.length !== count * R * R) throw new RangeError(expected(`count x resolution^2 = ${count * R * R} floats`, 'fields.length', fields.length));
  if (reference.length !== referenceCount * R * R) {
    throw new RangeError(expected(`referenceCount x resolution^2 = ${referenceCount * R * R} floats`, 'reference.length', reference.length));
  }
  const a = await energySpectrum({ fields, count, resolution });
  const b = await energySpectrum({ fields: reference, count: referenceCount, resolution });
  return Float64Array.from({ length: dealiasedShell(resolution) }, (_, s) => a[s + 1] / b[s + 1]);
}
