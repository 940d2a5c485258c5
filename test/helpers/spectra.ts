// Shell-averaged power spectra of real fields, by a direct float64 DFT of
// each field (independent of the library's FFTs).

export interface ShellPower {
  shell: number;
  measured: number;
  expected: number;
}

/** a_k of docs/method.md section 1 (without the R^2 factor): E|u_hat(k)|^2 = R^4 a_k^2 / 2. */
export function grfAmplitude(k1: number, k2: number, alpha: number, tau: number): number {
  const L = 2 * Math.PI;
  const sigma = tau ** (alpha - 1);
  return sigma * Math.sqrt(2 / (L * L)) * ((4 * Math.PI ** 2 / L ** 2) * (k1 * k1 + k2 * k2) + tau * tau) ** (-alpha / 2);
}

/**
 * Mean |u_hat(k)|^2 / R^4 over the fields and the modes of each shell
 * round(|k|) = s (s >= 1, Nyquist row and column excluded), against the
 * analytic mean over the same modes (each mode's power passed through
 * `transfer`, for samplers with a known per-mode bias).
 */
export function grfShellPower(fields: Float32Array, R: number, count: number, alpha: number, tau: number,
  transfer: (power: number) => number = (p) => p): ShellPower[] {
  const half = R / 2;
  const cos = new Float64Array(R * R), sin = new Float64Array(R * R);
  for (let k = 0; k < R; k++) {
    for (let n = 0; n < R; n++) {
      cos[k * R + n] = Math.cos((2 * Math.PI * k * n) / R);
      sin[k * R + n] = Math.sin((2 * Math.PI * k * n) / R);
    }
  }
  const modes: Array<[number, number]> = [];
  for (let k1 = -half + 1; k1 < half; k1++) for (let k2 = 0; k2 < half; k2++) if (k1 !== 0 || k2 !== 0) modes.push([k1, k2]);
  const power = new Float64Array(modes.length);
  const rowRe = new Float64Array(R * R), rowIm = new Float64Array(R * R);
  for (let b = 0; b < count; b++) {
    const f = fields.subarray(b * R * R, (b + 1) * R * R);
    // Transform along y (j) for every row i and wavenumber k2 in [0, half).
    for (let i = 0; i < R; i++) {
      for (let k2 = 0; k2 < half; k2++) {
        let re = 0, im = 0;
        for (let j = 0; j < R; j++) {
          re += f[i * R + j] * cos[k2 * R + j];
          im -= f[i * R + j] * sin[k2 * R + j];
        }
        rowRe[i * R + k2] = re;
        rowIm[i * R + k2] = im;
      }
    }
    modes.forEach(([k1, k2], m) => {
      const k = ((k1 % R) + R) % R;
      let re = 0, im = 0;
      for (let i = 0; i < R; i++) {
        const c = cos[k * R + i], s = -sin[k * R + i];
        re += rowRe[i * R + k2] * c - rowIm[i * R + k2] * s;
        im += rowRe[i * R + k2] * s + rowIm[i * R + k2] * c;
      }
      power[m] += (re * re + im * im) / count;
    });
  }
  const byShell = new Map<number, { measured: number; expected: number; n: number }>();
  modes.forEach(([k1, k2], m) => {
    const s = Math.round(Math.hypot(k1, k2));
    const entry = byShell.get(s) ?? { measured: 0, expected: 0, n: 0 };
    entry.measured += power[m] / R ** 4;
    entry.expected += transfer(grfAmplitude(k1, k2, alpha, tau) ** 2 / 2);
    entry.n += 1;
    byShell.set(s, entry);
  });
  return [...byShell.entries()]
    .filter(([s, e]) => s >= 1 && s < half && e.n >= 2)
    .map(([shell, e]) => ({ shell, measured: e.measured / e.n, expected: e.expected / e.n }));
}
